"""``agentcache bench``: the speed, scale and memory benchmark (the ``bench`` folder).

The benchmarks are not part of the installed package: run them from a checkout
of the repository (``python -m bench`` does the same). ``run_from_checkout``
and ``register_passthrough`` are shared with ``agentcache eval``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    register_passthrough(
        subparsers, "bench", "speed", instead="python -m bench",
        summary="benchmark lookups, inserts and memory against two baselines",
        example="agentcache bench -- --help",
    )  # fmt: skip


def register_passthrough(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    command: str,
    module: str,
    *,
    instead: str,
    summary: str,
    example: str,
) -> None:
    """A command that hands the arguments after it to ``bench/<module>.py``."""
    parser = subparsers.add_parser(
        command,
        help=summary,
        description=f"Runs bench/{module}.py; arguments after '{command}' go to it "
        f"(try: {example}).",
    )
    parser.add_argument("bench_args", nargs=argparse.REMAINDER, help="arguments for the benchmark")
    parser.set_defaults(
        func=lambda args: run_from_checkout(command, module, args.bench_args, instead=instead)
    )


def run_from_checkout(
    command: str, module: str, bench_args: Sequence[str] | None, *, instead: str
) -> int:
    """Run ``bench/<module>.py``'s ``main`` from the checkout in the working directory.

    ``bench_args`` are the arguments after the subcommand, ``--`` separators dropped;
    ``instead`` is the command line to suggest when this is not a checkout.
    """
    checkout = Path.cwd()
    if not (checkout / "bench" / f"{module}.py").exists():
        print(
            f"agentcache {command} runs from a checkout of the repository (the bench/ folder is "
            f"not installed); cd into it and run again, or use: {instead}",
            file=sys.stderr,
        )
        return 2
    if str(checkout) not in sys.path:
        sys.path.insert(0, str(checkout))
    bench_module = importlib.import_module(f"bench.{module}")
    forwarded = [a for a in bench_args if a != "--"] if bench_args else []
    result: int = bench_module.main(forwarded)
    return result
