"""The tool result cache against a real Redis."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import math
import threading
import time
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal

import pydantic
import pytest
import redis

from agentcache._redis.keys import LOCKS, TOOLS
from agentcache.exceptions import (
    CacheUnavailableError,
    ConfigurationError,
    InvalidInputError,
    UnkeyableArgumentError,
)
from agentcache.settings import AgentCacheSettings
from agentcache.tools import AsyncToolCache, ToolCache, ToolCacheInfo, cached_tool
from agentcache.tools._core import GLOBAL_SCOPE_TAG


@pytest.fixture
def tools(settings: AgentCacheSettings) -> Iterator[ToolCache]:
    with ToolCache(settings) as cache:
        yield cache


@pytest.fixture
async def atools(settings: AgentCacheSettings) -> AsyncIterator[AsyncToolCache]:
    async with AsyncToolCache(settings) as cache:
        yield cache


def _with(settings: AgentCacheSettings, **groups: object) -> AgentCacheSettings:
    data = settings.model_dump()
    for group, values in groups.items():
        data[group].update(values)
    return AgentCacheSettings(**data)


@dataclasses.dataclass(frozen=True)
class Point:
    x: int
    y: float
    at: dt.datetime


class Doc(pydantic.BaseModel):
    title: str
    tags: list[str]
    score: Decimal


def test_positional_keyword_and_defaults_share_one_key(tools: ToolCache) -> None:
    calls: list[tuple[int, int]] = []

    @cached_tool(tools)
    def add(a: int, b: int = 2) -> int:
        calls.append((a, b))
        return a + b

    assert add(1, 2) == 3
    assert add(a=1, b=2) == 3
    assert add(1) == 3
    assert add(b=2, a=1) == 3
    assert calls == [(1, 2)]
    assert add.cache_info() == ToolCacheInfo(hits=3, misses=1)
    assert add(2) == 4
    assert calls == [(1, 2), (2, 2)]


def test_dict_order_and_sets_are_canonical(tools: ToolCache) -> None:
    runs = 0

    @cached_tool(tools)
    def lookup(filters: dict[str, object], ids: set[int]) -> int:
        nonlocal runs
        runs += 1
        return len(filters) + len(ids)

    lookup({"a": 1, "b": [1, 2]}, {3, 1, 2})
    lookup({"b": [1, 2], "a": 1}, {2, 3, 1})
    assert runs == 1
    lookup({"a": 1, "b": [2, 1]}, {1, 2, 3})  # list order does matter
    lookup({"a": 1.0, "b": [1, 2]}, {1, 2, 3})  # 1.0 is not 1
    assert runs == 3


def test_rich_arguments_key_stably(tools: ToolCache) -> None:
    runs = 0

    @cached_tool(tools)
    def fetch(point: Point, doc: Doc, raw: bytes, when: dt.date, amount: Decimal) -> str:
        nonlocal runs
        runs += 1
        return f"{point.x}-{doc.title}-{len(raw)}"

    at = dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC)

    def call() -> str:
        return fetch(
            Point(1, 2.5, at),
            Doc(title="t", tags=["x"], score=Decimal("1.50")),
            b"\x00\xff",
            dt.date(2024, 5, 1),
            Decimal("3.10"),
        )

    assert call() == call() == "1-t-2"
    assert runs == 1
    fetch(
        Point(1, 2.5, at), Doc(title="t", tags=["x"], score=Decimal("1.5")), b"", at, Decimal("3.1")
    )
    assert runs == 2


def test_unkeyable_argument_raises_clearly_or_bypasses(tools: ToolCache) -> None:
    runs = 0

    @cached_tool(tools)
    def strict(handle: object) -> int:
        nonlocal runs
        runs += 1
        return 1

    @cached_tool(tools, on_unkeyable="bypass")
    def lenient(handle: object) -> int:
        nonlocal runs
        runs += 1
        return 2

    with pytest.raises(UnkeyableArgumentError, match=r"strict.*argument 'handle'.*_thread.lock"):
        strict(threading.Lock())
    assert runs == 0  # never ran with a guessed key
    assert lenient(threading.Lock()) == 2
    assert lenient(threading.Lock()) == 2
    assert runs == 2
    assert lenient.cache_info().bypassed == 2


def test_ignore_and_custom_key_function(tools: ToolCache) -> None:
    runs = 0

    @cached_tool(tools, ignore=("client",))
    def with_client(client: object, q: str) -> str:
        nonlocal runs
        runs += 1
        return q.upper()

    @cached_tool(tools, key=lambda q, page=1: q.strip().lower())
    def search(q: str, page: int = 1) -> str:
        nonlocal runs
        runs += 1
        return q

    assert with_client(object(), "a") == with_client(object(), "a") == "A"
    assert runs == 1
    assert search("Redis ") == "Redis "
    assert search("redis") == "Redis "  # the custom key says these are one call
    assert runs == 2


def test_errors_are_not_cached(tools: ToolCache, redis_client: redis.Redis) -> None:
    attempts = 0

    @cached_tool(tools)
    def flaky(x: int) -> int:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise RuntimeError("upstream down")
        return x * 10

    with pytest.raises(RuntimeError, match="upstream down"):
        flaky(1)
    assert redis_client.keys(f"{tools.settings.redis.key_prefix}:*") == []  # lock released too
    assert flaky(1) == 10
    assert flaky(1) == 10
    assert attempts == 2


def test_round_trip_of_json_and_typed_results(tools: ToolCache) -> None:
    value = {"s": "é", "n": None, "i": 2**70, "f": 0.1, "l": [True, {"k": []}]}
    at = dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC)

    @cached_tool(tools)
    def as_json(k: int) -> object:
        return value

    @cached_tool(tools, result_type=Point)
    def as_point(k: int) -> Point:
        return Point(k, 0.5, at)

    @cached_tool(tools, result_type=list[Doc])
    def as_docs(k: int) -> list[Doc]:
        return [Doc(title="a", tags=["x", "y"], score=Decimal("0.25"))]

    for fn, expected in ((as_json, value), (as_point, Point(3, 0.5, at)), (as_docs, None)):
        first = fn(3)
        second = fn(3)
        assert second == first
        if expected is not None:
            assert second == expected
        assert fn.cache_info().hits == 1
    assert isinstance(as_point(3), Point)
    assert isinstance(as_docs(3)[0], Doc)


def _nested(depth: int) -> list[object]:
    value: list[object] = []
    for _ in range(depth):
        value = [value]
    return value


def test_an_unserialisable_result_is_returned_uncached_and_logged(
    tools: ToolCache, redis_client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    # The tool ran: its result reaches the caller even though it cannot be stored.
    runs = 0

    @cached_tool(tools)
    def gives_tuple() -> tuple[int, int]:
        nonlocal runs
        runs += 1
        return (1, 2)

    with caplog.at_level("WARNING", logger="agentcache.tools"):
        assert gives_tuple() == (1, 2)
    assert "gives_tuple" in caplog.text and "result_type" in caplog.text
    assert gives_tuple() == (1, 2)
    assert runs == 2  # never cached
    assert redis_client.keys(f"{tools.settings.redis.key_prefix}:*") == []  # no value, no lock


@pytest.mark.parametrize("result_type", [None, list[object]])
def test_a_result_nested_too_deep_is_returned_and_the_lock_released(
    tools: ToolCache, redis_client: redis.Redis, result_type: object
) -> None:
    deep = _nested(5_000)

    @cached_tool(tools, result_type=result_type, name=f"deep_{result_type is None}")
    def deep_tool(q: str) -> list[object]:
        return deep

    assert deep_tool("a") is deep
    prefix = tools.settings.redis.key_prefix
    assert redis_client.keys(f"{prefix}:{LOCKS}:*") == []  # released: no waiter is held up
    assert redis_client.keys(f"{prefix}:{TOOLS}:*") == []
    assert deep_tool("a") is deep
    assert deep_tool.cache_info().misses == 2


async def test_a_result_nested_too_deep_is_returned_async(
    atools: AsyncToolCache, redis_client: redis.Redis
) -> None:
    deep = _nested(5_000)

    @cached_tool(atools)
    async def deep_tool(q: str) -> list[object]:
        return deep

    assert await deep_tool("a") is deep
    prefix = atools.settings.redis.key_prefix
    assert redis_client.keys(f"{prefix}:*") == []


def test_lone_surrogates_in_arguments_are_keyed_and_in_results_returned(tools: ToolCache) -> None:
    runs: list[str] = []

    @cached_tool(tools)
    def echo(q: str, broken: bool) -> str:
        runs.append(q)
        return "ok " + (q if broken else "")

    assert echo("t\ud800", False) == "ok "
    assert echo("t\ud800", False) == "ok "  # keyed and cached
    assert echo("t\udfff", False) == "ok "  # another surrogate, another key
    assert echo("x\ud800", True) == "ok x\ud800"  # not storable: returned, not cached
    assert echo("x\ud800", True) == "ok x\ud800"
    assert runs == ["t\ud800", "t\udfff", "x\ud800", "x\ud800"]


@pytest.mark.parametrize("ttl", [1e30, 10**16, math.nan, math.inf, 0, -5, True])
def test_a_bad_tool_ttl_is_refused_when_decorating(
    tools: ToolCache, atools: AsyncToolCache, ttl: float
) -> None:
    def plain(q: str) -> str:
        return q

    async def coro(q: str) -> str:
        return q

    with pytest.raises(InvalidInputError, match=r"ttl of tool 'plain' must be .*315360000"):
        cached_tool(tools, ttl=ttl)(plain)
    with pytest.raises(InvalidInputError, match=r"ttl of tool 'coro' must be"):
        cached_tool(atools, ttl=ttl)(coro)


def test_ttl_from_decorator_expires(tools: ToolCache) -> None:
    runs = 0

    @cached_tool(tools, ttl=0.2)
    def quick() -> int:
        nonlocal runs
        runs += 1
        return runs

    assert quick() == 1
    assert quick() == 1
    time.sleep(0.3)
    assert quick() == 2


def test_ttl_override_in_settings_wins(
    settings: AgentCacheSettings, redis_client: redis.Redis
) -> None:
    tuned = _with(settings, tools={"ttl": {"search_web": 7}, "default_ttl_seconds": 99})
    with ToolCache(tuned) as cache:

        @cached_tool(cache, ttl=500)
        def search_web(q: str) -> str:
            return q

        @cached_tool(cache)
        def other(q: str) -> str:
            return q

        search_web("a")
        other("a")
        prefix = tuned.redis.key_prefix
        (web_key,) = redis_client.keys(f"{prefix}:{TOOLS}:*:search_web:*")
        (other_key,) = redis_client.keys(f"{prefix}:{TOOLS}:*:other:*")
        assert 6000 < redis_client.pttl(web_key) <= 7000
        assert 98_000 < redis_client.pttl(other_key) <= 99_000


def test_env_var_sets_a_tool_ttl(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTCACHE_TOOLS__TTL__search_web", "3600")
    assert AgentCacheSettings().tools.ttl == {"search_web": 3600}


def test_tenant_scoping_and_invalidation(tools: ToolCache, redis_client: redis.Redis) -> None:
    runs: list[str] = []

    @cached_tool(tools, tenant_arg="tenant")
    def orders(tenant: str | None, q: str) -> str:
        runs.append(f"{tenant}/{q}")
        return f"{tenant}:{q}"

    assert orders("acme", "x") == "acme:x"
    assert orders("globex", "x") == "globex:x"  # same args, other tenant: not shared
    assert orders(None, "x") == "None:x"
    assert orders("acme", "x") == "acme:x"
    assert len(runs) == 3
    prefix = tools.settings.redis.key_prefix
    assert redis_client.exists(*[k for k in redis_client.keys(f"{prefix}:{TOOLS}:{{acme}}:*")])
    assert redis_client.keys(f"{prefix}:{TOOLS}:{GLOBAL_SCOPE_TAG}:orders:*")

    assert tools.invalidate_tenant("acme") == 1
    orders("acme", "x")
    orders("globex", "x")
    assert len(runs) == 4  # only acme's entry was forgotten

    assert orders.invalidate("globex", q="x") is True
    assert orders.invalidate("globex", q="x") is False
    orders("globex", "x")
    assert len(runs) == 5

    assert orders.cache_clear() == 3  # acme, globex, global
    assert orders.cache_info() == ToolCacheInfo()
    orders("acme", "x")
    assert len(runs) == 6


def test_tenant_callable_and_tool_clear_leaves_other_tools(tools: ToolCache) -> None:
    runs = 0

    @cached_tool(tools, tenant_arg=lambda req: req["org"])
    def a(req: dict[str, str]) -> int:
        nonlocal runs
        runs += 1
        return 1

    @cached_tool(tools)
    def b() -> int:
        nonlocal runs
        runs += 1
        return 2

    a({"org": "o1"})
    b()
    assert a.cache_clear() == 1
    a({"org": "o1"})
    b()
    assert runs == 3


def test_name_collision_is_refused(tools: ToolCache) -> None:
    @cached_tool(tools, name="lookup")
    def one() -> int:
        return 1

    with pytest.raises(ConfigurationError, match="already used"):

        @cached_tool(tools, name="lookup")
        def two() -> int:
            return 2


def test_sync_and_async_caches_are_not_mixed(tools: ToolCache) -> None:
    async def coro() -> int:
        return 1

    with pytest.raises(ConfigurationError, match="AsyncToolCache"):
        cached_tool(tools)(coro)


def test_stampede_20_threads_run_the_tool_once(tools: ToolCache) -> None:
    runs = 0
    barrier = threading.Barrier(20)

    @cached_tool(tools)
    def slow(q: str) -> str:
        nonlocal runs
        runs += 1
        time.sleep(0.2)
        return q * 2

    results: list[str] = []

    def worker() -> None:
        barrier.wait()
        results.append(slow("ab"))

    threads = [threading.Thread(target=worker) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert runs == 1
    assert results == ["abab"] * 20
    info = slow.cache_info()
    assert (info.misses, info.hits, info.wait_timeouts) == (1, 19, 0)
    assert info.waits >= 1


async def test_stampede_20_coroutines_run_the_tool_once(atools: AsyncToolCache) -> None:
    runs = 0

    @cached_tool(atools)
    async def slow(q: str) -> str:
        nonlocal runs
        runs += 1
        await asyncio.sleep(0.2)
        return q * 2

    results = await asyncio.gather(*(slow("ab") for _ in range(20)))
    assert runs == 1
    assert results == ["abab"] * 20
    assert (slow.cache_info().misses, slow.cache_info().hits) == (1, 19)


def test_crashed_holder_does_not_block_beyond_lock_timeout(
    settings: AgentCacheSettings, redis_client: redis.Redis
) -> None:
    tuned = _with(settings, tools={"lock_timeout_seconds": 0.3, "wait_timeout_seconds": 60})
    with ToolCache(tuned) as cache:
        runs = 0

        @cached_tool(cache)
        def tool(q: str) -> str:
            nonlocal runs
            runs += 1
            return q

        keys = cache._core.keys_for(tool.spec, ("x",), {})
        assert keys is not None and f":{LOCKS}:" in keys.lock
        # A holder that took the lock and died before storing anything.
        redis_client.set(keys.lock, "dead-holder", px=300)
        assert tool("x") == "x"
        assert runs == 1
        info = tool.cache_info()
        assert (info.misses, info.waits, info.wait_timeouts) == (1, 0, 0)  # took over the lock
        assert redis_client.get(keys.lock) is None
        assert tool("x") == "x" and runs == 1


async def test_async_holder_error_lets_a_waiter_run(atools: AsyncToolCache) -> None:
    runs = 0

    @cached_tool(atools)
    async def fails_first(q: str) -> str:
        nonlocal runs
        runs += 1
        await asyncio.sleep(0.05)
        if runs == 1:
            raise RuntimeError("boom")
        return q

    results = await asyncio.gather(fails_first("a"), fails_first("a"), return_exceptions=True)
    assert [type(r) for r in results].count(RuntimeError) == 1
    assert "a" in results
    assert runs == 2
    assert await fails_first("a") == "a" and runs == 2
    assert await fails_first.invalidate("a") is True
    assert await atools.invalidate_tenant("nobody") == 0


def _dead_settings(settings: AgentCacheSettings, strict: bool) -> AgentCacheSettings:
    return _with(
        settings,
        redis={"url": "redis://127.0.0.1:1", "socket_connect_timeout": 0.2},
        reliability={"strict": strict},
    )


def test_redis_fault_runs_the_tool_and_strict_mode_raises(settings: AgentCacheSettings) -> None:
    with ToolCache(_dead_settings(settings, strict=False)) as cache:
        runs = 0

        @cached_tool(cache)
        def tool(q: str) -> str:
            nonlocal runs
            runs += 1
            return q

        assert tool("a") == tool("a") == "a"
        assert runs == 2
        assert cache.guard.faults >= 2
    with ToolCache(_dead_settings(settings, strict=True)) as strict_cache:

        @cached_tool(strict_cache)
        def tool2(q: str) -> str:
            return q

        with pytest.raises(CacheUnavailableError):
            tool2("a")


def test_corrupt_stored_value_is_a_miss_and_overwritten(
    tools: ToolCache, redis_client: redis.Redis
) -> None:
    @cached_tool(tools)
    def tool(q: str) -> str:
        return q + "!"

    keys = tools._core.keys_for(tool.spec, ("a",), {})
    assert keys is not None
    redis_client.set(keys.value, b"garbage")
    assert tool("a") == "a!"
    assert redis_client.get(keys.value) == b'ac1 json\n"a!"'


def test_waiter_gives_up_after_wait_timeout_and_runs_the_tool(
    settings: AgentCacheSettings, redis_client: redis.Redis
) -> None:
    tuned = _with(settings, tools={"lock_timeout_seconds": 30, "wait_timeout_seconds": 0.2})
    with ToolCache(tuned) as cache:

        @cached_tool(cache)
        def tool(q: str) -> str:
            return q * 3

        keys = cache._core.keys_for(tool.spec, ("z",), {})
        assert keys is not None
        redis_client.set(keys.lock, "slow-holder", px=30_000)
        assert tool("z") == "zzz"
        info = tool.cache_info()
        assert (info.misses, info.wait_timeouts) == (1, 1)
        assert redis_client.get(keys.lock) == b"slow-holder"  # not ours to release
        assert redis_client.get(keys.value) == b'ac1 json\n"zzz"'  # fresh result still stored
