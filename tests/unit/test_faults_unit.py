"""FaultGuard without a server: breaker states on an injected clock, strict mode, log bursts."""

from __future__ import annotations

import logging

import pytest
import redis

from agentcache._redis.faults import CLOSED, HALF_OPEN, OPEN, FaultGuard, server_answered
from agentcache.exceptions import CacheUnavailableError, InvalidInputError, SchemaError
from agentcache.settings import ReliabilitySettings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def down() -> None:
    raise redis.ConnectionError("Connection refused")


def oom() -> None:
    raise redis.exceptions.OutOfMemoryError(
        "OOM command not allowed when used memory > 'maxmemory'."
    )


def make(clock: Clock, **settings: object) -> FaultGuard:
    cfg = ReliabilitySettings(
        **{"breaker_failures": 3, "breaker_cooldown_seconds": 5.0, **settings}
    )
    return FaultGuard(cfg, layer="test", clock=clock)


def test_faults_become_none_and_the_breaker_opens_after_n_in_a_row() -> None:
    clock = Clock()
    guard = make(clock)
    calls = []
    for _ in range(3):
        assert guard.run("check", lambda: calls.append(1) or down()) is None
    assert guard.state == OPEN
    # Open: the function is not even called.
    assert guard.run("check", lambda: calls.append(1)) is None
    assert len(calls) == 3
    assert guard.faults == 3 and guard.skipped == 1


def test_a_success_resets_the_count_of_faults_in_a_row() -> None:
    guard = make(Clock())
    guard.run("check", down)
    guard.run("check", down)
    assert guard.run("check", lambda: "ok") == "ok"
    guard.run("check", down)
    guard.run("check", down)
    assert guard.state == CLOSED


def test_cooldown_lets_exactly_one_probe_through_and_its_success_closes() -> None:
    clock = Clock()
    guard = make(clock)
    for _ in range(3):
        guard.run("check", down)
    clock.now += 4.9
    assert guard.state == OPEN
    clock.now += 0.2
    assert guard.state == HALF_OPEN
    assert guard.allow() is True  # the probe
    assert guard.allow() is False  # a second caller while the probe is out
    guard.success()
    assert guard.state == CLOSED
    assert guard.run("check", lambda: 7) == 7


def test_a_failed_probe_reopens_for_a_full_cooldown() -> None:
    clock = Clock()
    guard = make(clock)
    for _ in range(3):
        guard.run("check", down)
    clock.now += 5.0
    assert guard.run("check", down) is None  # the probe fails
    assert guard.state == OPEN
    clock.now += 4.0
    assert guard.state == OPEN
    clock.now += 1.0
    assert guard.state == HALF_OPEN


async def test_a_probe_that_raises_bad_input_leaves_the_next_probe_free() -> None:
    # A half-open probe ended by an input error (a broken vectorizer's NaN) must not
    # hold the probe slot forever: the circuit would never close again.
    def bad() -> None:
        raise InvalidInputError("embedding contains NaN or infinite values")

    async def abad() -> None:
        bad()

    clock = Clock()
    guard = make(clock)
    for _ in range(3):
        guard.run("check", down)
    clock.now += 5.0
    with pytest.raises(InvalidInputError):
        guard.run("check", bad)
    assert guard.run("check", lambda: 7) == 7  # the next probe goes through, and closes
    assert guard.state == CLOSED
    for _ in range(3):
        guard.run("check", down)
    clock.now += 5.0
    with pytest.raises(InvalidInputError):
        await guard.arun("check", abad)
    assert guard.allow() is True


def test_strict_mode_raises_cache_unavailable_with_the_cause() -> None:
    guard = make(Clock(), strict=True)
    with pytest.raises(CacheUnavailableError, match="test check: ConnectionError") as info:
        guard.run("check", down)
    assert isinstance(info.value.__cause__, redis.ConnectionError)


def test_strict_mode_raises_while_the_circuit_is_open() -> None:
    guard = make(Clock(), strict=True, breaker_failures=1)
    with pytest.raises(CacheUnavailableError):
        guard.run("check", down)
    with pytest.raises(CacheUnavailableError, match="circuit open"):
        guard.run("check", lambda: "never called")


def test_input_errors_are_never_swallowed() -> None:
    guard = make(Clock())

    def bad() -> None:
        raise InvalidInputError("prompt is empty or whitespace")

    def bad_schema() -> None:
        raise SchemaError("schema file x.yaml lacks the required tag field 'tenant'")

    with pytest.raises(InvalidInputError):
        guard.run("check", bad)
    with pytest.raises(SchemaError):
        guard.run("connect", bad_schema)
    assert guard.faults == 0


def test_oom_replies_count_as_faults_but_never_open_the_breaker() -> None:
    guard = make(Clock())
    for _ in range(10):
        assert guard.run("store", oom) is None
    assert guard.faults == 10
    assert guard.state == CLOSED


def test_an_error_reply_to_a_probe_closes_the_circuit() -> None:
    clock = Clock()
    guard = make(clock)
    for _ in range(3):
        guard.run("check", down)
    clock.now += 5.0
    guard.run("store", oom)  # the server answered: it is alive
    assert guard.state == CLOSED


@pytest.mark.parametrize(
    ("exc", "answered"),
    [
        (redis.exceptions.OutOfMemoryError("OOM"), True),
        (redis.exceptions.ReadOnlyError("READONLY"), True),
        (redis.ResponseError("Unknown index name"), True),
        (redis.ConnectionError("refused"), False),
        (redis.TimeoutError("timed out"), False),
        (redis.exceptions.BusyLoadingError("LOADING"), False),
        (redis.exceptions.ClusterDownError("CLUSTERDOWN"), False),
        (CacheUnavailableError("no modules"), False),
    ],
)
def test_which_errors_mean_the_server_answered(exc: BaseException, answered: bool) -> None:
    assert server_answered(exc) is answered


def test_one_warning_per_burst_then_a_count_of_what_was_not_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    guard = make(clock, warn_interval_seconds=30.0, breaker_failures=100)
    with caplog.at_level(logging.WARNING, logger="agentcache"):
        for _ in range(50):
            guard.run("check", down)
        assert len(caplog.records) == 1
        clock.now += 30.0
        guard.run("check", down)
    assert len(caplog.records) == 2
    assert "49 similar faults not logged" in caplog.records[1].getMessage()


def test_hooks_see_every_fault_and_every_latency() -> None:
    faults: list[tuple[str, str]] = []
    latencies: list[tuple[str, float]] = []
    guard = FaultGuard(
        ReliabilitySettings(),
        layer="test",
        on_fault=lambda op, exc: faults.append((op, type(exc).__name__)),
        on_latency=lambda op, seconds: latencies.append((op, seconds)),
    )
    guard.run("check", lambda: None)
    guard.run("store", down)
    assert faults == [("store", "ConnectionError")]
    assert [op for op, _ in latencies] == ["check", "store"]
    assert all(seconds >= 0 for _, seconds in latencies)


async def test_arun_is_the_async_twin() -> None:
    clock = Clock()
    guard = make(clock)

    async def adown() -> None:
        down()

    async def ok() -> str:
        return "ok"

    for _ in range(3):
        assert await guard.arun("check", adown) is None
    assert guard.state == OPEN
    clock.now += 5.0
    assert await guard.arun("check", ok) == "ok"
    assert guard.state == CLOSED
