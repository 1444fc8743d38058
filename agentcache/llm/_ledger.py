"""Per-call records of a cached-client session: ``CacheInfo``, ``Ledger`` and the table.

Every call through a cached client leaves one ``CacheInfo`` (which layer
answered, latency, usage, cost and saving), attached to the returned object
and appended to a ``Ledger``; ``session_table`` renders a ledger for people.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TextIO

from agentcache.prompt_caching.costs import CostReport, Usage, total


@dataclass
class CacheInfo:
    """How one call was answered: attached to the response, kept in the ledger."""

    provider: str
    model: str
    tenant: str
    agent: str
    layer: str  # "semantic" | "exact" | "provider"
    latency_s: float
    cost: CostReport
    prompt: str
    stored: bool = False
    similarity: float | None = None
    entry_id: str | None = None
    note: str = ""
    prompt_caching: dict[str, Any] = field(default_factory=dict)

    @property
    def hit(self) -> bool:
        return self.layer in ("semantic", "exact")

    @property
    def usage(self) -> Usage:
        return self.cost.usage


def cache_info(response: Any) -> CacheInfo | None:
    """The ``CacheInfo`` of a response returned by a cached client (None otherwise).

    The one place for hit metadata on every cached surface (``messages``,
    ``chat.completions``, ``responses``; sync and async; a stream once it is
    read): ``layer``, ``similarity``, ``entry_id``, ``cost``, ``stored``, ``note``.
    """
    info = getattr(response, "_agentcache", None)
    return info if isinstance(info, CacheInfo) else None


class Ledger:
    """Per-call records of one session (thread-safe append) and their totals."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.records: list[CacheInfo] = []

    def add(self, info: CacheInfo) -> None:
        with self._lock:
            self.records.append(info)

    def totals(self) -> dict[str, float]:
        with self._lock:
            records = list(self.records)
        cost, without, saved = total(r.cost for r in records)
        return {
            "calls": len(records),
            "hits": sum(r.hit for r in records),
            "latency_s": sum(r.latency_s for r in records),
            "cost_usd": cost,
            "cost_without_caching_usd": without,
            "saved_usd": saved,
        }


def session_table(records: Iterable[CacheInfo]) -> str:
    """A plain-text table of ``records`` (one row per call) with a totals row.

    Hits show zero tokens (nothing was sent) and their saving is the whole
    avoided call; provider rows show the uncached, cache-write and cache-read
    input tokens the provider reported.
    """
    rows = list(records)
    head = (f"{'#':>3}  {'layer':<9} {'tenant':<12} {'latency':>9} {'input':>7} {'c.write':>7} "
            f"{'c.read':>7} {'output':>6} {'cost $':>10} {'saved $':>10}  prompt")  # fmt: skip
    lines = [head, "-" * len(head)]
    for n, r in enumerate(rows, 1):
        u = r.usage
        inputs = (0, 0, 0) if r.hit else (u.input_tokens, u.cache_write_tokens, u.cache_read_tokens)
        prompt = r.prompt if len(r.prompt) <= 40 else r.prompt[:37] + "..."
        lines.append(
            f"{n:>3}  {r.layer:<9} {r.tenant[:12]:<12} {r.latency_s * 1000:>6.0f} ms "
            f"{inputs[0]:>7} {inputs[1]:>7} {inputs[2]:>7} {0 if r.hit else u.output_tokens:>6} "
            f"{r.cost.cost_usd:>10.6f} {r.cost.saved_usd:>10.6f}  {prompt}"
        )
    cost = sum(r.cost.cost_usd for r in rows)
    saved = sum(r.cost.saved_usd for r in rows)
    latency = sum(r.latency_s for r in rows) * 1000
    hits = sum(r.hit for r in rows)
    lines.append("-" * len(head))
    lines.append(
        f"{'':>3}  {f'{hits}/{len(rows)} hit':<9} {'':<12} {latency:>6.0f} ms "
        f"{'':>7} {'':>7} {'':>7} {'':>6} {cost:>10.6f} {saved:>10.6f}  total"
    )
    return "\n".join(lines)


def print_session_table(records: Iterable[CacheInfo], file: TextIO | None = None) -> None:
    """Print ``session_table(records)`` (for ``agentcache demo``)."""
    print(session_table(records), file=file or sys.stdout)
