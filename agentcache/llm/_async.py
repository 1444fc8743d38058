"""Cached Anthropic and OpenAI clients: semantic cache first, provider prompt caching second.

Adoption is one line; calls keep the SDK's shape, with optional keyword-only
arguments (the per-request controls, see ``_controls``)::

    client = AsyncCachedAnthropic(anthropic.AsyncAnthropic(), settings=settings)
    reply = await client.messages.create(model=..., max_tokens=..., system=..., messages=[...],
                                   tenant="acme", agent="support", cache="use",
                                   cache_streaming=None, cache_ttl=None, cache_max_age=None,
                                   cache_threshold=None)
    cache_info(reply).layer   # "semantic", "exact" or "provider"

The cached calls are ``messages.create`` (Anthropic), ``chat.completions.create``
and ``responses.create`` (OpenAI). Each call keys the semantic cache on the last
user turn (input item), within a *scope*: a digest of the model, system prompt
or instructions, tools, earlier turns and every parameter that can change the
answer (temperature, max_tokens, ...). The scope is the semantic cache's
``model`` filter, so an answer is never reused across system prompts, models,
conversations or tenants. A hit returns a real SDK object (``Message``,
``ChatCompletion``, ``Response``) rebuilt from the stored JSON; a miss calls
the provider with prompt caching applied. ``cache="bypass"`` skips the
semantic cache, ``"lookup_only"`` never stores, ``"store_only"`` (or
``"refresh"``) skips the lookup but stores the new answer. Calls above
``settings.llm.max_cacheable_temperature``, tool-use answers (unless
``settings.llm.cache_tool_use``) and errors are not stored. Hit metadata
(layer, similarity, entry id, cost and saving) is in ``cache_info(reply)``.

Streaming calls pass through uncached unless opted in (``settings.llm.cache_streaming``
or ``cache_streaming=True`` per call). Then a miss yields the provider's events
unchanged and stores the assembled response once the stream completes without
error, and a hit replays the stored response as the SDK's own stream events (no
HTTP call), so code written for streams works unchanged; see ``_streams``.
The SDK's ``with_raw_response``, ``with_streaming_response``, ``stream()`` and
``parse()`` are passed through uncached.

This file is the source of both forms: ``_sync.py`` is generated from it by
scripts/unasync.py (``async``/``await`` dropped, ``Async`` names renamed).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import anthropic
import openai

from agentcache.llm._base import _AnthropicBase, _ClientBase, _OpenAIBase, _Resource
from agentcache.llm._controls import CacheMode, Controls, controls
from agentcache.llm._core import Call, LLMCore, answers_verdict, vectors_agree
from agentcache.llm._streams import AsyncRecordingStream, AsyncReplayStream
from agentcache.llm._types import AsyncResponseCache
from agentcache.metrics._counters import Metrics
from agentcache.semantic import (  # names kept in isort order in both files
    AsyncSemanticCache,  # sync: CheckResult,
    CheckResult,  # sync: SemanticCache,
)
from agentcache.vectorizers import Vectorizer

logger = logging.getLogger("agentcache.llm")

__all__ = ["AsyncCachedAnthropic", "AsyncCachedOpenAI"]


class _AsyncCachedClient(_ClientBase):
    """The I/O of a cached call: semantic cache first, then the provider."""

    cache: AsyncResponseCache

    def _default_cache(
        self, vectorizer: Vectorizer | None, metrics: Metrics | None
    ) -> AsyncResponseCache:
        # The convenience constructor (settings only): a semantic cache of our own.
        return AsyncSemanticCache(self.settings, vectorizer=vectorizer, metrics=metrics)

    def _cached(self, resource: Any, core: LLMCore) -> _Resource:
        async def create(
            *, tenant: str | None = None, agent: str | None = None,
            cache: CacheMode = "use", cache_streaming: bool | None = None,
            cache_ttl: int | None = None, cache_max_age: float | None = None,
            cache_threshold: float | None = None, **kwargs: Any,
        ) -> Any:  # fmt: skip
            wanted = controls(cache, cache_streaming, cache_ttl, cache_max_age, cache_threshold)
            # Read per call, so an SDK method patched after construction is honoured.
            sdk_create = resource.create
            return await self._create(core, sdk_create, tenant, agent, wanted, kwargs)

        return _Resource(resource, create)

    async def _create(
        self, core: LLMCore, sdk_create: Callable[..., Any], tenant: str | None,
        agent: str | None, wanted: Controls, kwargs: dict[str, Any],
    ) -> Any:  # fmt: skip
        call = core.prepare(kwargs, tenant, agent, wanted)
        if call.stream and not call.record:
            return await sdk_create(**call.request)
        found = None
        if call.lookup:
            found = await self.cache.lookup(
                call.key_text or "", tenant=call.tenant, agent=call.agent, model=call.scope,
                **wanted.lookup_options(),
            )  # fmt: skip
            response = core.from_hit(call, found.hit) if found.hit is not None else None
            if response is not None:
                if call.stream:
                    return AsyncReplayStream(core.replay(call, response), response)
                return response
        # Provider errors propagate (mid-stream too); nothing is stored.
        if call.stream:

            async def on_complete(body: dict[str, Any] | None) -> Any | None:
                return await self._answered(core, call, core.assembled(body), found)

            stream = await sdk_create(**call.request)
            return AsyncRecordingStream(stream, core.adapter.assembler(), on_complete, call.hide)
        return await self._answered(core, call, await sdk_create(**call.request), found)

    async def _answered(
        self, core: LLMCore, call: Call, response: Any | None, found: CheckResult | None = None
    ) -> Any | None:
        if response is None:
            return None
        store, note = core.after_call(call, response)
        if found is not None and found.explore and found.candidate is not None:
            correct = await self._verify(core, call, found, response)
            store, note = core.explore_outcome(found, store, note, correct)
        if store is not None:
            await self.cache.store(**store)
        return core.finish(call, response, store is not None, note)

    async def _verify(
        self, core: LLMCore, call: Call, found: CheckResult, response: Any
    ) -> bool | None:
        """The explore step: is the fresh answer the cached one? Sends the feedback."""
        cand = found.candidate
        assert cand is not None
        fresh = core.answer_text(response)
        correct = answers_verdict(cand.response, fresh)
        if correct is None:
            try:
                pair = await self.cache.vectorizer.aembed_many([cand.response, fresh])
            except Exception as exc:  # an embedder fault leaves it undecided, never fails the call
                logger.warning("explore: answers not compared (%s: %s)", type(exc).__name__, exc)
                return None
            correct = vectors_agree(pair[0], pair[1])
        similarity, tenant = cand.similarity, call.tenant
        await self.cache.feedback(cand.entry_id, correct, tenant=tenant, similarity=similarity)
        return correct

    async def aclose(self) -> None:
        """Close the semantic cache and metrics if this client created them (the SDK
        client stays open)."""
        if self._owns_cache:
            await self.cache.aclose()
        if self._owns_metrics:
            await self.metrics.aclose()


class AsyncCachedAnthropic(_AsyncCachedClient, _AnthropicBase):
    """``anthropic.AsyncAnthropic`` with a semantic cache and prompt caching on ``messages.create``.

    Args:
        client: the ``anthropic.AsyncAnthropic`` to wrap; built from ``settings.llm`` when omitted.
        settings: shared settings.
        cache: the response cache to answer from: a ``AsyncSemanticCache``, or anything
            with its ``lookup``/``store``/``feedback`` (``llm._types.AsyncResponseCache``);
            not closed by ``aclose``. When omitted one is built from ``settings``.
        vectorizer: for the cache built here (default: the one in settings).
        ledger: collects a ``CacheInfo`` per call (``print_session_table``).
        prices: a ``PriceTable`` (default: from settings).
        tenant, agent: defaults for calls that do not pass them.
        metrics: counts hits, provider calls and savings (layer ``llm``); default:
            the semantic cache's.
    """

    _sdk = anthropic.AsyncAnthropic


class AsyncCachedOpenAI(_AsyncCachedClient, _OpenAIBase):
    """``openai.AsyncOpenAI`` with a semantic cache and prompt caching on
    ``chat.completions.create`` and ``responses.create``.

    Takes the same arguments as ``AsyncCachedAnthropic``.
    """

    _sdk = openai.AsyncOpenAI
