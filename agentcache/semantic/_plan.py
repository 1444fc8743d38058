"""Which RediSearch hybrid policy a filtered KNN lookup should ask for.

RediSearch 2.10 picks between brute-forcing the filter's matches (ADHOC_BF)
and HNSW batches filtered as they come (BATCHES) by itself, and picks ad hoc
for scopes of 10,000 to ~50,000 entries even when they fill the index.
Measured on 22,500 real MiniLM entries (docs/benchmarks.md, "Hybrid policy"):
a tenant of 10,000 took 5.1 ms ad hoc and 0.50 ms in batches. Batches are the
wrong choice the other way round: a tenant of 500 took 1.0 ms in batches and
0.15 ms ad hoc, one of 250 in 110,000 entries 8.4 ms against 0.11 ms; at
2,000 entries (9%) the two were even. So the planner forces BATCHES only for
scopes known to be big, in entries and in share of the index, and leaves
every other lookup to RediSearch.

Sizes come from counting searches (the index once per node, each scope only
when its index could hold a big one), remembered for ``SIZE_TTL_SECONDS``;
this module holds no I/O.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable

# How long a count is trusted (a count is O(entries) on the server).
SIZE_TTL_SECONDS = 30.0
# A failed count is retried after this long; until then RediSearch chooses.
RETRY_SECONDS = 5.0
# Scopes remembered per process; the least recently planned are forgotten first.
MAX_SCOPES = 65_536


_COUNTING = -1  # a first count is under way: the size is not known yet


class _Counts:
    """Counted sizes by key, with when they were counted; bounded, LRU order."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.sizes: OrderedDict[Hashable, tuple[int, float]] = OrderedDict()

    def get(self, key: Hashable) -> int | None:
        found = self.sizes.get(key)
        return None if found is None or found[0] == _COUNTING else found[0]

    def claim(self, key: Hashable) -> bool:
        """True once per stale period: the caller counts. Concurrent lookups of the same
        key meanwhile plan with the previous figure (or let RediSearch choose)."""
        found = self.sizes.get(key)
        if found is not None and self.clock() - found[1] < SIZE_TTL_SECONDS:
            return False
        self.put(key, _COUNTING if found is None else found[0])
        return True

    def put(self, key: Hashable, size: int, age: float = 0.0) -> None:
        self.sizes[key] = (size, self.clock() - age)
        self.sizes.move_to_end(key)
        while len(self.sizes) > MAX_SCOPES:
            self.sizes.popitem(last=False)


class HybridPlanner:
    """Remembers index and scope sizes and says when a lookup should force ``BATCHES``.

    ``index_key`` names the index a scope lives in: one for a single server,
    the tenant's node on a cluster (each node has its own index).
    """

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
        self._indexes = _Counts(clock)
        self._scopes = _Counts(clock)

    def needs_index_count(self, index_key: str) -> bool:
        """True when this caller should count the index (claimed: others do not)."""
        return self.mode == "auto" and self._indexes.claim(index_key)

    def needs_scope_count(self, scope_key: Hashable, index_key: str) -> bool:
        """True when this caller should count the scope: it could be big, and its
        count is missing or stale (claimed: concurrent lookups do not count it too)."""
        if self.mode != "auto":
            return False
        total = self._indexes.get(index_key)
        if total is None or total < self.min_entries:
            return False  # no scope of a small index is big: nothing to count
        return self._scopes.claim(scope_key)

    def record_index(self, index_key: str, entries: int) -> None:
        self._indexes.put(index_key, entries)

    def record_scope(self, scope_key: Hashable, entries: int) -> None:
        self._scopes.put(scope_key, entries)

    def record_failure(self, scope_key: Hashable, index_key: str) -> None:
        """Count again in ``RETRY_SECONDS``; until then RediSearch chooses."""
        age = SIZE_TTL_SECONDS - RETRY_SECONDS
        if self._indexes.get(index_key) is None:
            self._indexes.put(index_key, 0, age)
        self._scopes.put(scope_key, 0, age)

    def policy(self, scope_key: Hashable, index_key: str) -> str | None:
        """``"BATCHES"`` to force, or None for RediSearch's own choice."""
        if self.mode == "batches":
            return "BATCHES"
        if self.mode != "auto":
            return None
        total = self._indexes.get(index_key)
        entries = self._scopes.get(scope_key)
        if not total or entries is None or entries < self.min_entries:
            return None
        return "BATCHES" if entries >= self.min_share * total else None
