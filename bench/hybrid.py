"""The filtered KNN under each RediSearch hybrid policy, by the scope's share of the index.

    python -m bench.hybrid                 # 10,000 + 2,000 + 500 + 40 x 250 real entries
    python -m bench.hybrid --big 100000    # the 100,000-entry case

One index of real MiniLM question embeddings (bench/_workloads.py) shared by a
big tenant, a mid tenant, a small one and 40 tiny ones. For each tenant, the
raw FT.SEARCH a lookup sends, in interleaved rounds: RediSearch's own choice
(engine), forced ``HYBRID_POLICY BATCHES``, and what the planner (``auto``, the
default) sends. Medians of per-round p50 (ms); it also prints the server's
microseconds per search. This is the measurement behind ``agentcache.semantic._plan``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import numpy as np
import redis

from agentcache._redis.server import EmbeddedRedis
from agentcache.semantic import SemanticCache
from bench._measure import PRECOMPUTED, RESPONSE, ac_settings
from bench._workloads import _near, real_workload

ROUNDS, LOOKUPS = 5, 200


def _load(cache: SemanticCache, tenant: str, vectors: np.ndarray) -> None:
    for start in range(0, len(vectors), 5000):
        chunk = vectors[start : start + 5000]
        items = [(f"{tenant} {start + i}", RESPONSE) for i in range(len(chunk))]
        cache.store_many(items, tenant=tenant, agent="a", vectors=list(chunk))


def _time(client: redis.Redis, command: list[Any], blobs: list[bytes]) -> float:
    times = []
    for blob in blobs:
        sent = [blob if part == b"" else part for part in command]
        started = time.perf_counter_ns()
        client.execute_command(*sent)  # type: ignore[no-untyped-call]
        times.append((time.perf_counter_ns() - started) / 1e6)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.hybrid")
    parser.add_argument("--big", type=int, default=10_000, help="entries of the big tenant")
    args = parser.parse_args()
    work = real_workload(args.big, LOOKUPS)
    rng = np.random.default_rng(5)
    tenants = {"big": work.vectors, "mid": None, "small": None}
    sizes = {"mid": 2_000, "small": 500, **{f"tiny{i}": 250 for i in range(40)}}
    with EmbeddedRedis() as server:
        cache = SemanticCache(ac_settings(server.url, "hy", args.big), vectorizer=PRECOMPUTED)
        _load(cache, "big", work.vectors)
        for tenant, size in sizes.items():
            sources = work.queries[rng.integers(0, len(work.queries), size)]
            tenants[tenant] = _near(rng, sources, rng.uniform(0.6, 0.99, size))
            _load(cache, tenant, tenants[tenant])  # type: ignore[arg-type]
        total = cache.count()
        client = redis.Redis.from_url(server.url)
        blobs = [cache.core.vector_bytes(q) for q in work.queries]
        print(f"{total:,} entries; p50 ms of the raw FT.SEARCH (server us per search)")
        for tenant in ("big", "mid", "small", "tiny0"):
            scope = cache.core.scope(tenant, "a", None)
            cache.check("plan this scope", tenant=tenant, agent="a", vector=work.queries[0])
            engine = cache.queries.knn_command(scope, b"", planned=False)
            batches = list(engine)
            batches[2] = batches[2].replace(" EF_RUNTIME", " HYBRID_POLICY BATCHES EF_RUNTIME")
            auto = cache.queries.knn_command(scope, b"")
            forms = {"engine": engine, "batches": batches, "auto": auto}
            p50: dict[str, list[float]] = {name: [] for name in forms}
            usec: dict[str, list[float]] = {name: [] for name in forms}
            for _ in range(ROUNDS):
                for name, command in forms.items():
                    client.config_resetstat()
                    p50[name].append(_time(client, command, blobs))
                    stats = client.info("commandstats")["cmdstat_FT.SEARCH"]
                    usec[name].append(float(stats["usec_per_call"]))
            share = cache.count(tenant) / total
            cells = "  ".join(
                f"{name} {statistics.median(p50[name]):.3f} ({statistics.median(usec[name]):.0f})"
                for name in forms
            )
            chosen = "BATCHES" if "BATCHES" in auto[2] else "engine"
            print(f"  {tenant:6s} {share:6.1%}  {cells}  -> auto sends {chosen}")
        cache.close()
        client.close()


if __name__ == "__main__":
    main()
