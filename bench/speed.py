"""Speed, scale and memory of the semantic cache, side by side with two baselines.

Run ``python -m bench`` (or ``agentcache bench``) from the repository root.
One embedded Redis Stack, one process; for each N the three systems are
loaded with the same vectors, then looked up in interleaved rounds
(agentcache, redisvl, linear scan, agentcache, ...) and medians of the
per-round figures are reported. Lookups pass precomputed vectors, so they
exclude embedding time; the end-to-end section includes it.

Then the multi-tenant workloads of issue #14 (bench/tenants.py): (a) 1 tenant x
100,000, (b) 10 x 1,000, (c) 100 x 1,000, (d) 1,000 tenants x (20 shared FAQ +
10 own), real MiniLM vectors, each side by side with redisvl and the linear scan.
"""

from __future__ import annotations

import argparse
import json
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import redis

from agentcache._redis.server import EmbeddedRedis
from agentcache.semantic import SemanticCache
from bench import _measure as m
from bench._baselines import LinearScan, RedisvlCache
from bench._report import print_summary, write_docs
from bench._workloads import (
    RESPONSE,
    RESULTS_DIR,
    Workload,
    exact_search,
    random_workload,
    real_workload,
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", help="entry counts (default 1k 10k 100k)")
    parser.add_argument("--million", action="store_true", help="add the 1,000,000-entry run")
    parser.add_argument("--quick", action="store_true", help="1k and 10k, fewer rounds")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 5)")
    parser.add_argument("--queries", type=int, default=1000, help="queries per workload")
    parser.add_argument("--seconds", type=float, default=2.0, help="per throughput sample")
    parser.add_argument("--linear-budget", type=float, default=2.0, help="s per linear round")
    parser.add_argument(
        "--linear-max", type=int, default=100_000,
        help="largest N with the linear scan (its JSON entries take ~10 KB each)",
    )  # fmt: skip
    parser.add_argument("--no-baselines", action="store_true", help="agentcache only")
    parser.add_argument("--no-real", action="store_true", help="skip the MiniLM workload")
    parser.add_argument("--no-e2e", action="store_true", help="skip the end-to-end figures")
    parser.add_argument("--write-docs", action="store_true", help="update docs/benchmarks.md")
    parser.add_argument("--tune", action="store_true", help="run the parameter sweep instead")
    parser.add_argument(
        "--sweep-queries", action="store_true", help="also sweep query knobs on the real index"
    )
    parser.add_argument(
        "--workloads", nargs="*", choices=["a", "b", "c", "d"], default=["a", "b", "c", "d"],
        help="multi-tenant workloads to run (default all; none: just --workloads)",
    )  # fmt: skip
    parser.add_argument("--no-sizes", action="store_true", help="skip the 1k/10k/100k sweep")
    parser.add_argument("--url", help="use this Redis Stack instead of the embedded one")
    args = parser.parse_args(argv)
    if args.sizes is None:
        args.sizes = [1_000, 10_000] if args.quick else [1_000, 10_000, 100_000]
        if args.million:
            args.sizes.append(1_000_000)
    if args.rounds is None:
        args.rounds = 3 if args.quick else 5
    if args.quick:
        args.queries = min(args.queries, 400)
        args.seconds = min(args.seconds, 1.0)
    return args


def run_random(url: str, client: redis.Redis, n: int, args: argparse.Namespace) -> dict[str, Any]:
    """All three systems on N random vectors: inserts, memory, interleaved lookups."""
    work = random_workload(n, args.queries)
    exact_search(work)
    settings = m.ac_settings(url, "bench", n)
    threshold = settings.semantic.threshold
    out: dict[str, Any] = {"n": n, "threshold": threshold}

    before = m.used_memory(client)
    cache = SemanticCache(settings, vectorizer=m.PRECOMPUTED)
    rates = m.populate_agentcache(cache, work, singles=500)
    out["agentcache_insert"] = vars(rates)
    out["agentcache_memory"] = {
        "bytes_per_entry": (m.used_memory(client) - before) / n,
        **m.index_info(client, cache.core.alias),
    }
    out["agentcache_memory"]["index_bytes_per_entry"] = out["agentcache_memory"]["index_bytes"] / n

    baselines: dict[str, Any] = {}
    if not args.no_baselines:
        rvl_before = m.used_memory(client)
        rvl = RedisvlCache(client, threshold, work.vectors.shape[1])
        vec_lists = work.queries.tolist()
        r_rates = m.populate(
            lambda p, v: rvl.store_many(p, RESPONSE, v),
            lambda p, v: rvl.store(p, RESPONSE, v.tolist()),
            work, singles=500, progress="redisvl",
        )  # fmt: skip
        baselines["redisvl"] = (rvl, vec_lists)
        out["redisvl_insert"] = vars(r_rates)
        out["redisvl_memory"] = {"bytes_per_entry": (m.used_memory(client) - rvl_before) / n}
    if not args.no_baselines and n <= args.linear_max:
        lin_before = m.used_memory(client)
        lin = LinearScan(client)
        l_rates = m.populate(
            lambda p, v: lin.store_many(p, RESPONSE, v),
            lambda p, v: lin.store(p, RESPONSE, v),
            work, singles=200, progress="linear",
        )  # fmt: skip
        baselines["linear"] = lin
        out["linear_insert"] = vars(l_rates)
        out["linear_memory"] = {"bytes_per_entry": (m.used_memory(client) - lin_before) / n}

    rng = np.random.default_rng(n)
    everything = list(range(len(work.queries)))
    ac_rounds: list[list[float]] = []
    rvl_rounds: list[list[float]] = []
    lin_rounds: list[list[float]] = []
    served: dict[int, float] = {}
    rvl_served: dict[int, bool] = {}
    for _ in range(args.rounds):
        order = [int(i) for i in rng.permutation(everything)]
        times, got = m.ac_lookups(cache, work, order)
        ac_rounds.append(times)
        served.update(got)
        if "redisvl" in baselines:
            rvl, vec_lists = baselines["redisvl"]
            times_r, got_r = m.timed_lookups(partial(_rvl_check, rvl, vec_lists), order, 2.0)
            rvl_rounds.append(times_r)
            rvl_served.update(got_r)
        if "linear" in baselines:
            lin_check = partial(_linear_check, baselines["linear"], work, threshold)
            times_l, _ = m.timed_lookups(lin_check, order, args.linear_budget)
            lin_rounds.append(times_l)
    out["agentcache_check"] = m.summary(ac_rounds)
    out["agentcache_agreement"] = m.agreement(work, served, threshold, everything)
    if rvl_rounds:
        out["redisvl_check"] = m.summary(rvl_rounds)
        out["redisvl_agreement"] = m.agreement(work, rvl_served, threshold, list(rvl_served))
    if lin_rounds:
        out["linear_check"] = m.summary(lin_rounds)
    out["throughput"] = throughput(cache, work, settings, args)
    cache.close()
    return out


