from __future__ import annotations

from pathlib import Path

import pytest

from agentcache import AgentCacheSettings, ConfigurationError


def test_defaults_are_usable() -> None:
    settings = AgentCacheSettings()
    assert settings.redis.url is None  # embedded server by default
    assert 0.0 < settings.semantic.threshold <= 1.0
    assert settings.embeddings.dims == 384


def test_nested_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTCACHE_SEMANTIC__THRESHOLD", "0.93")
    monkeypatch.setenv("AGENTCACHE_REDIS__URL", "redis://example:6380/0")
    monkeypatch.setenv("AGENTCACHE_TOOLS__TTL__search_web", "3600")
    monkeypatch.setenv("AGENTCACHE_EMBEDDINGS__DIMS", "1536")
    settings = AgentCacheSettings()
    assert settings.semantic.threshold == pytest.approx(0.93)
    assert settings.redis.url == "redis://example:6380/0"
    assert settings.tools.ttl == {"search_web": 3600}
    assert settings.embeddings.dims == 1536


def test_constructor_beats_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTCACHE_SEMANTIC__THRESHOLD", "0.5")
    settings = AgentCacheSettings(semantic={"threshold": 0.97})
    assert settings.semantic.threshold == pytest.approx(0.97)


def test_dotenv_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("AGENTCACHE_SEMANTIC__TOP_K=7\n")
    monkeypatch.chdir(tmp_path)
    assert AgentCacheSettings().semantic.top_k == 7


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AGENTCACHE_SEMANTIC__THRESHOLD", "1.5"),
        ("AGENTCACHE_SEMANTIC__THRESHOLD", "high"),
        ("AGENTCACHE_REDIS__SOCKET_TIMEOUT", "-1"),
        ("AGENTCACHE_EMBEDDINGS__PROVIDER", "cohere"),
        ("AGENTCACHE_TOOLS__TTL__search_web", "0"),
        ("AGENTCACHE_REDIS__KEY_PREFIX", "a{b}"),
    ],
)
def test_invalid_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError) as info:
        AgentCacheSettings()
    # The message names the environment variable up to the tool-name level.
    assert name.rsplit("__search_web", 1)[0].upper() in str(info.value)
