"""Redis-side counters: deltas merged in memory, flushed by a background thread.

Every ``settings.metrics.flush_interval_seconds`` the deltas go into hashes
keyed ``{prefix}:stats:{{tenant}}:{layer}:{agent}``, with a few pipelined
calls of ``FLUSH_SCRIPT`` (bounded by the series count / 200, not by the
fields: 1,000 tenants are one round trip). They outlive the process and add
up across processes; ``agentcache stats`` reads them (``read_counters``).
While Redis is down the deltas wait in memory and are written once it is
back. At interpreter exit one last flush is tried; if Redis is gone by then,
what it held is lost (logged at DEBUG only, so exiting after the server
stopped is quiet).
"""

from __future__ import annotations

import atexit
import logging
import threading
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import redis
from redis.exceptions import NoScriptError

from agentcache._redis import keys as _keys
from agentcache._redis.clients import SyncClient, reply_text
from agentcache._redis.faults import FAULTS, OPEN, FaultGuard, server_answered
from agentcache.exceptions import CacheUnavailableError
from agentcache.metrics._scripts import FLUSH_SCRIPT, FLUSH_SHA
from agentcache.metrics._types import LATENCY_BUCKETS, NO_TENANT, SHARED_TAG, Histogram, Series
from agentcache.settings import ReliabilitySettings

logger = logging.getLogger("agentcache.metrics")

__all__ = [
    "FLUSH_CALLS_PER_ROUND_TRIP",
    "FLUSH_SERIES_PER_CALL",
    "RedisCounters",
    "counter_key",
    "histograms_from_fields",
    "latency_fields",
    "parse_counter_key",
    "read_counters",
]


def counter_key(prefix: str, series: Series) -> str:
    """``{prefix}:stats:{{tenant}}:{layer}:{agent}``: one hash per series.

    ``NO_TENANT`` series use ``SHARED_TAG`` in place of a tenant's tag.
    """
    agent = _keys.encode_id(series.agent)
    if series.tenant == NO_TENANT:
        return ":".join((prefix, _keys.METRICS, SHARED_TAG, series.layer, agent))
    return _keys.tenant_key(prefix, _keys.METRICS, series.tenant, series.layer, agent)


def parse_counter_key(prefix: str, key: str) -> Series | None:
    """The series of a counter key, or None if ``key`` is not one."""
    parts = key.split(":")
    if len(parts) != 5 or parts[0] != prefix or parts[1] != _keys.METRICS:
        return None
    tag = parts[2]
    if tag == SHARED_TAG:
        return Series(parts[3], NO_TENANT, unquote(parts[4]))
    if not (tag.startswith("{") and tag.endswith("}")):
        return None
    # encode_id only leaves [A-Za-z0-9_.-] raw, so unquote is its exact inverse.
    return Series(parts[3], unquote(tag[1:-1], errors="strict"), unquote(parts[4]))


def latency_fields(operation: str, seconds: float) -> dict[str, float]:
    bucket = next(i for i, bound in enumerate(LATENCY_BUCKETS) if seconds <= bound)
    return {
        f"lat:{operation}:n": 1,
        f"lat:{operation}:sum": seconds,
        f"lat:{operation}:b{bucket}": 1,
    }


def histograms_from_fields(fields: Mapping[str, float]) -> dict[str, Histogram]:
    """Rebuild the per-operation histograms stored by ``RedisCounters``."""
    out: dict[str, Histogram] = {}
    for name, value in fields.items():
        if not name.startswith("lat:"):
            continue
        _, operation, part = name.split(":", 2)
        hist = out.setdefault(operation, Histogram())
        if part == "n":
            hist.total = int(value)
        elif part == "sum":
            hist.sum = float(value)
        elif part.startswith("b") and part[1:].isdigit() and int(part[1:]) < len(hist.counts):
            hist.counts[int(part[1:])] = int(value)
    return out


