"""Cached Anthropic and OpenAI clients: semantic cache first, provider prompt caching second.

Adoption is one line; calls keep the SDK's shape, with three optional
keyword-only arguments::

    client = CachedAnthropic(anthropic.Anthropic(), settings=settings)
    reply = client.messages.create(model=..., max_tokens=..., system=..., messages=[...],
                                   tenant="acme", agent="support", cache="use")
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
stored; streaming calls pass through uncached.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

import anthropic
import openai
from anthropic.types import Message
from openai.types.chat import ChatCompletion

from agentcache import _keys
from agentcache._ledger import CacheInfo, Ledger, cache_info, print_session_table, session_table
from agentcache.costs import PriceTable, Usage
from agentcache.exceptions import InvalidInputError
from agentcache.prompt_caching.anthropic import apply_anthropic_caching
from agentcache.prompt_caching.openai import apply_openai_caching
from agentcache.semantic import AsyncSemanticCache, CacheHit, SemanticCache
from agentcache.settings import AgentCacheSettings
from agentcache.vectorizers import Vectorizer

CacheMode = Literal["use", "bypass", "refresh"]
_MODES = ("use", "bypass", "refresh")
_FORMAT = 1  # version of the stored response envelope

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

# Parameters that do not change the answer, so they stay out of the scope digest.
# Anything not listed (temperature, top_p, max_tokens, stop, seed, thinking, ...) is in.
_NEUTRAL = frozenset(
    {
        "messages", "stream", "stream_options", "metadata", "user", "extra_headers",
        "extra_query", "timeout", "prompt_cache_key", "service_tier", "store",
        "safety_identifier", "cache_control", "inference_geo", "speed", "user_profile_id",
        "workspace_id",
    }
)  # fmt: skip


# -- provider adapters (no I/O) ----------------------------------------------------------


def _text_blocks(content: Any) -> str | None:
    """Text of a user turn, or None when it holds anything a text key cannot stand for."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return None
    parts: list[str] = []
    for block in content:
        if not isinstance(block, Mapping):
            return None
        kind = block.get("type")
        if kind == "text":
            parts.append(str(block.get("text", "")))
        elif kind == "tool_result":
            inner = _text_blocks(block.get("content", ""))
            if inner is None:
                return None
            parts.append(inner)
        else:
            return None
    return "\n".join(parts)


def _strip_markers(value: Any) -> Any:
    """``value`` without cache_control markers (they do not change the answer)."""
    if isinstance(value, Mapping):
        return {k: _strip_markers(v) for k, v in value.items() if k != "cache_control"}
    if isinstance(value, list | tuple):
        return [_strip_markers(v) for v in value]
    return value


def _as_blocks(content: Any) -> Any:
    """A string as one text block, so "x" and [{"type": "text", "text": "x"}] scope alike."""
    return [{"type": "text", "text": content}] if isinstance(content, str) else content


def _canonical_message(message: Any) -> Any:
    if isinstance(message, Mapping) and "content" in message:
        return {**message, "content": _as_blocks(message["content"])}
    return message


