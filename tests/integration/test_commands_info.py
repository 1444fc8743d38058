"""``agentcache info`` against the test server (no index yet under a fresh prefix)."""

from __future__ import annotations

import argparse

import pytest

from agentcache.cli import info


def test_info_lists_modules_and_a_missing_index(
    redis_url: str,
    key_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("AGENTCACHE_REDIS__URL", redis_url)
    monkeypatch.setenv("AGENTCACHE_REDIS__KEY_PREFIX", key_prefix)
    assert info.run(argparse.Namespace()) == 0
    out = capsys.readouterr().out
    assert f"server      {redis_url}" in out
    assert "module      search " in out and "module      ReJSON " in out
    assert f"index       {key_prefix}:idx:" in out and "not created yet" in out
