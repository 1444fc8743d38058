"""``agentcache stats [--tenant T]``: hit rates, faults and savings from the Redis-side counters.

The counters are written by every process using the cache (see
agentcache/metrics/_flush.py), so the figures cover all of them and survive restarts.
One row per tenant and layer: ``semantic``, ``embedding``, ``tool`` and
``llm`` (the cached clients: hits, provider calls, tokens and dollars saved).
Counts outside any tenant (shared tool calls, the embedding cache) show as
``(shared)``; ``--tenant ''`` selects them. With ``--agents`` a tool row is
one tool and an embedding row one model. Shadow-mode figures show what would
have been served: ``shadow`` hits are counted as misses, and the would-be hit
rate adds them back. Below the table: lookups a lexical guard declined (guard
vetoes, shadow mode or not) and lookups explored (verified against the model).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from agentcache._redis.clients import sync_client
from agentcache.exceptions import ConfigurationError
from agentcache.metrics import _types as m
from agentcache.metrics._flush import histograms_from_fields, read_counters
from agentcache.settings import AgentCacheSettings

_COUNTERS = (*m.EVENTS, *m.SAVINGS)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "stats", help="hit rates, faults and savings per tenant (from Redis-side counters)"
    )
    parser.add_argument("--tenant", help="only this tenant")
    parser.add_argument("--agents", action="store_true", help="one row per agent")
    parser.add_argument("--url", help="Redis URL (default: AGENTCACHE_REDIS__URL)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=run)


@dataclass
class Row:
    """Totals for one tenant and layer (and agent, with ``--agents``)."""

    tenant: str
    layer: str
    agent: str = ""
    counts: dict[str, float] = field(default_factory=dict)
    latency: dict[str, m.Histogram] = field(default_factory=dict)

    def get(self, name: str) -> float:
        return self.counts.get(name, 0.0)

    @property
    def lookups(self) -> float:
        return self.get(m.HITS) + self.get(m.MISSES)

    @property
    def hit_rate(self) -> float | None:
        return self.get(m.HITS) / self.lookups if self.lookups else None

    @property
    def would_be_hit_rate(self) -> float | None:
        """Hit rate had shadow hits been served."""
        if not self.lookups:
            return None
        return (self.get(m.HITS) + self.get(m.SHADOW_HITS)) / self.lookups

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k not in ("latency", "counts")}
        out.update({name: self.get(name) for name in _COUNTERS})
        out.update(
            lookups=self.lookups, hit_rate=self.hit_rate, would_be_hit_rate=self.would_be_hit_rate
        )
        out["latency_seconds"] = {
            op: {"count": h.total, "p50": h.quantile(0.5), "p95": h.quantile(0.95)}
            for op, h in sorted(self.latency.items())
        }
        return out


def summarize(
    counters: Mapping[m.Series, Mapping[str, float]], *, by_agent: bool = False
) -> list[Row]:
    """Fold raw counter hashes into rows per tenant and layer (and agent)."""
    rows: dict[tuple[str, str, str], Row] = {}
    for series, fields in counters.items():
        agent = series.agent if by_agent else ""
        row = rows.setdefault(
            (series.tenant, series.layer, agent), Row(series.tenant, series.layer, agent)
        )
        for name, value in fields.items():
            if not name.startswith("lat:"):
                row.counts[name] = row.counts.get(name, 0.0) + value
        for op, hist in histograms_from_fields(fields).items():
            row.latency.setdefault(op, m.Histogram()).merge(hist)
    return [rows[key] for key in sorted(rows)]


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _ms(seconds: float) -> str:
    return ">2.5s" if seconds == float("inf") else f"{seconds * 1000:g}ms"


def render(rows: list[Row]) -> str:
    """A plain-text table, one line per row, tenants shown with repr() (they are free text)."""
    if not rows:
        return "no counters yet (nothing cached through this prefix, or metrics disabled)"
    header = (
        f"{'tenant':<20} {'layer':<10} {'agent':<12} {'lookups':>8} {'hit%':>7} {'shadow':>7} "
        f"{'would%':>7} {'errors':>7} {'stores':>7} {'evict':>6} {'llm':>6} {'tokens':>9} "
        f"{'saved$':>9} {'p50':>7} {'p95':>7}"
    )
    lines = [header]
    for row in rows:
        check = row.latency.get("check") or next(iter(row.latency.values()), m.Histogram())
        tenant = repr(row.tenant) if row.tenant else "(shared)"
        agent = repr(row.agent) if row.agent else ""
        lines.append(
            f"{tenant[:20]:<20} {row.layer[:10]:<10} {agent[:12]:<12} "
            f"{row.lookups:>8.0f} {_pct(row.hit_rate):>7} {row.get(m.SHADOW_HITS):>7.0f} "
            f"{_pct(row.would_be_hit_rate):>7} {row.get(m.ERRORS):>7.0f} "
            f"{row.get(m.STORES):>7.0f} {row.get(m.EVICTIONS):>6.0f} "
            f"{row.get(m.PROVIDER_CALLS):>6.0f} "
            f"{row.get(m.TOKENS_SAVED):>9.0f} {row.get(m.USD_SAVED):>9.4f} "
            f"{_ms(check.quantile(0.5)):>7} {_ms(check.quantile(0.95)):>7}"
        )
    lines.append(
        f"saved: {sum(row.get(m.TOKENS_SAVED) for row in rows):.0f} tokens, "
        f"${sum(row.get(m.USD_SAVED) for row in rows):.4f} (net of prompt-cache writes; "
        "llm = calls sent to the provider)"
    )
    shadow_usd = sum(row.get(m.SHADOW_USD_SAVED) for row in rows)
    if shadow_usd or any(row.get(m.SHADOW_HITS) for row in rows):
        lines.append(
            f"shadow mode: {sum(row.get(m.SHADOW_HITS) for row in rows):.0f} would-be hits, "
            f"{sum(row.get(m.SHADOW_TOKENS_SAVED) for row in rows):.0f} tokens / "
            f"${shadow_usd:.4f} would have been saved"
        )
    vetoes, explores = (sum(row.get(name) for row in rows) for name in (m.GUARD_VETOES, m.EXPLORES))
    if vetoes or explores:
        lines.append(
            f"declined by a guard: {vetoes:.0f} lookups; explored (verified against the "
            f"model): {explores:.0f}"
        )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    overrides: dict[str, Any] = {"redis": {"url": args.url}} if args.url else {}
    settings = AgentCacheSettings(**overrides)
    if not (settings.redis.url or settings.redis.cluster_nodes):
        raise ConfigurationError(
            "no Redis URL: set AGENTCACHE_REDIS__URL or pass --url (an embedded server "
            "belongs to one process, so it has no shared counters to show)"
        )
    client = sync_client(settings)
    try:
        counters = read_counters(client, settings.redis.key_prefix, args.tenant)
        evicted = client.info("stats").get("evicted_keys", 0)
    finally:
        client.close()
    rows = summarize(counters, by_agent=args.agents)
    if args.json:
        print(json.dumps({"rows": [r.as_dict() for r in rows], "server_evicted_keys": evicted}))
    else:
        print(render(rows))
        print(f"server evicted_keys (maxmemory, all tenants): {evicted}")
    return 0