class _Adapter:
    name = ""

    def shape(
        self, request: dict[str, Any], tenant: str, agent: str, settings: AgentCacheSettings
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        raise NotImplementedError

    def parse(self, data: Mapping[str, Any]) -> Any:
        raise NotImplementedError

    def text(self, response: Any) -> str:
        raise NotImplementedError

    def is_tool_use(self, response: Any) -> bool:
        raise NotImplementedError


class _AnthropicAdapter(_Adapter):
    name = "anthropic"

    def shape(
        self, request: dict[str, Any], tenant: str, agent: str, settings: AgentCacheSettings
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        plan = apply_anthropic_caching(request, settings.prompt_caching)
        return plan.request, plan.debug()

    def parse(self, data: Mapping[str, Any]) -> Message:
        return Message.model_validate(data)

    def text(self, response: Any) -> str:
        return "".join(getattr(b, "text", "") for b in response.content)

    def is_tool_use(self, response: Any) -> bool:
        return bool(response.stop_reason == "tool_use")


class _OpenAIAdapter(_Adapter):
    name = "openai"

    def shape(
        self, request: dict[str, Any], tenant: str, agent: str, settings: AgentCacheSettings
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        plan = apply_openai_caching(
            request, tenant=tenant, agent=agent, settings=settings.prompt_caching
        )
        return plan.request, plan.debug()

    def parse(self, data: Mapping[str, Any]) -> ChatCompletion:
        return ChatCompletion.model_validate(data)

    def text(self, response: Any) -> str:
        return "".join(c.message.content or "" for c in response.choices)

    def is_tool_use(self, response: Any) -> bool:
        return any(
            c.finish_reason == "tool_calls" or c.message.tool_calls for c in response.choices
        )


@dataclass
class _Call:
    request: dict[str, Any]
    tenant: str
    agent: str
    mode: CacheMode
    model: str
    key_text: str | None
    scope: str
    lookup: bool
    skip_reason: str  # why the semantic cache is not used ("" when it is)
    stream: bool
    plan: dict[str, Any]
    started: float


class _Core:
    """Everything a cached call does that is not I/O, shared by the four clients."""

    def __init__(
        self,
        adapter: _Adapter,
        settings: AgentCacheSettings,
        prices: PriceTable,
        ledger: Ledger,
        tenant: str,
        agent: str,
    ) -> None:
        self.adapter = adapter
        self.settings = settings
        self.prices = prices
        self.ledger = ledger
        self.tenant = tenant
        self.agent = agent

    def prepare(
        self, kwargs: dict[str, Any], tenant: str | None, agent: str | None, mode: str
    ) -> _Call:
        if mode not in _MODES:
            raise InvalidInputError(f"cache must be one of {', '.join(_MODES)}, got {mode!r}")
        tenant = _keys.validate_id(tenant if tenant is not None else self.tenant, "tenant")
        agent = _keys.validate_id(agent if agent is not None else self.agent, "agent")
        model = str(kwargs.get("model", ""))
        messages = list(kwargs.get("messages") or [])
        last = max(
            (
                i
                for i, m in enumerate(messages)
                if isinstance(m, Mapping) and m.get("role") == "user"
            ),
            default=-1,
        )
        key_text = _text_blocks(messages[last].get("content")) if last >= 0 else None
        context = {k: v for k, v in kwargs.items() if k not in _NEUTRAL}
        if "system" in context:
            context["system"] = _as_blocks(context["system"])
        before, after = (messages[:last], messages[last + 1 :]) if last >= 0 else (messages, [])
        context["messages_before"] = [_canonical_message(m) for m in before]
        context["messages_after"] = [_canonical_message(m) for m in after]
        canonical = json.dumps(_strip_markers(context), sort_keys=True, default=str)
        scope = f"{self.adapter.name}:{model}:{_keys.digest(canonical)}"
        llm = self.settings.llm
        stream = bool(kwargs.get("stream"))
        extra_body = kwargs.get("extra_body")
        temperature = kwargs.get("temperature")
        if temperature is None and isinstance(extra_body, Mapping):
            # Newer anthropic SDKs dropped the argument; it still travels in extra_body.
            temperature = extra_body.get("temperature")
        reason = ""
        if mode == "bypass":
            reason = "bypass requested"
        elif stream:
            reason = "streaming call (passed through uncached)"
        elif isinstance(temperature, int | float) and temperature > llm.max_cacheable_temperature:
            reason = f"temperature {temperature} > {llm.max_cacheable_temperature}"
        elif key_text is None or not key_text.strip():
            reason = "last user turn is not plain text"
        elif len(key_text) > self.settings.semantic.max_prompt_chars:
            reason = "last user turn longer than semantic.max_prompt_chars"
        request, plan = self.adapter.shape(dict(kwargs), tenant, agent, self.settings)
        return _Call(
            request=request,
            tenant=tenant,
            agent=agent,
            mode=cast(CacheMode, mode),
            model=model,
            key_text=key_text,
            scope=scope,
            lookup=not reason and mode == "use",
            skip_reason=reason,
            stream=stream,
            plan=plan,
            started=time.perf_counter(),
        )

    def from_hit(self, call: _Call, hit: CacheHit) -> Any | None:
        """The SDK response rebuilt from a hit, marked; None if the entry is unusable."""
        meta = hit.metadata
        if meta.get("format") != _FORMAT or meta.get("provider") != self.adapter.name:
            return None
        try:
            response = self.adapter.parse(meta["response"])
            stored = Usage.model_validate(meta.get("usage") or {})
        except (KeyError, ValueError):
            return None
        info = CacheInfo(
            provider=self.adapter.name,
            model=call.model,
            tenant=call.tenant,
            agent=call.agent,
            layer="exact" if hit.exact else "semantic",
            latency_s=time.perf_counter() - call.started,
            cost=self.prices.semantic_hit(call.model, stored),
            prompt=call.key_text or "",
            similarity=hit.similarity,
            entry_id=hit.entry_id,
            note=f"cached prompt: {hit.prompt}",
        )
        return self._mark(response, info)

    def after_call(self, call: _Call, response: Any) -> tuple[dict[str, Any] | None, str]:
        """(store arguments or None, note) for a provider response."""
        if call.skip_reason:
            return None, call.skip_reason
        if self.adapter.is_tool_use(response) and not self.settings.llm.cache_tool_use:
            return None, "tool-use response not stored (llm.cache_tool_use is off)"
        usage = Usage.from_response(response)
        metadata = {
            "format": _FORMAT,
            "provider": self.adapter.name,
            "response": response.model_dump(mode="json"),
            "usage": usage.model_dump(),
        }
        text = self.adapter.text(response) or "(no text)"
        return {
            "prompt": call.key_text,
            "response": text,
            "tenant": call.tenant,
            "agent": call.agent,
            "model": call.scope,
            "metadata": metadata,
        }, ""

    def finish(self, call: _Call, response: Any, stored: bool, note: str) -> Any:
        usage = Usage.from_response(response)
        info = CacheInfo(
            provider=self.adapter.name,
            model=call.model,
            tenant=call.tenant,
            agent=call.agent,
            layer="provider",
            latency_s=time.perf_counter() - call.started,
            cost=self.prices.cost(call.model, usage),
            prompt=call.key_text or "",
            stored=stored,
            note=note,
            prompt_caching=call.plan,
        )
        return self._mark(response, info)

    def _mark(self, response: Any, info: CacheInfo) -> Any:
        object.__setattr__(response, "_agentcache", info)
        self.ledger.add(info)
        return response


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

    _adapter: _Adapter

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
    ) -> None:
        self.settings = settings or AgentCacheSettings()
        self.client = client if client is not None else self._build_client()
        self._owns_cache = cache is None
        self.cache = cache if cache is not None else self._build_cache(vectorizer)
        self.ledger = ledger or Ledger()
        prices = prices or PriceTable.from_settings(self.settings)
        self._core = _Core(self._adapter, self.settings, prices, self.ledger, tenant, agent)
        self._bind()

    def _build_client(self) -> Any:
        raise NotImplementedError

    def _build_cache(self, vectorizer: Vectorizer | None) -> Any:
        raise NotImplementedError

    def _bind(self) -> None:
        raise NotImplementedError

    def __getattr__(self, name: str) -> Any:
        if name == "client":  # not set yet: no recursion during __init__
            raise AttributeError(name)
        return getattr(self.client, name)


class _SyncClient(_ClientBase):
    cache: SemanticCache

    def _build_cache(self, vectorizer: Vectorizer | None) -> SemanticCache:
        return SemanticCache(self.settings, vectorizer=vectorizer)

    def _create(
        self, sdk_create: Callable[..., Any], tenant: str | None, agent: str | None,
        cache: str, kwargs: dict[str, Any],
    ) -> Any:  # fmt: skip
        core = self._core
        call = core.prepare(kwargs, tenant, agent, cache)
        if call.stream:
            return sdk_create(**call.request)
        if call.lookup:
            hit = self.cache.check(
                call.key_text or "", tenant=call.tenant, agent=call.agent, model=call.scope
            )
            response = core.from_hit(call, hit) if hit is not None else None
            if response is not None:
                return response
        response = sdk_create(**call.request)  # provider errors propagate; nothing is stored
        store, note = core.after_call(call, response)
        if store is not None:
            self.cache.store(**store)
        return core.finish(call, response, store is not None, note)

    def close(self) -> None:
        """Close the semantic cache if this client created it (the SDK client stays open)."""
        if self._owns_cache:
            self.cache.close()


class _AsyncClient(_ClientBase):
    cache: AsyncSemanticCache

    def _build_cache(self, vectorizer: Vectorizer | None) -> AsyncSemanticCache:
        return AsyncSemanticCache(self.settings, vectorizer=vectorizer)

    async def _create(
        self, sdk_create: Callable[..., Any], tenant: str | None, agent: str | None,
        cache: str, kwargs: dict[str, Any],
    ) -> Any:  # fmt: skip
        core = self._core
        call = core.prepare(kwargs, tenant, agent, cache)
        if call.stream:
            return await sdk_create(**call.request)
        if call.lookup:
            hit = await self.cache.check(
                call.key_text or "", tenant=call.tenant, agent=call.agent, model=call.scope
            )
            response = core.from_hit(call, hit) if hit is not None else None
            if response is not None:
                return response
        response = await sdk_create(**call.request)
        store, note = core.after_call(call, response)
        if store is not None:
            await self.cache.store(**store)
        return core.finish(call, response, store is not None, note)

    async def aclose(self) -> None:
        """Close the semantic cache if this client created it (the SDK client stays open)."""
        if self._owns_cache:
            await self.cache.aclose()


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
    """

    _adapter = _AnthropicAdapter()

    def _build_client(self) -> anthropic.Anthropic:
        llm = self.settings.llm
        return anthropic.Anthropic(
            api_key=_secret(llm.anthropic_api_key), base_url=llm.anthropic_base_url
        )

    def _bind(self) -> None:
        self.messages = _Resource(self.client.messages, self._messages_create)

    def _messages_create(
        self, *, tenant: str | None = None, agent: str | None = None,
        cache: CacheMode = "use", **kwargs: Any,
    ) -> Any:  # fmt: skip
        return self._create(self.client.messages.create, tenant, agent, cache, kwargs)


class AsyncCachedAnthropic(_AsyncClient):
    """The async twin of ``CachedAnthropic``: wraps ``anthropic.AsyncAnthropic``."""

    _adapter = _AnthropicAdapter()

    def _build_client(self) -> anthropic.AsyncAnthropic:
        llm = self.settings.llm
        return anthropic.AsyncAnthropic(
            api_key=_secret(llm.anthropic_api_key), base_url=llm.anthropic_base_url
        )

    def _bind(self) -> None:
        self.messages = _Resource(self.client.messages, self._messages_create)

    async def _messages_create(
        self, *, tenant: str | None = None, agent: str | None = None,
        cache: CacheMode = "use", **kwargs: Any,
    ) -> Any:  # fmt: skip
        return await self._create(self.client.messages.create, tenant, agent, cache, kwargs)


class CachedOpenAI(_SyncClient):
    """``openai.OpenAI`` with a semantic cache and prompt caching on ``chat.completions.create``.

    Takes the same arguments as ``CachedAnthropic``.
    """

    _adapter = _OpenAIAdapter()

    def _build_client(self) -> openai.OpenAI:
        llm = self.settings.llm
        return openai.OpenAI(api_key=_secret(llm.openai_api_key), base_url=llm.openai_base_url)

    def _bind(self) -> None:
        completions = _Resource(self.client.chat.completions, self._completions_create)
        self.chat = _Namespace(self.client.chat, completions=completions)

    def _completions_create(
        self, *, tenant: str | None = None, agent: str | None = None,
        cache: CacheMode = "use", **kwargs: Any,
    ) -> Any:  # fmt: skip
        return self._create(self.client.chat.completions.create, tenant, agent, cache, kwargs)


class AsyncCachedOpenAI(_AsyncClient):
    """The async twin of ``CachedOpenAI``: wraps ``openai.AsyncOpenAI``."""

    _adapter = _OpenAIAdapter()

    def _build_client(self) -> openai.AsyncOpenAI:
        llm = self.settings.llm
        return openai.AsyncOpenAI(api_key=_secret(llm.openai_api_key), base_url=llm.openai_base_url)

    def _bind(self) -> None:
        completions = _Resource(self.client.chat.completions, self._completions_create)
        self.chat = _Namespace(self.client.chat, completions=completions)

    async def _completions_create(
        self, *, tenant: str | None = None, agent: str | None = None,
        cache: CacheMode = "use", **kwargs: Any,
    ) -> Any:  # fmt: skip
        create = self.client.chat.completions.create
        return await self._create(create, tenant, agent, cache, kwargs)
