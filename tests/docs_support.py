"""The runnable examples of docs/integrations.md, for the tests that run them as written."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

INTEGRATIONS = Path(__file__).resolve().parents[1] / "docs" / "integrations.md"


def doc_example(section: str) -> str:
    """The first python block under ``## {section}`` in docs/integrations.md."""
    text = INTEGRATIONS.read_text(encoding="utf-8")
    start = text.find(f"## {section}\n")
    assert start >= 0, f"docs/integrations.md has no {section!r} section"
    end = text.find("\n## ", start + 1)
    blocks = re.findall(r"```python\n(.*?)```", text[start : end if end > 0 else None], re.S)
    assert blocks, f"no python example in the {section!r} section"
    return str(blocks[0])


def run_doc_example(
    section: str, monkeypatch: pytest.MonkeyPatch, redis_url: str, key_prefix: str
) -> dict[str, Any]:
    """Run the section's example against the test server, on a prefix of the test's own."""
    monkeypatch.setenv("AGENTCACHE_REDIS__URL", redis_url)
    monkeypatch.setenv("AGENTCACHE_REDIS__KEY_PREFIX", key_prefix)
    namespace: dict[str, Any] = {"__name__": "docs_example"}
    exec(compile(doc_example(section), f"docs/integrations.md: {section}", "exec"), namespace)
    return namespace
