"""Counters and latency histograms per layer, tenant and agent.

Every cache layer reports to a ``Metrics`` object: ``count`` (hits, misses,
errors, stores, evictions, shadow hits), ``observe`` (Redis round-trip
latency) and ``saved`` (tokens and dollars a hit saved). Each report lands in
three places, none of which adds a round trip to the call that made it:

* in-process totals (``snapshot()``), which the Prometheus collector reads;
* Redis-side counters: deltas are merged in memory and a background thread
  flushes them every ``settings.metrics.flush_interval_seconds`` into
  hashes keyed ``{prefix}:stats:{{tenant}}:{layer}:{agent}``, with a few
  pipelined calls of ``FLUSH_SCRIPT`` (bounded by the series count / 200,
  not by the fields: 1,000 tenants are one round trip). They outlive the process and
  add up across processes; ``agentcache stats`` reads them. While Redis is
  down the deltas wait in memory and are written once it is back. At
  interpreter exit one last flush is tried; if Redis is gone by then, what
  it held is lost (logged at DEBUG only, so exiting after the server stopped
  is quiet);
* optional sinks, e.g. ``OpenTelemetrySink`` (only if opentelemetry is installed).

Faults are attributed to the tenant and agent of the call that hit them via
``bind_scope`` (a context variable, so threads and asyncio tasks stay apart).

Example::

    metrics = Metrics.from_settings(settings)
    cache = SemanticCache(settings, metrics=metrics)
    serve_prometheus(9464)      # /metrics for every live Metrics object
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import contextvars
import hashlib
import logging
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol
from urllib.parse import unquote

import redis
import redis.asyncio as aredis
from redis.exceptions import NoScriptError

from agentcache._redis import keys as _keys
from agentcache._redis.clients import SyncClient, reply_text, sync_client
from agentcache._redis.faults import FAULTS, OPEN, FaultGuard, server_answered
from agentcache.exceptions import CacheUnavailableError, ConfigurationError
from agentcache.metrics._export import OpenTelemetrySink, PrometheusCollector, serve_prometheus
from agentcache.settings import AgentCacheSettings, ReliabilitySettings

logger = logging.getLogger("agentcache.metrics")

__all__ = [
    "LATENCY_BUCKETS",
    "Histogram",
    "Metrics",
    "MetricsSink",
    "MetricsSnapshot",
    "OpenTelemetrySink",
    "PrometheusCollector",
    "RedisCounters",
    "Series",
    "bind_scope",
    "live_metrics",
    "read_counters",
    "scoped",
    "serve_prometheus",
]

# Event names (hash fields and metric names).
HITS, EXACT_HITS, SHADOW_HITS, MISSES = "hits", "exact_hits", "shadow_hits", "misses"
ERRORS, STORES, EVICTIONS = "errors", "stores", "evictions"
PROVIDER_CALLS = "provider_calls"  # LLM calls a cached client sent to the provider
TOKENS_SAVED, USD_SAVED = "tokens_saved", "usd_saved"
SHADOW_TOKENS_SAVED, SHADOW_USD_SAVED = "shadow_tokens_saved", "shadow_usd_saved"
GUARD_VETOES = "guard_vetoes"  # lookups a lexical guard turned into a miss
EXPLORES = "explores"  # would-be hits sent to the model to learn from (explore step)
EVENTS = (
    HITS, EXACT_HITS, SHADOW_HITS, MISSES, ERRORS, STORES, EVICTIONS, PROVIDER_CALLS,
    GUARD_VETOES, EXPLORES,
)  # fmt: skip
SAVINGS = (TOKENS_SAVED, USD_SAVED, SHADOW_TOKENS_SAVED, SHADOW_USD_SAVED)

# Upper bounds (seconds) of the latency buckets; the last one is +Inf.
LATENCY_BUCKETS: tuple[float, ...] = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, float("inf"),
)  # fmt: skip

# Reports outside any tenant: shared tool calls, the embedding cache (keyed by
# text, not tenant), faults at start-up. No real tenant id is empty, so this
# scope cannot collide with one. In Redis it is the tag SHARED_TAG (_keys), the
# one the tool cache stores shared results under.
NO_TENANT = ""
SHARED_TAG = _keys.SHARED_TAG

_scope: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar(
    "agentcache_metrics_scope", default=None
)


def bind_scope(tenant: str | None, agent: str | None = None) -> None:
    """Attribute faults and latencies in this thread/task to ``tenant``/``agent``."""
    _scope.set(None if tenant is None else (tenant, agent or ""))


def current_scope() -> tuple[str, str]:
    return _scope.get() or (NO_TENANT, "")


@contextlib.contextmanager
def scoped(tenant: str, agent: str) -> Iterator[None]:
    """``bind_scope`` for the duration of a ``with`` block, then the previous scope."""
    token = _scope.set((tenant, agent))
    try:
        yield
    finally:
        _scope.reset(token)


class Series(NamedTuple):
    """One counted stream: a layer of one agent of one tenant."""

    layer: str
    tenant: str
    agent: str


@dataclass
class Histogram:
    """Latency counts per bucket of ``LATENCY_BUCKETS`` (not cumulative)."""

    counts: list[int] = field(default_factory=lambda: [0] * len(LATENCY_BUCKETS))
    total: int = 0
    sum: float = 0.0

    def observe(self, seconds: float) -> None:
        for i, bound in enumerate(LATENCY_BUCKETS):
            if seconds <= bound:
                self.counts[i] += 1
                break
        self.total += 1
        self.sum += seconds

    def quantile(self, q: float) -> float:
        """Upper bound of the bucket holding quantile ``q`` (0 when empty)."""
        if self.total == 0:
            return 0.0
        rank, seen = q * self.total, 0
        for bound, n in zip(LATENCY_BUCKETS, self.counts, strict=True):
            seen += n
            if seen >= rank and n:
                return bound
        return LATENCY_BUCKETS[-1]


@dataclass
class MetricsSnapshot:
    """A copy of the in-process counters and histograms."""

    counters: dict[Series, dict[str, float]]
    latency: dict[tuple[Series, str], Histogram]

    def total(self, name: str, *, layer: str | None = None, tenant: str | None = None) -> float:
        """Sum of counter ``name`` over every series matching ``layer``/``tenant``."""
        return sum(
            fields.get(name, 0)
            for series, fields in self.counters.items()
            if (layer is None or series.layer == layer)
            and (tenant is None or series.tenant == tenant)
        )


class MetricsSink(Protocol):
    """Somewhere else to send every report (OpenTelemetry, a test double...)."""

    def add(self, series: Series, name: str, value: float) -> None: ...

    def observe(self, series: Series, operation: str, seconds: float) -> None: ...


# -- Redis-side counters ------------------------------------------------------


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


def _latency_fields(operation: str, seconds: float) -> dict[str, float]:
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

# A flush is a few EVALSHA calls of this script, each adding the deltas of up
# to FLUSH_SERIES_PER_CALL series: ARGV holds, per key, the count of integer
# fields, their (name, delta) pairs, then the same for float fields. A field
# the server cannot increment (another type under the key) is skipped and
# counted in the reply, so one bad key neither aborts the call half-written
# nor makes a retry count the rest twice. The shebang makes the server refuse
# the whole call up front under OOM (nothing written, kept for the next flush).
FLUSH_SCRIPT = """#!lua
local i, failed = 1, 0
for k = 1, #KEYS do
  for _, command in ipairs({'HINCRBY', 'HINCRBYFLOAT'}) do
    local n = tonumber(ARGV[i])
    i = i + 1
    for _ = 1, n do
      local ok = redis.pcall(command, KEYS[k], ARGV[i], ARGV[i + 1])
      if type(ok) == 'table' and ok.err then failed = failed + 1 end
      i = i + 2
    end
  end
