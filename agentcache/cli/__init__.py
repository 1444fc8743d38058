"""The ``agentcache`` command.

Subcommands live in ``agentcache/cli/<name>.py``, each with a
``register(subparsers)`` function; this module only assembles them and runs
the chosen one behind the error boundary of ``agentcache/cli/_errors.py``
(one ``agentcache: error: ...`` line and exit 1 or 2; ``--debug`` shows the
traceback).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import sys
from collections.abc import Sequence

from agentcache.cli._errors import flag_debug, run_command

# In the order they are listed by --help.
COMMANDS = (
    "demo", "info", "server", "stats", "eval", "tune", "migrate", "warm", "bench", "cluster",
)  # fmt: skip


_DEBUG_HELP = "log at DEBUG level and show the traceback of an error"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agentcache",
        description="Caching for LLM agents on Redis Stack: semantic responses, provider "
        "prompt caching, tool results and embeddings.",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log at INFO level and show tracebacks"
    )
    parser.add_argument("--debug", action="store_true", help=_DEBUG_HELP)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module_name = f"agentcache.cli.{name}"
        if importlib.util.find_spec(module_name) is None:
            continue
        importlib.import_module(module_name).register(subparsers)
    for sub in subparsers.choices.values():
        # Also after the command (agentcache info --debug); SUPPRESS keeps a leading --debug.
        sub.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help=_DEBUG_HELP
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.DEBUG if args.debug else logging.INFO if args.verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return run_command(args.func, args, debug=flag_debug(args))


if __name__ == "__main__":
    sys.exit(main())
