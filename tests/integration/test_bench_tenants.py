"""The multi-tenant benchmark (bench/tenants.py) end to end on its smallest shape.

No timing is asserted: the report's structure, that agreement is computed
against an independent exact filtered search, and that round trips are counted.
"""

from __future__ import annotations

import argparse

import numpy as np
import pytest
import redis

from agentcache.testing.vectors import HashingVectorizer
from bench._report import workload_tables
from bench._tenants import Shape, agreement, build, exact_search
from bench._workloads import DIMS
from bench.tenants import run_workload

WORDS = [f"w{i}" for i in range(400)]


def corpus(pairs: int = 60) -> tuple[list[str], np.ndarray, list[tuple[int, int]]]:
    """Questions of 20 words; half the pairs a paraphrase (one extra word: cosine ~0.97),
    half an unrelated question (a miss)."""
    rng = np.random.default_rng(3)
    texts: list[str] = []
    index: list[tuple[int, int]] = []
    for p in range(pairs):
        words = [str(w) for w in rng.choice(WORDS, 20, replace=False)]
        first = " ".join(words)
        second = first + " extra" if p % 2 == 0 else " ".join(rng.choice(WORDS, 20, replace=False))
        texts.extend([first, second])
        index.append((2 * p, 2 * p + 1))
    for k in range(80):  # questions without a pair: fill
        texts.append(" ".join(str(w) for w in rng.choice(WORDS, 20, replace=False)) + f" f{k}")
    vectors = np.stack(HashingVectorizer(DIMS).embed_many(texts)).astype(np.float32)
    return texts, vectors, index


def args() -> argparse.Namespace:
    return argparse.Namespace(
        rounds=1, no_baselines=False, linear_max=100_000, linear_budget=1.0, seconds=0.2
    )


def test_smallest_workload_end_to_end(redis_url: str, key_prefix: str) -> None:
    shape = Shape("d", 4, 3, faq=4)
    work = build(shape, corpus(), queries=40)
    client = redis.Redis.from_url(redis_url)
    try:
        result = run_workload(redis_url, client, work, args(), prefix=key_prefix)
    finally:
        for key in client.scan_iter(f"{key_prefix}*", count=1000):
            client.delete(key)
        for name in client.execute_command("FT._LIST"):
            if name.decode().startswith(key_prefix):
                client.execute_command("FT.DROPINDEX", name)
        client.close()

    # Every tenant holds the same FAQ rows plus its own; queries are asked in tenants.
    assert result["entries"] == shape.entries == work.n
    assert sorted(set(work.tenants)) == sorted(set(work.q_tenants) | set(work.tenants))
    # Ground truth, recomputed here: brute force over the asking tenant's rows only.
    threshold = result["threshold"]
    exact_hits = 0
    for i, tenant in enumerate(work.q_tenants):
        rows = [r for r, t in enumerate(work.tenants) if t == tenant]
        if float(np.max(work.vectors[rows] @ work.queries[i])) >= threshold:
            exact_hits += 1
    assert exact_hits > 0
    for name in ("agentcache", "redisvl", "linear"):
        assert result[f"{name}_check"]["p50_ms"] > 0
        found = result[f"{name}_agreement"]
        assert found["exact_hits"] <= exact_hits
        # Tiny scopes are searched exactly by every system: each serves the exact nearest.
        assert found["agreement"] == 1.0, (name, found)
        assert found["served_not_exact"] == 0
    assert result["agentcache_agreement"]["exact_hits"] == exact_hits
    assert {"own", "faq"} == {k.rsplit("_", 1)[1] for k in result if "agreement_" in k}
    trips = result["round_trips"]
    assert trips["embeds_lookups"] == trips["vector_lookups"] == len(work.queries)
    assert trips["embeds_hit"] >= 1 and trips["embeds_miss"] >= 1 and trips["vector_miss"] >= 1
    assert set(result["throughput"]) == {"threads_1", "threads_4", "asyncio_32"}
    table = workload_tables({"d": result})
    assert shape.label in table and f"({exact_hits:,})" in table


def test_agreement_counts_a_wrong_or_foreign_entry_as_a_disagreement() -> None:
    work = build(Shape("b", 3, 10), corpus(), queries=30)
    exact_search(work)
    assert work.exact_arg is not None and work.exact_best is not None
    asked = list(range(len(work.queries)))
    hits = [i for i in asked if work.exact_best[i] >= 0.95]
    assert hits
    right = {i: int(work.exact_arg[i]) for i in hits}
    assert agreement(work, right, 0.95, asked)["agreement"] == 1.0
    wrong = dict(right)
    first = hits[0]
    others = [r for r, t in enumerate(work.tenants) if t == work.q_tenants[first]]
    wrong[first] = next(r for r in others if r != work.exact_arg[first])
    result = agreement(work, wrong, 0.95, asked)
    assert result["wrong_entry"] == 1 and result["agreement"] == pytest.approx(1 - 1 / len(hits))
    foreign = dict(right)
    foreign[first] = -1  # an entry of another tenant
    assert agreement(work, foreign, 0.95, asked)["wrong_entry"] == 1
    missed = {i: r for i, r in right.items() if i != first}
    assert agreement(work, missed, 0.95, asked)["missed"] == 1
