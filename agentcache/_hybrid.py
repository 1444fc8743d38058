"""Which RediSearch hybrid policy a filtered KNN lookup should ask for.

RediSearch 2.10 picks between brute-forcing the filter's matches (ADHOC_BF)
and HNSW batches filtered as they come (BATCHES) by itself, and picks ad hoc
for scopes of 10,000 to ~50,000 entries even when they fill the index: 4 to 5
ms per lookup where batches take 0.4 to 0.5 ms (docs/benchmarks.md). Batches
are the wrong choice the other way round: a scope holding 1% of the index
waits for many batches (1 to 8 ms where ad hoc takes 0.15 to 0.3 ms). So the
planner forces BATCHES only for scopes known to be big, both in entries and
in share of the index, and leaves every other lookup to RediSearch.

Sizes come from two counting searches per scope (the scope's filter and the
whole index), remembered for ``SIZE_TTL_SECONDS``; this module holds no I/O.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

# How long a measured scope size is trusted (a count is O(entries) on the server).
SIZE_TTL_SECONDS = 30.0
# Scopes remembered per process; the least recently planned are forgotten first.
MAX_SCOPES = 4096


@dataclass(frozen=True)
class ScopeSize:
    entries: int
    index_entries: int
    measured_at: float


class HybridPlanner:
    """Remembers scope sizes and says when a lookup should force ``BATCHES``."""

    def __init__(
        self,
        mode: str,
        min_share: float,
        min_entries: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.mode = mode
        self.min_share = min_share
        self.min_entries = min_entries
        self.clock = clock
        self._sizes: OrderedDict[str, ScopeSize] = OrderedDict()

    def needs_count(self, scope_key: str) -> bool:
        """True when ``auto`` has no fresh size for this scope (count it, then ``record``)."""
        if self.mode != "auto":
            return False
        size = self._sizes.get(scope_key)
        return size is None or self.clock() - size.measured_at >= SIZE_TTL_SECONDS

    def record(self, scope_key: str, entries: int, index_entries: int) -> None:
        self._remember(scope_key, ScopeSize(entries, index_entries, self.clock()))

    def policy(self, scope_key: str) -> str | None:
        """``"BATCHES"`` to force, or None for RediSearch's own choice."""
        if self.mode == "batches":
            return "BATCHES"
        if self.mode != "auto":
            return None
        size = self._sizes.get(scope_key)
        if size is None or size.index_entries <= 0:
            return None
        self._sizes.move_to_end(scope_key)
        big = size.entries >= self.min_entries
        if big and size.entries >= self.min_share * size.index_entries:
            return "BATCHES"
        return None

    def _remember(self, scope_key: str, size: ScopeSize) -> None:
        self._sizes[scope_key] = size
        self._sizes.move_to_end(scope_key)
        while len(self._sizes) > MAX_SCOPES:
            self._sizes.popitem(last=False)
