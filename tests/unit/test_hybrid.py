"""The hybrid planner: when a filtered KNN lookup forces HYBRID_POLICY BATCHES."""

from __future__ import annotations

from agentcache._hybrid import MAX_SCOPES, SIZE_TTL_SECONDS, HybridPlanner


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def planner(mode: str = "auto", clock: Clock | None = None) -> HybridPlanner:
    return HybridPlanner(mode, min_share=0.1, min_entries=1000, clock=clock or Clock())


def test_an_unknown_scope_is_counted_and_left_to_the_engine() -> None:
    plan = planner()
    assert plan.needs_count("s")
    assert plan.policy("s") is None


def test_a_scope_big_in_entries_and_share_gets_batches() -> None:
    plan = planner()
    plan.record("big", 10_000, 22_500)
    assert plan.policy("big") == "BATCHES"
    assert not plan.needs_count("big")


def test_a_small_share_or_few_entries_stay_with_the_engine() -> None:
    plan = planner()
    plan.record("one-percent", 1_250, 125_000)  # many entries, small share
    plan.record("tiny-index", 900, 1_000)  # the whole index, but few entries
    plan.record("empty", 0, 0)
    assert plan.policy("one-percent") is None
    assert plan.policy("tiny-index") is None
    assert plan.policy("empty") is None


def test_the_edges_are_inclusive() -> None:
    plan = planner()
    plan.record("edge", 1000, 10_000)
    assert plan.policy("edge") == "BATCHES"
    plan.record("below", 999, 9_990)
    assert plan.policy("below") is None


def test_sizes_go_stale_after_the_ttl() -> None:
    clock = Clock()
    plan = planner(clock=clock)
    plan.record("s", 5000, 5000)
    clock.now += SIZE_TTL_SECONDS - 1
    assert not plan.needs_count("s")
    clock.now += 1
    assert plan.needs_count("s")
    assert plan.policy("s") == "BATCHES"  # the stale figure still plans until recounted


def test_fixed_modes_never_count() -> None:
    engine, batches = planner("engine"), planner("batches")
    engine.record("big", 10_000, 10_000)
    assert not engine.needs_count("x") and not batches.needs_count("x")
    assert engine.policy("big") is None
    assert batches.policy("anything") == "BATCHES"


def test_memory_is_bounded_and_recently_planned_scopes_stay() -> None:
    plan = planner()
    plan.record("keep", 5000, 5000)
    for i in range(MAX_SCOPES):
        if i % 100 == 0:
            assert plan.policy("keep") == "BATCHES"  # planning refreshes its place
        plan.record(f"s{i}", 1, 10)
    assert plan.policy("keep") == "BATCHES"
    assert plan.needs_count("s0")  # the oldest was forgotten
