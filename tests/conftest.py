"""Shared fixtures: one real Redis Stack per test session, isolated by key prefix."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import pytest
import redis

from agentcache._redis.server import EmbeddedRedis
from agentcache.settings import AgentCacheSettings

_prefix_counter = itertools.count()


@pytest.fixture(autouse=True)
def _no_agentcache_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests build settings explicitly; a developer's AGENTCACHE_* vars must not leak in."""
    for name in list(os.environ):
        if name.startswith("AGENTCACHE_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(os.path.dirname(__file__))  # no stray .env from the repo root


@pytest.fixture(scope="session")
def redis_server() -> Iterator[EmbeddedRedis]:
    """A real Redis Stack (Redis 8.2 + search + JSON) on a free loopback port."""
    with EmbeddedRedis() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: EmbeddedRedis) -> str:
    return redis_server.url


@pytest.fixture
def key_prefix() -> str:
    """A key prefix no other test uses, so tests share the server without clashing."""
    return f"t{os.getpid()}x{next(_prefix_counter)}"


@pytest.fixture
def settings(redis_url: str, key_prefix: str) -> AgentCacheSettings:
    return AgentCacheSettings(
        redis={
            "url": redis_url,
            "key_prefix": key_prefix,
            "socket_timeout": 5.0,
            "socket_connect_timeout": 5.0,
        },
        embeddings={"dims": 32, "model": "test-hash"},
        semantic={"ttl_seconds": None},
    )


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()
