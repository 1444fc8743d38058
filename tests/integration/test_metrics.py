"""Metrics on a real server: Redis-side counters, the stats command, Prometheus, sinks."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest
import redis
import redis.asyncio as aredis
from prometheus_client import CollectorRegistry, generate_latest

from agentcache import cli
from agentcache.cli.stats import render, summarize
from agentcache.embeddings import EmbeddingCache
from agentcache.llm import CachedAnthropic, cache_info
from agentcache.metrics._counters import Metrics
from agentcache.metrics._export import PrometheusCollector
from agentcache.metrics._flush import RedisCounters, read_counters
from agentcache.metrics._types import ERRORS, HITS, MISSES, NO_TENANT, SHADOW_HITS, STORES, Series
from agentcache.semantic import AsyncSemanticCache, SemanticCache
from agentcache.settings import AgentCacheSettings
from agentcache.stack import AgentCache, AsyncAgentCache
from agentcache.testing.provider import ProviderServer
from agentcache.testing.vectors import HashingVectorizer
from agentcache.tools import ToolCache, cached_tool

PROMPT = "What is the refund window?"


@pytest.fixture
def cache(settings: AgentCacheSettings) -> Iterator[SemanticCache]:
    with SemanticCache(settings, vectorizer=HashingVectorizer()) as c:
        yield c
        c.drop()


def events(fields: dict[str, float]) -> dict[str, float]:
    """A counter hash without its latency histogram fields."""
    return {name: value for name, value in fields.items() if not name.startswith("lat:")}


def counts(client: redis.Redis, prefix: str, tenant: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for fields in read_counters(client, prefix, tenant).values():
        for name, value in fields.items():
            if not name.startswith("lat:"):
                out[name] = out.get(name, 0) + value
    return out


def test_cache_calls_land_in_redis_per_tenant(
    cache: SemanticCache, redis_client: redis.Redis, key_prefix: str
) -> None:
    cache.store(PROMPT, "30 days", tenant="acme", agent="support")
    assert cache.check(PROMPT, tenant="acme", agent="support") is not None
    assert cache.check("Who won the match?", tenant="acme", agent="support") is None
    assert cache.check(PROMPT, tenant="globex", agent="support") is None
    assert cache.metrics.flush()
    assert counts(redis_client, key_prefix, "acme") == {
        STORES: 1,
        HITS: 1,
        "exact_hits": 1,
        MISSES: 1,
    }
    assert counts(redis_client, key_prefix, "globex") == {MISSES: 1}
    latency = read_counters(redis_client, key_prefix, "acme")
    fields = latency[Series("semantic", "acme", "support")]
    assert fields["lat:check:n"] >= 2 and fields["lat:store:n"] == 1


def test_counters_add_up_across_processes_and_outlive_them(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    for _ in range(2):  # two "processes", each with its own Metrics, then gone
        metrics = Metrics(
            counters=RedisCounters(lambda: redis_client, key_prefix, owns_client=False)
        )
        metrics.count("semantic", HITS, "acme", "support", 2)
        metrics.count("semantic", ERRORS, "acme", "support")
        metrics.saved("semantic", "acme", "support", tokens=1200, usd=0.0036)
        metrics.close()
    assert counts(redis_client, key_prefix, "acme") == pytest.approx(
        {HITS: 4, ERRORS: 2, "tokens_saved": 2400, "usd_saved": 0.0072}
    )


def test_shadow_mode_counts_would_be_hits_and_serves_misses(
    settings: AgentCacheSettings, redis_client: redis.Redis, key_prefix: str
) -> None:
    settings.semantic.shadow_mode = True
    with SemanticCache(settings, vectorizer=HashingVectorizer()) as cache:
        cache.store(PROMPT, "30 days", tenant="acme", agent="support")
        assert cache.check(PROMPT, tenant="acme", agent="support") is None
        assert cache.check(PROMPT + "?", tenant="acme", agent="support", threshold=0.5) is None
        cache.metrics.saved("semantic", "acme", "support", tokens=500, usd=0.01, shadow=True)
        cache.metrics.flush()
        (row,) = summarize(read_counters(redis_client, key_prefix, "acme"))
        assert (row.get(SHADOW_HITS), row.get(MISSES), row.get(HITS)) == (2, 2, 0)
        assert (row.hit_rate, row.would_be_hit_rate) == (0.0, 1.0)
        assert "shadow mode: 2 would-be hits, 500 tokens / $0.0100" in render([row])
        cache.drop()


def test_stats_command_prints_one_tenant(
    cache: SemanticCache,
    settings: AgentCacheSettings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for tenant in ("acme", "t1 ", "T1"):
        cache.store(PROMPT, "30 days", tenant=tenant, agent="support")
        cache.check(PROMPT, tenant=tenant, agent="support")
    cache.metrics.flush()
    monkeypatch.setenv("AGENTCACHE_REDIS__KEY_PREFIX", settings.redis.key_prefix)
    url = str(settings.redis.url)
    assert cli.main(["stats", "--url", url, "--tenant", "t1 ", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    (row,) = report["rows"]
    assert (row["tenant"], row["hits"], row["stores"], row["hit_rate"]) == ("t1 ", 1, 1, 1.0)
    assert cli.main(["stats", "--url", url]) == 0
    table = capsys.readouterr().out
    assert "'acme'" in table and "'t1 '" in table and "'T1'" in table
    assert "100.0%" in table


def test_stats_without_a_url_explains_itself(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["stats"]) == 2
    assert "AGENTCACHE_REDIS__URL" in capsys.readouterr().err


def test_prometheus_exposes_counters_and_latency(cache: SemanticCache) -> None:
    cache.store(PROMPT, "30 days", tenant="acme", agent="support")
    cache.check(PROMPT, tenant="acme", agent="support")
    registry = CollectorRegistry()
    registry.register(PrometheusCollector(cache.metrics))
    text = generate_latest(registry).decode()
    assert 'agentcache_hits_total{agent="support",layer="semantic",tenant="acme"} 1.0' in text
    assert 'agentcache_stores_total{agent="support",layer="semantic",tenant="acme"} 1.0' in text
    assert "agentcache_redis_latency_seconds_bucket{" in text
    assert 'operation="check"' in text


def test_prometheus_can_fold_away_tenant_and_agent_labels(cache: SemanticCache) -> None:
    for tenant in ("a", "b", "c"):
        cache.check(PROMPT, tenant=tenant, agent=tenant)
    registry = CollectorRegistry()
    registry.register(PrometheusCollector(cache.metrics, tenant_label=False, agent_label=False))
    text = generate_latest(registry).decode()
    assert 'agentcache_misses_total{agent="",layer="semantic",tenant=""} 3.0' in text


def test_sinks_receive_every_report(settings: AgentCacheSettings) -> None:
    seen: list[tuple[str, str, float]] = []

    class Sink:
        def add(self, series: Series, name: str, value: float) -> None:
            seen.append((series.tenant, name, value))

        def observe(self, series: Series, operation: str, seconds: float) -> None:
            seen.append((series.tenant, f"latency:{operation}", 1))

    with SemanticCache(
        settings, vectorizer=HashingVectorizer(), metrics=Metrics(sinks=[Sink()])
    ) as cache:
        cache.check(PROMPT, tenant="acme", agent="support")
        cache.drop()
    assert ("acme", MISSES, 1) in seen
    assert ("acme", "latency:check", 1) in seen


def test_disabled_metrics_write_nothing(
    settings: AgentCacheSettings, redis_client: redis.Redis, key_prefix: str
) -> None:
    settings.metrics.enabled = False
    with SemanticCache(settings, vectorizer=HashingVectorizer()) as cache:
        cache.check(PROMPT, tenant="acme", agent="support")
        assert cache.metrics.snapshot().counters == {}
        cache.drop()
    assert read_counters(redis_client, key_prefix) == {}


async def test_async_cache_counts_through_a_sync_twin_of_its_client(
    redis_url: str, key_prefix: str, redis_client: redis.Redis
) -> None:
    # No URL in the settings: counters must follow the client the cache was given.
    settings = AgentCacheSettings(
        redis={"key_prefix": key_prefix},
        embeddings={"dims": 32, "model": "test-hash"},
        semantic={"ttl_seconds": None},
    )
    client = aredis.Redis.from_url(redis_url)
    cache = await AsyncSemanticCache.create(settings, client=client, vectorizer=HashingVectorizer())
    await cache.store(PROMPT, "30 days", tenant="acme", agent="support")
    assert await cache.check(PROMPT, tenant="acme", agent="support") is not None
    await cache.drop()
    await cache.aclose()
    await client.aclose()
    assert counts(redis_client, key_prefix, "acme") == {STORES: 1, HITS: 1, "exact_hits": 1}


_EXIT_SCRIPT = """
import logging, sys
import redis
from agentcache._redis.server import EmbeddedRedis
from agentcache.metrics._counters import Metrics
from agentcache.metrics._flush import RedisCounters

