"""The multi-tenant lookup workloads of issue #14, side by side with the baselines.

For each shape (bench/_tenants.py) one Redis holds agentcache, redisvl's
SemanticCache (one index, a ``tenant`` tag filter) and the linear scan (one key
set per tenant, only up to ``--linear-max`` entries), loaded with the same
vectors. Lookups are ``check(prompt, tenant=..., agent=...)`` through a table
look-up vectorizer (embedding excluded, the cache's own embed path taken), in
interleaved rounds; agreement compares the served entry with the exact nearest
entry of the asking tenant; round trips are counted by a counting client.
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import redis

from agentcache.semantic import AsyncSemanticCache, SemanticCache
from agentcache.settings import AgentCacheSettings
from agentcache.testing.counting import CountingRedis
from bench import _measure as m
from bench._baselines import LinearScan, RedisvlCache
from bench._tenants import (
    QUICK_SHAPES,
    SHAPES,
    Corpus,
    TenantWorkload,
    agreement,
    build,
    exact_search,
    table_vectorizer,
)
from bench._workloads import RESPONSE, real_corpus

AGENT = m.AGENT


def runs(work: TenantWorkload) -> Iterator[tuple[str, int, int]]:
    """(tenant, start, end) of each run of consecutive rows of one tenant."""
    start = 0
    for i in range(1, work.n + 1):
        if i == work.n or work.tenants[i] != work.tenants[start]:
            yield work.tenants[start], start, i
            start = i


def load(store: Callable[[str, int, int], None], work: TenantWorkload, chunk: int = 5_000) -> float:
    """Bulk-load every row through ``store(tenant, start, end)``; entries per second."""
    t0 = time.perf_counter()
    done = 0
    for tenant, start, end in runs(work):
        for lo in range(start, end, chunk):
            hi = min(lo + chunk, end)
            store(tenant, lo, hi)
            done += hi - lo
            if work.n >= 50_000 and done % 20_000 < hi - lo:
                print(f"    {done:,}/{work.n:,}", flush=True)
    return work.n / (time.perf_counter() - t0)


def run_workload(
    url: str,
    client: redis.Redis,
    work: TenantWorkload,
    args: argparse.Namespace,
    prefix: str = "bench",
) -> dict[str, Any]:
    """Load the three systems with ``work`` (keys under ``prefix``), then measure;
    a JSON-able dict."""
    exact_search(work)
    shape = work.shape
    settings = m.ac_settings(url, f"{prefix}{shape.key}", work.n)
    threshold = settings.semantic.threshold
    vectorizer = table_vectorizer(work)
    out: dict[str, Any] = {
        "shape": shape.label,
        "entries": work.n,
        "tenants": shape.tenants,
        "fill": work.fill,
        "padded": work.padded,
        "threshold": threshold,
        "queries": len(work.queries),
    }
    before = m.used_memory(client)
    cache = SemanticCache(settings, vectorizer=vectorizer)

    def ac_store(tenant: str, lo: int, hi: int) -> None:
        rows = [(p, RESPONSE) for p in work.prompts[lo:hi]]
        cache.store_many(rows, tenant=tenant, agent=AGENT, vectors=list(work.vectors[lo:hi]))

    print(f"  agentcache: loading {work.n:,} entries", flush=True)
    out["agentcache_insert_per_s"] = load(ac_store, work)
    out["agentcache_bytes_per_entry"] = (m.used_memory(client) - before) / work.n
    rvl: RedisvlCache | None = None
    linear: dict[str, LinearScan] = {}
    if not args.no_baselines:
        print("  redisvl: loading", flush=True)
        rvl = RedisvlCache(
            client, threshold, work.vectors.shape[1], name=f"{prefix}rvl", tenant_field=True
        )
        rvl_cache = rvl

        def rvl_store(tenant: str, lo: int, hi: int) -> None:
            rvl_cache.store_many(work.prompts[lo:hi], RESPONSE, work.vectors[lo:hi], tenant)

        out["redisvl_insert_per_s"] = load(rvl_store, work)
    if not args.no_baselines and work.n <= args.linear_max:
        print("  linear scan: loading", flush=True)

        def lin_store(tenant: str, lo: int, hi: int) -> None:
            scan = linear.setdefault(tenant, LinearScan(client, prefix=f"{prefix}linear:{tenant}"))
            scan.store_many(work.prompts[lo:hi], RESPONSE, work.vectors[lo:hi])

        out["linear_insert_per_s"] = load(lin_store, work)
    out.update(_lookups(cache, work, rvl, linear, threshold, args))
    out["round_trips"] = count_round_trips(settings, work, limit=min(len(work.queries), 400))
    out["throughput"] = throughput(cache, settings, work, args)
    cache.close()
    return out


def _lookups(
    cache: SemanticCache,
    work: TenantWorkload,
    rvl: RedisvlCache | None,
    linear: dict[str, LinearScan],
    threshold: float,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Interleaved rounds: agentcache (every query), redisvl and linear (a time budget)."""
    rng = np.random.default_rng(work.n)
    asked = list(range(len(work.queries)))
    rounds: dict[str, list[list[float]]] = {"agentcache": [], "redisvl": [], "linear": []}
    served: dict[str, dict[int, int]] = {"agentcache": {}, "redisvl": {}, "linear": {}}
    tried: dict[str, set[int]] = {"redisvl": set(), "linear": set()}
    q_lists = work.queries.tolist()

    def ac(i: int) -> int | None:
        hit = cache.check(work.q_prompts[i], tenant=work.q_tenants[i], agent=AGENT)
        return None if hit is None else _row(work, i, hit.tenant, hit.prompt)

    def rv(i: int) -> int | None:
        assert rvl is not None
        found = rvl.best(q_lists[i], work.q_tenants[i])
        return None if found is None else _row(work, i, *found)

    def lin(i: int) -> int | None:
        tenant = work.q_tenants[i]
        entry = linear[tenant].check(work.queries[i], threshold)
        return None if entry is None else _row(work, i, tenant, entry["prompt"])

    for r in range(args.rounds):
        order = [int(i) for i in rng.permutation(asked)]
        rounds["agentcache"].append(_timed(ac, order, served["agentcache"], None))
        if rvl is not None:
            done = _timed(rv, order, served["redisvl"], 2.0, tried["redisvl"])
            rounds["redisvl"].append(done)
        if linear:
            done = _timed(lin, order, served["linear"], args.linear_budget, tried["linear"])
            rounds["linear"].append(done)
        print(f"  round {r + 1}/{args.rounds} done", flush=True)
    out: dict[str, Any] = {}
    for name, times in rounds.items():
        if not any(times):
            continue
        out[f"{name}_check"] = m.summary(times)
        scope = asked if name == "agentcache" else sorted(tried[name])
        out[f"{name}_agreement"] = agreement(work, served[name], threshold, scope)
    kinds = sorted(set(work.q_kinds))
    if len(kinds) > 1:  # (d): agreement of FAQ and own-question lookups apart
        for kind in kinds:
            subset = [i for i in asked if work.q_kinds[i] == kind]
            out[f"agentcache_agreement_{kind}"] = agreement(
                work, served["agentcache"], threshold, subset
            )
    return out


