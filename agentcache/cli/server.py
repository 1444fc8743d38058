"""``agentcache server``: run the embedded Redis Stack in the foreground.

For trying agentcache across several processes without installing Redis:
point them at it with ``AGENTCACHE_REDIS__URL=redis://127.0.0.1:PORT``.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading
from pathlib import Path

from agentcache._redis.server import EmbeddedRedis, find_binaries
from agentcache.settings import AgentCacheSettings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("server", help="run the embedded Redis Stack until Ctrl-C")
    parser.add_argument("--port", type=int, default=6379)
    parser.add_argument("--data-dir", type=Path, default=None, help="persist RDB snapshots here")
    parser.add_argument("--maxmemory", default=None, help="e.g. 1gb (policy allkeys-lru)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = AgentCacheSettings().embedded
    server = EmbeddedRedis(
        port=args.port,
        binaries=find_binaries(cfg.redis_server, cfg.modules_dir),
        data_dir=args.data_dir or cfg.data_dir,
        maxmemory=args.maxmemory or cfg.maxmemory,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with server:
        print(f"Redis Stack at {server.url} (binary {server.binaries.redis_server})")
        print(f"export AGENTCACHE_REDIS__URL={server.url}")
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    return 0
