from __future__ import annotations

import pytest
import redis

from agentcache import EmbeddedRedis, MissingModuleError, SemanticCache
from agentcache._redis.clients import check_modules
from agentcache._redis.server import ServerBinaries, find_binaries
from agentcache.exceptions import EmbeddedServerError
from agentcache.settings import AgentCacheSettings
from agentcache.testing.vectors import HashingVectorizer


def test_embedded_server_starts_with_modules_and_stops() -> None:
    server = EmbeddedRedis()
    with server:
        assert server.running
        client = redis.Redis.from_url(server.url)
        names = {m[b"name"] for m in client.execute_command("MODULE", "LIST")}
        assert {b"search", b"ReJSON"} <= names
        client.close()
        port = server.port
    assert not server.running
    with pytest.raises(redis.ConnectionError):
        redis.Redis(port=port, socket_connect_timeout=0.5).ping()


def test_server_without_search_module_gives_a_clear_error() -> None:
    bare = find_binaries()
    binaries = ServerBinaries(redis_server=bare.redis_server, modules=())
    with EmbeddedRedis(binaries=binaries) as server:
        client = redis.Redis.from_url(server.url)
        with pytest.raises(MissingModuleError, match="search") as info:
            check_modules(client, server.url)
        assert "redis-stack" in str(info.value).lower() or "Redis 8" in str(info.value)
        settings = AgentCacheSettings(
            redis={"url": server.url}, embeddings={"dims": 32}, reliability={"strict": True}
        )
        with pytest.raises(MissingModuleError):
            SemanticCache.create(settings, vectorizer=HashingVectorizer(32))
        client.close()


def test_missing_binary_is_named(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(EmbeddedServerError, match="redis-server"):
        find_binaries(redis_server=tmp_path / "nope")


def test_default_settings_start_the_embedded_server() -> None:
    from agentcache._redis import clients as _redis

    settings = AgentCacheSettings(embeddings={"dims": 32})
    url = _redis.resolve_url(settings)
    assert url.startswith("redis://127.0.0.1:")
    client = _redis.sync_client(settings)
    assert client.ping()
    client.close()


def test_server_that_exits_at_start_is_named_with_its_log_and_cleaned_up() -> None:
    server = EmbeddedRedis(extra_args=("--no-such-directive", "1"))
    with pytest.raises(EmbeddedServerError, match="exited with code") as info:
        server.start()
    assert "no-such-directive" in str(info.value)  # the log tail, read before cleanup
    assert not server.running
    assert server.log_path is not None and not server.log_path.exists()