# The exit flush's DEBUG record goes to stdout; warnings reach stderr as usual.
handler = logging.StreamHandler(sys.stdout)
handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
logging.getLogger("agentcache.metrics").addHandler(handler)
logging.getLogger("agentcache.metrics").setLevel(logging.DEBUG)
server = EmbeddedRedis().start()
client = redis.Redis.from_url(server.url, socket_connect_timeout=1, socket_timeout=1)
running, exiting = (
    Metrics(counters=RedisCounters(lambda: client, "exitp", owns_client=False, interval=3600))
    for _ in range(2)
)
for metrics in (running, exiting):
    metrics.count("tool", "hits", "acme", "search")
    assert metrics.flush()
server.stop()
for metrics in (running, exiting):
    metrics.count("tool", "hits", "acme", "search")
assert not running.flush() and not running.flush()  # while running: one warning per burst
"""


def test_exit_after_the_server_stopped_is_quiet_but_a_burst_still_warns_once() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _EXIT_SCRIPT], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    # Two failed flushes while running: one warning. The exit flushes of both
    # (``exiting`` never failed before, a fresh burst) add none...
    assert done.stderr.count("agentcache metrics: flush failed (ConnectionError") == 1
    assert "final flush" not in done.stderr and "WARNING" not in done.stdout
    # ...they log at DEBUG, saying the counts are lost.
    assert done.stdout.count("DEBUG agentcache metrics: final flush at exit failed") == 2
    assert "1 counter series lost" in done.stdout


def test_tool_calls_count_per_tenant_and_tool_and_shared_ones_under_the_global_tag(
    settings: AgentCacheSettings,
    redis_client: redis.Redis,
    key_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with ToolCache(settings) as tools:

        @cached_tool(tools, tenant_arg="tenant")
        def lookup(query: str, tenant: str) -> str:
            return query.upper()

        @cached_tool(tools)
        def weather(city: str) -> str:
            return f"sunny in {city}"

        lookup("refunds", tenant="acme")
        lookup("refunds", tenant="acme")
        lookup("refunds", tenant="globex")
        weather("Oslo")
        weather("Oslo")
        assert tools.metrics.flush()
        counters = read_counters(redis_client, key_prefix)
    # The agent column of the tool layer is the tool name.
    assert events(counters[Series("tool", "acme", "lookup")]) == {HITS: 1, MISSES: 1, STORES: 1}
    assert events(counters[Series("tool", "globex", "lookup")]) == {MISSES: 1, STORES: 1}
    ((series, shared),) = read_counters(redis_client, key_prefix, NO_TENANT).items()
    assert series == Series("tool", NO_TENANT, "weather")
    assert events(shared) == {HITS: 1, MISSES: 1, STORES: 1}
    assert shared["lat:lookup:n"] == 2
    assert redis_client.exists(f"{key_prefix}:stats:{{~global}}:tool:weather")
    monkeypatch.setenv("AGENTCACHE_REDIS__KEY_PREFIX", key_prefix)
    url = str(settings.redis.url)
    assert cli.main(["stats", "--url", url, "--agents", "--json"]) == 0
    rows = {
        (r["tenant"], r["layer"], r["agent"]): r
        for r in json.loads(capsys.readouterr().out)["rows"]
    }
    assert rows[("acme", "tool", "lookup")]["hit_rate"] == 0.5
    assert rows[("", "tool", "weather")]["stores"] == 1
    assert cli.main(["stats", "--url", url]) == 0
    table = capsys.readouterr().out
    assert "(shared)" in table and " tool " in table


def test_embedding_cache_counts_per_model_in_the_shared_scope(
    settings: AgentCacheSettings,
    redis_client: redis.Redis,
    key_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    embedder = HashingVectorizer()
    with EmbeddingCache(settings) as cache:
        cache.get_or_compute_many(["a", "b", "a"], embedder.embed_many)  # 2 misses, 2 stored
        cache.get_or_compute_many(["a", "b", "c"], embedder.embed_many)  # 2 hits, 1 miss
        assert cache.metrics.flush()
    fields = read_counters(redis_client, key_prefix, NO_TENANT)[
        Series("embedding", NO_TENANT, "test-hash")
    ]
    assert events(fields) == {HITS: 2, MISSES: 3, STORES: 3}
    assert fields["lat:mget:n"] == 2 and fields["lat:store:n"] == 2
    monkeypatch.setenv("AGENTCACHE_REDIS__KEY_PREFIX", key_prefix)
    assert cli.main(["stats", "--url", str(settings.redis.url), "--tenant", ""]) == 0
    (row,) = [line for line in capsys.readouterr().out.splitlines() if " embedding " in line]
    assert row.split()[:4] == ["(shared)", "embedding", "5", "40.0%"]


def test_agent_cache_builds_one_metrics_for_every_layer(
    settings: AgentCacheSettings,
    redis_client: redis.Redis,
    key_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with AgentCache(settings, vectorizer=HashingVectorizer()) as caches:
        layers = (caches.semantic, caches.embeddings, caches.tools)
        assert all(layer.metrics is caches.metrics for layer in layers)
        caches.semantic.store(PROMPT, "30 days", tenant="acme", agent="support")
        caches.semantic.check("What is the refund window for shoes?", tenant="acme", agent="a")

        @cached_tool(caches.tools, tenant_arg="tenant")
        def lookup(query: str, tenant: str) -> str:
            return query

        lookup("x", tenant="acme")
        caches.semantic.drop()
    # close() flushed the one Metrics: every layer's row is in Redis.
    monkeypatch.setenv("AGENTCACHE_REDIS__KEY_PREFIX", key_prefix)
    assert cli.main(["stats", "--url", str(settings.redis.url), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    found = {(row["tenant"], row["layer"]) for row in rows if row["lookups"] or row["stores"]}
    assert {("acme", "semantic"), ("acme", "tool"), ("", "embedding")} <= found


SONNET = "claude-sonnet-4-5"
SYSTEM = "You answer questions about the ACME store's policies. " * 90  # cacheable prefix


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the SDK on older model ids
def test_llm_savings_in_redis_add_up_to_the_cost_reports(
    settings: AgentCacheSettings, redis_client: redis.Redis, key_prefix: str
) -> None:
    with ProviderServer() as server:
        sdk = anthropic.Anthropic(base_url=server.anthropic_base_url, api_key="k", max_retries=0)
        claude = CachedAnthropic(sdk, settings=settings, vectorizer=HashingVectorizer(32))
        assert claude.metrics is claude.cache.metrics

        def ask(question: str) -> Any:
            return claude.messages.create(
                model=SONNET,
                max_tokens=100,
                system=SYSTEM,
                messages=[{"role": "user", "content": question}],
                tenant="acme",
                agent="support",
            )

        replies = [
            ask("What is the refund window?"),  # provider: writes the prompt cache
            ask("what is the REFUND window"),  # semantic hit (same words)
            ask("Do you ship to Norway?"),  # provider: reads the prompt cache
        ]
        infos = [info for reply in replies if (info := cache_info(reply)) is not None]
        claude.cache.drop()
        claude.close()
        sdk.close()
    first, hit, read = infos
    assert [i.layer for i in infos] == ["provider", "semantic", "provider"]
    # By hand, Sonnet 4.5 at $3 / $15 per MTok, cache writes $3.75, reads $0.30:
    u = first.usage
    assert u.cache_write_tokens > 0 and read.usage.cache_read_tokens == u.cache_write_tokens
    assert first.cost.saved_usd == pytest.approx(-u.cache_write_tokens * 0.75 / 1e6)
    assert hit.cost.saved_usd == pytest.approx((u.prompt_tokens * 3 + u.output_tokens * 15) / 1e6)
    assert read.cost.saved_usd == pytest.approx(read.usage.cache_read_tokens * 2.7 / 1e6)
    counters = read_counters(redis_client, key_prefix, "acme")
    fields = counters[Series("llm", "acme", "support")]
    assert events(fields) == pytest.approx(
        {
            HITS: 1,
            MISSES: 2,
            "provider_calls": 2,
            "tokens_saved": u.total_tokens + read.usage.cache_read_tokens,
            "usd_saved": sum(i.cost.saved_usd for i in infos),
        }
    )
    # agentcache stats: the llm row and the total carry the dollars saved.
    saved = f"{sum(i.cost.saved_usd for i in infos):.4f}"
    table = render(summarize(counters))
    (llm_row,) = [row for row in table.splitlines() if row.startswith("'acme'") and " llm " in row]
    assert saved in llm_row and f"${saved}" in table


async def test_async_agent_cache_shares_one_metrics_with_its_async_layers(
    settings: AgentCacheSettings, redis_client: redis.Redis, key_prefix: str
) -> None:
    async with AsyncAgentCache(settings, vectorizer=HashingVectorizer()) as caches:
        layers = (caches.semantic, caches.embeddings, caches.tools)
        assert all(layer.metrics is caches.metrics for layer in layers)

        @cached_tool(caches.tools, tenant_arg="tenant")
        async def lookup(query: str, tenant: str) -> str:
            return query

        await lookup("x", tenant="acme")
        await lookup("x", tenant="acme")
        await caches.embeddings.get_or_compute("hello", HashingVectorizer().embed)
        await caches.semantic.drop()
    counters = read_counters(redis_client, key_prefix)
    assert events(counters[Series("tool", "acme", "lookup")]) == {HITS: 1, MISSES: 1, STORES: 1}
    assert events(counters[Series("embedding", NO_TENANT, "test-hash")]) == {MISSES: 1, STORES: 1}


def test_prometheus_exports_net_dollars_saved_as_a_gauge(cache: SemanticCache) -> None:
    cache.metrics.saved("llm", "acme", "support", tokens=0, usd=-0.0002)  # a cache write
    registry = CollectorRegistry()
    registry.register(PrometheusCollector(cache.metrics))
    text = generate_latest(registry).decode()
    assert "# TYPE agentcache_usd_saved gauge" in text
    assert 'agentcache_usd_saved{agent="support",layer="llm",tenant="acme"} -0.0002' in text
    assert "# TYPE agentcache_tokens_saved_total counter" in text
