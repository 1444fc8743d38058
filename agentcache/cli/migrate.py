"""``agentcache migrate plan|apply|rollback|status|cleanup``: semantic index migrations.

The target is the configuration in the environment (``AGENTCACHE_*``), with
the flags below overriding it; the live index is read from Redis.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from agentcache.cli._errors import run_script
from agentcache.exceptions import MigrationLockedError
from agentcache.migrations._migrator import Migrator, default_vectorizer
from agentcache.settings import AgentCacheSettings

ACTIONS = ("plan", "apply", "rollback", "status", "cleanup")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "migrate", help="plan, apply, roll back or clean up semantic index migrations"
    )
    add_arguments(parser)
    parser.set_defaults(func=run)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=ACTIONS)
    parser.add_argument("--schema", type=Path, help="YAML index schema (default: settings')")
    parser.add_argument("--dims", type=int, help="new embedding dims")
    parser.add_argument("--model", help="new embedding model name")
    parser.add_argument("--datatype", choices=("float32", "float16"), help="new vector datatype")
    parser.add_argument("--hnsw-m", type=int, help="new HNSW M")
    parser.add_argument("--ef-construction", type=int, help="new HNSW EF_CONSTRUCTION")
    parser.add_argument("--reembed", action="store_true", help="re-embed every prompt")
    parser.add_argument(
        "--vectorizer",
        choices=("settings", "hashing"),
        default="settings",
        help="embedder for re-embedding: the settings' (behind the embedding cache) or the "
        "deterministic hashing test embedder",
    )
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--dry-run", action="store_true", help="show what would happen")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


# Each option that, when given, overrides one setting: (option, section, field).
_TARGET_OPTIONS = (
    ("schema", "semantic", "schema_path"),
    ("dims", "embeddings", "dims"),
    ("model", "embeddings", "model"),
    ("datatype", "semantic", "vector_datatype"),
    ("hnsw_m", "semantic", "hnsw_m"),
    ("ef_construction", "semantic", "hnsw_ef_construction"),
)


def target_settings(args: argparse.Namespace) -> AgentCacheSettings:
    settings = AgentCacheSettings()
    for option, section, name in _TARGET_OPTIONS:
        value = getattr(args, option)
        if value is not None:
            setattr(getattr(settings, section), name, value)
    return settings


def progress_bar(enabled: bool) -> Callable[[str, int, int | None], None] | None:
    """A tqdm bar per phase (on stderr), or None."""
    if not enabled:
        return None
    from tqdm import tqdm

    bars: dict[str, Any] = {}

    def update(phase: str, done: int, total: int | None) -> None:
        bar = bars.get(phase)
        if bar is None:
            for other in bars.values():
                other.close()
            bar = bars[phase] = tqdm(total=total, desc=phase, unit="entry", file=sys.stderr)
        bar.n = done
        bar.refresh()

    return update


def run(args: argparse.Namespace) -> int:
    settings = target_settings(args)
    try:
        with Migrator(
            settings,
            batch_size=args.batch_size,
            progress=progress_bar(not args.no_progress and sys.stderr.isatty()),
            reembed=args.reembed,
        ) as migrator:
            if args.vectorizer == "hashing":
                from agentcache.testing.vectors import HashingVectorizer

                migrator.vectorizer = HashingVectorizer(
                    settings.embeddings.dims, model=settings.embeddings.model
                )
            elif args.reembed or args.dims is not None or args.model is not None:
                migrator.vectorizer = default_vectorizer(settings, migrator.client)
            if args.action == "plan":
                print(migrator.plan().describe())
            elif args.action == "apply":
                print(migrator.apply(dry_run=args.dry_run).describe())
            elif args.action == "rollback":
                print(migrator.rollback(dry_run=args.dry_run))
            elif args.action == "cleanup":
                print(migrator.cleanup(dry_run=args.dry_run))
            else:
                print(migrator.status().describe())
    except MigrationLockedError as exc:  # its own code: retry later, nothing is wrong
        print(f"agentcache: refused: {exc}", file=sys.stderr)
        return 3
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of scripts/migrate_index.py (same arguments as ``agentcache migrate``)."""
    return run_script("migrate_index.py", __doc__, add_arguments, run, argv)
