"""Parameter sweep behind the defaults: HNSW M / EF_CONSTRUCTION, datatype, EF_RUNTIME,
top_k, and KNN + threshold against a range query with EPSILON.

Run ``python -m bench --tune [--sizes 10000]``. Each index build is timed and
weighed; each query setting is scored by hit agreement with exact search and
check() latency. Sweeps run in shadow mode (no hit write-back), so they time
the read path alone; one extra line shows the cost of the write-back.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import redis

from agentcache._redis.index_meta import VECTOR_FIELD
from agentcache._redis.replies import search_rows_total
from agentcache._redis.server import EmbeddedRedis
from agentcache.semantic import SemanticCache
from bench import _measure as m
from bench._workloads import RESULTS_DIR, Workload, exact_search, random_workload, real_workload

BUILDS = (
    {"hnsw_m": 16, "hnsw_ef_construction": 200, "vector_datatype": "float32"},
    {"hnsw_m": 16, "hnsw_ef_construction": 100, "vector_datatype": "float32"},
    {"hnsw_m": 8, "hnsw_ef_construction": 100, "vector_datatype": "float32"},
    {"hnsw_m": 32, "hnsw_ef_construction": 200, "vector_datatype": "float32"},
    {"hnsw_m": 16, "hnsw_ef_construction": 200, "vector_datatype": "float16"},
)
EF_RUNTIMES = (10, 32, 64, 128)
TOP_KS = (1, 5)
EPSILONS = (0.01, 0.05, 0.1, 0.2)


def range_check(cache: SemanticCache, vector: Any, threshold: float, epsilon: float) -> bool:
    """The range-query form: entries within 1 - threshold, best first, one row."""
    core = cache.core
    scope = core.scope(m.TENANT, m.AGENT, None)
    query = (
        f"@{VECTOR_FIELD}:[VECTOR_RANGE $R $BLOB]=>{{$EPSILON: {epsilon}; "
        f"$YIELD_DISTANCE_AS: dist}} {cache.queries.filter_expr(scope.tenant, scope.agent)}"
    )
    reply = cache.client.execute_command(  # type: ignore[no-untyped-call]
        "FT.SEARCH", core.alias, query,
        "PARAMS", 4, "R", 1.0 - threshold, "BLOB", core.vector_bytes(vector),
        "SORTBY", "dist", "ASC", "RETURN", 3, "prompt", "response", "dist",
        "LIMIT", 0, 1, "DIALECT", 2,
    )  # fmt: skip
    return search_rows_total(reply) > 0


def raw_knn(cache: SemanticCache, vector: Any, threshold: float, policy: str = "") -> bool:
    """The FT.SEARCH that check() sends, alone (optionally with a HYBRID_POLICY)."""
    core = cache.core
    scope = core.scope(m.TENANT, m.AGENT, None)
    command = cache.queries.knn_command(scope, core.vector_bytes(vector), planned=False)
    if policy:
        command[2] = command[2].replace(" AS ", f" HYBRID_POLICY {policy} AS ")
    reply = cache.client.execute_command(*command)  # type: ignore[no-untyped-call]
    return any(c.similarity >= threshold for c in core.parse_candidates(reply, scope))


def _range_at(cache: SemanticCache, work: Workload, threshold: float, eps: float, i: int) -> bool:
    return range_check(cache, work.queries[i], threshold, eps)


def _raw_at(cache: SemanticCache, work: Workload, threshold: float, policy: str, i: int) -> bool:
    return raw_knn(cache, work.queries[i], threshold, policy)


def sweep(
    cache: SemanticCache, work: Workload, rounds: int, limit: int | None = None
) -> list[dict[str, Any]]:
    """Agreement and latency of each query setting on one built index."""
    semantic = cache.settings.semantic
    threshold = semantic.threshold
    everything = list(range(min(limit or len(work.queries), len(work.queries))))
    rows = []
    settings_list: list[tuple[str, int, int, float]] = [
        ("knn", ef, k, 0.0) for ef in EF_RUNTIMES for k in TOP_KS
    ]
    settings_list += [("range", 0, 1, eps) for eps in EPSILONS]
    settings_list += [("raw-knn", 64, 5, 0.0), ("raw-knn-batches", 64, 5, 0.0)]
    samples: dict[int, list[list[float]]] = {i: [] for i in range(len(settings_list))}
    served: dict[int, set[int]] = {i: set() for i in range(len(settings_list))}
    rng = np.random.default_rng(3)
    for _ in range(rounds):  # interleaved: every setting once per round
        order = [int(i) for i in rng.permutation(everything)]
        for s, (form, ef, k, eps) in enumerate(settings_list):
            if form == "knn":
                semantic.ef_runtime, semantic.top_k = ef, k
                times, got = m.ac_lookups(cache, work, order)
                served[s].update(got)
            elif form == "range":
                times, hit = m.timed_lookups(
                    partial(_range_at, cache, work, threshold, eps), order, budget_s=1e9
                )
                served[s].update(i for i, v in hit.items() if v)
            else:
                semantic.ef_runtime, semantic.top_k = ef, k
                policy = "BATCHES" if form.endswith("batches") else ""
                times, hit = m.timed_lookups(
                    partial(_raw_at, cache, work, threshold, policy), order, budget_s=1e9
                )
                served[s].update(i for i, v in hit.items() if v)
            samples[s].append(times)
    for s, (form, ef, k, eps) in enumerate(settings_list):
        agree = m.agreement(work, sorted(served[s]), threshold, everything)
        rows.append({
            "form": form, "ef_runtime": ef, "top_k": k, "epsilon": eps,
            "agreement": agree["agreement"], "served_not_exact": agree["served_not_exact"],
            "exact_hits": agree["exact_hits"], **m.summary(samples[s]),
        })  # fmt: skip
    return rows


def tune_one(url: str, client: redis.Redis, work: Workload, build: dict[str, Any],
             rounds: int) -> dict[str, Any]:  # fmt: skip
    client.flushall()
    settings = m.ac_settings(url, "tune", work.n, shadow_mode=True, **build)
    before = m.used_memory(client)
    cache = SemanticCache(settings, vectorizer=m.PRECOMPUTED)
    t0 = time.perf_counter()
    for start in range(0, work.n, 5_000):
        end = min(start + 5_000, work.n)
        cache.store_many(
            [(p, "r" * 200) for p in work.prompts[start:end]],
            tenant=m.TENANT, agent=m.AGENT, vectors=list(work.vectors[start:end]),
        )  # fmt: skip
    rate = work.n / (time.perf_counter() - t0)
    out = {
        "workload": work.name, "n": work.n, **build, "bulk_insert_per_s": rate,
        "bytes_per_entry": (m.used_memory(client) - before) / work.n,
        **m.index_info(client, cache.core.alias), "queries": sweep(cache, work, rounds),
    }  # fmt: skip
    if build == BUILDS[0]:  # what the hit write-back (touch) adds, at the defaults
        semantic = cache.settings.semantic
        semantic.ef_runtime, semantic.top_k, semantic.shadow_mode = 64, 5, False
        times, _ = m.ac_lookups(cache, work, list(range(len(work.queries))))
        out["with_touch"] = m.summary([times])
    cache.close()
    return out


def print_rows(result: dict[str, Any]) -> None:
    print(
        f"-- {result['workload']} N={result['n']:,} M={result['hnsw_m']} "
        f"EF_C={result['hnsw_ef_construction']} {result['vector_datatype']}: "
        f"bulk {result['bulk_insert_per_s']:,.0f}/s, {result['bytes_per_entry']:,.0f} B/entry"
    )
    for row in result["queries"]:
        knob = (
            f"ef={row['ef_runtime']} k={row['top_k']}"
            if row["form"] != "range"
            else (f"eps={row['epsilon']}")
        )
        print(
            f"   {row['form']:5s} {knob:12s} agreement {row['agreement']:.4f} "
            f"(+{row['served_not_exact']:.0f} extra) p50 {row['p50_ms']:.3f} "
            f"p99 {row['p99_ms']:.3f} ms"
        )
    if "with_touch" in result:
        print(f"   defaults with hit write-back: {result['with_touch']}")


def markdown(results: list[dict[str, Any]]) -> str:
    lines = [
        "| workload | M | EF_C | type | bulk/s | B/entry | query | agreement | p50 ms | p99 ms |",
        "| --- | ---: | ---: | --- | ---: | ---: | --- | ---: | ---: | ---: |",
    ]
    for r in results:
        for q in r["queries"]:
            knob = (
                f"{q['form']} ef={q['ef_runtime']} k={q['top_k']}"
                if q["form"] != "range"
                else f"range eps={q['epsilon']}"
            )
            lines.append(
                f"| {r['workload']} {r['n']:,} | {r['hnsw_m']} | {r['hnsw_ef_construction']} "
                f"| {r['vector_datatype']} | {r['bulk_insert_per_s']:,.0f} "
                f"| {r['bytes_per_entry']:,.0f} | {knob} | {q['agreement']:.4f} "
                f"| {q['p50_ms']:.3f} | {q['p99_ms']:.3f} |"
            )
    return "\n".join(lines) + "\n"


def main(args: argparse.Namespace) -> int:
    n = args.sizes[0] if args.sizes else 10_000
    server = None if args.url else EmbeddedRedis().start()
    url = args.url or (server.url if server else "")
    client = redis.Redis.from_url(url, socket_timeout=600)
    workloads = [random_workload(n, args.queries)]
    if not args.no_real:
        workloads.append(real_workload(n, args.queries))
    results = []
    try:
        for work in workloads:
            exact_search(work)
            for build in BUILDS:
                result = tune_one(url, client, work, build, max(2, args.rounds // 2))
                print_rows(result)
                results.append(result)
    finally:
        client.close()
        if server is not None:
            server.stop()
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"tune-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(results, indent=2))
    print(f"results: {path}")
    if args.write_docs:
        docs = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
        text = docs.read_text(encoding="utf-8")
        begin, end = "<!-- tune-table:begin -->", "<!-- tune-table:end -->"
        if begin in text:
            pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
            block = f"{begin}\n{markdown(results)}{end}"
            docs.write_text(pattern.sub(lambda _: block, text), encoding="utf-8")
            print(f"updated {docs}")
    return 0
