"""Decision policies: pure functions of the query and the HNSW candidates."""

from __future__ import annotations

import random

import pytest

from agentcache.semantic._policy import (
    VC_COUNT,
    VC_OBS,
    Candidate,
    GuardedPolicy,
    ThresholdPolicy,
    VerifiedPolicy,
    format_observations,
    parse_observations,
    policy_from_settings,
)
from agentcache.settings import AgentCacheSettings


def cand(prompt: str, similarity: float, entry_id: str = "e", **fields: str) -> Candidate:
    return Candidate(entry_id=entry_id, prompt=prompt, similarity=similarity, fields=fields)


# ---------------------------------------------------------------- threshold / guarded


def test_threshold_policy_takes_the_nearest_above_threshold() -> None:
    policy = ThresholdPolicy()
    got = policy.decide("q", [cand("a", 0.91, "a"), cand("b", 0.95, "b")], 0.9)
    assert got.hit and got.candidate is not None and got.candidate.entry_id == "b"
    assert not policy.decide("q", [cand("a", 0.89)], 0.9).hit
    assert policy.decide("q", [], 0.9).reason == "no_candidates"


def test_guarded_policy_skips_a_vetoed_nearest_candidate() -> None:
    policy = GuardedPolicy()
    candidates = [
        cand("how do I disable 2FA", 0.97, "disable"),
        cand("how do I enable 2FA", 0.93, "enable"),
    ]
    got = policy.decide("how do I enable 2FA on my account", candidates, 0.9)
    assert got.candidate is not None and got.candidate.entry_id == "enable"
    assert got.reason == "similarity+guards"


def test_guarded_policy_reports_the_veto_when_nothing_passes() -> None:
    got = GuardedPolicy().decide(
        "refund for orders over $50", [cand("refund for orders over $500", 0.98)], 0.9
    )
    assert not got.hit
    assert got.reason == "guard:numbers: 50 vs 500"


def test_guarded_policy_never_serves_below_threshold() -> None:
    got = GuardedPolicy().decide("reset my password", [cand("reset my password", 0.89)], 0.9)
    assert not got.hit and got.reason == "below_threshold"


def test_stateless_policies_learn_nothing() -> None:
    assert ThresholdPolicy().feedback_update({}, 0.9, False) == {}
    assert GuardedPolicy().feedback_update({}, 0.9, False) == {}


# ---------------------------------------------------------------- verified


def test_observations_round_trip_and_skip_junk() -> None:
    obs = [(0.9132, True), (0.8812, False)]
    assert parse_observations(format_observations(obs)) == obs
    assert parse_observations("0.9:1,bad,0.8:2,nan:1,:1,0.7:0") == [(0.9, True), (0.7, False)]
    assert parse_observations(None) == []


def test_fresh_verified_entry_behaves_like_the_global_threshold() -> None:
    policy = VerifiedPolicy(delta=0.02)
    assert policy.entry_threshold({}, 0.9) == pytest.approx(0.9, abs=1e-3)
    assert policy.decide("q", [cand("p", 0.905)], 0.9).hit
    assert not policy.decide("q", [cand("p", 0.895)], 0.9).hit


def feed(
    policy: VerifiedPolicy, fields: dict[str, str], sim: float, ok: bool, n: int
) -> dict[str, str]:
    for _ in range(n):
        fields = {**fields, **policy.feedback_update(fields, sim, ok)}
    return fields


def test_verified_threshold_moves_with_feedback() -> None:
    policy = VerifiedPolicy(delta=0.02)
    start = policy.entry_threshold({}, 0.9)
    good = feed(policy, {}, 0.9, True, 10)
    assert good[VC_COUNT] == "10" and good[VC_OBS].count(":1") == 10
    lowered = policy.entry_threshold(good, 0.9)
    assert lowered < start - 0.01  # correct answers at 0.90: the entry earns a lower threshold
    bad = feed(policy, {}, 0.93, False, 1)
    raised = policy.entry_threshold(bad, 0.9)
    assert raised > start + 0.02  # a wrong answer at 0.93: it must now be stricter
    # a served hit below the old threshold flips with the evidence
    assert policy.decide("q", [cand("p", 0.89, **good)], 0.9).hit
    assert not policy.decide("q", [cand("p", 0.92, **bad)], 0.9).hit


def test_verified_keeps_only_recent_observations_but_counts_all() -> None:
    policy = VerifiedPolicy(delta=0.02, max_observations=5)
    fields = feed(policy, {}, 0.95, True, 12)
    assert fields[VC_COUNT] == "12"
    assert len(parse_observations(fields[VC_OBS])) == 5


def test_verified_prefers_the_candidate_with_the_lowest_error() -> None:
    policy = VerifiedPolicy(delta=0.05)
    trusted = feed(policy, {}, 0.9, True, 20)
    got = policy.decide("q", [cand("a", 0.93, "fresh"), cand("b", 0.91, "trusted", **trusted)], 0.9)
    assert got.candidate is not None and got.candidate.entry_id == "trusted"


def test_verified_respects_delta_on_a_synthetic_stream() -> None:
    """Entries whose true midpoints follow the prior: served hits err at most delta.

    Each entry has a hidden midpoint tau; a query at similarity s is correctly
    answered by the entry with probability sigmoid(slope * (s - tau)). Served hits
    get feedback; would-be misses in the loose band are explored 20% of the time
    (the model is called and compared), as vCache does.
    """
    delta, threshold = 0.05, 0.85
    policy = VerifiedPolicy(delta=delta, slope=40.0, prior_sd=0.05)
    rng = random.Random(7)
    mu0 = policy.prior_mean(threshold)
    served = wrong = 0
    per_entry_thresholds: list[float] = []
    for _ in range(100):
        tau = rng.gauss(mu0, 0.05)
        fields: dict[str, str] = {}
        for _ in range(30):
            s = rng.uniform(0.7, 1.0)
            correct = rng.random() < 1.0 / (1.0 + pow(2.718281828, -40.0 * (s - tau)))
            if policy.decide("q", [cand("p", s, **fields)], threshold).hit:
                served += 1
                wrong += not correct
            elif rng.random() >= 0.2:
                continue
            fields = {**fields, **policy.feedback_update(fields, s, correct)}
        per_entry_thresholds.append(policy.entry_threshold(fields, threshold))
    rate = wrong / served
    assert served > 800  # the policy does serve
    assert rate <= delta * 1.2, rate  # sampling slack on ~1500 served hits
    # entries did learn different thresholds (not all equal to the global one)
    spread = max(per_entry_thresholds) - min(t for t in per_entry_thresholds)
    assert spread > 0.05


def test_verified_rejects_an_invalid_delta() -> None:
    with pytest.raises(ValueError):
        VerifiedPolicy(delta=0.0)


@pytest.mark.parametrize(
    ("name", "kind"),
    [("threshold", ThresholdPolicy), ("guarded", GuardedPolicy), ("verified", VerifiedPolicy)],
)
def test_policy_from_settings(name: str, kind: type) -> None:
    settings = AgentCacheSettings(semantic={"policy": name, "verified_delta": 0.03})
    policy = policy_from_settings(settings)
    assert isinstance(policy, kind) and policy.name == name
    if isinstance(policy, VerifiedPolicy):
        assert policy.delta == 0.03
