"""One replay of the savings benchmark: a configuration, a provider, the traffic.

Each replay gets a fresh cache (a run-unique key prefix and index name, dropped at
the end: it deletes only what it created), a fresh provider server (cold prompt
caches) and its own clients. Latency per turn = measured client-side wall time
(SDK, local HTTP, Redis, tool cache) + modeled provider time of every call that
reached the provider + modeled tool time when kb_search ran + calibrated embedding
time per text the semantic layer embedded.
"""

from __future__ import annotations

import random
import statistics
import time
from dataclasses import dataclass
from typing import Any

from agentcache.testing.provider import LatencyModel, ProviderServer
from bench._savings_agent import TURNS, Model, PrecomputedVectorizer, make_kb, tag_of
from bench._savings_traffic import CONFUSABLE, Turn


@dataclass(frozen=True)
class Config:
    key: str
    name: str
    prompt_caching: bool = True
    tool_cache: bool = True
    semantic: bool = True
    policy: str = "guarded"
    threshold: float | None = None  # None: the library default
    explore_rate: float = 0.0
    cache_tool_use: bool = True
    full_only: bool = False


CONFIGS = (
    Config("C1", "no caching", prompt_caching=False, tool_cache=False, semantic=False),
    Config("C2", "+ provider prompt caching", tool_cache=False, semantic=False),
    Config("C3", "+ tool cache", semantic=False),
    Config("C4", "+ semantic cache (defaults, cache_tool_use on)"),
    Config("C5", "+ semantic, verified policy (explore 0.10)", policy="verified", explore_rate=0.1),
    Config("C4d", "semantic, library defaults (cache_tool_use off)", cache_tool_use=False,
           full_only=True),
    Config("C4g", "semantic, guarded @0.85 (cache_tool_use on)", threshold=0.85, full_only=True),
)  # fmt: skip


@dataclass(frozen=True)
class Costs:
    """Modeled time constants (seconds)."""

    latency: LatencyModel
    tool_s: float = 0.3
    embed_short_s: float = 0.0  # one question
    embed_long_s: float = 0.0  # one KB article (Anthropic keys call 2 on it)


def _settings(url: str, prefix: str, config: Config, dims: int, model: str) -> Any:
    from agentcache.settings import AgentCacheSettings

    semantic: dict[str, Any] = {"index_name": prefix, "policy": config.policy,
                                "explore_rate": config.explore_rate}  # fmt: skip
    if config.threshold is not None:
        semantic["threshold"] = config.threshold
    return AgentCacheSettings(
        redis={"url": url, "key_prefix": prefix, "socket_timeout": 30.0},
        semantic=semantic,
        prompt_caching={"enabled": config.prompt_caching},
        llm={"cache_tool_use": config.cache_tool_use},
        embeddings={"dims": dims, "model": model},
        metrics={"enabled": False},
    )


def replay(
    provider: str,
    config: Config,
    turns: list[Turn],
    model: Model,
    vectorizer: PrecomputedVectorizer,
    url: str,
    run: str,
    costs: Costs,
    seed: int,
) -> dict[str, Any]:
    """Replay ``turns`` through one configuration; the per-configuration figures."""
    import anthropic
    import openai

    from agentcache.llm import CachedAnthropic, CachedOpenAI
    from agentcache.semantic import SemanticCache
    from agentcache.tools import ToolCache, cached_tool

    prefix = f"acsav-{run}-{provider[0]}-{config.key}".lower()
    settings = _settings(url, prefix, config, vectorizer.dims, vectorizer.model)
    now = [0.0]
    server = ProviderServer(
        responder=model.text,
        tool_responder=model.tools,
        latency=costs.latency,
        clock=lambda: now[0],
        prompt_caches=config.prompt_caching,
    ).start()
    cache = SemanticCache(settings, vectorizer=vectorizer, rng=random.Random(seed))
    tools = ToolCache(settings) if config.tool_cache else None
    counter = [0]
    kb: Any = make_kb(counter)
    if tools is not None:
        kb = cached_tool(tools, ttl=3600, name="kb_search", tenant_arg="tenant")(kb)
    if provider == "anthropic":
        sdk: Any = anthropic.Anthropic(
            base_url=server.anthropic_base_url, api_key="b", max_retries=0
        )
        client: Any = CachedAnthropic(sdk, settings=settings, cache=cache)
    else:
        sdk = openai.OpenAI(base_url=server.openai_base_url, api_key="b", max_retries=0)
        client = CachedOpenAI(sdk, settings=settings, cache=cache)
    mode = "use" if config.semantic else "bypass"
    rows: list[dict[str, Any]] = []
    tool_info: Any = None
    try:
        for turn in turns:
            now[0] = turn.t
            seen, short0, long0 = len(server.latencies), vectorizer.short, vectorizer.long
            started = time.perf_counter()
            result = TURNS[provider](client, turn, kb, mode, counter)
            wall = time.perf_counter() - started
            modeled = sum(s for _, s in server.latencies[seen:])
            embeds = (vectorizer.short - short0, vectorizer.long - long0)
            embed_s = embeds[0] * costs.embed_short_s + embeds[1] * costs.embed_long_s
            seconds = wall + modeled + result.kb_ran * costs.tool_s + embed_s
            rows.append(_row(turn, result, seconds, wall, embeds))
        if tools is not None:
            tool_info = kb.cache_info()
    finally:
        if tools is not None:
            kb.cache_clear()
            tools.close()
        cache.drop()
        cache.close()
        sdk.close()
        server.stop()
    return summarize(provider, config, rows, tool_info)


