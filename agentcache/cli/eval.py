"""``agentcache eval``: the hit-quality benchmark (bench/quality.py in a checkout).

The benchmark is not part of the installed package: run it from a checkout of
the repository (``python -m bench.quality`` does the same).
"""

from __future__ import annotations

import argparse

from agentcache.cli.bench import run_from_checkout


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
    return run_from_checkout("eval", "quality", args.eval_args, instead="python -m bench.quality")
