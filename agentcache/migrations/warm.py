"""Cache warming: load question/answer pairs into the semantic cache for one tenant/agent.

Rows come from JSONL (one object per line) or CSV (with a header). The
question is read from ``prompt`` or ``question``, the answer from
``response`` or ``answer``. Entries already present (same tenant, agent,
model and normalised prompt) are skipped before anything is embedded.

Example::

    report = warm_cache(SemanticCache(settings), "faq.jsonl", tenant="acme", agent="support")
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentcache.exceptions import InvalidInputError
from agentcache.semantic._sync import SemanticCache

__all__ = ["WarmReport", "read_pairs", "warm_cache"]

PROMPT_KEYS = ("prompt", "question")
RESPONSE_KEYS = ("response", "answer")


@dataclass
class WarmReport:
    """Rows read, entries stored, skipped as present, and rows without a usable pair."""

    read: int = 0
    stored: int = 0
    skipped: int = 0
    invalid: int = 0

    def describe(self) -> str:
        return (
            f"read {self.read} rows: stored {self.stored}, skipped {self.skipped} already "
            f"present, {self.invalid} invalid"
        )


def _pick(row: dict[str, Any], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = row.get(name)
        if isinstance(value, str) and value.strip():
            return value
    return None


def read_pairs(path: str | Path) -> Iterator[tuple[str, str] | None]:
    """(prompt, response) per row of a .jsonl/.json-lines or .csv file; None for a bad row."""
    path = Path(path)
    with path.open(encoding="utf-8", newline="") as handle:
        if path.suffix.lower() == ".csv":
            rows: Iterator[dict[str, Any] | None] = iter(csv.DictReader(handle))
        else:
            rows = (_json_row(line) for line in handle if line.strip())
        for row in rows:
            if row is None:
                yield None
                continue
            text, answer = _pick(row, PROMPT_KEYS), _pick(row, RESPONSE_KEYS)
            yield (text, answer) if text is not None and answer is not None else None


def _json_row(line: str) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def warm_cache(
    cache: SemanticCache,
    path: str | Path,
    *,
    tenant: str,
    agent: str,
    model: str | None = None,
    batch_size: int = 256,
    ttl: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> WarmReport:
    """Store every pair of ``path`` not yet cached; ``progress(rows)`` after each batch."""
    if batch_size < 1:
        raise InvalidInputError("batch_size must be >= 1")
    report = WarmReport()
    batch: list[tuple[str, str]] = []
    for pair in read_pairs(path):
        report.read += 1
        if pair is None:
            report.invalid += 1
        else:
            batch.append(pair)
        if len(batch) >= batch_size:
            _load(cache, batch, tenant, agent, model, ttl, report)
            batch = []
            if progress is not None:
                progress(report.read)
    if batch:
        _load(cache, batch, tenant, agent, model, ttl, report)
    if progress is not None:
        progress(report.read)
    return report


def _load(
    cache: SemanticCache,
    batch: list[tuple[str, str]],
    tenant: str,
    agent: str,
    model: str | None,
    ttl: int | None,
    report: WarmReport,
) -> None:
    core = cache.core
    scope = core.scope(tenant, agent, model)
    valid: dict[str, tuple[str, str]] = {}
    for text, answer in batch:
        try:
            core.validate_prompt(text)
            core.validate_response(answer)
        except InvalidInputError:
            report.invalid += 1
            continue
        entry_id = core.entry_id(scope, text)
        if entry_id in valid:
            report.skipped += 1  # a repeat within the file: the first one wins
            continue
        valid[entry_id] = (text, answer)
    if not valid or not cache._ready():
        return
    pipe = cache.client.pipeline(transaction=False)
    for entry_id in valid:
        pipe.exists(core.entry_key(scope.tenant, entry_id))
    present = pipe.execute()
    new = [pair for pair, found in zip(valid.values(), present, strict=True) if not found]
    report.skipped += len(valid) - len(new)
    if new:
        cache.store_many(new, tenant=tenant, agent=agent, model=model, ttl=ttl)
        report.stored += len(new)
