"""Scope digests of the cached clients: stable across processes, blind to "not given" sentinels."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import anthropic
import openai
import pytest
from openai.types.responses import ResponseOutputMessage

from agentcache.exceptions import InvalidInputError
from agentcache.llm._controls import Controls, controls
from agentcache.llm._core import AnthropicAdapter, LLMCore, OpenAIAdapter
from agentcache.llm._ledger import Ledger
from agentcache.llm._responses import ResponsesAdapter
from agentcache.prompt_caching.costs import PriceTable
from agentcache.prompt_caching.openai import prompt_cache_key
from agentcache.settings import AgentCacheSettings

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi?"}], "temperature": 0}
SENTINELS: dict[str, Any] = {
    "top_p": openai.omit,
    "seed": openai.NOT_GIVEN,
    "stop": anthropic.omit,
    "max_tokens": anthropic.NOT_GIVEN,
    "prompt_cache_key": openai.omit,
}

# Run in a fresh interpreter: the scope of the same call with sentinels in it.
_CHILD = """
import json, sys, openai, anthropic
sys.path.insert(0, sys.argv[1])
from tests.unit.test_llm_scoping import CHAT, SENTINELS, prepare
print(json.dumps(prepare({**CHAT, **SENTINELS}).scope))
"""


def _core(adapter: Any = None) -> LLMCore:
    settings = AgentCacheSettings()
    prices = PriceTable.from_settings(settings)
    return LLMCore(adapter or OpenAIAdapter(), settings, prices, Ledger(), "acme", "bot")


def prepare(kwargs: dict[str, Any], adapter: Any = None) -> Any:
    return _core(adapter).prepare(kwargs, None, None, Controls())


@pytest.mark.parametrize("adapter", [OpenAIAdapter(), AnthropicAdapter(), ResponsesAdapter()])
def test_sentinels_are_absent_arguments(adapter: Any) -> None:
    base = (
        dict(CHAT) if not isinstance(adapter, ResponsesAdapter) else {"model": "m", "input": "Hi?"}
    )
    plain = prepare(base, adapter)
    marked = prepare({**base, **SENTINELS}, adapter)
    assert marked.scope == plain.scope
    unset = (openai.Omit, openai.NotGiven, anthropic.Omit, anthropic.NotGiven)
    assert not any(isinstance(v, unset) for v in marked.request.values())
    nested = prepare({**base, "extra_body": {"x": openai.omit}}, adapter)
    assert nested.scope == prepare({**base, "extra_body": {}}, adapter).scope


def test_two_processes_compute_the_same_scope() -> None:
    here = prepare({**CHAT, **SENTINELS}).scope
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "PYTHONPATH": root}
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, root], capture_output=True, text=True, env=env, check=True
    )
    assert json.loads(out.stdout) == here == prepare(dict(CHAT)).scope


def test_an_omitted_prompt_cache_key_gets_the_tenants() -> None:
    call = prepare({**CHAT, "prompt_cache_key": openai.omit})
    assert call.request["prompt_cache_key"] == prompt_cache_key("acme", "bot")
    call = prepare({"model": "m", "input": "Hi?", "prompt_cache_key": "agents-sdk:run:9"},
                   ResponsesAdapter())  # fmt: skip
    assert call.request["prompt_cache_key"] == prompt_cache_key("acme", "bot")


def test_responses_scope_canonicalises_items() -> None:
    short = {"model": "m", "input": "Hi?", "include": ["b", "a"], "tools": []}
    long_form = {
        "model": "m",
        "input": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi?"}]}
        ],
        "include": ["a", "b"],
    }
    assert prepare(short, ResponsesAdapter()).scope == prepare(long_form, ResponsesAdapter()).scope
    said = {"type": "output_text", "text": "Hello", "annotations": []}
    earlier = [
        {"id": "msg_1", "status": "completed", "type": "message", "role": "assistant",
         "content": [said]},
    ]  # fmt: skip
    again = [{"role": "assistant", "content": "Hello"}]
    user = {"role": "user", "content": "Hi?"}
    a = prepare({"model": "m", "input": [*earlier, user]}, ResponsesAdapter())
    b = prepare({"model": "m", "input": [*again, user]}, ResponsesAdapter())
    assert a.scope == b.scope and a.key_text == "Hi?"
    assert prepare({"model": "m", "input": [user]}, ResponsesAdapter()).scope != a.scope
    # An earlier response's output items passed back as SDK objects scope the same.
    objects = [ResponseOutputMessage.model_validate(earlier[0]), user]
    assert prepare({"model": "m", "input": objects}, ResponsesAdapter()).scope == a.scope


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"mode": "sometimes"}, "cache must be"),
        ({"ttl": 0}, "cache_ttl"),
        ({"ttl": 1.5}, "cache_ttl"),
        ({"max_age": -1}, "cache_max_age"),
        ({"max_age": float("nan")}, "cache_max_age"),
        ({"threshold": 1.5}, "cache_threshold"),
        ({"threshold": True}, "cache_threshold"),
    ],
)
def test_bad_controls_are_refused(kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(InvalidInputError, match=name):
        controls(**kwargs)


def test_modes() -> None:
    looks, stores = {}, {}
    for mode in ("use", "bypass", "refresh", "lookup_only", "store_only"):
        c = controls(mode)
        looks[mode], stores[mode] = c.looks_up, c.stores
    assert looks == {"use": True, "bypass": False, "refresh": False, "lookup_only": True,
                     "store_only": False}  # fmt: skip
    assert stores == {"use": True, "bypass": False, "refresh": True, "lookup_only": False,
                      "store_only": True}  # fmt: skip
