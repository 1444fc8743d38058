"""The README's quickstart runs as written, and its settings table is complete."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def _python_blocks(section: str) -> list[str]:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"## {section}")
    end = text.find("\n## ", start + 1)
    return re.findall(r"```python\n(.*?)```", text[start:end], flags=re.S)


def test_quickstart_runs_as_written(
    monkeypatch: pytest.MonkeyPatch, redis_url: str, key_prefix: str
) -> None:
    monkeypatch.setenv("AGENTCACHE_REDIS__URL", redis_url)
    monkeypatch.setenv("AGENTCACHE_REDIS__KEY_PREFIX", key_prefix)
    monkeypatch.setenv("AGENTCACHE_REDIS__SOCKET_TIMEOUT", "5")
    monkeypatch.setenv("AGENTCACHE_REDIS__SOCKET_CONNECT_TIMEOUT", "5")
    quickstart = _python_blocks("Quickstart")[0]
    namespace: dict[str, object] = {}
    exec(compile(quickstart, "README.md quickstart", "exec"), namespace)
    hit = namespace["hit"]
    assert hit is not None and "Forgot password" in hit.response  # type: ignore[attr-defined]
    namespace["cache"].drop()  # type: ignore[attr-defined]


def test_settings_table_lists_every_variable() -> None:
    import sys

    sys.path.insert(0, str(README.parent / "scripts"))
    from settings_table import rows  # type: ignore[import-not-found]

    text = README.read_text(encoding="utf-8")
    missing = [var for var, _, _ in rows() if f"`{var}`" not in text]
    assert missing == []
