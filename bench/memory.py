"""Bytes per semantic-cache entry, float32 vs float16, with and without listpack hashes.

    python -m bench.memory [N]

Stores N entries (random 384-dim vectors, a 35-character prompt, a 200-byte
response) into the embedded Redis Stack and divides the INFO used_memory delta
by N: hash, index and LRU set together. One server keeps Redis's default
``hash-max-listpack-value`` (64), the other the embedded default (4096).
"""

from __future__ import annotations

import sys

import numpy as np
import redis

from agentcache._redis.server import EmbeddedRedis
from agentcache.semantic import SemanticCache
from agentcache.settings import AgentCacheSettings
from agentcache.testing.vectors import HashingVectorizer

DIMS = 384


def bytes_per_entry(url: str, datatype: str, n: int) -> float:
    settings = AgentCacheSettings(
        redis={"url": url, "socket_timeout": 10, "key_prefix": f"mem{datatype}"},
        embeddings={"dims": DIMS, "model": "random"},
        semantic={"ttl_seconds": None, "vector_datatype": datatype, "index_name": datatype},
    )
    cache = SemanticCache(settings, vectorizer=HashingVectorizer(DIMS, model="random"))
    client = redis.Redis.from_url(url)
    before = client.info("memory")["used_memory"]
    vectors = np.random.default_rng(0).standard_normal((n, DIMS)).astype(np.float32)
    for start in range(0, n, 1000):
        stop = min(n, start + 1000)
        rows = [(f"question number {i} about something", "x" * 200) for i in range(start, stop)]
        cache.store_many(rows, tenant="t", agent="a", vectors=list(vectors[start:stop]))
    used = client.info("memory")["used_memory"] - before
    cache.close()
    client.close()
    return used / n


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    print(f"{n:,} entries, {DIMS} dims")
    print("| hash-max-listpack-value | float32 bytes/entry | float16 bytes/entry |")
    print("| ---: | ---: | ---: |")
    for value in ("64", "4096"):
        # The launcher sets 4096; a later argument on the command line wins.
        with EmbeddedRedis(extra_args=("--hash-max-listpack-value", value)) as server:
            f32 = bytes_per_entry(server.url, "float32", n)
            f16 = bytes_per_entry(server.url, "float16", n)
        print(f"| {value} | {f32:,.0f} | {f16:,.0f} |")


if __name__ == "__main__":
    main()
