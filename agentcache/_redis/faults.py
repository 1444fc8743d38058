"""Fail-open fault handling shared by every layer.

A cache must never take the agent down with it. Each layer runs its Redis
I/O through a ``FaultGuard``: a fault (connection refused, timeout, OOM,
LOADING, a lost index) is counted, logged once per burst, and turned into
``None`` so the layer serves a miss. After ``breaker_failures`` faults in a
row the circuit opens: calls skip Redis entirely for ``breaker_cooldown``
seconds, then one probe call is let through (half-open); its success
closes the circuit. An error *reply* (OOM under ``maxmemory``, READONLY
after a failover) is a fault too, but it never opens the circuit: the server
is alive, and reads keep working while writes are refused. With
``strict=True`` a fault raises ``CacheUnavailableError`` instead.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

import redis

from agentcache.exceptions import CacheUnavailableError
from agentcache.settings import ReliabilitySettings

logger = logging.getLogger("agentcache")

T = TypeVar("T")

# What counts as a cache fault: anything Redis says or fails to say. Our own
# input errors (InvalidInputError and friends) are not in it, so they propagate.
FAULTS: tuple[type[BaseException], ...] = (redis.RedisError, OSError, CacheUnavailableError)

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"


def server_answered(exc: BaseException) -> bool:
    """True for an error reply from a live server (OOM, READONLY...), not a dead link."""
    return isinstance(exc, redis.ResponseError) and not isinstance(
        exc, redis.exceptions.ClusterError
    )


class FaultGuard:
    """Counts faults, opens a circuit breaker, and decides: miss or raise."""

    def __init__(
        self,
        settings: ReliabilitySettings,
        *,
        layer: str,
        clock: Callable[[], float] = time.monotonic,
        on_fault: Callable[[str, BaseException], None] | None = None,
        on_latency: Callable[[str, float], None] | None = None,
    ) -> None:
        self.settings = settings
        self.layer = layer
        self._clock = clock
        self._on_fault = on_fault
        self._on_latency = on_latency
        self._lock = threading.Lock()
        self._consecutive = 0
        self._opened_at: float | None = None
        self._probing = False
        self._last_warning = float("-inf")
        self._suppressed = 0
        self.faults = 0
        self.skipped = 0

    @property
    def state(self) -> str:
        with self._lock:
            return self._state_locked()

    def _state_locked(self) -> str:
        if self._opened_at is None:
            return CLOSED
        if self._clock() - self._opened_at >= self.settings.breaker_cooldown_seconds:
            return HALF_OPEN
        return OPEN

    def allow(self) -> bool:
        """Whether a call may go to Redis now (False while the circuit is open)."""
        with self._lock:
            state = self._state_locked()
            if state == CLOSED:
                return True
            if state == HALF_OPEN and not self._probing:
                self._probing = True  # one probe at a time
                return True
            self.skipped += 1
            return False

    def success(self) -> None:
        with self._lock:
            if self._opened_at is not None:
                logger.warning("agentcache %s: Redis is back, cache resumed", self.layer)
            self._consecutive = 0
            self._opened_at = None
            self._probing = False

    def failure(self, exc: BaseException, operation: str) -> None:
        """Record a fault; raise ``CacheUnavailableError`` in strict mode."""
        with self._lock:
            self.faults += 1
            self._probing = False
            if server_answered(exc):
                # OOM, READONLY, NOPERM...: the server is up and replied, so reads
                # (and a half-open probe) may go on; only a silent server opens the circuit.
                self._consecutive = 0
                self._opened_at = None
            else:
                self._consecutive += 1
                if self._opened_at is not None or (
                    self._consecutive >= self.settings.breaker_failures
                ):
                    self._opened_at = self._clock()
            now = self._clock()
            if now - self._last_warning >= self.settings.warn_interval_seconds:
                suppressed, self._suppressed = self._suppressed, 0
                self._last_warning = now
                warn = True
            else:
                self._suppressed += 1
                warn = False
        if warn:
            logger.warning(
                "agentcache %s: %s failed (%s: %s); serving a miss%s",
                self.layer,
                operation,
                type(exc).__name__,
                exc,
                f" ({suppressed} similar faults not logged)" if suppressed else "",
            )
        if self._on_fault is not None:
            self._on_fault(operation, exc)
        if self.settings.strict:
            if isinstance(exc, CacheUnavailableError):
                raise exc
            raise CacheUnavailableError(
                f"{self.layer} {operation}: {type(exc).__name__}: {exc}"
            ) from exc

    def _end_probe(self) -> None:
        with self._lock:
            self._probing = False

    def unavailable(self, operation: str) -> None:
        """Called when the breaker skipped a call; raises in strict mode."""
        if self.settings.strict:
            raise CacheUnavailableError(
                f"{self.layer} {operation}: circuit open after repeated Redis faults"
            )

    @contextlib.contextmanager
    def _guarded(self, operation: str) -> Iterator[list[bool]]:
        """Around one call: a fault is counted and swallowed (raised in strict mode),
        latency recorded; the yielded flag is set by the caller once the call returned."""
        started = time.perf_counter()
        done = [False]
        try:
            yield done
        except FAULTS as exc:
            self.failure(exc, operation)
        except BaseException:
            self._end_probe()  # not a fault (e.g. bad input): the next call may probe
            raise
        finally:
            if self._on_latency is not None:
                self._on_latency(operation, time.perf_counter() - started)
        if done[0]:
            self.success()

    def run(self, operation: str, fn: Callable[[], T]) -> T | None:
        """Run ``fn``; on a fault, return None (or raise in strict mode)."""
        if not self.allow():
            self.unavailable(operation)
            return None
        result: T | None = None
        with self._guarded(operation) as done:
            result = fn()
            done[0] = True
        return result

    async def arun(self, operation: str, fn: Callable[[], Awaitable[T]]) -> T | None:
        """Async twin of ``run``."""
        if not self.allow():
            self.unavailable(operation)
            return None
        result: T | None = None
        with self._guarded(operation) as done:
            result = await fn()
            done[0] = True
        return result
