"""The two baselines agentcache is measured against, in the same process and server.

``LinearScan`` is the tutorial semantic cache: each entry a JSON string
(prompt, response, embedding as a list of floats), a set of entry keys, and a
lookup that GETs every key and computes cosine similarity in numpy.

``RedisvlCache`` is redisvl's own ``SemanticCache`` (a FLAT index and a
vector range query), fed the same precomputed vectors. For the multi-tenant
workloads it is one cache with a ``tenant`` tag as a filterable field (redisvl's
documented way to scope a shared cache), checked with a ``Tag("tenant") == t``
filter: one index and one filtered query per lookup, as agentcache does.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import redis

Matrix = npt.NDArray[np.float32]


class LinearScan:
    """JSON entries in a key set; a lookup reads them all."""

    name = "linear scan"

    def __init__(self, client: redis.Redis, prefix: str = "linear") -> None:
        self.client = client
        self.prefix = prefix
        self.set_key = f"{prefix}:keys"
        self._next = 0

    def _entry(self, prompt: str, response: str, vector: Sequence[float]) -> tuple[str, str]:
        key = f"{self.prefix}:entry:{self._next}"
        self._next += 1
        value = json.dumps({"prompt": prompt, "response": response, "embedding": list(vector)})
        return key, value

    def store(self, prompt: str, response: str, vector: npt.NDArray[np.float32]) -> None:
        key, value = self._entry(prompt, response, vector.tolist())
        self.client.set(key, value)
        self.client.sadd(self.set_key, key)

    def store_many(self, prompts: Sequence[str], response: str, vectors: Matrix) -> None:
        pipe = self.client.pipeline(transaction=False)
        for i, (prompt, vector) in enumerate(zip(prompts, vectors.tolist(), strict=True)):
            key, value = self._entry(prompt, response, vector)
            pipe.set(key, value)
            pipe.sadd(self.set_key, key)
            if i % 1000 == 999:
                pipe.execute()
        pipe.execute()

    def check(self, vector: npt.NDArray[np.float32], threshold: float) -> dict[str, Any] | None:
        query = vector / np.linalg.norm(vector)
        best: dict[str, Any] | None = None
        best_sim = -2.0
        for key in self.client.smembers(self.set_key):
            raw = self.client.get(key)
            if raw is None:
                continue
            entry = json.loads(raw)
            stored = np.asarray(entry["embedding"], dtype=np.float32)
            sim = float(stored @ query / np.linalg.norm(stored))
            if sim > best_sim:
                best, best_sim = entry, sim
        return best if best is not None and best_sim >= threshold else None


class RedisvlCache:
    """redisvl's SemanticCache (FLAT index, range query) with precomputed vectors."""

    name = "redisvl SemanticCache"

    def __init__(
        self,
        client: redis.Redis,
        threshold: float,
        dims: int,
        name: str = "rvl",
        tenant_field: bool = False,
    ) -> None:
        from redisvl.extensions.cache.llm import SemanticCache
        from redisvl.utils.vectorize import CustomVectorizer

        def no_embedding(text: str) -> list[float]:
            # Only redisvl's dims probe lands here: every call passes a vector.
            return [1.0] * dims

        self.cache = SemanticCache(
            name=name,
            distance_threshold=1.0 - threshold,
            vectorizer=CustomVectorizer(embed=no_embedding),
            redis_client=client,
            overwrite=True,
            filterable_fields=[{"name": "tenant", "type": "tag"}] if tenant_field else None,
        )

    def store(self, prompt: str, response: str, vector: list[float]) -> None:
        self.cache.store(prompt, response, vector=vector)

    def store_many(
        self, prompts: Sequence[str], response: str, vectors: Matrix, tenant: str | None = None
    ) -> None:
        # redisvl has no bulk store; its index.load is the batched write path.
        from redisvl.extensions.cache.llm.schema import CacheEntry

        filters = {"tenant": tenant} if tenant is not None else None
        records = []
        for prompt, vector in zip(prompts, vectors.tolist(), strict=True):
            entry = CacheEntry(
                entry_id=self.cache._make_entry_id(prompt, filters),
                prompt=prompt,
                response=response,
                prompt_vector=vector,
                filters=filters,
            )
            records.append(entry.to_dict("float32"))
            if len(records) == 1000:
                self.cache.index.load(records, id_field="entry_id")
                records = []
        if records:
            self.cache.index.load(records, id_field="entry_id")

    def check(self, vector: list[float]) -> bool:
        return bool(self.cache.check(vector=vector, num_results=1))

    def best(self, vector: list[float], tenant: str) -> tuple[str, str] | None:
        """(tenant, prompt) of the entry redisvl serves in ``tenant``, or None."""
        from redisvl.query.filter import Tag

        found = self.cache.check(
            vector=vector, num_results=1, filter_expression=Tag("tenant") == tenant
        )
        if not found:
            return None
        return str(found[0].get("tenant", "")), str(found[0]["prompt"])
