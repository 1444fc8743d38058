"""Semantic lookups/s on a 3-primary OSS Redis Cluster versus one Redis node, many tenants.

Both setups hold the same entries (``--tenants`` x ``--entries`` random unit
vectors), and ``--procs`` client processes run KNN lookups (exact fast path
off, so every lookup is an FT.SEARCH plus the field read) on random tenants
for ``--seconds``. Printed: lookups/s, latency percentiles, memory per entry
and entries per node, and the cluster/single ratio measured in this process.

    .venv/bin/python -m bench.cluster_bench --tenants 300 --entries 20 --procs 2 --seconds 10
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time
from typing import Any

import numpy as np
import redis

from agentcache._redis.server import EmbeddedRedis
from agentcache.semantic import SemanticCache
from agentcache.settings import AgentCacheSettings
from agentcache.testing.cluster import LocalCluster
from agentcache.testing.vectors import HashingVectorizer


def _settings(redis_cfg: dict[str, Any], dims: int) -> AgentCacheSettings:
    return AgentCacheSettings(
        redis={**redis_cfg, "key_prefix": "bench", "socket_timeout": 5.0},
        embeddings={"dims": dims, "model": "bench-random"},
        semantic={"ttl_seconds": None, "exact_match": False, "max_entries_per_tenant": None},
        metrics={"enabled": False},
        reliability={"strict": True},
    )


def _vectors(seed: int, n: int, dims: int) -> np.ndarray:
    vecs = np.random.default_rng(seed).normal(size=(n, dims)).astype(np.float32)
    return vecs / np.linalg.norm(vecs, axis=1, keepdims=True)


def populate(settings: AgentCacheSettings, tenants: int, entries: int) -> float:
    """Store every entry; return the seconds it took."""
    dims = settings.embeddings.dims
    cache = SemanticCache(settings, vectorizer=HashingVectorizer(dims=dims))
    start = time.perf_counter()
    for t in range(tenants):
        vecs = _vectors(t, entries, dims)
        for e in range(entries):
            cache.store(f"q{e}", f"a{t}:{e}", tenant=f"tenant-{t}", agent="bot", vector=vecs[e])
    took = time.perf_counter() - start
    cache.close()
    return took


def worker(args: tuple[dict[str, Any], int, int, int, float, int]) -> tuple[int, int, list[float]]:
    """Lookups for ``seconds``: (lookups, hits, latencies in seconds)."""
    redis_cfg, dims, tenants, entries, seconds, seed = args
    settings = _settings(redis_cfg, dims)
    cache = SemanticCache(settings, vectorizer=HashingVectorizer(dims=dims))
    rng = np.random.default_rng(seed)
    vectors = {t: _vectors(t, entries, dims) for t in range(tenants)}
    latencies: list[float] = []
    hits = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        t, e = int(rng.integers(tenants)), int(rng.integers(entries))
        query = vectors[t][e] + rng.normal(scale=0.01, size=dims).astype(np.float32)
        start = time.perf_counter()
        hit = cache.check("x", tenant=f"tenant-{t}", agent="bot", vector=query)
        latencies.append(time.perf_counter() - start)
        hits += hit is not None and hit.response == f"a{t}:{e}"
    cache.close()
    return len(latencies), hits, latencies


def measure(redis_cfg: dict[str, Any], opts: argparse.Namespace) -> dict[str, float]:
    ctx = mp.get_context("spawn")
    jobs = [
        (redis_cfg, opts.dims, opts.tenants, opts.entries, opts.seconds, seed)
        for seed in range(opts.procs)
    ]
    with ctx.Pool(opts.procs) as pool:
        results = pool.map(worker, jobs)
    lookups = sum(r[0] for r in results)
    hits = sum(r[1] for r in results)
    lat = np.array([x for r in results for x in r[2]])
    return {
        "lookups_per_s": lookups / opts.seconds,
        "hit_rate": hits / max(lookups, 1),
        "p50_ms": float(np.percentile(lat, 50) * 1000),
        "p99_ms": float(np.percentile(lat, 99) * 1000),
    }


def _used_memory(ports: list[int]) -> list[int]:
    out = []
    for port in ports:
        with redis.Redis(port=port) as conn:
            out.append(int(conn.info("memory")["used_memory"]))
    return out


def _search_usec(ports: list[int]) -> list[float]:
    """Server-side microseconds per FT.SEARCH on each node (INFO commandstats)."""
    out = []
    for port in ports:
        with redis.Redis(port=port) as conn:
            stats = conn.info("commandstats").get("cmdstat_FT.SEARCH", {})
            out.append(float(stats.get("usec_per_call", 0.0)))
    return out


def _keys(ports: list[int]) -> list[int]:
    out = []
    for port in ports:
        with redis.Redis(port=port) as conn:
            out.append(int(conn.dbsize()))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=300)
    parser.add_argument("--entries", type=int, default=20, help="entries per tenant")
    parser.add_argument("--dims", type=int, default=384)
    parser.add_argument("--procs", type=int, default=2, help="client processes")
    parser.add_argument("--seconds", type=float, default=10.0)
    opts = parser.parse_args()
    total = opts.tenants * opts.entries
    print(
        f"{opts.tenants} tenants x {opts.entries} entries = {total} entries, {opts.dims} dims, "
        f"{opts.procs} client processes, {opts.seconds:.0f} s per run"
    )
    results: dict[str, dict[str, float]] = {}
    with EmbeddedRedis() as single:
        base = _used_memory([single.port])[0]
        cfg: dict[str, Any] = {"url": single.url}
        took = populate(_settings(cfg, opts.dims), opts.tenants, opts.entries)
        mem = _used_memory([single.port])[0] - base
        print(f"single: stored in {took:.1f}s, {mem / total:.0f} bytes/entry (used_memory)")
        results["single"] = measure(cfg, opts)
        print(f"single: {_search_usec([single.port])[0]:.0f} us of server CPU per FT.SEARCH")
    with LocalCluster(primaries=3) as cluster:
        ports = [node.port for node in cluster.nodes]
        base_mem = _used_memory(ports)
        cfg = {"cluster_nodes": cluster.seeds}
        took = populate(_settings(cfg, opts.dims), opts.tenants, opts.entries)
        mems = [after - before for after, before in zip(_used_memory(ports), base_mem, strict=True)]
        print(
            f"cluster: stored in {took:.1f}s, keys per node {_keys(ports)}, "
            f"{sum(mems) / total:.0f} bytes/entry"
        )
        results["cluster"] = measure(cfg, opts)
        usec = ", ".join(f"{u:.0f}" for u in _search_usec(ports))
        print(f"cluster: {usec} us of server CPU per FT.SEARCH, per node")
    for name, r in results.items():
        print(
            f"{name:<8} {r['lookups_per_s']:8.0f} lookups/s  hit rate {r['hit_rate']:.3f}  "
            f"p50 {r['p50_ms']:.2f} ms  p99 {r['p99_ms']:.2f} ms"
        )
    ratio = results["cluster"]["lookups_per_s"] / results["single"]["lookups_per_s"]
    print(f"cluster/single lookups/s ratio: {ratio:.2f}")


if __name__ == "__main__":
    main()
