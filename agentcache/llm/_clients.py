"""Cached Anthropic and OpenAI clients: semantic cache first, provider prompt caching second.

Adoption is one line; calls keep the SDK's shape, with four optional
keyword-only arguments::

    client = CachedAnthropic(anthropic.Anthropic(), settings=settings)
    reply = client.messages.create(model=..., max_tokens=..., system=..., messages=[...],
                                   tenant="acme", agent="support", cache="use",
                                   cache_streaming=None)
    cache_info(reply).layer   # "semantic", "exact" or "provider"

Each call keys the semantic cache on the last user turn, within a *scope*: a
digest of the model, system prompt, tools, earlier turns and every parameter
that can change the answer (temperature, max_tokens, ...). The scope is the
semantic cache's ``model`` filter, so an answer is never reused across system
prompts, models, conversations or tenants. A hit returns a real SDK object
(``anthropic.types.Message`` / ``openai.types.chat.ChatCompletion``) rebuilt
from the stored JSON; a miss calls the provider with prompt caching applied.
``cache="bypass"`` skips the semantic cache, ``"refresh"`` skips the lookup
but stores the new answer. Calls above ``settings.llm.max_cacheable_temperature``,
tool-use answers (unless ``settings.llm.cache_tool_use``) and errors are not
stored.

Streaming calls pass through uncached unless opted in (``settings.llm.cache_streaming``
or ``cache_streaming=True`` per call). Then a miss yields the provider's events
unchanged and stores the assembled response once the stream completes without
error, and a hit replays the stored response as the SDK's own stream events (no
HTTP call), so code written for streams works unchanged; see ``_streams``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import anthropic
import openai

from agentcache.llm._core import (
    Adapter,
    AnthropicAdapter,
    CacheMode,
    Call,
    LLMCore,
    OpenAIAdapter,
    answers_verdict,
    vectors_agree,
)
from agentcache.llm._ledger import CacheInfo, Ledger, cache_info, print_session_table, session_table
from agentcache.llm._streams import (
    AsyncRecordingStream,
    AsyncReplayStream,
    RecordingStream,
    ReplayStream,
)
from agentcache.metrics._counters import Metrics
from agentcache.prompt_caching.costs import PriceTable
from agentcache.semantic import AsyncSemanticCache, CheckResult, SemanticCache
from agentcache.settings import AgentCacheSettings
from agentcache.vectorizers import Vectorizer

logger = logging.getLogger("agentcache.llm")

__all__ = [
    "AsyncCachedAnthropic",
    "AsyncCachedOpenAI",
    "CacheInfo",
    "CacheMode",
    "CachedAnthropic",
    "CachedOpenAI",
    "Ledger",
    "cache_info",
    "print_session_table",
    "session_table",
]


# -- the clients ---------------------------------------------------------------------------


class _Resource:
    """``messages`` / ``chat.completions``: ``create`` is cached, the rest delegates."""

    def __init__(self, target: Any, create: Callable[..., Any]) -> None:
        self._target = target
        self.create = create

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)


class _Namespace:
    def __init__(self, target: Any, **children: Any) -> None:
        self._target = target
        self.__dict__.update(children)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)


class _ClientBase:
    """Construction shared by the four clients; subclasses say which SDK and adapter."""

    _adapter: Adapter

    def __init__(
        self,
        client: Any = None,
        *,
        settings: AgentCacheSettings | None = None,
        cache: Any = None,
        vectorizer: Vectorizer | None = None,
        ledger: Ledger | None = None,
        prices: PriceTable | None = None,
        tenant: str = "default",
        agent: str = "default",
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings or AgentCacheSettings()
        self.client = client if client is not None else self._build_client()
        self._owns_cache = cache is None
        self.cache = cache if cache is not None else self._build_cache(vectorizer, metrics)
        # Count where the semantic cache counts, unless told otherwise.
        cache_metrics = getattr(self.cache, "metrics", None)
        if metrics is None and isinstance(cache_metrics, Metrics):
            metrics = cache_metrics
        self._owns_metrics = metrics is None
        self.metrics = metrics or Metrics.from_settings(self.settings)
        self.ledger = ledger or Ledger()
        prices = prices or PriceTable.from_settings(self.settings)
        self._core = LLMCore(
            self._adapter, self.settings, prices, self.ledger, tenant, agent, self.metrics
        )
        self._bind()

    def _build_client(self) -> Any:
        raise NotImplementedError

    def _build_cache(self, vectorizer: Vectorizer | None, metrics: Metrics | None) -> Any:
        raise NotImplementedError

    def _bind(self) -> None:
        raise NotImplementedError

    def __getattr__(self, name: str) -> Any:
        if name == "client":  # not set yet: no recursion during __init__
            raise AttributeError(name)
        return getattr(self.client, name)


class _SyncClient(_ClientBase):
    cache: SemanticCache

    def _build_cache(self, vectorizer: Vectorizer | None, metrics: Metrics | None) -> SemanticCache:
        return SemanticCache(self.settings, vectorizer=vectorizer, metrics=metrics)

    def _create(
        self, sdk_create: Callable[..., Any], tenant: str | None, agent: str | None,
        cache: str, cache_streaming: bool | None, kwargs: dict[str, Any],
    ) -> Any:  # fmt: skip
        core = self._core
        call = core.prepare(kwargs, tenant, agent, cache, cache_streaming)
        if call.stream and not call.record:
            return sdk_create(**call.request)
        found = None
        if call.lookup:
            found = self.cache.lookup(
                call.key_text or "", tenant=call.tenant, agent=call.agent, model=call.scope
            )
            response = core.from_hit(call, found.hit) if found.hit is not None else None
            if response is not None:
                return (
                    ReplayStream(core.replay(call, response), response) if call.stream else response
                )
        # Provider errors propagate (mid-stream too); nothing is stored.
        if call.stream:
            return RecordingStream(
                sdk_create(**call.request),
                core.adapter.assembler(),
                lambda body: self._answered(call, core.assembled(body), found),
                call.hide,
            )
        return self._answered(call, sdk_create(**call.request), found)

    def _answered(
        self, call: Call, response: Any | None, found: CheckResult | None = None
    ) -> Any | None:
        if response is None:
            return None
        store, note = self._core.after_call(call, response)
        if found is not None and found.explore and found.candidate is not None:
            correct = self._verify(call, found, response)
            store, note = self._core.explore_outcome(found, store, note, correct)
        if store is not None:
            self.cache.store(**store)
        return self._core.finish(call, response, store is not None, note)

    def _verify(self, call: Call, found: CheckResult, response: Any) -> bool | None:
        """The explore step: is the fresh answer the cached one? Sends the feedback."""
        cand = found.candidate
        assert cand is not None
        fresh = self._core.answer_text(response)
        correct = answers_verdict(cand.response, fresh)
        if correct is None:
            try:
                cached_vec, fresh_vec = self.cache.vectorizer.embed_many([cand.response, fresh])
            except Exception as exc:  # an embedder fault leaves it undecided, never fails the call
                logger.warning("explore: answers not compared (%s: %s)", type(exc).__name__, exc)
                return None
            correct = vectors_agree(cached_vec, fresh_vec)
        self.cache.feedback(cand.entry_id, correct, tenant=call.tenant, similarity=cand.similarity)
        return correct

    def close(self) -> None:
        """Close the semantic cache and metrics if this client created them (the SDK
        client stays open)."""
        if self._owns_cache:
            self.cache.close()
        if self._owns_metrics:
            self.metrics.close()


class _AsyncClient(_ClientBase):
    cache: AsyncSemanticCache

    def _build_cache(
        self, vectorizer: Vectorizer | None, metrics: Metrics | None
    ) -> AsyncSemanticCache:
        return AsyncSemanticCache(self.settings, vectorizer=vectorizer, metrics=metrics)

    async def _create(
        self, sdk_create: Callable[..., Any], tenant: str | None, agent: str | None,
        cache: str, cache_streaming: bool | None, kwargs: dict[str, Any],
    ) -> Any:  # fmt: skip
        core = self._core
        call = core.prepare(kwargs, tenant, agent, cache, cache_streaming)
        if call.stream and not call.record:
            return await sdk_create(**call.request)
        found = None
        if call.lookup:
            found = await self.cache.lookup(
                call.key_text or "", tenant=call.tenant, agent=call.agent, model=call.scope
            )
            response = core.from_hit(call, found.hit) if found.hit is not None else None
            if response is not None:
                if call.stream:
                    return AsyncReplayStream(core.replay(call, response), response)
                return response
        if call.stream:

            async def on_complete(body: dict[str, Any] | None) -> Any | None:
                return await self._answered(call, core.assembled(body), found)

            stream = await sdk_create(**call.request)
            return AsyncRecordingStream(stream, core.adapter.assembler(), on_complete, call.hide)
        return await self._answered(call, await sdk_create(**call.request), found)

    async def _answered(
        self, call: Call, response: Any | None, found: CheckResult | None = None
    ) -> Any | None:
        if response is None:
            return None
        store, note = self._core.after_call(call, response)
        if found is not None and found.explore and found.candidate is not None:
            correct = await self._verify(call, found, response)
            store, note = self._core.explore_outcome(found, store, note, correct)
        if store is not None:
            await self.cache.store(**store)
        return self._core.finish(call, response, store is not None, note)

    async def _verify(self, call: Call, found: CheckResult, response: Any) -> bool | None:
        """See ``_SyncClient._verify``."""
        cand = found.candidate
        assert cand is not None
        fresh = self._core.answer_text(response)
        correct = answers_verdict(cand.response, fresh)
        if correct is None:
            try:
                pair = await self.cache.vectorizer.aembed_many([cand.response, fresh])
            except Exception as exc:  # an embedder fault leaves it undecided, never fails the call
                logger.warning("explore: answers not compared (%s: %s)", type(exc).__name__, exc)
                return None
            correct = vectors_agree(pair[0], pair[1])
        await self.cache.feedback(
            cand.entry_id, correct, tenant=call.tenant, similarity=cand.similarity
        )
        return correct

    async def aclose(self) -> None:
        """Close the semantic cache and metrics if this client created them (the SDK
        client stays open)."""
        if self._owns_cache:
            await self.cache.aclose()
        if self._owns_metrics:
            await self.metrics.aclose()


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None else None


class CachedAnthropic(_SyncClient):
    """``anthropic.Anthropic`` with a semantic cache and prompt caching on ``messages.create``.

    Args:
        client: the ``anthropic.Anthropic`` to wrap; built from ``settings.llm`` when omitted.
        settings: shared settings.
        cache: a ``SemanticCache`` to use (not closed by ``close``); else one is built.
        vectorizer: for the cache built here (default: the one in settings).
        ledger: collects a ``CacheInfo`` per call (``print_session_table``).
        prices: a ``PriceTable`` (default: from settings).
        tenant, agent: defaults for calls that do not pass them.
        metrics: counts hits, provider calls and savings (layer ``llm``); default:
            the semantic cache's.
    """

    _adapter = AnthropicAdapter()

    def _build_client(self) -> anthropic.Anthropic:
        llm = self.settings.llm
        return anthropic.Anthropic(
            api_key=_secret(llm.anthropic_api_key), base_url=llm.anthropic_base_url
        )

    def _bind(self) -> None:
        self.messages = _Resource(self.client.messages, self._messages_create)

    def _messages_create(
        self, *, tenant: str | None = None, agent: str | None = None,
        cache: CacheMode = "use", cache_streaming: bool | None = None, **kwargs: Any,
    ) -> Any:  # fmt: skip
        return self._create(
            self.client.messages.create, tenant, agent, cache, cache_streaming, kwargs
        )


class AsyncCachedAnthropic(_AsyncClient):
    """The async twin of ``CachedAnthropic``: wraps ``anthropic.AsyncAnthropic``."""

    _adapter = AnthropicAdapter()

    def _build_client(self) -> anthropic.AsyncAnthropic:
        llm = self.settings.llm
        return anthropic.AsyncAnthropic(
            api_key=_secret(llm.anthropic_api_key), base_url=llm.anthropic_base_url
        )

    def _bind(self) -> None:
        self.messages = _Resource(self.client.messages, self._messages_create)

    async def _messages_create(
        self, *, tenant: str | None = None, agent: str | None = None,
        cache: CacheMode = "use", cache_streaming: bool | None = None, **kwargs: Any,
    ) -> Any:  # fmt: skip
        return await self._create(
            self.client.messages.create, tenant, agent, cache, cache_streaming, kwargs
        )


class CachedOpenAI(_SyncClient):
    """``openai.OpenAI`` with a semantic cache and prompt caching on ``chat.completions.create``.

    Takes the same arguments as ``CachedAnthropic``.
    """

    _adapter = OpenAIAdapter()

    def _build_client(self) -> openai.OpenAI:
        llm = self.settings.llm
        return openai.OpenAI(api_key=_secret(llm.openai_api_key), base_url=llm.openai_base_url)

    def _bind(self) -> None:
        completions = _Resource(self.client.chat.completions, self._completions_create)
        self.chat = _Namespace(self.client.chat, completions=completions)

    def _completions_create(
        self, *, tenant: str | None = None, agent: str | None = None,
        cache: CacheMode = "use", cache_streaming: bool | None = None, **kwargs: Any,
    ) -> Any:  # fmt: skip
        create = self.client.chat.completions.create
        return self._create(create, tenant, agent, cache, cache_streaming, kwargs)


class AsyncCachedOpenAI(_AsyncClient):
    """The async twin of ``CachedOpenAI``: wraps ``openai.AsyncOpenAI``."""

    _adapter = OpenAIAdapter()

    def _build_client(self) -> openai.AsyncOpenAI:
        llm = self.settings.llm
        return openai.AsyncOpenAI(api_key=_secret(llm.openai_api_key), base_url=llm.openai_base_url)

    def _bind(self) -> None:
        completions = _Resource(self.client.chat.completions, self._completions_create)
        self.chat = _Namespace(self.client.chat, completions=completions)

    async def _completions_create(
        self, *, tenant: str | None = None, agent: str | None = None,
        cache: CacheMode = "use", cache_streaming: bool | None = None, **kwargs: Any,
    ) -> Any:  # fmt: skip
        create = self.client.chat.completions.create
        return await self._create(create, tenant, agent, cache, cache_streaming, kwargs)
