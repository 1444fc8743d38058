"""Hit decisions: pure functions of the query and the HNSW candidates, no I/O.

A lookup is two stages. HNSW returns the top-k nearest entries of the
tenant/agent (a loose net); a ``DecisionPolicy`` then picks one of them or
declines. Policies see only data, so they are unit-testable without Redis.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt

from agentcache.semantic._guards import GUARDS, Guard, check_all

if TYPE_CHECKING:
    from agentcache.settings import AgentCacheSettings


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

    def decide(self, query: str, candidates: Sequence[Candidate], threshold: float) -> Decision: ...

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


class GuardedPolicy:
    """The threshold plus lexical guards: the nearest candidate that no guard vetoes.

    Candidates are tried from the most similar down, so when "disable 2FA" is
    nearest to "turn on 2FA" but vetoed, a cached "enable 2FA" can still answer.
    """

    name = "guarded"
    fields: tuple[str, ...] = ()

    def __init__(self, guards: Sequence[tuple[str, Guard]] = GUARDS) -> None:
        self.guards = tuple(guards)

    def decide(self, query: str, candidates: Sequence[Candidate], threshold: float) -> Decision:
        if not candidates:
            return Decision(None, "no_candidates")
        vetoed: str | None = None
        for cand in sorted(candidates, key=lambda c: c.similarity, reverse=True):
            if cand.similarity < threshold:
                break
            reason = check_all(query, cand.prompt, self.guards)
            if reason is None:
                return Decision(cand, "similarity+guards")
            vetoed = vetoed or reason
        return Decision(None, f"guard:{vetoed}" if vetoed else "below_threshold")

    def feedback_update(
        self, fields: Mapping[str, str], similarity: float, correct: bool
    ) -> dict[str, str]:
        return {}


# ----------------------------------------------------------------------------- verified
#
# VerifiedPolicy follows vCache (Schroeder et al., "vCache: Verified Semantic Prompt
# Caching", arXiv 2502.03771): each entry learns from its own observations of
# (similarity, was the cached answer correct) and serves only where its estimated
# error rate is at most delta. The estimator here is a one-parameter Bayesian model:
#
#   P(correct | s) = sigmoid(slope * (s - tau_e))      tau_e: the entry's own midpoint
#   tau_e ~ Normal(mu0, prior_sd^2)                    the global prior
#
# mu0 is set so that, with no observations, the predicted error at the global
# threshold is exactly delta: a fresh entry behaves like the plain threshold. The
# posterior over tau_e is computed on a grid from the entry's observations (kept in
# the entry hash as vc_obs), and a candidate is served when the posterior-predictive
# error  E[1 - sigmoid(slope * (s - tau_e)) | observations]  is at most delta. When
# entries' midpoints really follow the prior, this predictive error is the exact
# conditional error probability, so served hits err at most delta on average.

VC_COUNT = "vc_n"
VC_OBS = "vc_obs"
_GRID = np.linspace(0.0, 1.3, 261)  # midpoints tau_e, step 0.005


def _sigmoid(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # no overflow warnings for large |x|


def parse_observations(raw: str | None) -> list[tuple[float, bool]]:
    """``"0.9132:1,0.8812:0"`` -> [(0.9132, True), (0.8812, False)]; junk is skipped."""
    out: list[tuple[float, bool]] = []
    for item in (raw or "").split(","):
        sim, _, flag = item.partition(":")
        try:
            value = float(sim)
        except ValueError:
            continue
        if math.isfinite(value) and flag in ("0", "1"):
            out.append((value, flag == "1"))
    return out


def format_observations(observations: Sequence[tuple[float, bool]]) -> str:
    return ",".join(f"{sim:.4f}:{int(ok)}" for sim, ok in observations)


class VerifiedPolicy:
    """A learned per-entry threshold that keeps the estimated error rate below ``delta``.

    Args:
        delta: the maximum error rate of served hits (settings: verified_delta).
        slope: steepness of P(correct | similarity); 40 means the error falls from
            90% to 10% over about 0.11 of cosine similarity.
        prior_sd: how far an entry's midpoint may sit from the global one a priori.
        max_observations: observations kept per entry (the most recent).
        guards: lexical guards applied before the learned threshold (default: none).
    """

    name = "verified"
    fields: tuple[str, ...] = (VC_COUNT, VC_OBS)

    def __init__(
        self,
        delta: float = 0.02,
        *,
        slope: float = 40.0,
        prior_sd: float = 0.05,
        max_observations: int = 64,
        guards: Sequence[tuple[str, Guard]] = (),
    ) -> None:
        if not 0.0 < delta < 1.0:
            raise ValueError("delta must be in (0, 1)")
        self.delta = delta
        self.slope = slope
        self.prior_sd = prior_sd
        self.max_observations = max_observations
        self.guards = tuple(guards)

    # -- estimation (pure) --------------------------------------------------------
    def _log_prior(self, threshold: float) -> npt.NDArray[np.float64]:
        return _log_prior(threshold, self.delta, self.slope, self.prior_sd)

    def _posterior(
        self, observations: Sequence[tuple[float, bool]], threshold: float
    ) -> npt.NDArray[np.float64]:
        log_post = self._log_prior(threshold)
        if observations:
            sims = np.array([s for s, _ in observations])[:, None]
            signs = np.array([1.0 if ok else -1.0 for _, ok in observations])[:, None]
            # log sigmoid(sign * slope * (s - tau)), stably
            z = signs * self.slope * (sims - _GRID[None, :])
            log_post = log_post - np.logaddexp(0.0, -z).sum(axis=0)
        weights = np.exp(log_post - log_post.max())
        return weights / weights.sum()  # type: ignore[no-any-return]

    def prior_mean(self, threshold: float) -> float:
        """The prior midpoint mu0 that the global ``threshold`` implies (for tests, docs)."""
        return _prior_mean(threshold, self.delta, self.slope, self.prior_sd)

    def error_rate(
        self, similarity: float, observations: Sequence[tuple[float, bool]], threshold: float
    ) -> float:
        """Posterior-predictive probability that serving at ``similarity`` is wrong."""
        weights = self._posterior(observations, threshold)
        wrong = _sigmoid(-self.slope * (similarity - _GRID))
        return float(weights @ wrong)

    def entry_threshold(self, fields: Mapping[str, str], threshold: float) -> float:
        """The lowest similarity this entry would serve at (its learned threshold; inf: never)."""
        observations = parse_observations(fields.get(VC_OBS))
        weights = self._posterior(observations, threshold)
        lo, hi = -1.0, 1.0
        if float(weights @ _sigmoid(-self.slope * (hi - _GRID))) > self.delta:
            return math.inf  # never serves
        for _ in range(40):
            mid = 0.5 * (lo + hi)
            if float(weights @ _sigmoid(-self.slope * (mid - _GRID))) > self.delta:
                lo = mid
            else:
                hi = mid
        return hi

    # -- the DecisionPolicy interface ----------------------------------------------
    def decide(self, query: str, candidates: Sequence[Candidate], threshold: float) -> Decision:
        if not candidates:
            return Decision(None, "no_candidates")
        best: tuple[float, Candidate] | None = None
        vetoed: str | None = None
        for cand in candidates:
            observations = parse_observations(cand.fields.get(VC_OBS))
            if not observations and cand.similarity < threshold:
                continue  # a fresh entry's learned threshold is the global one
            err = self.error_rate(cand.similarity, observations, threshold)
            if err > self.delta or (best is not None and err >= best[0]):
                continue
            reason = check_all(query, cand.prompt, self.guards) if self.guards else None
            if reason is not None:
                vetoed = vetoed or reason
                continue
            best = (err, cand)
        if best is not None:
            return Decision(best[1], f"verified:err={best[0]:.4f}")
        return Decision(None, f"guard:{vetoed}" if vetoed else "above_delta")

    def feedback_update(
        self, fields: Mapping[str, str], similarity: float, correct: bool
    ) -> dict[str, str]:
        observations = parse_observations(fields.get(VC_OBS))
        observations.append((float(similarity), bool(correct)))
        try:
            count = int(fields.get(VC_COUNT, "0"))
        except ValueError:
            count = 0
        kept = observations[-self.max_observations :]
        return {VC_COUNT: str(count + 1), VC_OBS: format_observations(kept)}


@lru_cache(maxsize=64)
def _log_prior(
    threshold: float, delta: float, slope: float, prior_sd: float
) -> npt.NDArray[np.float64]:
    mu0 = _prior_mean(threshold, delta, slope, prior_sd)
    log_prior = -0.5 * ((_GRID - mu0) / prior_sd) ** 2
    log_prior.setflags(write=False)
    return log_prior


@lru_cache(maxsize=64)
def _prior_mean(threshold: float, delta: float, slope: float, prior_sd: float) -> float:
    """mu0 such that the prior-predictive error at ``threshold`` equals ``delta``."""
    lo, hi = threshold - 1.0, threshold
    for _ in range(60):
        mu = 0.5 * (lo + hi)
        taus = _GRID
        weights = np.exp(-0.5 * ((taus - mu) / prior_sd) ** 2)
        err = float(weights @ _sigmoid(-slope * (threshold - taus)) / weights.sum())
        if err > delta:
            hi = mu
        else:
            lo = mu
    return 0.5 * (lo + hi)


def policy_from_settings(settings: AgentCacheSettings) -> DecisionPolicy:
    """The decision policy named by ``settings.semantic.policy``."""
    cfg = settings.semantic
    if cfg.policy == "guarded":
        return GuardedPolicy()
    if cfg.policy == "verified":
        return VerifiedPolicy(cfg.verified_delta)
    return ThresholdPolicy()
