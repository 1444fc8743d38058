"""Profile ``SemanticCache.check`` against a real server, embedding excluded.

10 tenants x 1,000 QQP questions (``--data``), vectors from a table filled up front
(hashed bag of words, 384 dims: the lookup path, not the embedder, is measured); then
``--checks`` lookups spread over the tenants: paraphrases (``q2``), exact repeats and
unrelated questions. Prints p50/p99 per check and the cProfile top entries.

    PYTHONPATH=$PWD python scripts/profile_lookup.py [--profile] [--checks 500]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

from agentcache import EmbeddedRedis, SemanticCache
from agentcache.settings import AgentCacheSettings
from agentcache.testing.vectors import HashingVectorizer
from agentcache.vectorizers import BaseVectorizer, Vector

DATA = Path("/work/shared/data/qqp_gptcache_20k.jsonl")


class TableVectorizer(BaseVectorizer):
    """Vectors looked up by text (filled before the clock starts)."""

    def __init__(self, table: dict[str, Vector], dims: int) -> None:
        super().__init__("table", dims)
        self.table = table

    def embed_many(self, texts: Sequence[str]) -> list[Vector]:
        return [self.table[text] for text in texts]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--tenants", type=int, default=10)
    parser.add_argument("--per-tenant", type=int, default=1000)
    parser.add_argument("--checks", type=int, default=500)
    parser.add_argument("--threshold", type=float, default=0.6)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.data.read_text().splitlines()]
    need = args.tenants * args.per_tenant
    pairs = [(r["q1"], r["q2"]) for r in rows[:need]]
    unrelated = [r["q1"] for r in rows[need : need + args.checks]]
    hasher = HashingVectorizer(384)
    texts = {t for pair in pairs for t in pair} | set(unrelated)
    table = dict(zip(texts, hasher.embed_many(sorted(texts)), strict=True))
    with EmbeddedRedis() as server:
        settings = AgentCacheSettings.model_validate(
            {
                "redis": {"url": server.url, "key_prefix": "prof"},
                "embeddings": {"dims": 384},
                "metrics": {"enabled": False},
            }
        )
        cache = SemanticCache(settings, vectorizer=TableVectorizer(table, 384))
        for t in range(args.tenants):
            chunk = pairs[t * args.per_tenant : (t + 1) * args.per_tenant]
            cache.store_many([(q1, f"answer {q1}") for q1, _ in chunk], tenant=f"t{t}", agent="a")
        queries = []
        for i in range(args.checks):
            t = i % args.tenants
            q1, q2 = pairs[t * args.per_tenant + (i * 7) % args.per_tenant]
            kind = i % 5
            text = q1 if kind == 0 else unrelated[i] if kind == 1 else q2
            queries.append((text, f"t{t}"))
        for text, tenant in queries[:50]:  # warm-up: scripts loaded, planner counted
            cache.check(text, tenant=tenant, agent="a", threshold=args.threshold)
        profiler = cProfile.Profile() if args.profile else None
        times, hits = [], 0
        if profiler:
            profiler.enable()
        cpu = time.process_time()  # this process only: the client's share, whatever the load
        for text, tenant in queries:
            start = time.perf_counter()
            hit = cache.check(text, tenant=tenant, agent="a", threshold=args.threshold)
            times.append(time.perf_counter() - start)
            hits += hit is not None
        cpu = time.process_time() - cpu
        if profiler:
            profiler.disable()
        cache.close()  # the server (and its data) goes with the with-block
    times.sort()
    p50 = statistics.median(times) * 1000
    p99 = times[int(len(times) * 0.99) - 1] * 1000
    print(
        f"{len(times)} checks, {hits} hits: p50 {p50:.3f} ms, p99 {p99:.3f} ms, "
        f"client CPU {cpu / len(times) * 1000:.3f} ms per check"
    )
    if profiler:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)


if __name__ == "__main__":
    main()
