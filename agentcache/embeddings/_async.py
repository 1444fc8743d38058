"""Embedding cache: the I/O shell (``_async.py`` is the source, ``_sync.py`` is generated).

A text is embedded once per model: the vector is stored under
``{prefix}:emb:{model}:{dims}:{digest(text)}`` as packed little-endian float32
bytes (``4 * dims`` bytes of payload). The model and the dimension count are
both in the key, so two models never read each other's vectors, and a stored
value of the wrong length is treated as a miss. The keys carry no hash tag,
so on a cluster they spread over all slots; batch reads group them by slot.

``get_or_compute_many`` is the hot path: one read round trip (MGET), one
provider call for the unique misses, one pipelined write, vectors returned in
input order.

Memory: vectors never expire by default (``embeddings.ttl_seconds``), since
an embedding never goes stale. Bound memory with Redis eviction instead: in
a Redis that holds only embeddings, ``maxmemory <size>`` with
``maxmemory-policy allkeys-lru`` keeps the most used vectors. If the same
Redis holds the semantic index or tool results, do not use ``allkeys-*``
(it would evict those too): set ``AGENTCACHE_EMBEDDINGS__TTL_SECONDS`` and
``volatile-lru``, or give embeddings their own Redis.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.asyncio import cluster  # sync: from redis import cluster

from agentcache._lifecycle_async import AsyncShell
from agentcache._redis.clients import AsyncClient
from agentcache._redis.faults import FaultGuard
from agentcache._redis.keys import EMBEDDING_LAYER
from agentcache.embeddings._core import (
    EmbeddingCore,
    in_order,
    missing_of,
    resolve,  # async only
    scatter,
    slot_groups,
)
from agentcache.embeddings._types import AsyncCompute, AsyncComputeMany, EmbeddingCacheInfo
from agentcache.metrics._counters import ERRORS, HITS, MISSES, NO_TENANT, STORES, Metrics
from agentcache.settings import AgentCacheSettings
from agentcache.vectorizers import Vector


class AsyncEmbeddingCache(AsyncShell):
    """Vectors of one model (default: ``settings.embeddings``), cached in Redis.

    Contract, the same for the sync and the async twin: the constructor sends
    no command (it builds the client from settings unless given one, which
    for a sync cluster client means redis-py's node discovery, and builds
    the metrics); the first read or write talks to Redis. Faults are logged
    by the guard (layer ``embedding``) and served as misses unless strict.
    As a context manager it returns itself and closes on exit; ``aclose``
    flushes and closes the metrics and the client only if this cache made
    them. Metrics: vectors are shared by all tenants, so they are counted in
    the shared scope with the model as the agent. The async twin also takes
    compute functions that return awaitables.
    """

    def __init__(
        self,
        settings: AgentCacheSettings,
        client: AsyncClient | None = None,
        *,
        model: str | None = None,
        dims: int | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._core = EmbeddingCore(settings, model, dims)
        self._own(settings, client, metrics)
        self.guard = FaultGuard(
            settings.reliability,
            layer=EMBEDDING_LAYER,
            on_fault=self._count_fault,
            on_latency=self._observe,
        )

    @property
    def model(self) -> str:
        return self._core.model

    @property
    def dims(self) -> int:
        return self._core.dims

    def info(self) -> EmbeddingCacheInfo:
        """Hits and misses counted in this process."""
        return self._core.info()

    def key(self, text: str) -> str:
        """The Redis key of ``text``'s vector."""
        return self._core.key(text)

    def _count(self, event: str, n: int) -> None:
        if n:
            self.metrics.count(EMBEDDING_LAYER, event, NO_TENANT, self._core.model, n)

    def _count_fault(self, operation: str, exc: BaseException) -> None:
        self._count(ERRORS, 1)

    def _observe(self, operation: str, seconds: float) -> None:
        self.metrics.observe(EMBEDDING_LAYER, operation, seconds, NO_TENANT, self._core.model)

    async def get(self, text: str) -> Vector | None:
        """The cached vector of ``text``, or None."""
        key = self._core.key(text)
        if not self._core.enabled:
            return None
        raw = await self.guard.arun("get", lambda: self.client.get(key))
        return self._core.unpack(raw)

    async def set(self, text: str, vector: Any) -> None:
        """Store ``vector`` for ``text`` (checked: dims, finite, not all zeros)."""
        key, raw = self._core.key(text), self._core.pack(vector)
        if self._core.enabled:
            written = await self.guard.arun(
                "set", lambda: self.client.set(key, raw, ex=self._core.ttl_seconds)
            )
            if written is not None:  # None: the write faulted
                self._count(STORES, 1)

    async def get_many(self, texts: Sequence[str]) -> list[Vector | None]:
        """Cached vectors of ``texts`` in order (None where absent), in one round trip."""
        batch = self._core.batch(texts)
        found = await self._read(batch.keys)
        return [found[i] for i in batch.positions]

    async def set_many(self, texts: Sequence[str], vectors: Sequence[Any]) -> None:
        """Store many vectors in one pipelined round trip."""
        await self._write(*self._core.pack_many(texts, vectors))

    async def get_or_compute(self, text: str, compute: AsyncCompute) -> Vector:
        """The cached vector of ``text``, else ``compute(text)``, stored."""

        async def one(texts: Sequence[str]) -> list[Any]:
            return [await resolve(compute(texts[0]))]  # sync: return [compute(texts[0])]

        return (await self.get_or_compute_many([text], one))[0]

    async def get_or_compute_many(
        self,
        texts: Sequence[str],
        compute_many: AsyncComputeMany,
    ) -> list[Vector]:
        """Vectors of ``texts`` in input order: one MGET, one ``compute_many`` call for the
        unique misses, one pipelined write."""
        core = self._core
        batch = core.batch(texts)
        if not batch.unique:
            return []
        found = await self._read(batch.keys)
        missing = missing_of(found)
        hits = len(batch.unique) - len(missing)
        core.tally(hits, len(missing))
        self._count(HITS, hits)
        self._count(MISSES, len(missing))
        if missing:
            wanted = [batch.unique[i] for i in missing]
            computed = await resolve(compute_many(wanted))  # sync: computed = compute_many(wanted)
            packed = core.fill(found, missing, computed)
            await self._write([batch.keys[i] for i in missing], packed)
        return in_order(batch, found)

    async def _read(self, keys: list[str]) -> list[Vector | None]:
        if not self._core.enabled or not keys:
            return [None] * len(keys)
        raw = await self.guard.arun("mget", lambda: self._mget(keys))
        return self._core.unpack_all(raw, len(keys))

    async def _mget(self, keys: list[str]) -> list[Any]:
        if not isinstance(self.client, cluster.RedisCluster):
            return list(await self.client.mget(keys))
        groups = slot_groups(keys)
        pipe = self.client.pipeline()
        for group in groups:
            # ClusterPipeline blocks .mget(); a one-slot MGET sent as a plain command is fine.
            pipe.execute_command("MGET", *[keys[i] for i in group])
        return scatter(groups, await pipe.execute(), len(keys))

    async def _write(self, keys: list[str], values: list[bytes]) -> None:
        if not self._core.enabled or not keys:
            return

        async def write() -> bool:
            pipe = self.client.pipeline(transaction=False)
            for key, raw in zip(keys, values, strict=True):
                pipe.set(key, raw, ex=self._core.ttl_seconds)
            await pipe.execute()
            return True

        if await self.guard.arun("store", write) is not None:  # None: the write faulted
            self._count(STORES, len(keys))


__all__ = ["AsyncEmbeddingCache"]
