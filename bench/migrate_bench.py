"""Time index migrations of N entries: in place (HNSW M change) and re-embedding (new dims).

Run: .venv/bin/python -m bench.migrate_bench [N]   (default 100000; own embedded server)

Vectors are deterministic hashing vectors. The re-embedding run goes through the
embedding cache (agentcache.embeddings) pre-filled with every prompt, i.e. "with
cached embeddings". The time to load the N entries (store_many) is printed as the
baseline the migration times are compared with, measured in the same process.
"""

from __future__ import annotations

import sys
import time

from agentcache._redis.server import EmbeddedRedis
from agentcache.migrations import Migrator
from agentcache.semantic import SemanticCache
from agentcache.settings import AgentCacheSettings
from agentcache.testing.vectors import HashingVectorizer
from agentcache.vectorizers import Vectorizer

TENANTS = 10


def prompt(i: int) -> str:
    return f"question {i} about topic {i % 97} and item {i % 1013}"


def main(n: int) -> None:
    with EmbeddedRedis() as server:
        settings = AgentCacheSettings(
            redis={"url": server.url, "key_prefix": "bench", "socket_timeout": 60.0},
            embeddings={"dims": 32, "model": "test-hash"},
            semantic={"ttl_seconds": None, "max_entries_per_tenant": None},
        )
        cache = SemanticCache(settings, vectorizer=HashingVectorizer(32))
        started = time.perf_counter()
        for t in range(TENANTS):
            rows = [(prompt(i), f"answer {i}") for i in range(t, n, TENANTS)]
            for start in range(0, len(rows), 5000):
                cache.store_many(rows[start : start + 5000], tenant=f"tenant{t}", agent="a")
        load = time.perf_counter() - started
        print(f"load {n} entries (store_many, baseline): {load:.1f}s")

        in_place = settings.model_copy(deep=True)
        in_place.semantic.hnsw_m = 24
        started = time.perf_counter()
        report = Migrator(in_place, batch_size=1000, clock_slack=2.0).apply()
        took = time.perf_counter() - started
        print(f"in place (M 16 -> 24): {took:.1f}s = {took / load:.2f}x load; "
              f"{sum(report.counts.values())} verified")  # fmt: skip
        Migrator(in_place).cleanup()

        new = in_place.model_copy(deep=True)
        new.embeddings.dims, new.embeddings.model = 48, "test-hash-48"
        vectorizer: Vectorizer = HashingVectorizer(48, model="test-hash-48")
        try:
            from agentcache.embeddings import CachedVectorizer, EmbeddingCache

            vectorizer = CachedVectorizer(
                vectorizer, EmbeddingCache(new, model="test-hash-48", dims=48)
            )
            started = time.perf_counter()
            texts = [prompt(i) for i in range(n)]
            for start in range(0, n, 5000):
                vectorizer.embed_many(texts[start : start + 5000])
            print(f"embedding cache pre-filled in {time.perf_counter() - started:.1f}s")
        except ImportError:
            print(
                "agentcache.embeddings missing: re-embedding with the hashing vectorizer directly"
            )
        started = time.perf_counter()
        report = Migrator(new, vectorizer=vectorizer, batch_size=1000, clock_slack=2.0).apply()
        took = time.perf_counter() - started
        print(f"re-embed (32 -> 48 dims, cached embeddings): {took:.1f}s = "
              f"{took / load:.2f}x load; "
              f"copied {report.copied}, caught up {report.caught_up}")  # fmt: skip


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
