"""Hit decisions: pure functions of the query and the HNSW candidates, no I/O.

A lookup is two stages. HNSW returns the top-k nearest entries of the
tenant/agent (a loose net); a ``DecisionPolicy`` then picks one of them or
declines. Policies see only data, so they are unit-testable without Redis.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Candidate:
    """One nearest-neighbour entry returned by the index."""

    entry_id: str
    prompt: str
    similarity: float
    fields: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    """The policy's verdict: the candidate to serve (or None) and why."""

    candidate: Candidate | None
    reason: str

    @property
    def hit(self) -> bool:
        return self.candidate is not None


class DecisionPolicy(Protocol):
    """Chooses which candidate, if any, answers the query."""

    name: str
    # Extra entry fields the policy reads (the index returns them with each candidate).
    fields: tuple[str, ...]

    def decide(
        self, query: str, candidates: Sequence[Candidate], threshold: float
    ) -> Decision: ...

    def feedback_update(
        self, fields: Mapping[str, str], similarity: float, correct: bool
    ) -> dict[str, str]:
        """Entry fields to write after feedback on a served hit (empty: nothing to learn)."""
        ...


class ThresholdPolicy:
    """The plain cosine cut-off: the nearest candidate at or above the threshold."""

    name = "threshold"
    fields: tuple[str, ...] = ()

    def decide(self, query: str, candidates: Sequence[Candidate], threshold: float) -> Decision:
        if not candidates:
            return Decision(None, "no_candidates")
        best = max(candidates, key=lambda c: c.similarity)
        if best.similarity >= threshold:
            return Decision(best, "similarity")
        return Decision(None, "below_threshold")

    def feedback_update(
        self, fields: Mapping[str, str], similarity: float, correct: bool
    ) -> dict[str, str]:
        return {}
