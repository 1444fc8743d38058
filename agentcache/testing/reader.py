"""A reader thread that checks known entries while something else changes the cache.

Run one beside a migration, a slot move or a failover to show that readers
kept getting the right answers::

    reader = Reader(cache, {("acme", "How do I reset my password?"): "Use the link."})
    reader.start()
    ...  # migrate, reshard, fail over
    reader.finish()  # raises AssertionError on any error or wrong answer
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from agentcache.semantic._sync import SemanticCache


class Reader(threading.Thread):
    """``check()`` on known ``(tenant, prompt) -> response`` entries until ``finish()``.

    Records errors and misses; entries added to ``gone`` were deleted on purpose,
    so a miss on them is right. ``owns_cache`` closes the cache when finished
    (a reader with a client of its own, as another process would have).
    """

    def __init__(
        self,
        cache: SemanticCache,
        entries: Mapping[tuple[str, str], str],
        *,
        agent: str = "support",
        owns_cache: bool = False,
    ) -> None:
        super().__init__(daemon=True)
        self.cache = cache
        self.entries = list(entries.items())
        self.agent = agent
        self.owns_cache = owns_cache
        self.stop = threading.Event()
        self.checks = 0
        self.errors: list[BaseException] = []
        self.misses: list[tuple[str, str]] = []
        self.gone: set[tuple[str, str]] = set()

    def run(self) -> None:
        i = 0
        while not self.stop.is_set():
            (tenant, text), response = self.entries[i % len(self.entries)]
            i += 1
            try:
                hit = self.cache.check(text, tenant=tenant, agent=self.agent)
            except BaseException as exc:  # the point is to see every failure
                self.errors.append(exc)
                continue
            self.checks += 1
            if (hit is None or hit.response != response) and (tenant, text) not in self.gone:
                self.misses.append((tenant, text))

    def finish(self, timeout: float = 20.0) -> None:
        """Stop, then assert the reader checked, and saw no error and no miss."""
        self.stop.set()
        self.join(timeout=timeout)
        if self.owns_cache:
            self.cache.close()
        assert self.checks > 0, "the reader never completed a check"
        assert self.errors == [], f"reader errors: {self.errors[:3]}"
        assert self.misses == [], f"{len(self.misses)} misses, first {self.misses[:3]}"
        assert self.cache.stats.errors == 0, "the cache counted errors"