end
return failed
"""
_FLUSH_SHA = hashlib.sha1(FLUSH_SCRIPT.encode("utf-8")).hexdigest()
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
                        "EVALSHA", _FLUSH_SHA, len(call.keys), *call.keys, *call.args
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


# -- the interface the layers use ---------------------------------------------


class Metrics:
    """What the cache layers report to; see the module docstring.

    Args:
        counters: Redis-side counters to keep (None: in-process only).
        sinks: extra receivers of every report.
        enabled: False makes every report a no-op.
    """

    def __init__(
        self,
        *,
        counters: RedisCounters | None = None,
        sinks: Sequence[MetricsSink] = (),
        enabled: bool = True,
    ) -> None:
        self.redis = counters
        self.sinks = tuple(sinks)
        self.enabled = enabled
        self._lock = threading.Lock()
        self._counters: dict[Series, dict[str, float]] = {}
        self._latency: dict[tuple[Series, str], Histogram] = {}
        _LIVE_METRICS.add(self)

    @classmethod
    def from_settings(cls, settings: AgentCacheSettings, *, client: Any = None) -> Metrics:
        """Metrics as configured in ``settings.metrics``, counting into the cache's Redis.

        ``client`` is the layer's own client, used when the settings name no URL.
        """
        cfg = settings.metrics
        if not cfg.enabled:
            return cls(enabled=False)
        factory, owns = _counter_client(settings, client)
        counters = RedisCounters(
            factory,
            settings.redis.key_prefix,
            interval=cfg.flush_interval_seconds,
            owns_client=owns,
            reliability=settings.reliability,
        )
        sinks: list[MetricsSink] = []
        otel = OpenTelemetrySink.if_installed()
        if otel is not None:
            sinks.append(otel)
        metrics = cls(counters=counters, sinks=sinks)
        if cfg.prometheus_port is not None:
            serve_prometheus(cfg.prometheus_port)
        return metrics

    # -- reports --------------------------------------------------------------
    def count(self, layer: str, event: str, tenant: str, agent: str, n: int = 1) -> None:
        """Add ``n`` to counter ``event`` of ``layer`` for ``tenant``/``agent``."""
        self._add(Series(layer, tenant, agent), {event: n})

    def saved(
        self, layer: str, tenant: str, agent: str, *, tokens: int, usd: float, shadow: bool = False
    ) -> None:
        """Record the tokens and dollars a hit saved (or would have, in shadow mode)."""
        names = (SHADOW_TOKENS_SAVED, SHADOW_USD_SAVED) if shadow else (TOKENS_SAVED, USD_SAVED)
        self._add(Series(layer, tenant, agent), {names[0]: int(tokens), names[1]: float(usd)})

    def observe(
        self,
        layer: str,
        operation: str,
        seconds: float,
        tenant: str | None = None,
        agent: str | None = None,
    ) -> None:
        """Record the latency of one ``operation`` (defaults to the bound scope)."""
        if not self.enabled:
            return
        if tenant is None:
            tenant, agent = current_scope()
        series = Series(layer, tenant, agent or "")
        with self._lock:
            hist = self._latency.get((series, operation))
            if hist is None:
                hist = self._latency[(series, operation)] = Histogram()
            hist.observe(seconds)
        if self.redis is not None:
            self.redis.add(series, _latency_fields(operation, seconds))
        for sink in self.sinks:
            sink.observe(series, operation, seconds)

    def _add(self, series: Series, fields: Mapping[str, float]) -> None:
        if not self.enabled:
            return
        with self._lock:
            row = self._counters.get(series)
            if row is None:
                row = self._counters[series] = {}
            for name, value in fields.items():
                row[name] = row.get(name, 0) + value
        # A per-tenant ACL user may be refused NO_TENANT's key: that delta is
        # dropped at flush without holding back the others (docs/operations.md).
        if self.redis is not None:
            self.redis.add(series, fields)
        for sink in self.sinks:
            for name, value in fields.items():
                sink.add(series, name, value)

    # -- hooks for FaultGuard -------------------------------------------------
    def fault_hook(self, layer: str) -> Callable[[str, BaseException], None]:
        """A ``FaultGuard(on_fault=...)`` callback counting errors in the bound scope."""

        def on_fault(operation: str, exc: BaseException) -> None:
            tenant, agent = current_scope()
            self.count(layer, ERRORS, tenant, agent)

        return on_fault

    def latency_hook(self, layer: str) -> Callable[[str, float], None]:
        """A ``FaultGuard(on_latency=...)`` callback feeding the latency histograms."""

        def on_latency(operation: str, seconds: float) -> None:
            self.observe(layer, operation, seconds)

        return on_latency

    # -- reading and lifecycle ------------------------------------------------
    def snapshot(self) -> MetricsSnapshot:
        with self._lock:
            counters = {series: dict(row) for series, row in self._counters.items()}
            latency = {
                key: Histogram(list(h.counts), h.total, h.sum) for key, h in self._latency.items()
            }
        return MetricsSnapshot(counters, latency)

    def flush(self) -> bool:
        """Write pending Redis-side counters now (True if nothing is left pending)."""
        return self.redis.flush() if self.redis is not None else True

    def close(self) -> None:
        if self.redis is not None:
            self.redis.close()

    async def aclose(self) -> None:
        """``close`` from async code: its final flush is a sync call, run in a thread."""
        await asyncio.to_thread(self.close)


_LIVE_METRICS: weakref.WeakSet[Metrics] = weakref.WeakSet()


def live_metrics() -> list[Metrics]:
    """Every ``Metrics`` object of this process not yet garbage-collected."""
    return list(_LIVE_METRICS)


def _counter_client(
    settings: AgentCacheSettings, client: Any
) -> tuple[Callable[[], SyncClient], bool]:
    """Where counters go: the configured Redis, else the layer's own server."""
    if settings.redis.url or settings.redis.cluster_nodes or client is None:
        return (lambda: sync_client(settings)), True
    if isinstance(client, redis.Redis | redis.RedisCluster):
        return (lambda: client), False
    if isinstance(client, aredis.Redis):
        # The flusher is a thread and cannot share an event loop's client:
        # open a sync twin on the same server.
        kw = client.connection_pool.connection_kwargs
        keep: tuple[str, ...] = ("host", "port", "db", "username", "password", "path")
        keep += ("socket_timeout", "socket_connect_timeout")
        twin = {k: kw[k] for k in keep if k in kw}
        if "path" in twin:
            twin["unix_socket_path"] = twin.pop("path")
        return (lambda: redis.Redis(**twin)), True
    raise ConfigurationError(
        f"cannot derive a metrics client from {type(client).__name__}; set "
        "AGENTCACHE_REDIS__URL or pass metrics=Metrics(...) explicitly"
    )