def _row(work: TenantWorkload, i: int, tenant: str, prompt: str) -> int:
    """The served entry's row; -1 if it is not the asking tenant's (an isolation breach)."""
    return work.row_of(tenant, prompt) if tenant == work.q_tenants[i] else -1


def _timed(
    check: Callable[[int], int | None],
    order: Sequence[int],
    served: dict[int, int],
    budget_s: float | None,
    tried: set[int] | None = None,
) -> list[float]:
    """Latency (ms) of ``check(i)`` over ``order`` (until the budget is spent, if any)."""
    times: list[float] = []
    clock = time.perf_counter_ns
    deadline = None if budget_s is None else time.perf_counter() + budget_s
    for i in order:
        t0 = clock()
        row = check(i)
        times.append((clock() - t0) / 1e6)
        if row is not None:
            served[i] = row
        if tried is not None:
            tried.add(i)
        if deadline is not None and time.perf_counter() > deadline:
            break
    return times


def count_round_trips(
    settings: AgentCacheSettings, work: TenantWorkload, limit: int
) -> dict[str, float]:
    """Round trips per check, counted by a counting client: mean per outcome, cache
    embedding (the table vectorizer) and caller passing the vector. Includes any
    write the cache defers to later calls, spread over the lookups that pay it."""
    client = CountingRedis.from_url(settings.redis.url)
    # The background hit flusher would land on whichever lookup it races: leave the
    # deferred bookkeeping to ride on the lookups themselves, as counted here.
    quiet = settings.model_copy(
        update={"semantic": settings.semantic.model_copy(update={"hit_flush_seconds": 3600.0})}
    )
    cache = SemanticCache(quiet, client=client, vectorizer=table_vectorizer(work))
    out: dict[str, float] = {}
    try:
        for mode in ("embeds", "vector"):
            counts: dict[str, list[int]] = {"hit": [], "miss": []}
            for i in range(limit):
                vector = work.queries[i] if mode == "vector" else None
                before = client.round_trips
                hit = cache.check(
                    work.q_prompts[i], tenant=work.q_tenants[i], agent=AGENT, vector=vector
                )
                counts["miss" if hit is None else "hit"].append(client.round_trips - before)
            for outcome, values in counts.items():
                if values:
                    out[f"{mode}_{outcome}"] = float(np.mean(values))
                    out[f"{mode}_{outcome}_max"] = float(max(values))
            out[f"{mode}_lookups"] = float(limit)
    finally:
        cache.close()
        client.close()
    return out


