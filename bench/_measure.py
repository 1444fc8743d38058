"""Measurements on one populated cache: inserts, lookups, agreement, throughput, memory."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import redis

from agentcache.semantic import AsyncSemanticCache, SemanticCache
from agentcache.settings import AgentCacheSettings
from agentcache.vectorizers import CallableVectorizer
from bench._workloads import DIMS, RESPONSE, Workload

TENANT = "bench-tenant"
AGENT = "bench-agent"


def _refuse(text: str) -> Any:
    raise AssertionError("the speed benchmark passes every vector; nothing may be embedded")


PRECOMPUTED = CallableVectorizer(_refuse, dims=DIMS, model="bench-precomputed")


def ac_settings(url: str, prefix: str, n: int, **semantic: Any) -> AgentCacheSettings:
    """Settings for a benchmark cache: defaults, except what a bulk load needs."""
    return AgentCacheSettings(
        redis={
            "url": url,
            "key_prefix": prefix,
            "socket_timeout": 300.0,
            "socket_connect_timeout": 10.0,  # 32 asyncio connections at once on a busy box
            "max_connections": 64,
        },
        embeddings={"dims": DIMS, "model": "bench-precomputed"},
        # The plain threshold policy: agreement measures the index and the query, not the
        # lexical guards' vetoes (bench/quality.py measures those).
        semantic={
            "ttl_seconds": None,
            "max_entries_per_tenant": max(n, 100_000),
            "policy": "threshold",
            **semantic,
        },
        reliability={"strict": True},  # a timeout must fail the run, not read as a miss
        metrics={"enabled": False},
    )


def used_memory(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def index_info(client: redis.Redis, name: str) -> dict[str, Any]:
    """FT.INFO as a dict, with the index's memory summed in bytes."""
    raw = client.execute_command("FT.INFO", name)  # type: ignore[no-untyped-call]
    if isinstance(raw, dict):  # redis-py parses FT.INFO into a dict
        info = {_s(k): v for k, v in raw.items()}
    else:
        info = {_s(raw[i]): raw[i + 1] for i in range(0, len(raw) - 1, 2)}
    sizes = {}
    for key, value in info.items():
        if key.endswith(("_sz_mb", "_size_mb")):
            try:
                sizes[key] = float(_s(value))
            except ValueError:
                continue
    return {
        "num_docs": int(_s(info.get("num_docs", 0))),
        "vector_index_bytes": int(sizes.get("vector_index_sz_mb", 0.0) * 1024 * 1024),
        "index_bytes": int(sum(sizes.values()) * 1024 * 1024),
    }


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass
class InsertRates:
    bulk_per_s: float  # over the last bulk chunk, i.e. near N entries
    bulk_overall_per_s: float
    single_per_s: float


