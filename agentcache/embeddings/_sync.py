"""Embedding cache: ``EmbeddingCache`` / ``AsyncEmbeddingCache`` and ``CachedVectorizer``.

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

import asyncio
import inspect
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import RedisCluster

from agentcache._limits import check_text
from agentcache._redis import keys as _keys
from agentcache._redis.clients import AsyncClient, SyncClient, async_client, sync_client
from agentcache._redis.faults import FaultGuard
from agentcache.exceptions import ConfigurationError, InvalidInputError
from agentcache.metrics._counters import ERRORS, HITS, MISSES, NO_TENANT, STORES, Metrics
from agentcache.settings import AgentCacheSettings
from agentcache.vectorizers import Vector, Vectorizer, as_vector, as_vectorizer

_DTYPE = np.dtype("<f4")
# Metrics: vectors are shared by all tenants, so the series is the shared
# scope (NO_TENANT) with the model as the agent.
_LAYER = "embedding"

Compute = Callable[[str], Any]
ComputeMany = Callable[[Sequence[str]], Sequence[Any]]
AsyncCompute = Callable[[str], Awaitable[Any] | Any]
AsyncComputeMany = Callable[[Sequence[str]], Awaitable[Sequence[Any]] | Sequence[Any]]


@dataclass(frozen=True)
class EmbeddingCacheInfo:
    """Texts served from the cache (hits) and computed (misses) in this process."""

    hits: int = 0
    misses: int = 0


@dataclass(frozen=True)
class _Batch:
    """A batch of texts reduced to its unique members."""

    unique: list[str]
    keys: list[str]
    positions: list[int]  # input index -> index into unique


class _EmbeddingCore:
    """Keys, packing, batching and counters: everything but I/O."""

    def __init__(self, settings: AgentCacheSettings, model: str | None, dims: int | None) -> None:
        cfg = settings.embeddings
        self.settings = settings
        self.model = model if model is not None else cfg.model
        self.dims = dims if dims is not None else cfg.dims
        if not self.model or self.dims < 1:
            raise ConfigurationError(f"embedding cache needs a model and dims >= 1: {self.dims}")
        self.enabled = cfg.cache_enabled
        self.ttl_seconds = cfg.ttl_seconds
        # Replaced by attach_metrics once the wrapper has its client.
        self.metrics = Metrics(enabled=False)
        self.owns_metrics = False
        self.guard = FaultGuard(
            settings.reliability,
            layer="embeddings",
            on_fault=self._count_fault,
            on_latency=self._observe,
        )
        self._base = ":".join(
            (
                settings.redis.key_prefix,
                _keys.EMBEDDINGS,
                _keys.encode_id(self.model),
                str(self.dims),
            )
        )
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0

    def attach_metrics(self, metrics: Metrics | None, client: object) -> None:
        """Count into ``metrics``, else into one built from settings (then owned)."""
        self.owns_metrics = metrics is None
        self.metrics = metrics or Metrics.from_settings(self.settings, client=client)

    def _count_fault(self, operation: str, exc: BaseException) -> None:
        self.metrics.count(_LAYER, ERRORS, NO_TENANT, self.model)

    def _observe(self, operation: str, seconds: float) -> None:
        self.metrics.observe(_LAYER, operation, seconds, NO_TENANT, self.model)

    def stored(self, written: object, n: int) -> None:
        """Count ``n`` vectors stored, unless the write faulted (``written`` None)."""
        if written is not None and n:
            self.metrics.count(_LAYER, STORES, NO_TENANT, self.model, n)

    def key(self, text: str) -> str:
        if not isinstance(text, str):
            raise InvalidInputError(f"text to embed must be a str, got {type(text).__name__}")
        return f"{self._base}:{_keys.digest(check_text(text, 'text to embed'))}"

    def pack(self, vector: Any) -> bytes:
        return self.valid(vector).astype(_DTYPE).tobytes()

    def pack_many(
        self, texts: Sequence[str], vectors: Sequence[Any]
    ) -> tuple[list[str], list[bytes]]:
        """Keys and packed values for ``set_many``."""
        if len(texts) != len(vectors):
            raise InvalidInputError(f"{len(texts)} texts but {len(vectors)} vectors")
        return [self.key(t) for t in texts], [self.pack(v) for v in vectors]

    def unpack(self, raw: object) -> Vector | None:
        if not isinstance(raw, bytes) or len(raw) != self.dims * _DTYPE.itemsize:
            return None  # absent, or written for other dims: a miss
        return np.frombuffer(raw, dtype=_DTYPE).astype(np.float32)

    def unpack_all(self, replies: Sequence[object] | None, size: int) -> list[Vector | None]:
        """The vectors of an MGET reply; all misses when the read faulted (None)."""
        if replies is None:
            return [None] * size
        return [self.unpack(raw) for raw in replies]

    def valid(self, vector: Any) -> Vector:
        return as_vector(vector, self.dims, what=f"{self.model} embedding")

    def batch(self, texts: Sequence[str]) -> _Batch:
        if isinstance(texts, str):
            raise InvalidInputError("texts must be a sequence of strings, not one string")
        index: dict[str, int] = {}
        positions = [index.setdefault(text, len(index)) for text in texts]
        unique = list(index)
        return _Batch(unique, [self.key(text) for text in unique], positions)

    def record_lookup(self, batch: _Batch, found: list[Vector | None]) -> list[int]:
        """Count the batch's hits and misses; return the indexes of the texts to compute."""
        missing = [i for i, vector in enumerate(found) if vector is None]
        self.count(len(batch.unique) - len(missing), len(missing))
        return missing

    def fill(
        self, found: list[Vector | None], missing: list[int], vectors: Sequence[Any]
    ) -> list[bytes]:
        """Put computed ``vectors`` into ``found``; return their packed bytes, to store."""
        if len(vectors) != len(missing):
            raise InvalidInputError(
                f"compute_many returned {len(vectors)} vectors for {len(missing)} texts"
            )
        packed = []
        for i, raw in zip(missing, vectors, strict=True):
            vector = self.valid(raw)
            found[i] = vector
            packed.append(vector.astype(_DTYPE).tobytes())
        return packed

    def in_order(self, batch: _Batch, found: list[Vector | None]) -> list[Vector]:
        out: list[Vector] = []
        for i in batch.positions:
            vector = found[i]
            if vector is None:  # fill() left a gap: a bug, never a silent shift
                raise RuntimeError(f"embedding for text #{i} is missing")
            out.append(vector)
        return out

    def count(self, hits: int, misses: int) -> None:
        with self._lock:
            self._hits += hits
            self._misses += misses
        if hits:
            self.metrics.count(_LAYER, HITS, NO_TENANT, self.model, hits)
        if misses:
            self.metrics.count(_LAYER, MISSES, NO_TENANT, self.model, misses)

    def info(self) -> EmbeddingCacheInfo:
        with self._lock:
            return EmbeddingCacheInfo(self._hits, self._misses)


