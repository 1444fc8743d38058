"""The canonical form behind the agent-framework scopes (no server, no framework)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import openai
import pytest
from pydantic import BaseModel

from agentcache.exceptions import InvalidInputError
from agentcache.integrations import cache_controls, tenant_scope
from agentcache.integrations._model_cache import ModelCallCache, plain, scope_of
from agentcache.settings import AgentCacheSettings
from agentcache.testing.vectors import HashingVectorizer


class _Opaque:
    pass


def test_sdk_sentinels_callables_and_none_entries_are_left_out() -> None:
    value = {
        "temperature": openai.omit,
        "top_p": openai.NOT_GIVEN,
        "hook": print,
        "seed": None,
        "tools": [openai.omit, {"name": "t"}],
    }
    assert plain(value) == {"tools": [{"name": "t"}]}


def test_no_object_address_reaches_the_digest() -> None:
    canonical = plain({"thing": _Opaque(), "items": {3, 1, 2}})
    assert canonical == {"thing": "<_Opaque>", "items": [1, 2, 3]}
    assert " at 0x" not in repr(canonical)


def test_models_and_dataclasses_become_their_fields() -> None:
    class Settings(BaseModel):
        temperature: float | None = None
        top_p: float = 1.0

    @dataclasses.dataclass
    class Tool:
        name: str
        run: object = print

    assert plain([Settings(top_p=0.5), Tool("lookup")]) == [{"top_p": 0.5}, {"name": "lookup"}]


def test_a_cycle_ends_in_type_names() -> None:
    loop: list[object] = []
    loop.append(loop)
    assert "<list>" in repr(plain(loop))


def test_the_scope_is_the_same_in_another_process() -> None:
    context = {"settings": {"temperature": openai.omit, "n": 1}, "tools": [_Opaque()]}
    here = scope_of("agents", "gpt-4.1-mini", context)
    code = (
        "import openai\n"
        "from agentcache.integrations._model_cache import scope_of\n"
        "class _Opaque: pass\n"
        "print(scope_of('agents', 'gpt-4.1-mini',"
        " {'settings': {'temperature': openai.omit, 'n': 1}, 'tools': [_Opaque()]}))\n"
    )
    there = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert here == there and here.startswith("agents:gpt-4.1-mini:")
    assert scope_of("agents", "gpt-4.1-mini", {"settings": {"n": 2}}) != here


def _core(**options: object) -> ModelCallCache:
    return ModelCallCache(
        "agents",
        settings=AgentCacheSettings(embeddings={"dims": 32, "model": "test-hash"}),
        vectorizer=HashingVectorizer(32),
        **options,  # type: ignore[arg-type]
    )


def test_prepare_takes_tenant_and_controls_from_the_context() -> None:
    core = _core(ttl=300, mode="lookup_only")
    with pytest.raises(InvalidInputError, match="tenant_scope"):
        core.prepare(model="m", key_text="q", context={})
    with tenant_scope("acme", agent="billing"), cache_controls(mode="store_only", max_age=60):
        call = core.prepare(model="m", key_text="q", context={})
    assert (call.tenant, call.agent) == ("acme", "billing")
    assert call.controls.ttl == 300 and call.controls.max_age == 60
    assert call.store and not call.lookup  # the request's mode over the constructor's
    with tenant_scope("acme"):
        assert core.prepare(model="m", key_text="q", context={}).agent == "agents"


@pytest.mark.parametrize(
    ("key", "temperature", "skip", "reason"),
    [
        ("q", None, "server state", "server state"),
        ("q", 1.5, "", "temperature 1.5"),
        (None, None, "", "no user text"),
        ("  ", None, "", "no user text"),
        ("x" * 100_000, None, "", "max_prompt_chars"),
    ],
)
def test_calls_the_cache_cannot_serve_are_skipped(
    key: str | None, temperature: float | None, skip: str, reason: str
) -> None:
    call = _core(tenant="t").prepare(
        model="m", key_text=key, context={}, temperature=temperature, skip=skip
    )
    assert reason in call.skip_reason and not call.lookup and not call.store


@pytest.mark.parametrize(
    ("blocked", "module", "extra"),
    [
        ("agents", "agentcache.integrations.agents", "agents"),
        ("pydantic_ai", "agentcache.integrations.pydantic_ai", "pydantic-ai"),
    ],
)
def test_a_wrapper_without_its_framework_names_the_extra(
    blocked: str, module: str, extra: str
) -> None:
    code = (
        "import sys\n"
        f"sys.modules[{blocked!r}] = None  # as if not installed\n"
        "import agentcache, agentcache.integrations\n"
        "try:\n"
        f"    import {module}\n"
        "except ImportError as exc:\n"
        f"    assert \"pip install 'agentcache[{extra}]'\" in str(exc), exc\n"
        "else:\n"
        "    raise AssertionError('imported without the framework')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_importing_agentcache_loads_no_framework() -> None:
    code = (
        "import sys, agentcache, agentcache.integrations\n"
        "loaded = {'agents', 'pydantic_ai'} & set(sys.modules)\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
