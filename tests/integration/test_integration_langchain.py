"""The LangChain cache against the real Redis Stack, with langchain-core's own fake chat models.

Model calls are counted by subclassing the fakes, so "served from the cache" means
the model was not called. The deterministic hashing embedder is used where a test
is not about semantic similarity; paraphrases and thresholds use the real MiniLM.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import redis
from langchain_core.globals import set_llm_cache
from langchain_core.language_models.fake_chat_models import (
    FakeListChatModel,
    FakeMessagesListChatModel,
)
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatResult
from langchain_core.runnables import RunnableLambda

from agentcache import AsyncSemanticCache, LocalVectorizer, SemanticCache
from agentcache.exceptions import ConfigurationError, InvalidInputError
from agentcache.integrations import cache_controls, tenant_scope
from agentcache.integrations.langchain import AgentCacheLangChain
from agentcache.settings import AgentCacheSettings
from agentcache.testing.vectors import HashingVectorizer

SYSTEM = "You are the support agent of Acme."
QUESTION = "How do I reset my password?"
PARAPHRASE = "How can I reset my password?"
ANSWER = "Open Settings, then Security, then Reset password."
_COUNT_LOCK = threading.Lock()


class CountingModel(FakeMessagesListChatModel):
    """Answers from ``responses``; ``calls`` counts real model calls; ``model_name``
    shows in LangChain's llm_string, as a provider model's name does."""

    model_name: str = "fake-model-1"
    calls: int = 0

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name}

    def _generate(self, *args: Any, **kwargs: Any) -> ChatResult:
        with _COUNT_LOCK:  # batch() calls from a thread pool
            self.calls += 1
        return super()._generate(*args, **kwargs)


class StreamingModel(FakeListChatModel):
    """A fake that streams token by token; every path to the model is counted."""

    calls: int = 0

    def _call(self, *args: Any, **kwargs: Any) -> str:
        self.calls += 1
        return super()._call(*args, **kwargs)

    def _stream(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        self.calls += 1
        yield from super()._stream(*args, **kwargs)

    async def _astream(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        self.calls += 1
        async for chunk in super()._astream(*args, **kwargs):
            yield chunk


def answer(text: str = ANSWER, **extra: Any) -> AIMessage:
    usage = {"input_tokens": 40, "output_tokens": 9, "total_tokens": 49}
    return AIMessage(content=text, usage_metadata=usage, **extra)  # type: ignore[arg-type]


def convo(question: str = QUESTION, system: str = SYSTEM) -> list[BaseMessage]:
    return [SystemMessage(system), HumanMessage(question)]


def hit_info(message: BaseMessage) -> dict[str, Any] | None:
    info = message.response_metadata.get("agentcache")
    return info if isinstance(info, dict) else None


@pytest.fixture(scope="module")
def minilm() -> LocalVectorizer:
    return LocalVectorizer()


@pytest.fixture
def lc(settings: AgentCacheSettings) -> Iterator[AgentCacheLangChain]:
    cache = AgentCacheLangChain(settings, vectorizer=HashingVectorizer())
    yield cache
    cache.close()


@pytest.fixture
def real_settings(redis_url: str, key_prefix: str) -> AgentCacheSettings:
    return AgentCacheSettings(
        redis={"url": redis_url, "key_prefix": key_prefix}, semantic={"ttl_seconds": None}
    )


@pytest.fixture
def semantic_lc(
    real_settings: AgentCacheSettings, minilm: LocalVectorizer
) -> Iterator[AgentCacheLangChain]:
    cache = AgentCacheLangChain(real_settings, vectorizer=minilm)
    yield cache
    cache.close()


# -- hits and misses ------------------------------------------------------------------


def test_exact_repeat_is_served_without_a_model_call(lc: AgentCacheLangChain) -> None:
    model = CountingModel(responses=[answer()], cache=lc)
    with tenant_scope("acme", agent="support"):
        first = model.invoke(convo())
        second = model.invoke(convo())
    assert model.calls == 1
    assert hit_info(first) is None
    assert second.content == ANSWER
    info = hit_info(second)
    assert info is not None
    assert info["layer"] == "exact" and info["similarity"] == 1.0
    assert (info["tenant"], info["agent"], info["model"]) == ("acme", "support", "fake-model-1")
    assert info["entry_id"] and info["cached_prompt"] == QUESTION


def test_close_paraphrase_is_a_semantic_hit(semantic_lc: AgentCacheLangChain) -> None:
    model = CountingModel(responses=[answer()], cache=semantic_lc)
    with tenant_scope("acme"):
        model.invoke(convo(QUESTION))
        served = model.invoke(convo(PARAPHRASE))
    assert model.calls == 1
    info = hit_info(served)
    assert info is not None and info["layer"] == "semantic"
    assert 0.8 < info["similarity"] < 1.0
    assert info["prompt"] == PARAPHRASE and info["cached_prompt"] == QUESTION


def test_another_system_prompt_model_or_tenant_misses(lc: AgentCacheLangChain) -> None:
    model = CountingModel(responses=[answer()], cache=lc)
    other_model = CountingModel(responses=[answer()], cache=lc, model_name="fake-model-2")
    with tenant_scope("acme"):
        model.invoke(convo())
        model.invoke(convo(system="You are a pirate."))
        assert model.calls == 2
        other_model.invoke(convo())
        assert other_model.calls == 1
        model.invoke(convo(), stop=["\n"])  # another call parameter
        model.bind(tools=[{"type": "function", "function": {"name": "f"}}]).invoke(convo())
        assert model.calls == 4
    with tenant_scope("globex"):
        model.invoke(convo())
    assert model.calls == 5
    with tenant_scope("acme", agent="billing"):
        model.invoke(convo())
    assert model.calls == 6
    with tenant_scope("acme"):
        model.invoke(convo())  # the first call's entry is still there
    assert model.calls == 6


def test_earlier_turns_match_without_provider_ids(lc: AgentCacheLangChain) -> None:
    """An earlier AI turn carries per-run ids and token counts; they stay out of the scope."""
    model = CountingModel(responses=[answer()], cache=lc)

    def history(run: str) -> list[BaseMessage]:
        earlier = AIMessage(
            "Hello! How can I help?",
            id=f"lc_run--{run}",
            response_metadata={"id": f"chatcmpl-{run}", "system_fingerprint": run},
            usage_metadata={"input_tokens": len(run), "output_tokens": 5, "total_tokens": 9},
        )
        return [SystemMessage(SYSTEM), HumanMessage("hi"), earlier, HumanMessage(QUESTION)]

    with tenant_scope("acme"):
        model.invoke(history("aaa"))
        served = model.invoke(history("bbbbbb"))
        assert model.calls == 1 and hit_info(served) is not None
        changed = history("aaa")
        changed[2] = AIMessage("Hi, what do you need?")  # a different earlier answer
        model.invoke(changed)
    assert model.calls == 2


def test_constructor_tenant_wins_and_no_tenant_fails_clearly(
    settings: AgentCacheSettings,
) -> None:
    fixed = AgentCacheLangChain(settings, vectorizer=HashingVectorizer(), tenant="acme")
    model = CountingModel(responses=[answer()], cache=fixed)
    model.invoke(convo())
    with tenant_scope("globex"):
        assert hit_info(model.invoke(convo())) is not None  # still tenant acme
    assert model.calls == 1
    fixed.close()
    unscoped = AgentCacheLangChain(settings, vectorizer=HashingVectorizer())
    with pytest.raises(InvalidInputError, match="tenant_scope"):
        CountingModel(responses=[answer()], cache=unscoped).invoke(convo())
    with pytest.raises(InvalidInputError, match="tenant"):
        AgentCacheLangChain(settings, tenant="")
    unscoped.close()


def test_batch_threads_see_the_tenant_scope(settings: AgentCacheSettings) -> None:
    """batch() runs calls in a thread pool; the scope must reach them (fresh owned caches)."""
    lc = AgentCacheLangChain(settings, vectorizer=HashingVectorizer())
    model = CountingModel(responses=[answer()], cache=lc)
    questions = [convo(f"question number {i}") for i in range(4)]
    with tenant_scope("acme"):
        model.batch(questions)
        again = model.batch(questions)
    assert model.calls == 4
    assert all((hit_info(m) or {}).get("tenant") == "acme" for m in again)
    lc.close()


def test_set_llm_cache_and_plain_llm_prompts(lc: AgentCacheLangChain) -> None:
    model = CountingModel(responses=[answer()])
    set_llm_cache(lc)
    try:
        with tenant_scope("acme"):
            model.invoke(convo())
            assert hit_info(model.invoke(convo())) is not None
            # A plain LLM hands the prompt text itself (no message list).
            assert lc.lookup("plain prompt", "llm-x") is None
            from langchain_core.outputs import Generation

            lc.update("plain prompt", "llm-x", [Generation(text="plain answer")])
            got = lc.lookup("plain prompt", "llm-x")
    finally:
        set_llm_cache(None)
    assert model.calls == 1
    assert isinstance(got, list) and got[0].text == "plain answer"
    assert got[0].generation_info is not None and "agentcache" in got[0].generation_info


def test_calls_above_the_cacheable_temperature_are_not_cached(lc: AgentCacheLangChain) -> None:
    model = CountingModel(responses=[answer()], cache=lc)
    with tenant_scope("acme"):
        model.invoke(convo(), temperature=1.5)  # settings.llm.max_cacheable_temperature is 1.0
        model.invoke(convo(), temperature=1.5)
        assert model.calls == 2
        model.invoke(convo(), temperature=0.2)
        model.invoke(convo(), temperature=0.2)
    assert model.calls == 3


# -- round trip -----------------------------------------------------------------------


def test_tool_calls_and_usage_round_trip(settings: AgentCacheSettings) -> None:
    tool_settings = settings.model_copy(
        update={"llm": settings.llm.model_copy(update={"cache_tool_use": True})}
    )
    call = {"name": "lookup_order", "args": {"order_id": "A-17"}, "id": "call_1"}
    stored = answer("", tool_calls=[call], response_metadata={"finish_reason": "tool_calls"})
    with AgentCacheLangChain(tool_settings, vectorizer=HashingVectorizer()) as lc:
        model = CountingModel(responses=[stored], cache=lc)
        with tenant_scope("acme"):
            first = model.invoke(convo("Where is order A-17?"))
            second = model.invoke(convo("Where is order A-17?"))
    assert model.calls == 1
    assert isinstance(second, AIMessage)
    assert second.tool_calls == first.tool_calls
    assert second.tool_calls[0]["args"] == {"order_id": "A-17"}
    assert second.tool_calls[0]["id"] == "call_1"  # later turns refer to it
    assert second.usage_metadata is not None
    assert second.usage_metadata["input_tokens"] == 40
    assert second.usage_metadata["output_tokens"] == 9
    assert second.response_metadata["finish_reason"] == "tool_calls"
    assert second.id != first.id  # LangGraph merges messages by id: a hit gets none of its own


def test_tool_use_answers_are_not_stored_by_default(lc: AgentCacheLangChain) -> None:
    call = {"name": "lookup_order", "args": {"order_id": "A-17"}, "id": "call_1"}
    model = CountingModel(responses=[answer("", tool_calls=[call])], cache=lc)
    with tenant_scope("acme"):
        model.invoke(convo("Where is order A-17?"))
        model.invoke(convo("Where is order A-17?"))
    assert model.calls == 2


# -- async --------------------------------------------------------------------------------


async def test_async_exact_and_paraphrase(
    real_settings: AgentCacheSettings, minilm: LocalVectorizer
) -> None:
    async with AgentCacheLangChain(real_settings, vectorizer=minilm) as lc:
        model = CountingModel(responses=[answer()], cache=lc)
        with tenant_scope("acme"):
            await model.ainvoke(convo(QUESTION))
            exact = await model.ainvoke(convo(QUESTION))
            para = await model.ainvoke(convo(PARAPHRASE))
            await model.ainvoke(convo(QUESTION, system="You are a pirate."))
        with tenant_scope("globex"):
            await model.ainvoke(convo(QUESTION))
    assert model.calls == 3
    assert (hit_info(exact) or {}).get("layer") == "exact"
    assert (hit_info(para) or {}).get("layer") == "semantic"


async def test_async_tenants_in_concurrent_tasks_stay_apart(
    settings: AgentCacheSettings,
) -> None:
    async with AgentCacheLangChain(settings, vectorizer=HashingVectorizer()) as lc:
        model = CountingModel(responses=[answer()], cache=lc)

        async def ask(tenant: str) -> BaseMessage:
            with tenant_scope(tenant):
                return await model.ainvoke(convo())

        await asyncio.gather(*(ask(t) for t in ("t1", "t2", "t3")))
        assert model.calls == 3  # one entry per tenant, none served across
        again = await asyncio.gather(*(ask(t) for t in ("t1", "t2", "t3")))
    assert model.calls == 3
    assert [(hit_info(m) or {}).get("tenant") for m in again] == ["t1", "t2", "t3"]


async def test_given_caches_are_used_and_left_open(settings: AgentCacheSettings) -> None:
    vec = HashingVectorizer()
    sync_cache = SemanticCache(settings, vectorizer=vec)
    async_cache = AsyncSemanticCache(settings, vectorizer=vec)
    lc = AgentCacheLangChain(cache=sync_cache, async_cache=async_cache, tenant="acme")
    model = CountingModel(responses=[answer()], cache=lc)
    model.invoke(convo())  # stored through the blocking cache
    served = await model.ainvoke(convo())  # served through the asyncio one
    assert model.calls == 1 and hit_info(served) is not None
    await lc.aclose()
    # Neither was closed: the caller owns them (the entry is still served through both).
    assert sync_cache.check(QUESTION, tenant="acme", agent="langchain") is not None
    assert await async_cache.check(QUESTION, tenant="acme", agent="langchain") is not None
    sync_cache.close()
    await async_cache.aclose()
    async with AsyncSemanticCache(settings, vectorizer=vec) as only:
        only_async = AgentCacheLangChain(async_cache=only)
        with pytest.raises(ConfigurationError, match="cache=SemanticCache"):
            only_async.lookup("x", "y")


# -- streaming --------------------------------------------------------------------------


async def test_streamed_invoke_inside_astream_events_stores_and_hits(
    lc: AgentCacheLangChain,
) -> None:
    """The LangGraph way: a node calls ainvoke while the outer run streams events."""
    model = StreamingModel(responses=["alpha beta gamma"], cache=lc)

    async def node(question: str) -> BaseMessage:
        return await model.ainvoke([SystemMessage(SYSTEM), HumanMessage(question)])

    chain = RunnableLambda(node)
    tokens = []
    with tenant_scope("acme"):
        for _ in range(2):
            events = [e async for e in chain.astream_events(QUESTION, version="v2")]
            tokens.append(sum(e["event"] == "on_chat_model_stream" for e in events))
    assert model.calls == 1
    assert tokens[0] > 1  # the miss streamed token by token
    assert tokens[1] == 0  # the hit came back whole


def test_sync_invoke_with_streaming_on_stores_and_hits(lc: AgentCacheLangChain) -> None:
    model = StreamingModel(responses=["alpha beta gamma"], cache=lc)
    with tenant_scope("acme"):
        first = model.invoke(convo(), stream=True)
        second = model.invoke(convo(), stream=True)
    assert model.calls == 1
    assert first.content == second.content == "alpha beta gamma"
    assert hit_info(second) is not None


# -- per-request controls ---------------------------------------------------------------


def test_ttl_per_store(
    settings: AgentCacheSettings, redis_client: redis.Redis, lc: AgentCacheLangChain
) -> None:
    model = CountingModel(responses=[answer()], cache=lc)
    with tenant_scope("acme"), cache_controls(ttl=120):
        model.invoke(convo())
        entry_id = (hit_info(model.invoke(convo())) or {})["entry_id"]
    key = lc._sync().core.entry_key("acme", entry_id)
    assert 0 < redis_client.ttl(key) <= 120
    ttl_lc = AgentCacheLangChain(settings, vectorizer=HashingVectorizer(), ttl=30)
    with tenant_scope("acme"):
        CountingModel(responses=[answer()], cache=ttl_lc).invoke(convo("other question"))
        other = CountingModel(responses=[answer()], cache=ttl_lc).invoke(convo("other question"))
    other_key = ttl_lc._sync().core.entry_key("acme", (hit_info(other) or {})["entry_id"])
    assert 0 < redis_client.ttl(other_key) <= 30
    ttl_lc.close()


def test_max_age(settings: AgentCacheSettings) -> None:
    cache = SemanticCache(settings, vectorizer=HashingVectorizer())
    clock = {"now": time.time()}
    cache.core.clock = lambda: clock["now"]
    lc = AgentCacheLangChain(cache=cache, tenant="acme")
    model = CountingModel(responses=[answer()], cache=lc)
    model.invoke(convo())  # stored at "now"
    clock["now"] += 100
    with cache_controls(max_age=60):
        assert hit_info(model.invoke(convo())) is None  # 100 s old: too old
    assert model.calls == 2
    with cache_controls(max_age=600):
        assert hit_info(model.invoke(convo())) is not None
    assert model.calls == 2
    clock["now"] += 100
    strict = AgentCacheLangChain(cache=cache, tenant="acme", max_age=50)
    model.cache = strict
    model.invoke(convo())  # the entry stored at the second call is 100 s old now
    assert model.calls == 3
    cache.close()


def test_lookup_only_and_store_only(lc: AgentCacheLangChain) -> None:
    model = CountingModel(responses=[answer("first"), answer("second")], cache=lc)
    with tenant_scope("acme"):
        with cache_controls(mode="lookup_only"):
            model.invoke(convo())  # a miss, not stored
            model.invoke(convo())
        assert model.calls == 2
        model.invoke(convo())  # stores "first" (the fake cycles back)
        assert model.calls == 3
        with cache_controls(mode="lookup_only"):
            assert model.invoke(convo()).content == "first"
        assert model.calls == 3
        with cache_controls(mode="store_only"):
            refreshed = model.invoke(convo())  # not served: the model answers, and it is stored
        assert model.calls == 4 and refreshed.content == "second"
        assert hit_info(refreshed) is None
        assert model.invoke(convo()).content == "second"
        with cache_controls(mode="bypass"):
            model.invoke(convo())
        assert model.calls == 5
    readonly = AgentCacheLangChain(lc.settings, cache=lc._sync(), tenant="acme", mode="lookup_only")
    model.cache = readonly
    model.invoke(convo("never stored"))
    model.invoke(convo("never stored"))
    assert model.calls == 7


def test_threshold_per_call(semantic_lc: AgentCacheLangChain) -> None:
    model = CountingModel(responses=[answer()], cache=semantic_lc)
    with tenant_scope("acme"):
        model.invoke(convo(QUESTION))
        with cache_controls(threshold=0.999):
            assert hit_info(model.invoke(convo(PARAPHRASE))) is None
        assert model.calls == 2
        # That miss stored the paraphrase; another one is judged against both.
        with cache_controls(threshold=0.5):
            assert hit_info(model.invoke(convo("I need to reset my password"))) is not None
    assert model.calls == 2
    strict = AgentCacheLangChain(cache=semantic_lc._sync(), tenant="acme", threshold=0.999)
    model.cache = strict
    assert hit_info(model.invoke(convo("Please help me reset my password"))) is None
    assert model.calls == 3


async def test_controls_on_the_async_path(settings: AgentCacheSettings) -> None:
    cache = AsyncSemanticCache(settings, vectorizer=HashingVectorizer())
    clock = {"now": time.time()}
    cache.core.clock = lambda: clock["now"]
    lc = AgentCacheLangChain(cache=SemanticCache(settings), async_cache=cache, tenant="acme")
    model = CountingModel(responses=[answer("first"), answer("second")], cache=lc)
    with cache_controls(mode="lookup_only"):
        await model.ainvoke(convo())
    with cache_controls(ttl=60):
        await model.ainvoke(convo())  # stores "second"
    assert model.calls == 2
    clock["now"] += 100
    with cache_controls(max_age=30):
        assert hit_info(await model.ainvoke(convo())) is None  # too old: "first" again
    with cache_controls(mode="store_only"):
        await model.ainvoke(convo())  # refreshed with "second" at the new time
    with cache_controls(max_age=30, threshold=0.99):
        served = await model.ainvoke(convo())
    assert model.calls == 4 and served.content == "second" and hit_info(served) is not None
    await lc.aclose()
    lc._sync().close()
    await cache.aclose()


def test_bad_controls_fail_before_anything(lc: AgentCacheLangChain) -> None:
    with pytest.raises(InvalidInputError, match="max_age"), cache_controls(max_age=-1):
        pass
    with pytest.raises(InvalidInputError, match="mode"):
        AgentCacheLangChain(lc.settings, mode="sometimes")  # type: ignore[arg-type]


# -- clear ------------------------------------------------------------------------------


def test_clear_removes_only_this_tenant_and_agents_entries(lc: AgentCacheLangChain) -> None:
    model = CountingModel(responses=[answer()], cache=lc)
    for tenant, agent in (("acme", "support"), ("acme", "billing"), ("globex", "support")):
        with tenant_scope(tenant, agent=agent):
            model.invoke(convo())
    direct = lc._sync()
    direct.store(QUESTION, "stored by hand", tenant="acme", agent="support")
    with tenant_scope("acme", agent="support"):
        lc.clear()
        model.invoke(convo())
    assert model.calls == 4  # acme/support was cleared
    for tenant, agent in (("acme", "billing"), ("globex", "support")):
        with tenant_scope(tenant, agent=agent):
            assert hit_info(model.invoke(convo())) is not None
    assert model.calls == 4
    hand = direct.check(QUESTION, tenant="acme", agent="support")
    assert hand is not None and hand.response == "stored by hand"  # not ours: kept
    lc.clear(tenant="globex", agent="support")
    with tenant_scope("globex", agent="support"):
        model.invoke(convo())
    assert model.calls == 5
    with pytest.raises(InvalidInputError, match="everything"):
        lc.clear(everything=True)


async def test_aclear(settings: AgentCacheSettings) -> None:
    async with AgentCacheLangChain(settings, vectorizer=HashingVectorizer(), tenant="acme") as lc:
        model = CountingModel(responses=[answer()], cache=lc)
        await model.ainvoke(convo())
        await lc.aclear()
        await model.ainvoke(convo())
    assert model.calls == 2


# -- fail-open --------------------------------------------------------------------------


def test_redis_down_is_a_miss_not_an_error(unused_redis_settings: AgentCacheSettings) -> None:
    lc = AgentCacheLangChain(unused_redis_settings, vectorizer=HashingVectorizer(), tenant="acme")
    model = CountingModel(responses=[answer()], cache=lc)
    assert model.invoke(convo()).content == ANSWER
    assert model.invoke(convo()).content == ANSWER
    assert model.calls == 2
    lc.close()


@pytest.fixture
def unused_redis_settings(settings: AgentCacheSettings) -> AgentCacheSettings:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    redis_settings = settings.redis.model_copy(
        update={
            "url": f"redis://127.0.0.1:{port}/0",
            "socket_timeout": 0.5,
            "socket_connect_timeout": 0.5,
        }
    )
    return settings.model_copy(update={"redis": redis_settings})


# -- the documented example ---------------------------------------------------------------


def test_docs_example_runs_as_written(
    monkeypatch: pytest.MonkeyPatch, redis_url: str, key_prefix: str
) -> None:
    from docs_support import run_doc_example

    namespace = run_doc_example("LangChain", monkeypatch, redis_url, key_prefix)
    again = namespace["again"]
    assert again.response_metadata["agentcache"]["layer"] == "semantic"
    assert again.content == namespace["first"].content


# -- the explore step -------------------------------------------------------------------


def test_explored_would_be_hits_are_verified_and_fed_back(settings: AgentCacheSettings) -> None:
    """As the cached clients do: the model answers, the answers are compared, feedback sent."""
    import random

    from agentcache.semantic._policy import VC_COUNT

    semantic = settings.semantic.model_copy(
        update={"policy": "verified", "threshold": 0.9, "explore_rate": 1.0}
    )
    cfg = settings.model_copy(update={"semantic": semantic})
    cache = SemanticCache(cfg, vectorizer=HashingVectorizer(32), rng=random.Random(0))
    lc = AgentCacheLangChain(cache=cache, tenant="acme")
    stored_q = "How long is the refund window for online orders"
    near_q = "How long is the refund window for my online orders"
    model = CountingModel(
        responses=[answer("The refund window is 30 days."), answer("The refund window is 30 days."),
                   answer("The refund window is 60 days.")],
        cache=lc,
    )  # fmt: skip

    def feedback_count() -> str | None:
        client = cache.client
        for key in client.scan_iter(match=cache.core.tenant_entry_prefix("acme") + "*"):
            if client.hget(key, "prompt") == stored_q.encode():
                value = client.hget(key, VC_COUNT)
                return None if value is None else value.decode()
        raise AssertionError("the stored entry is gone")

    model.invoke(convo(stored_q))
    assert feedback_count() is None
    right = model.invoke(convo(near_q))  # withheld would-be hit: the model answers
    assert model.calls == 2 and hit_info(right) is None
    assert feedback_count() == "1"
    assert cache.count(tenant="acme") == 1  # judged right: not stored again
    model.invoke(convo(near_q))  # the model now says 60 days: wrong, the fresh answer is stored
    assert model.calls == 3 and feedback_count() == "2"
    assert cache.count(tenant="acme") == 2
    cache.close()