_LIVE_COUNTERS: weakref.WeakSet[RedisCounters] = weakref.WeakSet()
_MAX_PENDING_SERIES = 100_000
_EXIT_FAULTS: tuple[type[BaseException], ...] = (
    *FAULTS,
    redis.exceptions.RedisClusterException,
)
# Series per EVALSHA of FLUSH_SCRIPT, and EVALSHA calls per pipelined round trip.
FLUSH_SERIES_PER_CALL = 200
FLUSH_CALLS_PER_ROUND_TRIP = 64


@dataclass
class _FlushCall:
    """One EVALSHA of ``FLUSH_SCRIPT``: its series, keys, ARGV and hash tags."""

    series: list[Series]
    keys: list[str]
    args: list[str | int]
    tags: set[str]


def _tag_of(key: str) -> str:
    """The ``{...}`` hash tag of a counter key (ACL grants go by tag)."""
    return key[key.index("{") : key.index("}") + 1]


class RedisCounters:
    """Batches counter deltas in memory and flushes them to Redis in the background."""

    def __init__(
        self,
        client: Callable[[], SyncClient],
        prefix: str,
        *,
        interval: float = 1.0,
        owns_client: bool = True,
        reliability: ReliabilitySettings | None = None,
    ) -> None:
        self._client_factory = client
        self._client: SyncClient | None = None
        self._owns_client = owns_client
        self.prefix = prefix
        self.interval = interval
        # Metrics never raise, even in strict mode: nobody is there to catch it.
        rel = (reliability or ReliabilitySettings()).model_copy(update={"strict": False})
        self.guard = FaultGuard(rel, layer="metrics")
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._pending: dict[Series, dict[str, float]] = {}
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        self.flushed = 0
        self.dropped = 0
        self._refused_tags: set[str] = set()
        _LIVE_COUNTERS.add(self)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def add(self, series: Series, fields: Mapping[str, float]) -> None:
        with self._lock:
            row = self._pending.get(series)
            if row is None:
                if len(self._pending) >= _MAX_PENDING_SERIES:
                    self.dropped += 1  # Redis gone for long and unbounded ids: shed
                    return
                row = self._pending[series] = {}
            for name, value in fields.items():
                row[name] = row.get(name, 0) + value
            start = self._thread is None and not self._closed
            if start:
                self._thread = threading.Thread(
                    target=_flush_loop,
                    args=(weakref.ref(self), self._wake, self.interval),
                    name="agentcache-metrics-flush",
                    daemon=True,
                )
        if start and self._thread is not None:
            self._thread.start()

    def _get_client(self) -> SyncClient:
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    def flush(self) -> bool:
        """Write pending deltas now; False (deltas kept for later) if Redis faulted."""
        with self._flush_lock:
            with self._lock:
                batch, self._pending = self._pending, {}
            if not batch:
                return True
            retry = self.guard.run("flush", lambda: self._write(batch))
            return self._settle(batch, retry)

    def flush_at_exit(self) -> bool:
        """The last flush, at interpreter exit: a fault is logged at DEBUG only.

        By then the server may well be gone (a test's or an embedded server
        stopped first, a shutdown in progress), and nothing can retry later:
        deltas that cannot be written now are lost. It bypasses the guard (no
        warning), and skips the attempt while the breaker is open (no connect
        timeout to sit through on the way out).
        """
        with self._flush_lock:
            with self._lock:
                batch, self._pending = self._pending, {}
            if not batch:
                return True
            try:
                if self.guard.state == OPEN:
                    raise CacheUnavailableError("circuit open")
                retry: dict[Series, dict[str, float]] | None = self._write(batch)
            # A cluster client that cannot reach any node (the cluster stopped
            # first) raises RedisClusterException, which is no RedisError.
            except _EXIT_FAULTS as exc:
                logger.debug(
                    "agentcache metrics: final flush at exit failed (%s: %s); "
                    "%d counter series lost",
                    type(exc).__name__, exc, len(batch),
                )  # fmt: skip
                retry = None
            return self._settle(batch, retry)

    def _settle(
        self, batch: dict[Series, dict[str, float]], retry: dict[Series, dict[str, float]] | None
    ) -> bool:
        """Keep what was not written for the next flush; True if nothing is left."""
        if retry is None:  # the link failed: keep everything
            self._merge_back(batch)
            return False
        self._merge_back(retry)
        self.flushed += len(batch)
        return not retry

    def _write(self, batch: Mapping[Series, Mapping[str, float]]) -> dict[Series, dict[str, float]]:
        """Send the batch as a few script calls; return the deltas to retry later.

        The number of commands grows with the batch divided by
        ``FLUSH_SERIES_PER_CALL`` (one round trip for up to
        ``FLUSH_CALLS_PER_ROUND_TRIP`` calls), not with the fields written: a
        flush of 1,000 tenants is a handful of ``EVALSHA`` calls whose replies
        are one integer each. On a cluster a call holds one slot's series.

        Not a transaction: a refused call (NOPERM: a tag this ACL user cannot
        write) must not sink the others. Its series are sent again one tag
        per call, the refused tags are remembered (later flushes give them
        calls of their own) and their deltas dropped. OOM keeps a call's
        deltas until memory frees up: the script is refused whole before it
        writes anything.
        """
        client = self._get_client()
        calls = self._calls(batch)
        results = self._run(client, calls, first=True)
        retry: dict[Series, dict[str, float]] = {}
        split: list[_FlushCall] = []
        for call, reply in zip(calls, results, strict=True):
            if isinstance(reply, redis.exceptions.NoPermissionError) and len(call.tags) > 1:
                split.extend(self._calls({s: batch[s] for s in call.series}, by_tag=True))
            else:
                self._settle_call(batch, call, reply, retry)
        for call, reply in zip(split, self._run(client, split, first=False), strict=True):
            self._settle_call(batch, call, reply, retry)
        return retry

    def _calls(
        self, batch: Mapping[Series, Mapping[str, float]], *, by_tag: bool = False
    ) -> list[_FlushCall]:
        """Group the batch into script calls: per slot on a cluster, else in chunks."""
        cluster = isinstance(self._client, redis.RedisCluster)
        groups: dict[object, list[tuple[Series, str]]] = {}
        for series in batch:
            key = counter_key(self.prefix, series)
            tag = _tag_of(key)
            # Tags this user was refused, and every tag when splitting a
            # refused call, get calls of their own.
            if by_tag or tag in self._refused_tags:
                group: object = ("tag", tag)
            elif cluster:
                group = ("slot", _keys.key_slot(key))
            else:
                group = ("any",)
            groups.setdefault(group, []).append((series, key))
        calls: list[_FlushCall] = []
        for members in groups.values():
            for start in range(0, len(members), FLUSH_SERIES_PER_CALL):
                chunk = members[start : start + FLUSH_SERIES_PER_CALL]
                call = _FlushCall([], [], [], set())
                for series, key in chunk:
                    fields = batch[series]
                    ints = [(n, v) for n, v in fields.items() if isinstance(v, int)]
                    floats = [(n, v) for n, v in fields.items() if not isinstance(v, int)]
                    call.series.append(series)
                    call.keys.append(key)
                    call.tags.add(_tag_of(key))
                    call.args.append(len(ints))
                    for name, value in ints:
                        call.args += [name, int(value)]
                    call.args.append(len(floats))
                    for name, delta in floats:
                        call.args += [name, repr(float(delta))]
                calls.append(call)
        return calls

    def _run(self, client: SyncClient, calls: list[_FlushCall], *, first: bool) -> list[Any]:
        """EVALSHA each call, pipelined; load the script once if the server lacks it.

        A link fault before anything of this flush was written (``first``)
        raises: the guard counts it and keeps the whole batch. After that it
        becomes the reply of the calls it hit, so only their deltas are kept
        and what was written is not counted twice on the next flush.
        """

        def send(batch: list[_FlushCall], may_raise: bool) -> list[Any]:
            replies: list[Any] = []
            for start in range(0, len(batch), FLUSH_CALLS_PER_ROUND_TRIP):
                chunk = batch[start : start + FLUSH_CALLS_PER_ROUND_TRIP]
                pipe = client.pipeline(transaction=False)
                for call in chunk:
                    pipe.execute_command(
                        "EVALSHA", FLUSH_SHA, len(call.keys), *call.keys, *call.args
                    )
                try:
                    replies += pipe.execute(raise_on_error=False)
                except FAULTS as exc:
                    if may_raise and not replies:
                        raise
                    replies += [exc] * len(chunk)
            return replies

        replies = send(calls, first)
        missing = [i for i, r in enumerate(replies) if isinstance(r, NoScriptError)]
        if missing:  # a new, restarted or flushed server (every primary on a cluster)
            written = len(missing) < len(replies)
            try:
                client.script_load(FLUSH_SCRIPT)
                again = send([calls[i] for i in missing], first and not written)
            except FAULTS as exc:
                if first and not written:
                    raise
                again = [exc] * len(missing)
            for i, reply in zip(missing, again, strict=True):
                replies[i] = reply
        return replies

    def _settle_call(
        self,
        batch: Mapping[Series, Mapping[str, float]],
        call: _FlushCall,
        reply: Any,
        retry: dict[Series, dict[str, float]],
    ) -> None:
        keep = (redis.exceptions.OutOfMemoryError, NoScriptError)
        if isinstance(reply, keep) or (
            isinstance(reply, BaseException) and not server_answered(reply)
        ):
            # Nothing of this call was written (or the link failed): next flush.
            for series in call.series:
                retry[series] = dict(batch[series])
        elif isinstance(reply, Exception):
            if isinstance(reply, redis.exceptions.NoPermissionError):
                self._refused_tags |= call.tags
            self.dropped += sum(len(batch[series]) for series in call.series)
            logger.debug("metrics deltas of %d series refused: %s", len(call.series), reply)
        elif reply:  # fields the script could not update (a wrong type under the key)
            self.dropped += int(reply)

    def _merge_back(self, batch: dict[Series, dict[str, float]]) -> None:
        with self._lock:
            for series, fields in batch.items():
                row = self._pending.setdefault(series, {})
                for name, value in fields.items():
                    row[name] = row.get(name, 0) + value

    def close(self) -> None:
        """Flush what is pending, stop the flusher, close an owned client."""
        self._closed = True
        self._wake.set()
        self.flush()
        if self._owns_client and self._client is not None:
            self._client.close()
            self._client = None


