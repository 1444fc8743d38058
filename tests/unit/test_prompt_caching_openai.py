"""OpenAI request shaping: prompt_cache_key and static-prefix notes (no server)."""

from __future__ import annotations

from agentcache.prompt_caching.openai import (
    apply_openai_caching,
    cached_tokens,
    prompt_cache_key,
)
from agentcache.settings import PromptCachingSettings

LONG = "z" * 4 * 1100


def test_prompt_cache_key_is_stable_opaque_and_distinct() -> None:
    key = prompt_cache_key("tenant-1", "agent-a")
    assert key == prompt_cache_key("tenant-1", "agent-a")
    assert "tenant-1" not in key and len(key) <= 64
    assert key != prompt_cache_key("tenant-1", "agent-b")
    assert key != prompt_cache_key("tenant-2", "agent-a")
    # Unambiguous about where the tenant ends.
    assert prompt_cache_key("ab", "c") != prompt_cache_key("a", "bc")


def test_key_added_without_touching_messages() -> None:
    messages = [{"role": "system", "content": LONG}, {"role": "user", "content": "q"}]
    request = {"model": "gpt-4o", "messages": messages}
    plan = apply_openai_caching(request, tenant="t", agent="a")
    assert "prompt_cache_key" not in request
    assert plan.request["prompt_cache_key"] == prompt_cache_key("t", "a")
    assert plan.request["messages"] is messages
    assert plan.static_prefix_tokens == 1100
    assert plan.notes == []


def test_callers_key_kept_and_setting_off() -> None:
    request = {"model": "gpt-4o", "messages": [], "prompt_cache_key": "mine"}
    assert apply_openai_caching(request, tenant="t").request["prompt_cache_key"] == "mine"
    off = PromptCachingSettings(openai_prompt_cache_key=False)
    plan = apply_openai_caching({"model": "gpt-4o", "messages": []}, tenant="t", settings=off)
    assert "prompt_cache_key" not in plan.request and plan.prompt_cache_key is None


def test_notes_short_prefix_and_late_system_message() -> None:
    request = {
        "model": "gpt-4o",
        "messages": [
            {"role": "user", "content": "q"},
            {"role": "system", "content": "late instructions"},
        ],
    }
    notes = apply_openai_caching(request, tenant="t").notes
    assert any("messages[1]" in n for n in notes)
    assert any("1024" in n for n in notes)


def test_cached_tokens_from_dict_and_missing() -> None:
    assert cached_tokens({"prompt_tokens_details": {"cached_tokens": 1280}}) == 1280
    assert cached_tokens({"prompt_tokens": 5}) == 0
    assert cached_tokens(None) == 0