def _grouped(keys: Sequence[str]) -> list[list[int]]:
    return list(_keys.slot_groups(keys).values())


def _scatter(groups: list[list[int]], replies: Sequence[Any], size: int) -> list[Any]:
    """Per-slot MGET replies put back in key order."""
    out: list[Any] = [None] * size
    for group, reply in zip(groups, replies, strict=True):
        for i, raw in zip(group, reply, strict=True):
            out[i] = raw
    return out


class _EmbeddingCacheBase:
    """What the sync and async embedding caches share: the no-I/O core and its views."""

    _core: _EmbeddingCore

    @property
    def model(self) -> str:
        return self._core.model

    @property
    def dims(self) -> int:
        return self._core.dims

    @property
    def guard(self) -> FaultGuard:
        return self._core.guard

    @property
    def metrics(self) -> Metrics:
        return self._core.metrics

    def info(self) -> EmbeddingCacheInfo:
        """Hits and misses counted in this process."""
        return self._core.info()

    def key(self, text: str) -> str:
        """The Redis key of ``text``'s vector."""
        return self._core.key(text)


class EmbeddingCache(_EmbeddingCacheBase):
    """Vectors of one model (default: ``settings.embeddings``), cached in Redis."""

    def __init__(
        self,
        settings: AgentCacheSettings,
        client: SyncClient | None = None,
        *,
        model: str | None = None,
        dims: int | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._core = _EmbeddingCore(settings, model, dims)
        self._owns_client = client is None
        self.client: SyncClient = client if client is not None else sync_client(settings)
        self._core.attach_metrics(metrics, self.client)

    def get(self, text: str) -> Vector | None:
        """The cached vector of ``text``, or None."""
        key = self._core.key(text)
        if not self._core.enabled:
            return None
        return self._core.unpack(self._core.guard.run("get", lambda: self.client.get(key)))

    def set(self, text: str, vector: Any) -> None:
        """Store ``vector`` for ``text`` (checked: dims, finite, not all zeros)."""
        key, raw = self._core.key(text), self._core.pack(vector)
        if self._core.enabled:
            written = self._core.guard.run(
                "set", lambda: self.client.set(key, raw, ex=self._core.ttl_seconds)
            )
            self._core.stored(written, 1)

    def get_many(self, texts: Sequence[str]) -> list[Vector | None]:
        """Cached vectors of ``texts`` in order (None where absent), in one round trip."""
        batch = self._core.batch(texts)
        found = self._read(batch.keys)
        return [found[i] for i in batch.positions]

    def set_many(self, texts: Sequence[str], vectors: Sequence[Any]) -> None:
        """Store many vectors in one pipelined round trip."""
        self._write(*self._core.pack_many(texts, vectors))

    def get_or_compute(self, text: str, compute: Compute) -> Vector:
        """The cached vector of ``text``, else ``compute(text)``, stored."""
        return self.get_or_compute_many([text], lambda texts: [compute(texts[0])])[0]

    def get_or_compute_many(self, texts: Sequence[str], compute_many: ComputeMany) -> list[Vector]:
        """Vectors of ``texts`` in input order: one MGET, one ``compute_many`` call for the
        unique misses, one pipelined write."""
        core = self._core
        batch = core.batch(texts)
        if not batch.unique:
            return []
        found = self._read(batch.keys)
        missing = core.record_lookup(batch, found)
        if missing:
            computed = compute_many([batch.unique[i] for i in missing])
            packed = core.fill(found, missing, computed)
            self._write([batch.keys[i] for i in missing], packed)
        return core.in_order(batch, found)

    def _read(self, keys: list[str]) -> list[Vector | None]:
        if not self._core.enabled or not keys:
            return [None] * len(keys)
        raw = self._core.guard.run("mget", lambda: self._mget(keys))
        return self._core.unpack_all(raw, len(keys))

    def _mget(self, keys: list[str]) -> list[Any]:
        if not isinstance(self.client, RedisCluster):
            return list(self.client.mget(keys))
        groups = _grouped(keys)
        pipe = self.client.pipeline()
        for group in groups:
            # ClusterPipeline blocks .mget(); a one-slot MGET sent as a plain command is fine.
            pipe.execute_command("MGET", *[keys[i] for i in group])
        return _scatter(groups, pipe.execute(), len(keys))

    def _write(self, keys: list[str], values: list[bytes]) -> None:
        if not self._core.enabled or not keys:
            return

        def write() -> bool:
            pipe = self.client.pipeline(transaction=False)
            for key, raw in zip(keys, values, strict=True):
                pipe.set(key, raw, ex=self._core.ttl_seconds)
            pipe.execute()
            return True

        self._core.stored(self._core.guard.run("store", write), len(keys))

    def close(self) -> None:
        """Flush and close the metrics and the client, if this cache made them."""
        if self._core.owns_metrics:
            self._core.metrics.close()
        if self._owns_client:
            self.client.close()

    def __enter__(self) -> EmbeddingCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


async def _resolve(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


class AsyncEmbeddingCache(_EmbeddingCacheBase):
    """The asyncio twin of ``EmbeddingCache``; compute functions may be sync or async."""

    def __init__(
        self,
        settings: AgentCacheSettings,
        client: AsyncClient | None = None,
        *,
        model: str | None = None,
        dims: int | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._core = _EmbeddingCore(settings, model, dims)
        self._owns_client = client is None
        self.client: AsyncClient = client if client is not None else async_client(settings)
        self._core.attach_metrics(metrics, self.client)

    async def get(self, text: str) -> Vector | None:
        key = self._core.key(text)
        if not self._core.enabled:
            return None
        raw = await self._core.guard.arun("get", lambda: self.client.get(key))
        return self._core.unpack(raw)

    async def set(self, text: str, vector: Any) -> None:
        key, raw = self._core.key(text), self._core.pack(vector)
        if self._core.enabled:
            written = await self._core.guard.arun(
                "set", lambda: self.client.set(key, raw, ex=self._core.ttl_seconds)
            )
            self._core.stored(written, 1)

    async def get_many(self, texts: Sequence[str]) -> list[Vector | None]:
        batch = self._core.batch(texts)
        found = await self._read(batch.keys)
        return [found[i] for i in batch.positions]

    async def set_many(self, texts: Sequence[str], vectors: Sequence[Any]) -> None:
        await self._write(*self._core.pack_many(texts, vectors))

    async def get_or_compute(self, text: str, compute: AsyncCompute) -> Vector:
        async def one(texts: Sequence[str]) -> list[Any]:
            return [await _resolve(compute(texts[0]))]

        return (await self.get_or_compute_many([text], one))[0]

    async def get_or_compute_many(
        self, texts: Sequence[str], compute_many: AsyncComputeMany
    ) -> list[Vector]:
        core = self._core
        batch = core.batch(texts)
        if not batch.unique:
            return []
        found = await self._read(batch.keys)
        missing = core.record_lookup(batch, found)
        if missing:
            computed = await _resolve(compute_many([batch.unique[i] for i in missing]))
            packed = core.fill(found, missing, computed)
            await self._write([batch.keys[i] for i in missing], packed)
        return core.in_order(batch, found)

    async def _read(self, keys: list[str]) -> list[Vector | None]:
        if not self._core.enabled or not keys:
            return [None] * len(keys)
        raw = await self._core.guard.arun("mget", lambda: self._mget(keys))
        return self._core.unpack_all(raw, len(keys))

    async def _mget(self, keys: list[str]) -> list[Any]:
        if not isinstance(self.client, AsyncRedisCluster):
            return list(await self.client.mget(keys))
        groups = _grouped(keys)
        pipe = self.client.pipeline()
        for group in groups:
            # ClusterPipeline blocks .mget(); a one-slot MGET sent as a plain command is fine.
            pipe.execute_command("MGET", *[keys[i] for i in group])
        return _scatter(groups, await pipe.execute(), len(keys))

    async def _write(self, keys: list[str], values: list[bytes]) -> None:
        if not self._core.enabled or not keys:
            return

        async def write() -> bool:
            pipe = self.client.pipeline(transaction=False)
            for key, raw in zip(keys, values, strict=True):
                pipe.set(key, raw, ex=self._core.ttl_seconds)
            await pipe.execute()
            return True

        self._core.stored(await self._core.guard.arun("store", write), len(keys))

    async def aclose(self) -> None:
        """Async twin of ``EmbeddingCache.close``."""
        if self._core.owns_metrics:
            await self._core.metrics.aclose()
        if self._owns_client:
            await self.client.aclose()

    async def __aenter__(self) -> AsyncEmbeddingCache:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class CachedVectorizer:
    """A ``Vectorizer`` that asks the embedding cache first, so no text is embedded twice.

    Hand it to the semantic cache as its vectorizer::

        vectorizer = CachedVectorizer(LocalVectorizer(), EmbeddingCache(settings))

    Async calls use ``async_cache`` when given, else the sync cache in a worker thread.
    """

    def __init__(
        self,
        vectorizer: Vectorizer,
        cache: EmbeddingCache,
        async_cache: AsyncEmbeddingCache | None = None,
    ) -> None:
        vectorizer = as_vectorizer(vectorizer)
        for which in (cache, async_cache):
            if which is not None and (which.model, which.dims) != (
                vectorizer.model,
                vectorizer.dims,
            ):
                raise ConfigurationError(
                    f"embedding cache is for {which.model!r} ({which.dims} dims) but the "
                    f"vectorizer is {vectorizer.model!r} ({vectorizer.dims} dims); pass "
                    "model= and dims= to the cache"
                )
        self.vectorizer = vectorizer
        self.cache = cache
        self.async_cache = async_cache

    @property
    def model(self) -> str:
        return self.vectorizer.model

    @property
    def dims(self) -> int:
        return self.vectorizer.dims

    def embed(self, text: str) -> Vector:
        return self.cache.get_or_compute(text, self.vectorizer.embed)

    def embed_many(self, texts: Sequence[str]) -> list[Vector]:
        return self.cache.get_or_compute_many(texts, self.vectorizer.embed_many)

    async def aembed(self, text: str) -> Vector:
        if self.async_cache is None:
            return await asyncio.to_thread(self.embed, text)
        return await self.async_cache.get_or_compute(text, self.vectorizer.aembed)

    async def aembed_many(self, texts: Sequence[str]) -> list[Vector]:
        if self.async_cache is None:
            return await asyncio.to_thread(self.embed_many, texts)
        return await self.async_cache.get_or_compute_many(texts, self.vectorizer.aembed_many)


__all__ = [
    "AsyncEmbeddingCache",
    "CachedVectorizer",
    "EmbeddingCache",
    "EmbeddingCacheInfo",
]