def throughput(
    cache: SemanticCache,
    settings: AgentCacheSettings,
    work: TenantWorkload,
    args: argparse.Namespace,
) -> dict[str, float]:
    """Lookups/s from one process: 1 and 4 threads on one cache, 32 asyncio tasks."""
    samples: dict[str, list[float]] = {"threads_1": [], "threads_4": [], "asyncio_32": []}
    for _ in range(max(1, args.rounds // 2)):
        samples["threads_1"].append(_thread_rate(cache, work, 1, args.seconds))
        samples["asyncio_32"].append(_async_rate(settings, work, 32, args.seconds))
        samples["threads_4"].append(_thread_rate(cache, work, 4, args.seconds))
    return {name: float(np.median(values)) for name, values in samples.items()}


def _thread_rate(cache: SemanticCache, work: TenantWorkload, threads: int, seconds: float) -> float:
    counts = [0] * threads
    stop = time.perf_counter() + seconds
    q = len(work.queries)

    def run(slot: int) -> None:
        i = slot * 7919
        while time.perf_counter() < stop:
            k = i % q
            cache.check(work.q_prompts[k], tenant=work.q_tenants[k], agent=AGENT)
            i += 1
        counts[slot] = i - slot * 7919

    start = time.perf_counter()
    workers = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(counts) / (time.perf_counter() - start)


def _async_rate(
    settings: AgentCacheSettings, work: TenantWorkload, tasks: int, seconds: float
) -> float:
    async def main() -> float:
        cache = await AsyncSemanticCache.create(settings, vectorizer=table_vectorizer(work))
        q = len(work.queries)
        counts = [0] * tasks
        await cache.check(work.q_prompts[0], tenant=work.q_tenants[0], agent=AGENT)  # connect
        stop = time.perf_counter() + seconds

        async def run(slot: int) -> None:
            i = slot * 7919
            while time.perf_counter() < stop:
                k = i % q
                await cache.check(work.q_prompts[k], tenant=work.q_tenants[k], agent=AGENT)
                i += 1
                counts[slot] += 1

        start = time.perf_counter()
        await asyncio.gather(*(run(t) for t in range(tasks)))
        rate = sum(counts) / (time.perf_counter() - start)
        await cache.aclose()
        return rate

    return asyncio.run(main())


def run_all(
    url: str, client: redis.Redis, args: argparse.Namespace, corpus: Corpus | None = None
) -> dict[str, Any]:
    """Every requested shape, each on a flushed server; results keyed by shape."""
    shapes = QUICK_SHAPES if args.quick else SHAPES
    corpus = corpus or real_corpus()
    results: dict[str, Any] = {}
    for key in args.workloads:
        client.flushall()
        # ~9% of real pairs are exact hits at 0.95: 8x the queries puts ~700 behind each
        # agreement figure (full run), so one disagreement moves it by ~0.0014.
        work = build(shapes[key], corpus, 8 * args.queries)
        print(f"== workload {work.shape.label}: {work.n:,} entries ({work.fill})", flush=True)
        t0 = time.perf_counter()
        results[key] = run_workload(url, client, work, args)
        results[key]["seconds"] = time.perf_counter() - t0
        print_workload(results[key])
    return results


def print_workload(r: dict[str, Any]) -> None:
    ac = r["agentcache_check"]
    print(
        f"-- {r['shape']}: check p50 {ac['p50_ms']:.3f} / p99 {ac['p99_ms']:.3f} ms, "
        f"agreement {r['agentcache_agreement']['agreement']:.4f} "
        f"({r['agentcache_agreement']['exact_hits']:.0f} exact hits)"
    )
    for name in ("redisvl", "linear"):
        other = r.get(f"{name}_check")
        if other:
            print(
                f"   {name}: p50 {other['p50_ms']:.3f} ms ({other['p50_ms'] / ac['p50_ms']:.1f}x), "
                f"agreement {r[f'{name}_agreement']['agreement']:.4f}"
            )
    print(f"   round trips {r['round_trips']}")
    print(f"   throughput {r['throughput']}  ({r['seconds']:.0f} s)", flush=True)