def _row(turn: Turn, result: Any, seconds: float, wall: float, embeds: Any) -> dict[str, Any]:
    served = [c for c in result.calls if c.hit]
    tag = tag_of(result.answer)
    wrong = bool(served) and tag != (turn.tenant, turn.intent)
    return {
        "n": turn.n, "tenant": turn.tenant, "intent": turn.intent, "kind": turn.kind,
        "via_kb": turn.via_kb, "seconds": seconds, "wall": wall, "embeds": sum(embeds),
        "cost": sum(c.cost.cost_usd for c in result.calls),
        "calls": len(result.calls), "served": len(served),
        "exact": sum(c.layer == "exact" for c in result.calls),
        "semantic": sum(c.layer == "semantic" for c in result.calls),
        "explores": sum(c.note.startswith("explore") for c in result.calls),
        "read": sum(c.usage.cache_read_tokens for c in result.calls if not c.hit),
        "prompt": sum(c.usage.prompt_tokens for c in result.calls if not c.hit),
        "kb_ran": result.kb_ran,
        "false_hit": wrong,
        "label_noise": wrong and tag is not None
        and frozenset((tag[1], turn.intent)) in CONFUSABLE,
        "cross_tenant": bool(served) and tag is not None and tag[0] != turn.tenant,
        "example": {
            "n": turn.n, "tenant": turn.tenant, "question": turn.text, "label": turn.intent,
            "kind": turn.kind, "served": "/".join(tag) if tag else None,
            "calls": [(c.layer, round(c.similarity or 0.0, 3), c.prompt[:80]) for c in served],
        } if wrong else None,
    }  # fmt: skip


def _pctl(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summarize(
    provider: str, config: Config, rows: list[dict[str, Any]], tool_info: Any
) -> dict[str, Any]:
    n = len(rows)
    served_turns = sum(r["served"] > 0 for r in rows)
    false_hits = sum(r["false_hit"] for r in rows)
    calls = sum(r["calls"] for r in rows)
    quarter = max(1, n // 4)
    quarters = []
    for q in range(4):
        part = rows[q * quarter : (q + 1) * quarter if q < 3 else n]
        repeat = sum(r["kind"] != "novel" for r in part)
        quarters.append({
            "served": sum(r["served"] > 0 for r in part) / max(1, len(part)),
            "false_hits": sum(r["false_hit"] for r in part) / max(1, len(part)),
            "served_of_repeat": sum(r["served"] > 0 for r in part) / max(1, repeat),
            "explores": sum(r["explores"] for r in part),
        })  # fmt: skip
    tool_hits = tool_misses = 0
    if tool_info is not None:
        tool_hits, tool_misses = int(tool_info.hits), int(tool_info.misses)
    cost = sum(r["cost"] for r in rows)
    return {
        "provider": provider, "config": config.key, "name": config.name, "turns": n,
        "cost": cost, "cost_per_turn": cost / max(1, n),
        "p50": statistics.median(r["seconds"] for r in rows) if rows else 0.0,
        "p95": _pctl([r["seconds"] for r in rows], 0.95),
        "wall_p50": statistics.median(r["wall"] for r in rows) if rows else 0.0,
        "calls": calls,
        "provider_calls": calls - sum(r["served"] for r in rows),
        "prompt_read_share": sum(r["read"] for r in rows) / max(1, sum(r["prompt"] for r in rows)),
        "tool_hits": tool_hits, "tool_misses": tool_misses,
        "kb_ran": sum(r["kb_ran"] for r in rows),
        "exact": sum(r["exact"] for r in rows), "semantic": sum(r["semantic"] for r in rows),
        "served_turns": served_turns,
        "fully_served": sum(r["served"] == r["calls"] for r in rows),
        "false_hits": false_hits,
        "label_noise": sum(r["label_noise"] for r in rows),
        "cross_tenant": sum(r["cross_tenant"] for r in rows),
        "explores": sum(r["explores"] for r in rows),
        "embeds": sum(r["embeds"] for r in rows),
        "quarters": quarters,
        "false_hit_examples": [r["example"] for r in rows if r["example"]][:20],
    }  # fmt: skip
