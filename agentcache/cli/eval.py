"""``agentcache eval``: the hit-quality benchmark (bench/quality.py in a checkout).

The benchmark is not part of the installed package: run it from a checkout of
the repository (``python -m bench.quality`` does the same).
"""

from __future__ import annotations

import argparse

from agentcache.cli.bench import register_passthrough


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    register_passthrough(
        subparsers, "eval", "quality", instead="python -m bench.quality",
        summary="measure precision, recall and false-hit rate per decision policy on labeled pairs",
        example="agentcache eval -- --help, or agentcache eval -- --limit 400",
    )  # fmt: skip
