"""tenant_scope / cache_controls: the context shared by the framework integrations."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

from agentcache.exceptions import InvalidInputError
from agentcache.integrations import (
    CacheControls,
    cache_controls,
    current_controls,
    current_scope,
    resolve_controls,
    resolve_scope,
    tenant_scope,
)


def _resolve() -> tuple[str, str]:
    return resolve_scope(None, None, default_agent="default", integration="Test")


def test_constructor_values_win_over_the_scope() -> None:
    with tenant_scope("acme", agent="support"):
        assert resolve_scope("fixed", "bot", default_agent="d", integration="T") == (
            "fixed",
            "bot",
        )
        assert _resolve() == ("acme", "support")


def test_agent_falls_back_to_the_default() -> None:
    with tenant_scope("acme"):
        assert _resolve() == ("acme", "default")
    assert resolve_scope("acme", None, default_agent="d", integration="T") == ("acme", "d")


def test_no_tenant_anywhere_names_tenant_scope() -> None:
    with pytest.raises(InvalidInputError, match="tenant_scope") as err:
        resolve_scope(None, None, default_agent="d", integration="MyCache")
    assert "MyCache" in str(err.value) and "tenant=" in str(err.value)


def test_scope_is_reset_on_exit_and_on_error() -> None:
    with tenant_scope("outer"):
        with tenant_scope("inner", agent="a"):
            assert current_scope() == ("inner", "a")
        assert current_scope() == ("outer", None)
        with pytest.raises(RuntimeError), tenant_scope("boom"):
            raise RuntimeError("x")
        assert current_scope() == ("outer", None)
    assert current_scope() is None


@pytest.mark.parametrize("bad", ["", "  ", 3, None])
def test_bad_tenant_fails_on_entry(bad: object) -> None:
    with pytest.raises(InvalidInputError, match="tenant"), tenant_scope(bad):  # type: ignore[arg-type]
        pass
    assert current_scope() is None


def test_scope_follows_asyncio_tasks_without_leaking() -> None:
    async def worker(tenant: str) -> tuple[str, str]:
        with tenant_scope(tenant):
            await asyncio.sleep(0)  # let the other tasks run inside their own scopes
            return _resolve()

    async def main() -> None:
        results = await asyncio.gather(*(worker(f"t{i}") for i in range(5)))
        assert [r[0] for r in results] == [f"t{i}" for i in range(5)]
        assert current_scope() is None
        with tenant_scope("parent"):
            inherited = await asyncio.create_task(asyncio.sleep(0, result=_resolve()))
            child = asyncio.create_task(_child())
            assert await child == ("parent", "default")
        assert inherited == ("parent", "default")

    async def _child() -> tuple[str, str]:
        return _resolve()

    asyncio.run(main())


def test_controls_nest_and_override_constructor_defaults() -> None:
    defaults = CacheControls(mode="use", ttl=60, threshold=0.9)
    assert resolve_controls(defaults) == defaults
    with cache_controls(max_age=30):
        with cache_controls(mode="lookup_only", threshold=0.95) as inner:
            assert inner == CacheControls(mode="lookup_only", max_age=30, threshold=0.95)
            got = resolve_controls(defaults)
            assert got == CacheControls(mode="lookup_only", ttl=60, max_age=30, threshold=0.95)
            assert got.lookup and not got.store
        assert current_controls() == CacheControls(max_age=30)
    assert current_controls() == CacheControls()


@pytest.mark.parametrize(
    ("mode", "lookup", "store"),
    [(None, True, True), ("use", True, True), ("lookup_only", True, False),
     ("store_only", False, True), ("bypass", False, False)],
)  # fmt: skip
def test_modes(mode: str | None, lookup: bool, store: bool) -> None:
    controls = CacheControls(mode=mode)  # type: ignore[arg-type]
    assert (controls.lookup, controls.store) == (lookup, store)


@pytest.mark.parametrize(
    "kwargs",
    [{"mode": "refresh"}, {"ttl": 0}, {"ttl": 1.5}, {"ttl": True}, {"max_age": 0},
     {"max_age": float("nan")}, {"max_age": -1}, {"threshold": 1.5}, {"threshold": True},
     {"threshold": float("nan")}],
)  # fmt: skip
def test_bad_controls_fail_on_entry(kwargs: dict[str, object]) -> None:
    name = next(iter(kwargs))
    with pytest.raises(InvalidInputError, match=name), cache_controls(**kwargs):  # type: ignore[arg-type]
        pass
    assert current_controls() == CacheControls()


def test_importing_integrations_pulls_in_no_framework() -> None:
    code = (
        "import sys, agentcache, agentcache.integrations\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in "
        "('langchain_core', 'agents', 'pydantic_ai', 'langsmith')]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_langchain_without_the_extra_names_the_install_command() -> None:
    code = (
        "import sys\n"
        "sys.modules['langchain_core'] = None  # as if not installed\n"
        "import agentcache.integrations\n"
        "try:\n"
        "    import agentcache.integrations.langchain\n"
        "except ImportError as exc:\n"
        "    assert \"pip install 'agentcache[langchain]'\" in str(exc), exc\n"
        "else:\n"
        "    raise AssertionError('imported without langchain_core')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
