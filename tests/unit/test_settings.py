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


@pytest.mark.parametrize(
    "url", ["notaurl", "localhost:6379", "http://localhost:6379", "redis://localhost:port/0"]
)
def test_a_malformed_redis_url_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("AGENTCACHE_REDIS__URL", url)
    with pytest.raises(ConfigurationError, match="AGENTCACHE_REDIS__URL") as info:
        AgentCacheSettings()
    assert url.split("/", 1)[0] in str(info.value)


def test_a_password_in_a_rejected_url_is_not_shown() -> None:
    with pytest.raises(ConfigurationError) as info:
        AgentCacheSettings(redis={"url": "http://admin:s3cret@db:6379"})
    assert "s3cret" not in str(info.value) and "admin:***@db" in str(info.value)


@pytest.mark.parametrize(
    "url",
    ["redis://localhost:6379/0", "rediss://user:pw@cache.example:6380", "unix:///tmp/redis.sock"],
)
def test_every_scheme_redis_py_accepts_is_accepted(url: str) -> None:
    import redis

    redis.Redis.from_url(url)  # redis-py parses it too (no connection is made)
    assert AgentCacheSettings(redis={"url": url}).redis.url == url


def test_a_misspelt_variable_warns_with_the_closest_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTCACHE_SEMANTIC__THRESHHOLD", "0.9")
    with pytest.warns(UserWarning) as record:
        settings = AgentCacheSettings()
    assert settings.semantic.threshold == pytest.approx(0.95)  # the typo was not applied
    messages = [str(w.message) for w in record]
    assert len(messages) == 1
    assert "AGENTCACHE_SEMANTIC__THRESHHOLD" in messages[0]
    assert "did you mean AGENTCACHE_SEMANTIC__THRESHOLD?" in messages[0]


def test_a_misspelt_group_warns_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTCACHE_REDDIS__URL", "redis://localhost:6379")
    with pytest.warns(UserWarning, match="did you mean AGENTCACHE_REDIS__URL"):
        AgentCacheSettings()


def test_valid_variables_do_not_warn(monkeypatch: pytest.MonkeyPatch) -> None:
    import warnings

    monkeypatch.setenv("AGENTCACHE_SEMANTIC__THRESHOLD", "0.9")
    monkeypatch.setenv("agentcache_semantic__top_k", "7")  # names are case-insensitive
    monkeypatch.setenv("AGENTCACHE_TOOLS__TTL__search_web", "60")  # a free-keyed map
    monkeypatch.setenv("AGENTCACHE_EMBEDDED", "{}")  # a whole group as JSON
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        settings = AgentCacheSettings()
    assert settings.semantic.top_k == 7 and settings.tools.ttl == {"search_web": 60}


def test_a_misspelt_variable_in_dotenv_warns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text("AGENTCACHE_SEMANTIC__TOPK=7\n")
    monkeypatch.chdir(tmp_path)
    with pytest.warns(UserWarning, match="did you mean AGENTCACHE_SEMANTIC__TOP_K"):
        assert AgentCacheSettings().semantic.top_k == 5
