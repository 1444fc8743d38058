"""AgentCache: the layers composed on one settings object and one client."""

from __future__ import annotations

from agentcache import AgentCache, AsyncAgentCache, cached_tool
from agentcache.settings import AgentCacheSettings
from agentcache.testing.vectors import HashingVectorizer


def test_layers_share_settings_client_and_embeddings(settings: AgentCacheSettings) -> None:
    first = HashingVectorizer(32)
    with AgentCache(settings, vectorizer=first) as caches:
        assert caches.semantic.client is caches.client is caches.tools.client
        caches.semantic.store("what are your opening hours", "9 to 5", tenant="t", agent="a")
        assert first.calls == 1

        runs: list[str] = []

        @cached_tool(caches.tools, ttl=60)
        def lookup(q: str) -> str:
            runs.append(q)
            return q.upper()

        assert lookup("x") == lookup("x") == "X"
        assert runs == ["x"]

    # Another process (a new vectorizer, a new in-process memo) finds the embedding in Redis.
    second = HashingVectorizer(32)
    with AgentCache(settings, vectorizer=second) as caches:
        caches.vectorizer.embed("what are your opening hours")
        assert second.calls == 0
        hit = caches.semantic.check("what are your opening hours ?", tenant="t", agent="a")
        assert hit is not None and hit.response == "9 to 5"
        assert second.calls == 1  # only the new text was embedded
        caches.semantic.drop()


async def test_async_stack(settings: AgentCacheSettings) -> None:
    vec = HashingVectorizer(32)
    async with AsyncAgentCache(settings, vectorizer=vec) as caches:
        await caches.semantic.store("refund policy", "30 days", tenant="t", agent="a")
        hit = await caches.semantic.check("the refund policy", tenant="t", agent="a", threshold=0.5)
        assert hit is not None and hit.response == "30 days"
        calls = vec.calls
    vec2 = HashingVectorizer(32)
    async with AsyncAgentCache(settings, vectorizer=vec2) as caches:
        await caches.vectorizer.aembed("the refund policy")
        assert vec2.calls == 0 and vec.calls == calls
        await caches.semantic.drop()