def populate(
    store_many: Callable[[Sequence[str], Any], None],
    store_one: Callable[[str, Any], None],
    work: Workload,
    singles: int,
    chunk: int = 5_000,
    progress: str = "",
) -> InsertRates:
    """Bulk-load all but the last ``singles`` entries, then store those one at a time."""
    n = work.n
    singles = min(singles, max(1, n // 10))
    bulk_n = n - singles
    total = last_rate = 0.0
    for start in range(0, bulk_n, chunk):
        end = min(start + chunk, bulk_n)
        t0 = time.perf_counter()
        store_many(work.prompts[start:end], work.vectors[start:end])
        took = time.perf_counter() - t0
        total += took
        last_rate = (end - start) / took
        if progress and n >= 50_000:
            print(f"  {progress}: {end:,}/{n:,} at {last_rate:,.0f}/s", flush=True)
    t0 = time.perf_counter()
    for i in range(bulk_n, n):
        store_one(work.prompts[i], work.vectors[i])
    single = singles / (time.perf_counter() - t0)
    return InsertRates(last_rate, bulk_n / total if total else 0.0, single)


def populate_agentcache(cache: SemanticCache, work: Workload, singles: int) -> InsertRates:
    def many(prompts: Sequence[str], vectors: Any) -> None:
        cache.store_many(
            [(p, RESPONSE) for p in prompts], tenant=TENANT, agent=AGENT, vectors=list(vectors)
        )

    def one(prompt: str, vector: Any) -> None:
        cache.store(prompt, RESPONSE, tenant=TENANT, agent=AGENT, vector=vector)

    return populate(many, one, work, singles, progress=f"agentcache {work.name}")


def ac_lookups(
    cache: SemanticCache, work: Workload, order: Sequence[int]
) -> tuple[list[float], dict[int, float]]:
    """Latency (ms) of check() per query, and the similarity of each served hit."""
    times: list[float] = []
    served: dict[int, float] = {}
    prompts, vectors = work.query_prompts, work.queries
    clock = time.perf_counter_ns
    stats = cache.stats  # in shadow mode a hit is counted, then a miss is returned
    for i in order:
        shadow = stats.shadow_hits
        t0 = clock()
        hit = cache.check(prompts[i], tenant=TENANT, agent=AGENT, vector=vectors[i])
        times.append((clock() - t0) / 1e6)
        if hit is not None:
            served[i] = hit.similarity
        elif stats.shadow_hits > shadow:
            served[i] = -1.0
    return times, served


def timed_lookups(
    check: Callable[[int], bool], order: Sequence[int], budget_s: float
) -> tuple[list[float], dict[int, bool]]:
    """Run ``check(i)`` over ``order`` until the budget is spent (at least once)."""
    times: list[float] = []
    served: dict[int, bool] = {}
    deadline = time.perf_counter() + budget_s
    for i in order:
        t0 = time.perf_counter_ns()
        served[i] = check(i)
        times.append((time.perf_counter_ns() - t0) / 1e6)
        if time.perf_counter() > deadline:
            break
    return times, served


def agreement(work: Workload, served: Sequence[int] | dict[int, Any], threshold: float,
              asked: Sequence[int]) -> dict[str, float]:  # fmt: skip
    """Of the asked queries that exact search hits at ``threshold``, the fraction served."""
    assert work.exact_best is not None
    hits = {i for i in asked if work.exact_best[i] >= threshold}
    got = {i for i in served if (served[i] if isinstance(served, dict) else True)}
    return {
        "queries": float(len(asked)),
        "exact_hits": float(len(hits)),
        "served": float(len(got)),
        "agreement": len(hits & got) / len(hits) if hits else 1.0,
        "served_not_exact": float(len(got - hits)),
    }


def thread_throughput(cache: SemanticCache, work: Workload, threads: int, seconds: float) -> float:
    """check() calls per second from ``threads`` threads sharing one cache."""
    counts = [0] * threads
    stop = time.perf_counter() + seconds
    q = len(work.queries)

    def run(slot: int) -> None:
        i = slot * 7919
        n = 0
        while time.perf_counter() < stop:
            k = i % q
            cache.check(work.query_prompts[k], tenant=TENANT, agent=AGENT, vector=work.queries[k])
            i += 1
            n += 1
        counts[slot] = n

    start = time.perf_counter()
    workers = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(counts) / (time.perf_counter() - start)


def async_throughput(
    settings: AgentCacheSettings, work: Workload, tasks: int, seconds: float
) -> float:
    """check() calls per second from ``tasks`` coroutines on one AsyncSemanticCache."""

    async def main() -> float:
        cache = await AsyncSemanticCache.create(settings, vectorizer=PRECOMPUTED)
        q = len(work.queries)
        counts = [0] * tasks
        stop = time.perf_counter() + seconds

        async def run(slot: int) -> None:
            i = slot * 7919
            while time.perf_counter() < stop:
                k = i % q
                await cache.check(
                    work.query_prompts[k], tenant=TENANT, agent=AGENT, vector=work.queries[k]
                )
                i += 1
                counts[slot] += 1

        start = time.perf_counter()
        await asyncio.gather(*(run(t) for t in range(tasks)))
        rate = sum(counts) / (time.perf_counter() - start)
        await cache.client.aclose()
        return rate

    return asyncio.run(main())


def summary(rounds: list[list[float]]) -> dict[str, float]:
    """Median over rounds of each round's p50 / p99 / mean (ms), and the sample count."""
    rounds = [r for r in rounds if r]
    if not rounds:
        return {}
    return {
        "p50_ms": float(np.median([np.percentile(r, 50) for r in rounds])),
        "p99_ms": float(np.median([np.percentile(r, 99) for r in rounds])),
        "mean_ms": float(np.median([np.mean(r) for r in rounds])),
        "samples": float(sum(len(r) for r in rounds)),
    }
