"""The hybrid planner: when a filtered KNN lookup forces HYBRID_POLICY BATCHES."""

from __future__ import annotations

from agentcache.semantic._plan import MAX_SCOPES, RETRY_SECONDS, SIZE_TTL_SECONDS, HybridPlanner

INDEX = ""  # one server: one index key


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def planner(mode: str = "auto", clock: Clock | None = None) -> HybridPlanner:
    return HybridPlanner(mode, min_share=0.1, min_entries=1000, clock=clock or Clock())


def sized(index_entries: int, **scopes: int) -> HybridPlanner:
    plan = planner()
    plan.record_index(INDEX, index_entries)
    for name, entries in scopes.items():
        plan.record_scope(name, entries)
    return plan


def test_the_index_is_counted_first_and_scopes_only_when_it_is_big() -> None:
    plan = planner()
    assert plan.needs_index_count(INDEX)
    assert not plan.needs_scope_count("s", INDEX)  # index size unknown: nothing to plan yet
    plan.record_index(INDEX, 999)
    assert not plan.needs_index_count(INDEX)
    assert not plan.needs_scope_count("s", INDEX)  # no scope of a small index is big
    plan.record_index(INDEX, 1000)
    assert plan.needs_scope_count("s", INDEX)
    assert plan.policy("s", INDEX) is None  # uncounted: the engine chooses


def test_a_scope_big_in_entries_and_share_gets_batches() -> None:
    plan = sized(22_500, big=10_000)
    assert plan.policy("big", INDEX) == "BATCHES"
    assert not plan.needs_scope_count("big", INDEX)


def test_a_small_share_or_few_entries_stay_with_the_engine() -> None:
    plan = sized(125_000, one_percent=1_250)
    assert plan.policy("one_percent", INDEX) is None
    tiny = sized(1_000, whole=900)
    assert tiny.policy("whole", INDEX) is None
    assert sized(0, empty=0).policy("empty", INDEX) is None


def test_the_edges_are_inclusive() -> None:
    plan = sized(10_000, edge=1000, below=999)
    assert plan.policy("edge", INDEX) == "BATCHES"
    assert plan.policy("below", INDEX) is None


def test_counts_go_stale_after_the_ttl() -> None:
    clock = Clock()
    plan = planner(clock=clock)
    plan.record_index(INDEX, 5000)
    plan.record_scope("s", 5000)
    clock.now += SIZE_TTL_SECONDS - 1
    assert not plan.needs_index_count(INDEX) and not plan.needs_scope_count("s", INDEX)
    clock.now += 1
    assert plan.needs_index_count(INDEX) and plan.needs_scope_count("s", INDEX)
    assert plan.policy("s", INDEX) == "BATCHES"  # the stale figures still plan until recounted


def test_a_failed_count_is_retried_soon_and_leaves_it_to_the_engine() -> None:
    clock = Clock()
    plan = planner(clock=clock)
    plan.record_failure("s", INDEX)
    assert plan.policy("s", INDEX) is None
    assert not plan.needs_index_count(INDEX)
    clock.now += RETRY_SECONDS
    assert plan.needs_index_count(INDEX)


def test_each_index_key_has_its_own_total() -> None:
    plan = planner()
    plan.record_index("node-a", 100_000)
    plan.record_index("node-b", 1_500)
    plan.record_scope("s", 1_400)
    assert plan.policy("s", "node-a") is None  # 1.4% of node a
    assert plan.policy("s", "node-b") == "BATCHES"  # 93% of node b


def test_fixed_modes_never_count() -> None:
    engine, batches = planner("engine"), planner("batches")
    for plan in (engine, batches):
        assert not plan.needs_index_count(INDEX) and not plan.needs_scope_count("x", INDEX)
    engine.record_index(INDEX, 10_000)
    engine.record_scope("big", 10_000)
    assert engine.policy("big", INDEX) is None
    assert batches.policy("anything", INDEX) == "BATCHES"


def test_memory_is_bounded() -> None:
    plan = sized(10_000_000, first=5000)
    for i in range(MAX_SCOPES):
        plan.record_scope(f"s{i}", 1)
    assert plan.needs_scope_count("first", INDEX)  # the oldest count was forgotten
    assert plan.policy("first", INDEX) is None
    assert not plan.needs_scope_count(f"s{MAX_SCOPES - 1}", INDEX)


def test_only_one_caller_counts_at_a_time() -> None:
    # 32 coroutines looking up a new scope at once must not all run the O(N) counts.
    plan = planner()
    assert plan.needs_index_count(INDEX)
    assert not any(plan.needs_index_count(INDEX) for _ in range(31))
    plan.record_index(INDEX, 50_000)
    assert plan.needs_scope_count("s", INDEX)
    assert not any(plan.needs_scope_count("s", INDEX) for _ in range(31))
    assert plan.policy("s", INDEX) is None  # still being counted: the engine chooses
    plan.record_scope("s", 40_000)
    assert plan.policy("s", INDEX) == "BATCHES"


def test_a_recount_keeps_planning_with_the_previous_figure() -> None:
    clock = Clock()
    plan = planner(clock=clock)
    plan.record_index(INDEX, 50_000)
    plan.record_scope("s", 40_000)
    clock.now += SIZE_TTL_SECONDS
    assert plan.needs_index_count(INDEX) and plan.needs_scope_count("s", INDEX)
    assert plan.policy("s", INDEX) == "BATCHES"  # while both counts run