def _flush_loop(ref: weakref.ref[RedisCounters], wake: threading.Event, interval: float) -> None:
    # Holds only a weak reference, so a dropped cache's counters can be collected.
    while True:
        woke = wake.wait(interval)
        counters = ref()
        if counters is None or counters._closed:
            return
        if woke:
            wake.clear()
        try:
            counters.flush()
        except Exception:  # never let the flusher die on something unexpected
            logger.exception("agentcache metrics flush failed")
        del counters


@atexit.register
def _flush_all_at_exit() -> None:
    for counters in list(_LIVE_COUNTERS):
        if not counters._closed:
            counters.flush_at_exit()


def read_counters(
    client: SyncClient, prefix: str, tenant: str | None = None
) -> dict[Series, dict[str, float]]:
    """Every Redis-side counter hash under ``prefix`` (one tenant's when given;
    ``NO_TENANT`` reads the shared ones)."""
    if tenant is None:
        pattern = f"{prefix}:{_keys.METRICS}:*"
    elif tenant == NO_TENANT:
        pattern = f"{prefix}:{_keys.METRICS}:{SHARED_TAG}:*"
    else:
        pattern = _keys.tenant_pattern(prefix, _keys.METRICS, tenant)
    keys = sorted({reply_text(key) for key in client.scan_iter(match=pattern, count=1000)})
    rows = [(key, series) for key in keys if (series := parse_counter_key(prefix, key))]
    if not rows:
        return {}
    pipe = client.pipeline(transaction=False)
    for key, _ in rows:
        pipe.hgetall(key)
    return {
        series: {reply_text(name): float(value) for name, value in raw.items()}
        for (_, series), raw in zip(rows, pipe.execute(), strict=True)
    }
