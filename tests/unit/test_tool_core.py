"""The tool cache's pure core: keys, wait decisions and tallies, without a server."""

from __future__ import annotations

import pytest

from agentcache import ConfigurationError, InvalidInputError, UnkeyableArgumentError
from agentcache.settings import AgentCacheSettings
from agentcache.tools import _core
from agentcache.tools._core import Hit, Run, Sleep, ToolCacheCore
from agentcache.tools._scripts import HIT, TAKEN
from agentcache.tools._serialize import dumps
from agentcache.tools._types import ToolCacheInfo, ToolSpec


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def core(clock: Clock) -> ToolCacheCore:
    settings = AgentCacheSettings(
        redis={"key_prefix": "p"},
        tools={"wait_timeout_seconds": 1.0, "ttl": {"pinned": 7}},
    )
    return ToolCacheCore(settings, clock=clock)


def register(core: ToolCacheCore, fn: object, **options: object) -> ToolSpec:
    defaults: dict[str, object] = {
        "name": None,
        "ttl": None,
        "tenant_arg": None,
        "key": None,
        "ignore": (),
        "on_unkeyable": "raise",
        "result_type": None,
    }
    return core.spec(fn, **{**defaults, **options})  # type: ignore[arg-type]


def lookup(query: str, tenant: str | None = None, client: object = None) -> str:
    return query


def test_keys_put_the_tenant_in_the_hash_tag_and_share_one_slot_with_the_lock(
    core: ToolCacheCore,
) -> None:
    spec = register(core, lookup, tenant_arg="tenant", ignore=("client",))
    keys = core.keys_for(spec, ("redis",), {"tenant": "acme", "client": object()})
    assert keys is not None and keys.tenant == "acme"
    assert keys.value.startswith("p:tool:{acme}:lookup:")
    digest = keys.value.rsplit(":", 1)[1]
    assert keys.lock == f"p:lock:{{acme}}:tool:lookup:{digest}"
    # The ignored client and the tenant argument are not part of the digest.
    same = core.keys_for(spec, ("redis",), {"tenant": "globex", "client": None})
    assert same is not None and same.value.rsplit(":", 1)[1] == digest


def test_calls_without_a_tenant_share_the_global_scope(core: ToolCacheCore) -> None:
    spec = register(core, lookup)
    keys = core.keys_for(spec, ("redis",), {})
    assert keys is not None and keys.tenant is None
    assert keys.value.startswith(f"p:tool:{_core.GLOBAL_SCOPE_TAG}:lookup:")
    assert keys.lock.startswith(f"p:lock:{_core.GLOBAL_SCOPE_TAG}:tool:lookup:")


def test_a_bad_tenant_value_is_refused(core: ToolCacheCore) -> None:
    spec = register(core, lookup, tenant_arg="tenant")
    with pytest.raises(InvalidInputError, match="tenant"):
        core.keys_for(spec, ("redis",), {"tenant": "  "})


def test_unkeyable_arguments_raise_naming_the_tool_or_bypass(core: ToolCacheCore) -> None:
    def tool(x: object) -> object:
        return x

    spec = register(core, tool)
    with pytest.raises(UnkeyableArgumentError, match="'tool'"):
        core.keys_for(spec, (object(),), {})
    bypassing = register(core, tool, name="tool2", on_unkeyable="bypass")
    assert core.keys_for(bypassing, (object(),), {}) is None


def test_one_name_for_two_functions_is_refused(core: ToolCacheCore) -> None:
    def first() -> None: ...

    def second() -> None: ...

    register(core, first, name="shared")
    with pytest.raises(ConfigurationError, match="already used"):
        register(core, second, name="shared")


def test_settings_ttl_overrides_the_decorator(core: ToolCacheCore) -> None:
    assert register(core, lookup, name="pinned", ttl=60).ttl_ms == 7000
    assert register(core, lookup, name="free", ttl=0.5).ttl_ms == 500


def test_next_action_decides_hit_run_or_wait(core: ToolCacheCore) -> None:
    spec = register(core, lookup)
    attempt = core.start()
    assert core.next_action(spec, attempt, None) == Run(locked=False)
    assert core.next_action(spec, attempt, [TAKEN]) == Run(locked=True)
    assert core.next_action(spec, attempt, [HIT, dumps("v", None)]) == Hit("v")
    # An unreadable stored value is a miss (the run then overwrites it).
    assert core.next_action(spec, attempt, [HIT, b"\xff not json"]) == Run(locked=False)


def test_waits_back_off_then_time_out(core: ToolCacheCore, clock: Clock) -> None:
    spec = register(core, lookup)
    attempt = core.start()
    delays = []
    for _ in range(8):
        action = core.next_action(spec, attempt, [0])
        assert isinstance(action, Sleep) and action.events == ()
        delays.append(action.seconds)
    assert delays[1] == 2 * delays[0] and max(delays) == delays[-1] <= 0.1
    # After a wait, a hit also counts the wait.
    assert core.next_action(spec, attempt, [HIT, dumps(1, None)]).events == ("hits", "waits")
    clock.now += 1.0  # the wait timeout has passed
    assert core.next_action(spec, attempt, [0]) == Run(
        locked=False, events=("misses", "wait_timeouts")
    )


def test_a_sleep_never_runs_past_the_deadline(core: ToolCacheCore, clock: Clock) -> None:
    spec = register(core, lookup)
    attempt = core.start()
    clock.now += 0.998
    action = core.next_action(spec, attempt, [0])
    assert isinstance(action, Sleep) and action.seconds == pytest.approx(0.002)


def test_tallies_per_tool_and_reset(core: ToolCacheCore) -> None:
    spec = register(core, lookup)
    core.tally(spec.name, ("misses",))
    core.tally(spec.name, ("hits", "waits"))
    assert core.info("lookup") == ToolCacheInfo(hits=1, misses=1, waits=1)
    assert core.all_info() == {"lookup": ToolCacheInfo(hits=1, misses=1, waits=1)}
    core.reset_counts("lookup")
    assert core.info("lookup") == ToolCacheInfo()


def test_delete_batches_group_keys_by_slot() -> None:
    keys = [b"p:tool:{a}:t:1", b"p:tool:{b}:t:1", b"p:tool:{a}:t:2"]
    batches = _core.delete_batches(keys)
    assert sorted(map(sorted, batches)) == [[keys[0], keys[2]], [keys[1]]]
