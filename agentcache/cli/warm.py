"""``agentcache warm FILE --tenant T --agent A``: load question/answer pairs into the cache."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

from agentcache.cli._errors import run_script
from agentcache.migrations.warm import warm_cache
from agentcache.semantic._sync import SemanticCache
from agentcache.settings import AgentCacheSettings
from agentcache.stack import embedding_vectorizer
from agentcache.vectorizers import Vectorizer


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("warm", help="load question/answer pairs (JSONL or CSV)")
    add_arguments(parser)
    parser.set_defaults(func=run)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help=".jsonl or .csv with question/answer columns")
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--agent", required=True)
    parser.add_argument("--model", help="the LLM the answers came from (scopes the entries)")
    parser.add_argument("--ttl", type=int, help="seconds (default: settings')")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument(
        "--hashing-vectorizer",
        action="store_true",
        help="use the deterministic hashing test embedder instead of the settings' model",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _vectorizer(settings: AgentCacheSettings, hashing: bool, stack: ExitStack) -> Vectorizer:
    if hashing:
        from agentcache.testing.vectors import HashingVectorizer

        return HashingVectorizer(settings.embeddings.dims, model=settings.embeddings.model)
    # Through the embedding cache, so no text is embedded twice across runs.
    vectorizer, embeddings = embedding_vectorizer(settings)
    stack.enter_context(embeddings)
    return vectorizer


def run(args: argparse.Namespace) -> int:
    # Strict: fail-open would report "stored 0" and exit 0 when Redis is not there.
    settings = AgentCacheSettings(reliability={"strict": True})
    bar = None
    if not args.no_progress and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(desc="warm", unit="row", file=sys.stderr)

    def progress(rows: int) -> None:
        if bar is not None:
            bar.n = rows
            bar.refresh()

    try:
        with ExitStack() as stack:
            vectorizer = _vectorizer(settings, args.hashing_vectorizer, stack)
            cache = stack.enter_context(SemanticCache(settings, vectorizer=vectorizer))
            report = warm_cache(
                cache, args.file, tenant=args.tenant, agent=args.agent, model=args.model,
                batch_size=args.batch_size, ttl=args.ttl, progress=progress,
            )  # fmt: skip
    finally:
        if bar is not None:
            bar.close()
    print(report.describe())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of scripts/warm_cache.py (same arguments as ``agentcache warm``)."""
    return run_script("warm_cache.py", __doc__, add_arguments, run, argv)
