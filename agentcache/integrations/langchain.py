"""LangChain: a ``langchain_core.caches.BaseCache`` backed by agentcache's semantic cache.

Install with ``pip install 'agentcache[langchain]'``. Then either globally::

    from langchain_core.globals import set_llm_cache
    from agentcache.integrations import tenant_scope
    from agentcache.integrations.langchain import AgentCacheLangChain

    set_llm_cache(AgentCacheLangChain(settings))
    with tenant_scope("acme", agent="support"):
        model.invoke([("system", "You are support."), ("human", "How do I reset my password?")])

or per model: ``ChatOpenAI(..., cache=AgentCacheLangChain(settings, tenant="acme"))``.

What is cached: each chat-model (or LLM) generation call that LangChain routes
through its cache: ``invoke``/``ainvoke``/``batch``/``generate``, also with
streaming switched on (``streaming=True``, a streaming callback, LangGraph's
``stream_mode="messages"``): a miss streams and is stored, a hit returns the
whole message at once. ``stream()``/``astream()`` never consult a LangChain
cache (LangChain's own rule).

The last user turn is matched semantically; the system prompt, the other turns
(without provider ids, response metadata or token counts), bound tools, the
model and its parameters (``llm_string``) must match exactly. Stored
generations come back with their content, tool calls, usage metadata and
response metadata; the hit is described in
``message.response_metadata["agentcache"]`` (``generation_info`` for plain LLMs).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

try:
    from langchain_core.caches import BaseCache
    from langchain_core.messages import AIMessage, message_to_dict, messages_from_dict
    from langchain_core.outputs import ChatGeneration, Generation
except ImportError as exc:  # tested in tests/unit/test_integrations_scope.py
    raise ImportError(
        "agentcache.integrations.langchain needs langchain-core: "
        "pip install 'agentcache[langchain]'"
    ) from exc

from agentcache._redis import keys as _keys
from agentcache.exceptions import ConfigurationError, InvalidInputError
from agentcache.integrations._lc_scope import PROVIDER, LCRequest, clear_tag, read_request
from agentcache.integrations._scope import (
    CacheControls,
    ControlMode,
    resolve_controls,
    resolve_scope,
)
from agentcache.semantic._async import AsyncSemanticCache
from agentcache.semantic._sync import SemanticCache
from agentcache.semantic._types import CheckResult
from agentcache.settings import AgentCacheSettings
from agentcache.vectorizers import Vectorizer

logger = logging.getLogger("agentcache.integrations.langchain")

_FORMAT = 1  # version of the stored generations envelope
DEFAULT_AGENT = "langchain"


class _Call:
    """One resolved lookup or update: who, what, and what it may do."""

    __slots__ = ("agent", "controls", "request", "skip", "started", "tenant")

    def __init__(self, owner: AgentCacheLangChain, prompt: str, llm_string: str) -> None:
        self.started = time.perf_counter()
        self.tenant, self.agent = resolve_scope(
            owner.tenant, owner.agent, default_agent=DEFAULT_AGENT, integration=type(owner).__name__
        )
        self.controls = resolve_controls(owner.controls)
        self.request: LCRequest = read_request(prompt, llm_string)
        self.skip = owner._skip_reason(self.request)

    def lookup_kwargs(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "agent": self.agent,
            "model": self.request.scope,
            "threshold": self.controls.threshold,
            "max_age": self.controls.max_age,
        }


class AgentCacheLangChain(BaseCache):
    """A LangChain cache (sync and async) on agentcache's semantic cache.

    Args:
        cache: the ``SemanticCache`` the blocking methods use (not closed here).
        settings: used to build the semantic caches not given (closed by ``close``/``aclose``).
        async_cache: the ``AsyncSemanticCache`` the ``a*`` methods use (not closed
            here). Without one, and with ``cache`` given, the ``a*`` methods run the
            blocking ones in a worker thread; with neither, one is built from settings.
        vectorizer: for caches built here (default: the settings'); built caches share it.
        tenant, agent: fixed ids; when None, taken per request from
            ``agentcache.integrations.tenant_scope`` (agent default: ``"langchain"``).
        mode, ttl, max_age, threshold: default controls (see ``CacheControls``);
            ``agentcache.integrations.cache_controls(...)`` overrides them per request.

    Bad ids or controls raise ``InvalidInputError`` before anything is read or
    written; a Redis fault is a miss (fail-open) as everywhere in agentcache.
    """

    def __init__(
        self,
        settings: AgentCacheSettings | None = None,
        *,
        cache: SemanticCache | None = None,
        async_cache: AsyncSemanticCache | None = None,
        vectorizer: Vectorizer | None = None,
        tenant: str | None = None,
        agent: str | None = None,
        mode: ControlMode | None = None,
        ttl: int | None = None,
        max_age: float | None = None,
        threshold: float | None = None,
    ) -> None:
        if cache is None and async_cache is not None and settings is None:
            settings = async_cache.settings
        if settings is None:
            settings = cache.settings if cache is not None else AgentCacheSettings()
        self.settings = settings
        # Checked now: a bad id or control fails at construction, not inside a chain.
        self.tenant = None if tenant is None else _keys.validate_id(tenant, "tenant")
        self.agent = None if agent is None else _keys.validate_id(agent, "agent")
        self.controls = CacheControls(mode=mode, ttl=ttl, max_age=max_age, threshold=threshold)
        self._vectorizer = vectorizer
        self._cache = cache
        self._async_cache = async_cache
        self._owned_sync: SemanticCache | None = None
        self._owned_async: AsyncSemanticCache | None = None
        self._build_lock = threading.Lock()  # batch() calls the cache from a thread pool
        # Only async given: the blocking methods have no cache of their own to use.
        self._sync_missing = cache is None and async_cache is not None
        self._thread_async = cache is not None and async_cache is None

    # -- the caches ----------------------------------------------------------
    def _shared_vectorizer(self) -> Vectorizer | None:
        for built in (self._owned_sync, self._owned_async):
            if built is not None:
                return built.vectorizer
        return self._vectorizer

    def _sync(self) -> SemanticCache:
        if self._cache is not None:
            return self._cache
        if self._sync_missing:
            raise ConfigurationError(
                f"{type(self).__name__} was given only async_cache=; pass cache=SemanticCache(...) "
                "too for the blocking methods (invoke, lookup, update, clear)"
            )
        with self._build_lock:
            if self._owned_sync is None:
                self._owned_sync = SemanticCache(
                    self.settings, vectorizer=self._shared_vectorizer()
                )
            return self._owned_sync

    def _async(self) -> AsyncSemanticCache:
        if self._async_cache is not None:
            return self._async_cache
        with self._build_lock:
            if self._owned_async is None:
                self._owned_async = AsyncSemanticCache(
                    self.settings, vectorizer=self._shared_vectorizer()
                )
            return self._owned_async

    def close(self) -> None:
        """Close the blocking semantic cache built here (the ones given stay open)."""
        if self._owned_sync is not None:
            self._owned_sync.close()
            self._owned_sync = None

    async def aclose(self) -> None:
        """Close every semantic cache built here (the ones given stay open)."""
        self.close()
        if self._owned_async is not None:
            await self._owned_async.aclose()
            self._owned_async = None

    def __enter__(self) -> AgentCacheLangChain:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> AgentCacheLangChain:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- BaseCache -----------------------------------------------------------
    def lookup(self, prompt: str, llm_string: str) -> list[Generation] | None:
        """The stored generations for this prompt and model, or None (a miss)."""
        cache = self._sync()
        call = _Call(self, prompt, llm_string)
        if call.skip or not call.controls.lookup:
            return None
        found = cache.lookup(call.request.key_text or "", **call.lookup_kwargs())
        return self._from_hit(call, found)

    async def alookup(self, prompt: str, llm_string: str) -> list[Generation] | None:
        if self._thread_async:
            return await asyncio.to_thread(self.lookup, prompt, llm_string)
        call = _Call(self, prompt, llm_string)
        if call.skip or not call.controls.lookup:
            return None
        found = await self._async().lookup(call.request.key_text or "", **call.lookup_kwargs())
        return self._from_hit(call, found)

    def update(self, prompt: str, llm_string: str, return_val: Sequence[Generation]) -> None:
        """Store the generations of a miss (unless the controls or the settings say not to)."""
        cache = self._sync()
        call = _Call(self, prompt, llm_string)
        store = self._store_args(call, return_val)
        if store is not None:
            try:
                cache.store(**store)
            except InvalidInputError as exc:  # e.g. an answer over the metadata limit
                logger.warning("langchain: generations not stored: %s", exc)

    async def aupdate(self, prompt: str, llm_string: str, return_val: Sequence[Generation]) -> None:
        if self._thread_async:
            await asyncio.to_thread(self.update, prompt, llm_string, return_val)
            return
        call = _Call(self, prompt, llm_string)
        store = self._store_args(call, return_val)
        if store is not None:
            try:
                await self._async().store(**store)
            except InvalidInputError as exc:
                logger.warning("langchain: generations not stored: %s", exc)

    def clear(self, **kwargs: Any) -> None:
        """Delete the entries this integration stored for one tenant and agent.

        ``tenant``/``agent`` keyword arguments, else the constructor's, else the
        ``tenant_scope``. Only entries stored through this LangChain cache are
        removed (they carry the tag ``langchain:<agent>``): other agents,
        other tenants and what the cached clients stored stay.
        """
        cache = self._sync()
        tenant, agent = self._clear_scope(kwargs)
        cache.invalidate_tag(tenant, clear_tag(agent))

    async def aclear(self, **kwargs: Any) -> None:
        if self._thread_async:
            await asyncio.to_thread(self.clear, **kwargs)
            return
        tenant, agent = self._clear_scope(kwargs)
        await self._async().invalidate_tag(tenant, clear_tag(agent))

    # -- no I/O ----------------------------------------------------------------
    def _clear_scope(self, kwargs: dict[str, Any]) -> tuple[str, str]:
        unknown = set(kwargs) - {"tenant", "agent"}
        if unknown:
            raise InvalidInputError(
                f"clear() takes tenant= and agent= only, got {', '.join(sorted(unknown))}"
            )
        return resolve_scope(
            kwargs.get("tenant", self.tenant),
            kwargs.get("agent", self.agent),
            default_agent=DEFAULT_AGENT,
            integration=type(self).__name__,
        )

    def _skip_reason(self, request: LCRequest) -> str:
        if request.reason:
            return request.reason
        limits = self.settings
        if request.temperature is not None and (
            request.temperature > limits.llm.max_cacheable_temperature
        ):
            return f"temperature {request.temperature} > {limits.llm.max_cacheable_temperature}"
        if len(request.key_text or "") > limits.semantic.max_prompt_chars:
            return "last user turn longer than semantic.max_prompt_chars"
        return ""

    def _store_args(self, call: _Call, generations: Sequence[Generation]) -> dict[str, Any] | None:
        if call.skip or not call.controls.store or not generations:
            return None
        stored: list[dict[str, Any]] = []
        texts: list[str] = []
        for gen in generations:
            if isinstance(gen, ChatGeneration):
                message = gen.message
                if (
                    isinstance(message, AIMessage)
                    and message.tool_calls
                    and not self.settings.llm.cache_tool_use
                ):
                    return None  # the project-wide rule for tool-use answers
                # The run id LangChain stamped would come back on every hit; LangGraph
                # merges messages by id, so a hit must not reuse one.
                plain = message.model_copy(update={"id": None})
                stored.append({"message": message_to_dict(plain), "info": gen.generation_info})
                texts.append(message.text)
            elif isinstance(gen, Generation):
                stored.append({"text": gen.text, "info": gen.generation_info})
                texts.append(gen.text)
            else:
                return None
        return {
            "prompt": call.request.key_text,
            "response": "".join(texts) or "(no text)",
            "tenant": call.tenant,
            "agent": call.agent,
            "model": call.request.scope,
            "metadata": {"format": _FORMAT, "provider": PROVIDER, "generations": stored},
            "tags": [PROVIDER, clear_tag(call.agent)],
            "ttl": call.controls.ttl,
        }

    def _from_hit(self, call: _Call, found: CheckResult) -> list[Generation] | None:
        hit = found.hit
        if hit is None:
            return None
        meta = hit.metadata
        if meta.get("format") != _FORMAT or meta.get("provider") != PROVIDER:
            return None
        info = {
            "provider": PROVIDER,
            "model": call.request.model,
            "tenant": call.tenant,
            "agent": call.agent,
            "layer": "exact" if hit.exact else "semantic",
            "similarity": hit.similarity,
            "entry_id": hit.entry_id,
            "latency_s": time.perf_counter() - call.started,
            "prompt": call.request.key_text,
            "cached_prompt": hit.prompt,
            "hit_count": hit.hit_count,
        }
        out: list[Generation] = []
        try:
            for item in meta["generations"]:
                extra = dict(item.get("info") or {})
                if "message" in item:
                    message = messages_from_dict([item["message"]])[0]
                    message.response_metadata = {**message.response_metadata, "agentcache": info}
                    out.append(ChatGeneration(message=message, generation_info=extra or None))
                else:
                    out.append(
                        Generation(text=item["text"], generation_info={**extra, "agentcache": info})
                    )
        except (KeyError, TypeError, ValueError) as exc:
            logger.warning("langchain: unreadable entry %s served as a miss: %s", hit.entry_id, exc)
            return None
        return out  # a list: LangChain treats any other sequence as a miss


__all__ = ["DEFAULT_AGENT", "AgentCacheLangChain"]
