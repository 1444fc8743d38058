"""End-to-end lookups with the real MiniLM model: exact repeat, paraphrase hit, miss.

Also the embedding cache's batch read (``EmbeddingCache.get_many``), when
that module is present.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from agentcache.semantic import SemanticCache
from agentcache.settings import AgentCacheSettings
from bench._measure import AGENT, TENANT
from bench._workloads import Workload


def _ms(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter_ns()
    value = fn()
    return (time.perf_counter_ns() - t0) / 1e6, value


def _stats(times: list[float]) -> dict[str, float]:
    if not times:
        return {}
    return {
        "p50_ms": float(np.percentile(times, 50)),
        "p99_ms": float(np.percentile(times, 99)),
        "samples": float(len(times)),
    }


def end_to_end(settings: AgentCacheSettings, work: Workload, samples: int = 40) -> dict[str, Any]:
    """check() with embedding included, on the populated real-embedding cache."""
    from agentcache.vectorizers import LocalVectorizer

    assert work.exact_best is not None
    vectorizer = LocalVectorizer()
    vectorizer.embed("warm the model up")
    cache = SemanticCache(settings, vectorizer=vectorizer)
    threshold = settings.semantic.threshold
    out: dict[str, Any] = {}

    real = len(work.prompts) - work.padded
    exact_times, exact_ok = [], 0
    for i in range(min(samples, real)):
        took, hit = _ms(partial(cache.check, work.prompts[i], tenant=TENANT, agent=AGENT))
        exact_times.append(took)
        exact_ok += bool(hit is not None and hit.exact)
    out["exact_repeat"] = {**_stats(exact_times), "served_exact": float(exact_ok)}

    # Each query text is new to this cache object, so nothing comes from its memo.
    para = [i for i in range(len(work.queries)) if work.exact_best[i] >= threshold + 0.01]
    miss = [i for i in range(len(work.queries)) if work.exact_best[i] < threshold - 0.1]
    for label, picks in (("paraphrase_hit", para[:samples]), ("miss", miss[:samples])):
        times, hits = [], 0
        for i in picks:
            prompt = work.query_prompts[i]
            took, hit = _ms(partial(cache.check, prompt, tenant=TENANT, agent=AGENT))
            times.append(took)
            hits += hit is not None
        out[label] = {**_stats(times), "hits": float(hits)}
    embed_times = [
        _ms(partial(vectorizer.embed, p + " ?"))[0] for p in work.query_prompts[:samples]
    ]
    out["embedding_only"] = _stats(embed_times)
    out["embedding_cache"] = embedding_cache_read(settings, work)
    cache.close()
    return out


def embedding_cache_read(settings: AgentCacheSettings, work: Workload) -> dict[str, Any]:
    """EmbeddingCache.get_many of 1, 16 and 128 cached vectors (ms per call)."""
    try:
        from agentcache.embeddings import EmbeddingCache
    except ImportError:
        return {"skipped": "agentcache.embeddings is not available"}
    cache = EmbeddingCache(settings, model="bench-minilm", dims=work.vectors.shape[1])
    texts = work.prompts[:128]
    cache.set_many(texts, list(work.vectors[:128]))
    out: dict[str, Any] = {}
    for size in (1, 16, 128):
        batch = texts[:size]
        times = []
        for _ in range(50):
            took, found = _ms(partial(cache.get_many, batch))
            assert all(v is not None for v in found), "embedding cache lost a vector"
            times.append(took)
        out[f"get_many_{size}"] = _stats(times)
    cache.close()
    return out
