"""Embedding cache benchmark: a 100-text batch served from Redis, and bytes per vector.

Starts its own embedded Redis Stack and prints:

* ``get_or_compute_many`` for 100 texts, all hits: round trips and median ms,
  against two baselines measured here: 100 single ``get`` calls, and (unless
  ``--no-model``) embedding the same 100 texts with the local MiniLM model;
* ``MEMORY USAGE`` of one stored 384-dim and 1536-dim vector, against the
  same vector stored as a JSON list.

Run: ``.venv/bin/python bench/embeddings_bench.py [--runs 200] [--no-model]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from agentcache._redis.server import EmbeddedRedis
from agentcache.embeddings import EmbeddingCache
from agentcache.settings import AgentCacheSettings
from agentcache.testing.counting import CountingRedis


def median_ms(fn: Callable[[], object], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def texts(n: int) -> list[str]:
    return [f"How do I rotate the API key for project {i} without downtime?" for i in range(n)]


def random_vectors(n: int, dims: int) -> list[np.ndarray[Any, np.dtype[np.float32]]]:
    rng = np.random.default_rng(0)
    out = rng.standard_normal((n, dims)).astype(np.float32)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return list(out)


def bench_batch(client: CountingRedis, url: str, runs: int, with_model: bool) -> None:
    batch = texts(100)
    settings = AgentCacheSettings(redis={"url": url, "key_prefix": "bench"})
    cache = EmbeddingCache(settings, client)  # MiniLM: 384 dims
    vectors = random_vectors(len(batch), cache.dims)
    cache.set_many(batch, vectors)

    def never(texts: Any) -> list[Any]:
        raise AssertionError("all hits expected")

    before = client.round_trips
    cache.get_or_compute_many(batch, never)
    trips = client.round_trips - before
    batched = median_ms(lambda: cache.get_or_compute_many(batch, never), runs)
    before = client.round_trips
    for text in batch:
        cache.get(text)
    single_trips = client.round_trips - before
    singles = median_ms(lambda: [cache.get(t) for t in batch], max(10, runs // 10))
    print(f"get_or_compute_many, 100 texts, all hits ({runs} runs)")
    print(f"  round trips:            {trips}")
    print(f"  median:                 {batched:.3f} ms")
    print(f"  baseline 100 x get:     {singles:.3f} ms, {single_trips} round trips")
    print(f"  speed-up vs singles:    {singles / batched:.1f}x")
    if with_model:
        from agentcache.vectorizers import LocalVectorizer

        model = LocalVectorizer()
        model.embed_many(batch)  # load and warm up
        computed = median_ms(lambda: model.embed_many(batch), 5)
        print(f"  baseline MiniLM embed:  {computed:.1f} ms (CPU, 5 runs)")
        print(f"  speed-up vs embedding:  {computed / batched:.0f}x")


def bench_memory(client: CountingRedis, url: str) -> None:
    print("bytes per stored vector (MEMORY USAGE, key included)")
    for model, dims in (
        ("sentence-transformers/all-MiniLM-L6-v2", 384),
        ("text-embedding-3-small", 1536),
    ):
        settings = AgentCacheSettings(redis={"url": url, "key_prefix": "ac"})
        cache = EmbeddingCache(settings, client, model=model, dims=dims)
        vector = random_vectors(1, dims)[0]
        text = "How do I rotate the API key without downtime?"
        cache.set(text, vector)
        packed = int(client.memory_usage(cache.key(text), samples=0) or 0)
        json_key = cache.key(text) + ":json"
        client.set(json_key, json.dumps([float(x) for x in vector]))
        as_json = int(client.memory_usage(json_key, samples=0) or 0)
        print(
            f"  {dims:>5} dims: {packed} bytes packed float32 (payload {4 * dims}); "
            f"JSON list {as_json} bytes ({as_json / packed:.1f}x); key {len(cache.key(text))} chars"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--no-model", action="store_true", help="skip the MiniLM baseline")
    args = parser.parse_args()
    with EmbeddedRedis() as server:
        client = CountingRedis.from_url(server.url)
        assert isinstance(client, CountingRedis)
        print(f"Redis at {server.url}")
        bench_batch(client, server.url, args.runs, not args.no_model)
        bench_memory(client, server.url)
        client.close()


if __name__ == "__main__":
    main()
