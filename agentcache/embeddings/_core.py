"""The pure core of the embedding cache: keys, packing, batching and tallies.

No Redis client, no metrics, no fault guard: the shells (``_async.py`` and
the generated ``_sync.py``) do the I/O around it and report its counts.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from agentcache._limits import check_text
from agentcache._redis import keys as _keys
from agentcache.embeddings._types import EmbeddingCacheInfo
from agentcache.exceptions import ConfigurationError, InvalidInputError
from agentcache.settings import AgentCacheSettings
from agentcache.vectorizers import Vector, as_vector

_DTYPE = np.dtype("<f4")


@dataclass(frozen=True)
class Batch:
    """A batch of texts reduced to its unique members."""

    unique: list[str]
    keys: list[str]
    positions: list[int]  # input index -> index into unique


class EmbeddingCore:
    """Keys, packing, batching and the hit/miss tally of one model: everything but I/O."""

    def __init__(self, settings: AgentCacheSettings, model: str | None, dims: int | None) -> None:
        cfg = settings.embeddings
        self.settings = settings
        self.model = model if model is not None else cfg.model
        self.dims = dims if dims is not None else cfg.dims
        if not self.model or self.dims < 1:
            raise ConfigurationError(f"embedding cache needs a model and dims >= 1: {self.dims}")
        self.enabled = cfg.cache_enabled
        self.ttl_seconds = cfg.ttl_seconds
        # {prefix}:emb:{model}:{dims}: no tenant tag (vectors are shared by all tenants).
        prefix, model = settings.redis.key_prefix, _keys.encode_id(self.model)
        self._base = ":".join((prefix, _keys.EMBEDDINGS, model, str(self.dims)))
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0

    def key(self, text: str) -> str:
        if not isinstance(text, str):
            raise InvalidInputError(f"text to embed must be a str, got {type(text).__name__}")
        return f"{self._base}:{_keys.digest(check_text(text, 'text to embed'))}"

    def valid(self, vector: Any) -> Vector:
        return as_vector(vector, self.dims, what=f"{self.model} embedding")

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

    def batch(self, texts: Sequence[str]) -> Batch:
        if isinstance(texts, str):
            raise InvalidInputError("texts must be a sequence of strings, not one string")
        index: dict[str, int] = {}
        positions = [index.setdefault(text, len(index)) for text in texts]
        unique = list(index)
        return Batch(unique, [self.key(text) for text in unique], positions)

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

    def tally(self, hits: int, misses: int) -> None:
        with self._lock:
            self._hits += hits
            self._misses += misses

    def info(self) -> EmbeddingCacheInfo:
        with self._lock:
            return EmbeddingCacheInfo(self._hits, self._misses)


def missing_of(found: Sequence[Vector | None]) -> list[int]:
    """Indexes of the texts whose vector was not found (to compute)."""
    return [i for i, vector in enumerate(found) if vector is None]


def in_order(batch: Batch, found: Sequence[Vector | None]) -> list[Vector]:
    """The unique texts' vectors spread back over the input order."""
    out: list[Vector] = []
    for i in batch.positions:
        vector = found[i]
        if vector is None:  # fill() left a gap: a bug, never a silent shift
            raise RuntimeError(f"embedding for text #{i} is missing")
        out.append(vector)
    return out


def slot_groups(keys: Sequence[str]) -> list[list[int]]:
    """Key indexes grouped by cluster slot: one MGET per group on a cluster."""
    return list(_keys.slot_groups(keys).values())


def scatter(groups: list[list[int]], replies: Sequence[Any], size: int) -> list[Any]:
    """Per-slot MGET replies put back in key order."""
    out: list[Any] = [None] * size
    for group, reply in zip(groups, replies, strict=True):
        for i, raw in zip(group, reply, strict=True):
            out[i] = raw
    return out


async def resolve(value: Any) -> Any:
    """``value``, awaited if it is awaitable (async compute functions may be either)."""
    return await value if inspect.isawaitable(value) else value
