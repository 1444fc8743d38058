"""Hit latency with the per-hit write-back in the entry hash (before) vs beside it (after).

Before: the scripts as of commit 0d07429 wrote hit_count/last_hit_at/last_similarity
into the indexed entry hash, so RediSearch re-indexed the document (HNSW vector
included) on every hit. After: the hits hash and LRU set take that state.

Both run in one process against one embedded server and one index, interleaved
call by call (wall time) and in alternating blocks (server time per script call
from INFO commandstats), so load on the shared machine hits both alike.

    .venv/bin/python -m bench.hit_writeback [--entries 20000] [--rounds 400]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import redis

from agentcache._redis.server import EmbeddedRedis
from agentcache.semantic import SemanticCache
from agentcache.settings import AgentCacheSettings
from agentcache.testing.vectors import HashingVectorizer

# The scripts before this change (commit 0d07429), verbatim except for their replies:
# LEGACY_TOUCH returns the payload the lookup now reads in the touch, as TOUCH_SCRIPT does.
LEGACY_TOUCH = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local hits = (tonumber(redis.call('HGET', KEYS[1], 'hit_count')) or 0) + 1
redis.call('HSET', KEYS[1], 'hit_count', hits, 'last_hit_at', ARGV[1], 'last_similarity', ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[2])
local values = redis.call('HMGET', KEYS[1], unpack(ARGV, 4))
table.insert(values, hits)
return values
"""
LEGACY_EXACT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
if ARGV[3] == '1' then
  local hits = (tonumber(redis.call('HGET', KEYS[1], 'hit_count')) or 0) + 1
  redis.call('HSET', KEYS[1], 'hit_count', hits, 'last_hit_at', ARGV[1], 'last_similarity', '1')
  redis.call('ZADD', KEYS[2], ARGV[1], ARGV[2])
end
local values = redis.call('HMGET', KEYS[1], unpack(ARGV, 4))
table.insert(values, 0)
return values
"""
DIMS = 384


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.standard_normal((n, DIMS)).astype(np.float32)
    out: np.ndarray = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


def _legacy(settings: AgentCacheSettings, client: redis.Redis) -> SemanticCache:
    cache = SemanticCache(settings, client=client, vectorizer=HashingVectorizer(DIMS))
    # Same keys and arguments as now; the legacy scripts ignore KEYS[3] (the hits hash)
    # and write the entry hash instead. LEGACY_EXACT appends a 0 count so replies parse.
    cache._touch_script = client.register_script(LEGACY_TOUCH)
    cache._exact_script = client.register_script(LEGACY_EXACT)
    return cache


def _server_usec(client: redis.Redis, run: Callable[[], Any], calls: int) -> float:
    """Server microseconds in scripts (EVALSHA) per lookup over ``calls`` runs."""
    client.config_resetstat()
    for _ in range(calls):
        run()
    stats = client.info("commandstats").get("cmdstat_evalsha", {})
    return float(stats.get("usec", 0)) / calls


def _report(name: str, walls: dict[str, list[float]], scripts: dict[str, list[float]]) -> None:
    row: dict[str, tuple[float, float]] = {}
    for label in ("before", "after"):
        ms = sorted(w * 1000 for w in walls[label])
        p50, p99 = statistics.median(ms), ms[int(len(ms) * 0.99) - 1]
        row[label] = (p50, statistics.median(scripts[label]))
        print(f"{name:13s} {label:6s} wall p50 {p50:.3f} ms  p99 {p99:.3f} ms  "
              f"scripts/lookup {row[label][1]:.0f} us")  # fmt: skip
    wall = row["after"][0] / row["before"][0]
    server = row["after"][1] / max(row["before"][1], 1e-9)
    print(f"{name:13s} after/before: wall p50 {wall:.2f}x, scripts/lookup {server:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=400)
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    with EmbeddedRedis() as server:
        client = redis.Redis.from_url(server.url)
        settings = AgentCacheSettings(
            redis={"url": server.url, "key_prefix": "hb"},
            embeddings={"dims": DIMS, "model": "test-hash"},
            semantic={"threshold": 0.9, "max_entries_per_tenant": None, "ttl_seconds": None},
        )
        after = SemanticCache(settings, client=client, vectorizer=HashingVectorizer(DIMS))
        before = _legacy(settings, client)
        vectors = _unit(rng, args.entries)
        prompts = [f"question number {i} about topic {i % 97}" for i in range(args.entries)]
        started = time.perf_counter()
        after.store_many(
            [(p, f"answer {i}") for i, p in enumerate(prompts)],
            tenant="t", agent="a", vectors=list(vectors),
        )  # fmt: skip
        print(f"stored {args.entries} entries in {time.perf_counter() - started:.1f} s")

        def exact(cache: SemanticCache, i: int) -> Any:
            return cache.check(prompts[i], tenant="t", agent="a")

        def paraphrase(cache: SemanticCache, i: int) -> Any:
            noisy = vectors[i] + 0.01 * _unit(rng, 1)[0]
            return cache.check(f"paraphrase {i}", tenant="t", agent="a", vector=noisy)

        for name, lookup in (("exact repeat", exact), ("paraphrase", paraphrase)):
            walls: dict[str, list[float]] = {"before": [], "after": []}
            for r in range(args.rounds):
                i = int(rng.integers(args.entries))
                order = ((before, "before"), (after, "after"))
                for cache, label in order if r % 2 else order[::-1]:
                    t0 = time.perf_counter()
                    hit = lookup(cache, i)
                    walls[label].append(time.perf_counter() - t0)
                    assert hit is not None, (name, label, i)
            scripts: dict[str, list[float]] = {"before": [], "after": []}
            for _ in range(6):
                for cache, label in ((before, "before"), (after, "after")):
                    call = functools.partial(lookup, cache, int(rng.integers(args.entries)))
                    scripts[label].append(_server_usec(client, call, 50))
            _report(name, walls, scripts)
        after.drop()
        client.close()


if __name__ == "__main__":
    main()
