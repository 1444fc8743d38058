"""``agentcache bench``: the speed, scale and memory benchmark (the ``bench`` folder).

The benchmark is not part of the installed package: run it from a checkout
of the repository (``python -m bench`` does the same).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="benchmark lookups, inserts and memory against two baselines",
        description="Runs bench/speed.py; arguments after 'bench' go to it "
        "(try: agentcache bench -- --help).",
    )
    parser.add_argument("bench_args", nargs=argparse.REMAINDER, help="arguments for the benchmark")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    checkout = Path.cwd()
    if not (checkout / "bench" / "speed.py").exists():
        print(
            "agentcache bench runs from a checkout of the repository (the bench/ folder is not "
            "installed); cd into it and run again, or use: python -m bench",
            file=sys.stderr,
        )
        return 2
    if str(checkout) not in sys.path:
        sys.path.insert(0, str(checkout))
    speed = importlib.import_module("bench.speed")
    forwarded = [a for a in args.bench_args if a != "--"] if args.bench_args else []
    result: int = speed.main(forwarded)
    return result
