"""The cached-LLM demo session, on the simulated provider, asserted from its printed table."""

from __future__ import annotations

import pytest

from agentcache.cli import _demo_llm
from agentcache.semantic import SemanticCache
from agentcache.settings import AgentCacheSettings
from agentcache.testing.vectors import HashingVectorizer

# Columns of a table row: n, layer, tenant, latency, "ms", input, c.write, c.read, output,
# cost, saved, prompt...
_LAYER, _TENANT, _WRITE, _READ, _COST, _SAVED = 1, 2, 6, 7, 9, 10


def test_demo_session_shows_every_layer(
    settings: AgentCacheSettings,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    # The hashing embedder scores the demo's paraphrase lower than MiniLM (0.974) does.
    loose = settings.model_copy(
        update={"semantic": settings.semantic.model_copy(update={"threshold": 0.85})}
    )
    _demo_llm.run(loose, HashingVectorizer(32), latency=0.01)
    out = capsys.readouterr().out
    assert "simulated provider (no API key)" in out
    lines = out.splitlines()
    head = next(i for i, line in enumerate(lines) if line.lstrip().startswith("#  layer"))
    rows = [line.split() for line in lines[head + 2 : head + 2 + len(_demo_llm.CALLS)]]
    layers = [row[_LAYER] for row in rows]
    assert layers == ["provider", "provider", "exact", "semantic", "provider", "exact"]
    first, second = rows[0], rows[1]
    assert int(first[_WRITE]) > 1024 and int(first[_READ]) == 0  # the system prompt cached
    assert int(second[_READ]) == int(first[_WRITE]) and int(second[_WRITE]) == 0
    assert float(second[_SAVED]) > 0  # the prompt-cache read was cheaper than full price
    # The first call's saving is negative (the cache-write premium), and the demo says why.
    assert float(first[_SAVED]) < 0
    note = next(line for line in lines if line.startswith("note: call 1 saved $-"))
    assert "cache-write premium" in note and f"wrote {first[_WRITE]} tokens" in note
    for row in rows:
        if row[_LAYER] in ("exact", "semantic"):
            assert float(row[_COST]) == 0.0 and float(row[_SAVED]) > 0
    # The other tenant's identical question went to the provider: no cross-tenant reuse.
    other = [row for row in rows if row[_TENANT] == _demo_llm.OTHER_STORE]
    assert [row[_LAYER] for row in other] == ["provider"]
    total = lines[head + 3 + len(rows)].split()
    assert total[-1] == "total" and total[0] == "3/6" and float(total[-2]) > 0
    assert "isolation: 0 cross-tenant hits" in out
    assert "provider requests 3" in out


def test_demo_leaves_no_entries_behind(
    settings: AgentCacheSettings,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    _demo_llm.run(settings, HashingVectorizer(32), latency=0.0)
    capsys.readouterr()
    with SemanticCache(_demo_llm._demo_settings(settings), vectorizer=HashingVectorizer(32)) as c:
        assert c.count() == 0
