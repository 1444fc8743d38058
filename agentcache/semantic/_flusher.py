"""The time bound on deferred hit bookkeeping: a flush within N seconds of a hit.

A served hit's bookkeeping rides on the cache's next command; when the cache stays
idle, these flushers send it anyway, at most ``semantic.hit_flush_seconds`` after
the hit (at once past ``hit_flush_max_pending`` pending hits). The blocking cache
uses one daemon thread per cache (started on its first hit, the way the metrics
flush thread is) plus a flush at interpreter exit; the asyncio cache a task on the
running loop (an asyncio client cannot be used from another thread or after its
loop is gone, so ``aclose()`` is its last flush).

No I/O here: ``flush`` is the cache's own fail-open flush, which never raises.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import threading
import weakref
from collections.abc import Awaitable, Callable

# Flushers of live blocking caches, flushed once at interpreter exit.
_LIVE: weakref.WeakSet[HitFlusher] = weakref.WeakSet()


class HitFlusher:
    """Runs ``flush`` on a daemon thread within ``interval`` seconds of ``arm()``."""

    def __init__(self, flush: Callable[[], object], interval: float) -> None:
        # A weak reference: the thread must not keep a dropped cache alive.
        self._flush = weakref.WeakMethod(flush)
        self._interval = interval
        self._armed = threading.Event()
        self._now = threading.Event()
        self._closed = False
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        # A cache dropped without close() stops its thread rather than leak it.
        finalizer = weakref.finalize(flush.__self__, self.close)  # type: ignore[attr-defined]
        finalizer.atexit = False  # at exit, _flush_at_exit sends the pending hits first

    def arm(self, urgent: bool = False) -> None:
        """A hit is pending: flush within the interval (``urgent``: now)."""
        if urgent:
            self._now.set()
        if self._armed.is_set() or self._closed:
            return
        self._armed.set()
        if self._thread is None:
            with self._lock:
                if self._thread is None and not self._closed:
                    thread = threading.Thread(
                        target=self._run, name="agentcache-hit-flush", daemon=True
                    )
                    self._thread = thread
                    _LIVE.add(self)
                    thread.start()

    def _run(self) -> None:
        while True:
            self._armed.wait()
            self._now.wait(self._interval)
            if self._closed:
                return
            # Cleared before the flush: a hit appended during it arms the next round.
            self._armed.clear()
            self._now.clear()
            if not self._call():
                return

    def _call(self) -> bool:
        """Flush once; False when the cache is gone."""
        method = self._flush()
        if method is None:
            return False
        method()
        return True

    def close(self) -> None:
        """Stop the thread, after a flush it is running (the caller then sends the rest)."""
        self._closed = True
        _LIVE.discard(self)
        self._armed.set()
        self._now.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5.0)

    def at_exit(self) -> None:
        if not self._closed and self._armed.is_set():
            self._call()


class AsyncHitFlusher:
    """Runs ``flush`` in a task on the running loop within ``interval`` seconds of ``arm()``."""

    def __init__(self, flush: Callable[[], Awaitable[object]], interval: float) -> None:
        self._flush = flush
        self._interval = interval
        self._task: asyncio.Task[None] | None = None
        self._now: asyncio.Event | None = None
        self._flushing: asyncio.Task[object] | None = None
        self._closed = False

    def arm(self, urgent: bool = False) -> None:
        """A hit is pending: flush within the interval (``urgent``: now)."""
        if self._closed:
            return
        task = self._task
        if task is not None and not task.done():
            if urgent and self._now is not None:
                self._now.set()
            return
        now = asyncio.Event()
        if urgent:
            now.set()
        self._now = now
        # The loop keeps only a weak reference to a task: this one is held here.
        self._task = asyncio.get_running_loop().create_task(self._run(now))

    async def _run(self, now: asyncio.Event) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(now.wait(), self._interval)
        # Done before the flush runs: a hit appended during it arms a new task.
        self._task = None
        self._flushing = asyncio.current_task()
        try:
            await self._flush()
        finally:
            self._flushing = None

    async def aclose(self) -> None:
        """Stop: cancel a waiting flush, let a running one finish (the caller sends the rest)."""
        self._closed = True
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
        running = self._flushing
        if running is not None and running is not asyncio.current_task():
            await asyncio.wait([running])


@atexit.register
def _flush_at_exit() -> None:
    """Send what idle blocking caches still hold when the interpreter exits."""
    for flusher in list(_LIVE):
        with contextlib.suppress(Exception):  # exit goes on; the flush is fail-open anyway
            flusher.at_exit()
