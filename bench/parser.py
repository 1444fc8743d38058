"""check() latency with redis-py's pure-Python reply parser vs hiredis, one process.

    python -m bench.parser

10,000 random 384-dim entries over 50 tenants (200 each), near-duplicate queries
(exact-repeat path off, plain threshold policy), interleaved rounds of 300 lookups
per parser; medians of the per-round p50. hiredis comes with ``agentcache[fast]``.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import redis
from redis._parsers import _HiredisParser, _RESP2Parser

from agentcache._redis.server import EmbeddedRedis
from agentcache.semantic import SemanticCache
from agentcache.settings import AgentCacheSettings
from agentcache.testing.vectors import HashingVectorizer

DIMS, TENANTS, PER_TENANT, ROUNDS, LOOKUPS = 384, 50, 200, 6, 300


def main() -> None:
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((TENANTS * PER_TENANT, DIMS)).astype(np.float32)
    with EmbeddedRedis() as server:
        settings = AgentCacheSettings(
            redis={"url": server.url, "socket_timeout": 10},
            embeddings={"dims": DIMS, "model": "random"},
            semantic={"ttl_seconds": None, "policy": "threshold", "exact_match": False},
        )
        loader = SemanticCache(settings, vectorizer=HashingVectorizer(DIMS, model="random"))
        for t in range(TENANTS):
            rows = [(f"q{t}-{i}", "x" * 200) for i in range(PER_TENANT)]
            own = vectors[t * PER_TENANT : (t + 1) * PER_TENANT]
            loader.store_many(rows, tenant=f"t{t}", agent="a", vectors=list(own))
        caches = {
            name: SemanticCache(
                settings,
                client=redis.Redis.from_url(server.url, parser_class=parser, protocol=2),
                vectorizer=HashingVectorizer(DIMS, model="random"),
            )
            for name, parser in (("python", _RESP2Parser), ("hiredis", _HiredisParser))
        }
        medians: dict[str, list[float]] = {name: [] for name in caches}
        for _ in range(ROUNDS):
            for name, cache in caches.items():
                times = []
                for j in range(LOOKUPS):
                    t = j % TENANTS
                    noise = 0.01 * rng.standard_normal(DIMS).astype(np.float32)
                    query = vectors[t * PER_TENANT + j % PER_TENANT] + noise
                    start = time.perf_counter()
                    cache.check("lookup", tenant=f"t{t}", agent="a", vector=query)
                    times.append(time.perf_counter() - start)
                medians[name].append(statistics.median(times))
    p50 = {name: statistics.median(values) * 1000 for name, values in medians.items()}
    for name, value in p50.items():
        print(f"{name:<8} check p50 {value:.3f} ms")
    print(f"hiredis / python: {p50['hiredis'] / p50['python']:.2f}")


if __name__ == "__main__":
    main()
