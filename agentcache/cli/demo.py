"""``agentcache demo``: the main job, end to end, on the embedded default.

Starts the embedded Redis Stack (or uses ``AGENTCACHE_REDIS__URL``), loads the
local embedding model, caches two tenants' FAQs, then asks paraphrases,
unrelated questions and the other tenant's questions, printing what each
lookup did and how long it took.

The demo may run against a user's own Redis, so it never touches their data:
each run uses a key prefix of its own (``acdemo-<random>``, so nothing it
deletes can belong to anyone else), its own index, and at the end removes
only what it created (its indexes and the keys under its prefix). It runs
strict: an unreachable Redis is an error, not a demo of misses. Entries get a
one-hour TTL, so even a killed run leaves nothing behind for long.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import time
from collections import Counter

from agentcache._redis.clients import embedded_server, resolve_url, sync_client
from agentcache.cli import _demo_llm
from agentcache.cli._demo_data import FAQ, QUERIES
from agentcache.semantic._sync import SemanticCache
from agentcache.settings import AgentCacheSettings
from agentcache.vectorizers import LocalVectorizer, Vectorizer, vectorizer_from_settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "demo", help="run the semantic cache end to end on the embedded Redis Stack"
    )
    parser.add_argument("--threshold", type=float, default=None, help="override the threshold")
    parser.add_argument("--no-llm", action="store_true", help="skip the cached-LLM session")
    parser.set_defaults(func=run)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:7.2f}"


DEMO_PREFIX = "acdemo"
DEMO_INDEX = "demo"
DEMO_TTL_SECONDS = 3600


def demo_settings() -> AgentCacheSettings:
    """The environment's settings with this run's own key prefix and index, strict."""
    return AgentCacheSettings(
        redis={"key_prefix": f"{DEMO_PREFIX}-{secrets.token_hex(4)}"},
        semantic={"index_name": DEMO_INDEX, "ttl_seconds": DEMO_TTL_SECONDS},
        embeddings={"ttl_seconds": DEMO_TTL_SECONDS},
        reliability={"strict": True},
        metrics={"enabled": False},  # its counters would only be deleted again
    )


def run(args: argparse.Namespace) -> int:
    settings = demo_settings()
    if settings.redis.url is None and not settings.redis.cluster_nodes:
        server = embedded_server(settings)
        print(f"Redis Stack : embedded at {server.url}")
        print(f"  binary    : {server.binaries.redis_server}")
        print(f"  modules   : {', '.join(str(m) for m in server.binaries.modules)}")
    else:
        print(f"Redis       : {resolve_url(settings)}")
    # Fail in a second, before loading the model, if Redis is not there (strict anyway).
    client = sync_client(settings)
    try:
        client.ping()
    finally:
        client.close()
    print(f"Key prefix  : {settings.redis.key_prefix} (this run's own; removed at the end)")

    started = time.perf_counter()
    vectorizer = vectorizer_from_settings(settings)
    vectorizer.embed("warm up")
    kind = "local, offline" if isinstance(vectorizer, LocalVectorizer) else "remote"
    print(f"Embeddings  : {vectorizer.model} ({vectorizer.dims} dims, {kind}), "
          f"loaded in {time.perf_counter() - started:.1f}s")  # fmt: skip

    cache = SemanticCache(settings, vectorizer=vectorizer)
    try:
        with _demo_llm.dropped_at_exit(cache):
            return _run(args, settings, vectorizer, cache)
    finally:
        cache.close()


def _run(
    args: argparse.Namespace,
    settings: AgentCacheSettings,
    vectorizer: Vectorizer,
    cache: SemanticCache,
) -> int:
    threshold = args.threshold if args.threshold is not None else settings.semantic.threshold
    print(f"Index       : {cache.core.alias} (HNSW, cosine), threshold {threshold}, "
          f"policy {cache.policy.name}\n")  # fmt: skip

    for tenant, pairs in FAQ.items():
        questions = [q for q, _ in pairs]
        vectors = vectorizer.embed_many(questions)
        for (question, answer), vector in zip(pairs, vectors, strict=True):
            cache.store(question, answer, tenant=tenant, agent="support", vector=vector)
        print(f"stored {len(pairs)} answers for tenant {tenant!r}")
    print()

    header = (
        f"{'tenant':<13} {'kind':<24} {'result':<9} {'sim':>5} {'total ms':>8} "
        f"{'lookup ms':>9}  question"
    )
    print(header)
    print("-" * len(header))
    lookups: list[float] = []
    results: Counter[str] = Counter()
    cross_tenant_hits = 0
    for tenant, question, kind in QUERIES:
        t0 = time.perf_counter()
        hit = cache.check(question, tenant=tenant, agent="support", threshold=threshold)
        total = time.perf_counter() - t0
        vector = vectorizer.embed(question)
        t1 = time.perf_counter()
        cache.check(question, tenant=tenant, agent="support", threshold=threshold, vector=vector)
        lookup = time.perf_counter() - t1
        lookups.append(lookup)
        if hit is None:
            result, sim = "MISS", "  -  "
        else:
            result, sim = ("EXACT" if hit.exact else "HIT"), f"{hit.similarity:.3f}"
            own = {q for q, _ in FAQ[tenant]}
            if hit.prompt not in own:
                cross_tenant_hits += 1
        results[result] += 1
        print(f"{tenant:<13} {kind:<24} {result:<9} {sim:>5} {_ms(total):>8} {_ms(lookup):>9}  "
              f"{question}")  # fmt: skip
        if hit is not None:
            print(f"{'':<13} {'':<24} {'':<9} {'':>5} {'':>8} {'':>9}  -> {hit.response}")

    # Isolation proof: every stored question of one tenant, asked verbatim by the other.
    probes = 0
    for tenant, pairs in FAQ.items():
        other = next(t for t in FAQ if t != tenant)
        for question, answer in pairs:
            probes += 1
            hit = cache.check(question, tenant=other, agent="support", threshold=threshold)
            if hit is not None and hit.response == answer:
                cross_tenant_hits += 1
    print()
    # Counted from the table's rows (cache.stats also counts the timing re-checks and probes).
    print(f"{len(QUERIES)} questions: {results['HIT']} HIT, {results['EXACT']} EXACT, "
          f"{results['MISS']} MISS; lookup p50 {statistics.median(lookups) * 1000:.2f} ms "
          "(excluding embedding)")  # fmt: skip
    print(f"isolation: {probes} verbatim questions asked across tenants, "
          f"{cross_tenant_hits} cross-tenant hits")  # fmt: skip

    if not args.no_llm:
        print()
        _demo_llm.run(settings, vectorizer)
    return 0 if cross_tenant_hits == 0 else 1
