"""What the embedding cache returns and the compute callables it takes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

# The blocking cache calls these; the async one also awaits what they return.
Compute = Callable[[str], Any]
ComputeMany = Callable[[Sequence[str]], Sequence[Any]]
AsyncCompute = Callable[[str], Awaitable[Any] | Any]
AsyncComputeMany = Callable[[Sequence[str]], Awaitable[Sequence[Any]] | Sequence[Any]]


@dataclass(frozen=True)
class EmbeddingCacheInfo:
    """Texts served from the cache (hits) and computed (misses) in this process."""

    hits: int = 0
    misses: int = 0
