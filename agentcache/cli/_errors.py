"""The one error boundary of the ``agentcache`` command (and the scripts that share its commands).

A command raises; this turns what a user can act on (bad settings, an
unreachable or wrong kind of Redis, a refused operation, a missing file) into
one line on stderr, ``agentcache: error: ...``, and an exit code: 2 for usage
and configuration, 1 for a runtime failure. With ``--debug`` or ``-v`` the
traceback is printed first. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
import traceback
import warnings
from collections.abc import Callable, Sequence
from typing import Any, TextIO

import redis
from pydantic import ValidationError
from redis.exceptions import RedisClusterException

from agentcache.exceptions import AgentCacheError, ConfigurationError
from agentcache.settings import AgentCacheSettings, _describe_validation_error, _without_password

PROG = "agentcache"
EXIT_RUNTIME = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def one_line(text: str) -> str:
    """A multi-line message folded into one line (settings errors list one variable a line)."""
    parts = [part.strip() for part in text.splitlines() if part.strip()]
    if not parts:
        return ""
    folded = parts[0]
    for part in parts[1:]:
        folded += (" " if folded.endswith(":") else "; ") + part
    return folded


def redis_target(args: argparse.Namespace) -> str:
    """The Redis the command was pointed at, as a user would recognise it (no password)."""
    nodes = getattr(args, "nodes", None)
    if nodes:
        return f"cluster nodes {nodes}"
    url = getattr(args, "url", None)
    source = "--url"
    if not url:
        source = "AGENTCACHE_REDIS__URL"
        try:
            with warnings.catch_warnings():  # the command already warned about the environment
                warnings.simplefilter("ignore")
                cfg = AgentCacheSettings().redis
        except AgentCacheError:
            return "the configured Redis"
        if cfg.url:
            url = cfg.url
        elif cfg.cluster_nodes:
            return f"cluster nodes {','.join(cfg.cluster_nodes)}"
        else:
            return "the embedded Redis Stack"
    return f"{_without_password(url)} ({source})"


def describe(exc: BaseException, args: argparse.Namespace) -> tuple[str, int] | None:
    """The one-line message and exit code for ``exc``, or None for an unexpected error."""
    if isinstance(exc, ConfigurationError):
        return one_line(str(exc)), EXIT_USAGE
    if isinstance(exc, ValidationError):
        return one_line(_describe_validation_error(exc)), EXIT_USAGE
    if isinstance(exc, AgentCacheError):
        return one_line(str(exc)), EXIT_RUNTIME
    if isinstance(exc, RedisClusterException):
        hint = ""
        if "not enabled" in str(exc) or "disabled" in str(exc):
            hint = " (it is a standalone server: agentcache cluster and "
            hint += "AGENTCACHE_REDIS__CLUSTER=true need an OSS Redis Cluster)"
        return one_line(f"Redis Cluster at {redis_target(args)}: {exc}{hint}"), EXIT_RUNTIME
    if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
        kind = type(exc).__name__
        return one_line(f"cannot reach Redis at {redis_target(args)}: {kind}: {exc}"), EXIT_RUNTIME
    if isinstance(exc, redis.RedisError):
        return one_line(f"Redis at {redis_target(args)}: {type(exc).__name__}: {exc}"), EXIT_RUNTIME
    if isinstance(exc, OSError):
        return one_line(str(exc)), EXIT_RUNTIME
    return None


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    kind = "" if category is UserWarning else f"{category.__name__}: "
    print(f"{PROG}: warning: {kind}{one_line(str(message))}", file=file or sys.stderr)


def run_command(
    func: Callable[[argparse.Namespace], int], args: argparse.Namespace, *, debug: bool = False
) -> int:
    """Run one command; known failures become one stderr line and an exit code."""
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning  # one line too (e.g. a misspelt variable)
        try:
            return func(args)
        except KeyboardInterrupt:
            print(f"{PROG}: interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED
        except Exception as exc:
            known = describe(exc, args)
            if known is None:
                raise
            if debug:
                traceback.print_exc()
            message, code = known
            print(f"{PROG}: error: {message}", file=sys.stderr)
            return code


def run_script(
    prog: str,
    description: str | None,
    add_arguments: Callable[[argparse.ArgumentParser], None],
    func: Callable[[argparse.Namespace], int],
    argv: Sequence[str] | None,
) -> int:
    """A command run as a script of its own (scripts/*.py): its arguments plus ``--debug``."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    add_arguments(parser)
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    args = parser.parse_args(argv)
    return run_command(func, args, debug=args.debug)


def flag_debug(args: Any) -> bool:
    """Whether ``--debug`` or ``-v`` was given (either shows tracebacks)."""
    return bool(getattr(args, "debug", False) or getattr(args, "verbose", False))
