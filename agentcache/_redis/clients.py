"""Redis clients from the settings, the module check, and the shared embedded server.

Every layer gets its clients here, so timeouts, pool size, cluster mode and
the embedded fallback are decided in one place.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import redis
import redis.asyncio as aredis
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import ClusterNode, RedisCluster

from agentcache._redis.replies import module_list as module_list  # re-exported
from agentcache._redis.replies import reply_text as reply_text  # re-exported
from agentcache._redis.server import EmbeddedRedis, find_binaries
from agentcache.exceptions import CacheUnavailableError, MissingModuleError
from agentcache.settings import AgentCacheSettings

logger = logging.getLogger("agentcache.redis")

SyncClient = redis.Redis | RedisCluster
AsyncClient = aredis.Redis | AsyncRedisCluster

_embedded_lock = threading.Lock()
_embedded: EmbeddedRedis | None = None


def embedded_server(settings: AgentCacheSettings) -> EmbeddedRedis:
    """The process-wide embedded Redis Stack, started on first use."""
    global _embedded
    with _embedded_lock:
        if _embedded is None or not _embedded.running:
            cfg = settings.embedded
            _embedded = EmbeddedRedis(
                binaries=find_binaries(cfg.redis_server, cfg.modules_dir),
                data_dir=cfg.data_dir,
                maxmemory=cfg.maxmemory,
                startup_timeout=cfg.startup_timeout,
            ).start()
            logger.warning(
                "no AGENTCACHE_REDIS__URL set: started the embedded Redis Stack at %s (binary %s)",
                _embedded.url,
                _embedded.binaries.redis_server,
            )
        return _embedded


def resolve_url(settings: AgentCacheSettings) -> str:
    """The configured Redis URL, or the embedded server's when none is set."""
    if settings.redis.url:
        return settings.redis.url
    if settings.redis.cluster_nodes:
        host, port = settings.redis.cluster_nodes[0].rsplit(":", 1)
        return f"redis://{host}:{port}"
    return embedded_server(settings).url


def _client_kwargs(settings: AgentCacheSettings) -> dict[str, Any]:
    cfg = settings.redis
    kwargs: dict[str, Any] = {
        "socket_timeout": cfg.socket_timeout,
        "socket_connect_timeout": cfg.socket_connect_timeout,
        "max_connections": cfg.max_connections,
        "decode_responses": False,
    }
    if cfg.password is not None:
        kwargs["password"] = cfg.password.get_secret_value()
    return kwargs


def _is_cluster(settings: AgentCacheSettings) -> bool:
    return settings.redis.cluster or bool(settings.redis.cluster_nodes)


def _seed_nodes(settings: AgentCacheSettings) -> list[ClusterNode]:
    nodes = []
    for seed in settings.redis.cluster_nodes:
        host, port = seed.rsplit(":", 1)
        nodes.append(ClusterNode(host, int(port)))
    return nodes


def sync_client(settings: AgentCacheSettings) -> SyncClient:
    """A synchronous client (or cluster client) built from ``settings``."""
    kwargs = _client_kwargs(settings)
    if _is_cluster(settings):
        if settings.redis.cluster_nodes:
            return RedisCluster(startup_nodes=_seed_nodes(settings), **kwargs)
        return RedisCluster.from_url(resolve_url(settings), **kwargs)
    return redis.Redis.from_url(resolve_url(settings), **kwargs)


def async_client(settings: AgentCacheSettings) -> AsyncClient:
    """An asyncio client (or cluster client) built from ``settings``."""
    kwargs = _client_kwargs(settings)
    if _is_cluster(settings):
        kwargs.pop("max_connections")
        if settings.redis.cluster_nodes:
            aseeds = [
                aredis.cluster.ClusterNode(node.host, node.port) for node in _seed_nodes(settings)
            ]
            return AsyncRedisCluster(startup_nodes=aseeds, **kwargs)
        return AsyncRedisCluster.from_url(resolve_url(settings), **kwargs)
    return aredis.Redis.from_url(resolve_url(settings), **kwargs)


_MODULE_HINT = (
    "agentcache needs Redis Stack or Redis >= 8 (the query engine). Use the "
    "redis/redis-stack-server image (see docker-compose.yml), Redis 8, or leave "
    "AGENTCACHE_REDIS__URL unset to start the embedded server "
    "(pip install 'agentcache[server]')."
)


def _module_names(reply: Any) -> set[str]:
    return {str(m["name"]).lower() for m in module_list(reply) if m.get("name")}


def _check_reply(names: set[str], url: str) -> None:
    # Redis 8 has the query engine built in and may not list it as a module.
    if "search" not in names and "ft" not in names:
        raise MissingModuleError(
            f"the Redis server at {url} has no 'search' module (RediSearch), which the "
            f"semantic cache's vector index needs. {_MODULE_HINT}"
        )


def check_modules(client: SyncClient, url: str = "redis") -> None:
    """Raise ``MissingModuleError`` unless the server can run FT.* commands."""
    try:
        reply = client.execute_command("MODULE", "LIST")
        names = _module_names(reply)
        if "search" not in names:
            names |= _probe_search(client)
    except redis.RedisError as exc:
        raise CacheUnavailableError(f"cannot list modules on {url}: {exc}") from exc
    _check_reply(names, url)


def _probe_search(client: SyncClient) -> set[str]:
    # Redis 8 may run FT.* without listing a module: ask the query engine itself.
    try:
        client.execute_command("FT._LIST")
    except redis.ResponseError:
        return set()
    return {"search"}


async def acheck_modules(client: AsyncClient, url: str = "redis") -> None:
    """Async twin of ``check_modules``."""
    try:
        names = _module_names(await client.execute_command("MODULE", "LIST"))
        if "search" not in names:
            names |= await _aprobe_search(client)
    except redis.RedisError as exc:
        raise CacheUnavailableError(f"cannot list modules on {url}: {exc}") from exc
    _check_reply(names, url)


async def _aprobe_search(client: AsyncClient) -> set[str]:
    try:
        await client.execute_command("FT._LIST")
    except redis.ResponseError:
        return set()
    return {"search"}
