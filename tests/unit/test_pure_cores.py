"""The layers' cores are pure: they import no Redis client, no metrics, no fault guard."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

# Importing any of these would let a core reach Redis (or count into it).
IO_MODULES = (
    "redis",
    "agentcache.metrics",
    "agentcache._redis.faults",
    "agentcache._redis.clients",
)


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("core", ["agentcache.tools._core", "agentcache.embeddings._core"])
def test_a_core_imports_nothing_that_reaches_redis(core: str) -> None:
    module = importlib.import_module(core)
    assert module.__file__ is not None
    imported = imported_modules(Path(module.__file__))
    assert not {m for m in imported for io in IO_MODULES if m == io or m.startswith(io + ".")}
