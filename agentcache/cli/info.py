"""``agentcache info``: the server, its modules and the semantic index."""

from __future__ import annotations

import argparse

import redis

from agentcache._redis import keys as _keys
from agentcache._redis.clients import (
    check_modules,
    module_list,
    reply_text,
    resolve_url,
    sync_client,
)
from agentcache._redis.replies import info_dict
from agentcache.settings import AgentCacheSettings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("info", help="show the server, modules and index stats")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = AgentCacheSettings()
    url = resolve_url(settings)
    client = sync_client(settings)
    info = client.info("server")
    print(f"server      {url}  (Redis {info.get('redis_version')}, mode {info.get('redis_mode')})")
    for module in module_list(client.execute_command("MODULE", "LIST")):
        print(f"module      {module.get('name')} {module.get('ver')}")
    check_modules(client, url)
    memory = client.info("memory")
    print(f"memory      {memory.get('used_memory_human')} used, policy "
          f"{memory.get('maxmemory_policy')}")  # fmt: skip
    alias = _keys.index_alias(settings.redis.key_prefix, settings.semantic.index_name)
    try:
        raw = client.execute_command("FT.INFO", alias)
    except redis.ResponseError as exc:  # no index yet is a normal state
        print(f"index       {alias}: not created yet ({exc})")
        return 0
    fields = info_dict(raw)
    print(f"index       {alias} -> {reply_text(fields.get('index_name'))}")
    for name in ("num_docs", "percent_indexed", "vector_index_sz_mb", "total_index_memory_sz_mb"):
        if name in fields:
            print(f"  {name:<22} {reply_text(fields[name])}")
    return 0