def _rvl_check(rvl: RedisvlCache, vectors: list[list[float]], i: int) -> bool:
    return rvl.check(vectors[i])


def _linear_check(lin: LinearScan, work: Workload, threshold: float, i: int) -> bool:
    return lin.check(work.queries[i], threshold) is not None


def throughput(
    cache: SemanticCache, work: Workload, settings: Any, args: argparse.Namespace
) -> dict[str, float]:
    """Lookups/s: 1 thread, 4 threads, 32 asyncio tasks; interleaved rounds, medians."""
    samples: dict[str, list[float]] = {"threads_1": [], "threads_4": [], "asyncio_32": []}
    for _ in range(max(2, args.rounds // 2)):
        samples["threads_1"].append(m.thread_throughput(cache, work, 1, args.seconds))
        samples["asyncio_32"].append(m.async_throughput(settings, work, 32, args.seconds))
        samples["threads_4"].append(m.thread_throughput(cache, work, 4, args.seconds))
    return {name: float(np.median(values)) for name, values in samples.items()}


def run_real(url: str, client: redis.Redis, n: int, args: argparse.Namespace) -> dict[str, Any]:
    """agentcache on N real MiniLM question embeddings: agreement, latency, memory."""
    # Only ~1 in 9 real paraphrase pairs is above the threshold: ask 4x as many
    # questions so agreement rests on a few hundred exact hits.
    work = real_workload(n, 4 * args.queries)
    exact_search(work)
    settings = m.ac_settings(url, "benchreal", n)
    threshold = settings.semantic.threshold
    before = m.used_memory(client)
    cache = SemanticCache(settings, vectorizer=m.PRECOMPUTED)
    rates = m.populate_agentcache(cache, work, singles=500)
    out: dict[str, Any] = {"n": n, "padded": work.padded, "insert": vars(rates)}
    out["memory"] = {"bytes_per_entry": (m.used_memory(client) - before) / n}
    everything = list(range(len(work.queries)))
    rounds: list[list[float]] = []
    served: dict[int, float] = {}
    rng = np.random.default_rng(n + 1)
    for _ in range(max(2, args.rounds // 2)):
        times, got = m.ac_lookups(cache, work, [int(i) for i in rng.permutation(everything)])
        rounds.append(times)
        served.update(got)
    out["check"] = m.summary(rounds)
    out["agreement"] = m.agreement(work, served, threshold, everything)
    if not args.no_e2e:
        from bench._e2e import end_to_end

        out["end_to_end"] = end_to_end(settings, work)
    if args.sweep_queries:  # query knobs on this index: EF_RUNTIME, top_k, range vs KNN
        from bench._sweep import sweep

        cache.settings.semantic.shadow_mode = True
        out["query_sweep"] = sweep(cache, work, 2, limit=2 * args.queries)
        cache.settings.semantic.shadow_mode = False
    cache.close()
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    if args.tune:
        from bench._sweep import main as tune_main

        return tune_main(args)
    server = None if args.url else EmbeddedRedis().start()
    url = args.url or (server.url if server else "")
    client = redis.Redis.from_url(url, socket_timeout=600)
    results: dict[str, Any] = {
        "command": "python -m bench " + " ".join(argv or []),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "load_average": list(_loadavg()),
        "server": client.info("server").get("redis_version"),
        "sizes": {},
        "workloads": {},
    }
    if args.no_sizes:
        args.sizes = []
    try:
        for n in args.sizes:
            client.flushall()
            print(f"== N = {n:,}: random vectors", flush=True)
            entry = {"random": run_random(url, client, n, args)}
            if not args.no_real:
                client.flushall()
                print(f"== N = {n:,}: real MiniLM embeddings", flush=True)
                entry["real"] = run_real(url, client, n, args)
            results["sizes"][str(n)] = entry
            print_summary(n, entry)
        if args.workloads:
            from bench.tenants import run_all

            results["workloads"] = run_all(url, client, args)
    finally:
        client.close()
        if server is not None:
            server.stop()
    results["load_average_end"] = list(_loadavg())
    results["seconds"] = time.perf_counter() - started
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"speed-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(results, indent=2))
    print(f"results: {path}")
    if args.write_docs:
        write_docs(results, Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md")
    return 0


def _loadavg() -> tuple[float, float, float]:
    try:
        import os

        return os.getloadavg()
    except OSError:
        return (0.0, 0.0, 0.0)
