"""The policy's decision on a lookup's candidates: shadow mode and the explore draw."""

from __future__ import annotations

import random

from agentcache.semantic._policy import Candidate, Decision, DecisionPolicy
from agentcache.semantic._types import CacheHit, CacheStats, CheckResult, Scope
from agentcache.settings import AgentCacheSettings

# A declined candidate this far below the threshold is still worth verifying
# (a learning policy can lower the entry's own threshold); as in bench/quality.py.
LOOSE_BAND = 0.10


class Decisions:
    """Hit, miss, shadow or explore (a part of ``SemanticCore``)."""

    settings: AgentCacheSettings
    policy: DecisionPolicy
    stats: CacheStats
    rng: random.Random
    learns: bool

    def hit_from_candidate(self, candidate: Candidate, scope: Scope) -> CacheHit:
        """The candidate as a hit, without its payload (``served``/``with_payload`` add it)."""
        fields = candidate.fields
        return CacheHit(
            response="",
            prompt=candidate.prompt,
            similarity=candidate.similarity,
            entry_id=candidate.entry_id,
            tenant=scope.tenant,
            agent=scope.agent,
            model=fields.get("model_name") or None,
        )


    def decide(self, prompt: str, candidates: list[Candidate], threshold: float) -> Decision:
        decision = self.policy.decide(prompt, candidates, threshold)
        if not decision.hit:
            self.stats.declined[decision.reason] = self.stats.declined.get(decision.reason, 0) + 1
        return decision

    def resolve(
        self, prompt: str, candidates: list[Candidate], threshold: float, scope: Scope
    ) -> CheckResult:
        """The policy's decision on the candidates, with shadow mode and the explore draw."""
        shadow = self.settings.semantic.shadow_mode
        decision = self.decide(prompt, candidates, threshold)
        if decision.candidate is not None:
            hit = self.hit_from_candidate(
                decision.candidate, scope
            )  # count and payload: see served()
            explore = self._explore()
            served = None if shadow or explore else hit
            return CheckResult(served, decision.reason, hit, True, shadow, explore)
        best = max(candidates, key=lambda c: c.similarity, default=None)
        if best is None:
            return CheckResult(None, decision.reason, shadow=shadow)
        near = (
            self.learns
            and not decision.reason.startswith("guard:")  # a different question, not a near one
            and best.similarity >= threshold - LOOSE_BAND
        )
        declined = self.hit_from_candidate(best, scope)
        return CheckResult(None, decision.reason, declined, False, shadow, near and self._explore())

    def exact_result(self, hit: CacheHit) -> CheckResult:
        """An exact repeat: served (never explored: it verifies nothing), or shadowed."""
        shadow = self.settings.semantic.shadow_mode
        return CheckResult(None if shadow else hit, "exact", hit, True, shadow)

    def _explore(self) -> bool:
        rate = self.settings.semantic.explore_rate
        return rate > 0.0 and self.rng.random() < rate

