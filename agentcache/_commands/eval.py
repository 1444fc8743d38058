"""``agentcache eval``: the hit-quality benchmark (bench/quality.py in a checkout).

The benchmark is not part of the installed package: run it from a checkout of
the repository (``python -m bench.quality`` does the same).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="measure precision, recall and false-hit rate per decision policy on labeled pairs",
        description="Runs bench/quality.py; arguments after 'eval' go to it "
        "(try: agentcache eval -- --help, or agentcache eval -- --limit 400).",
    )
    parser.add_argument("eval_args", nargs=argparse.REMAINDER, help="arguments for the benchmark")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    checkout = Path.cwd()
    if not (checkout / "bench" / "quality.py").exists():
        print(
            "agentcache eval runs from a checkout of the repository (the bench/ folder is not "
            "installed); cd into it and run again, or use: python -m bench.quality",
            file=sys.stderr,
        )
        return 2
    if str(checkout) not in sys.path:
        sys.path.insert(0, str(checkout))
    quality = importlib.import_module("bench.quality")
    forwarded = [a for a in args.eval_args if a != "--"] if args.eval_args else []
    result: int = quality.main(forwarded)
    return result
