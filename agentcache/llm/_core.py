"""The no-I/O part of the cached LLM clients: scoping, provider adapters, hit and store.

``LLMCore.prepare`` turns an SDK call's keyword arguments into a ``Call``: the
semantic-cache key text (the last user turn), the scope digest, whether to
look up / store and why not, and the request with prompt caching applied.
The adapters hold everything that differs between the provider APIs (the
Responses API's is in ``_responses``); ``_scoping`` finds the key and scope;
``_async``/``_sync`` do the I/O (semantic cache, provider) around these.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from anthropic.types import Message
from openai.types.chat import ChatCompletion

from agentcache._redis import keys as _keys
from agentcache.llm._controls import Controls
from agentcache.llm._ledger import CacheInfo, Ledger
from agentcache.llm._scoping import NEUTRAL, given, split_messages, strip_markers
from agentcache.llm._streams import (
    AnthropicAssembler,
    Assembler,
    OpenAIAssembler,
    anthropic_replay,
    is_usage_chunk,
    openai_replay,
)
from agentcache.metrics._counters import EXACT_HITS, HITS, MISSES, PROVIDER_CALLS, Metrics
from agentcache.prompt_caching.anthropic import apply_anthropic_caching
from agentcache.prompt_caching.costs import PriceTable, Usage
from agentcache.prompt_caching.openai import apply_openai_caching
from agentcache.semantic._guards import check_all, numbers_guard, polarity_guard
from agentcache.semantic._types import CacheHit, CheckResult
from agentcache.settings import AgentCacheSettings

_FORMAT = 1  # version of the stored response envelope
_LAYER = "llm"  # the metrics layer of the cached clients


# -- the explore step: is the fresh answer the cached one? --------------------------------
#
# Two answers agree when their texts match after normalisation (case, whitespace), or
# when no number or polarity differs between them and the cosine similarity of their
# embeddings (the semantic cache's vectorizer) is at least ANSWER_AGREEMENT. Numbers
# and polarity are checked first because embeddings place "30 days" next to "60 days".
# The bar is high on purpose: judging a right answer wrong only slows learning, while
# judging a wrong one right teaches the policy to serve it.
ANSWER_AGREEMENT = 0.9
_ANSWER_GUARDS = (("numbers", numbers_guard), ("polarity", polarity_guard))


def _normal(text: str) -> str:
    return " ".join(text.casefold().split())


_TOOL_LINE = "[tool call] "


def tool_call_line(name: str, arguments: Any) -> str:
    """One tool call as a canonical line of an answer (name, sorted compact JSON): tool calls
    are compared structurally, never by embedding ("card_arrival" is near "card_delivery")."""
    with contextlib.suppress(ValueError):  # not JSON: compared as the raw string
        arguments = json.loads(arguments) if isinstance(arguments, str) else arguments
    args = json.dumps(arguments, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return f"{_TOOL_LINE}{name} {args}"


def _split_calls(text: str) -> tuple[str, list[str]]:
    calls = [line for line in text.split("\n") if line.startswith(_TOOL_LINE)]
    return "\n".join(x for x in text.split("\n") if x not in calls), sorted(calls)


def answers_verdict(cached: str, fresh: str) -> bool | None:
    """True/False when the texts alone decide; None: compare their embeddings."""
    (cached, cached_calls), (fresh, fresh_calls) = _split_calls(cached), _split_calls(fresh)
    if cached_calls != fresh_calls:
        return False
    if _normal(cached) == _normal(fresh):
        return True
    if check_all(fresh, cached, _ANSWER_GUARDS) is not None:
        return False
    return None


def vectors_agree(cached: Any, fresh: Any) -> bool:
    """Cosine similarity of two answer embeddings >= ANSWER_AGREEMENT."""
    a = [float(x) for x in cached]
    b = [float(x) for x in fresh]
    norm = math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))
    return norm > 0 and sum(x * y for x, y in zip(a, b, strict=True)) / norm >= ANSWER_AGREEMENT


# -- provider adapters (no I/O) ----------------------------------------------------------


class Adapter:
    name = ""
    neutral = NEUTRAL  # parameters that stay out of the scope

    def split(self, kwargs: Mapping[str, Any]) -> tuple[str | None, dict[str, Any]]:
        """(the text the semantic cache matches, what the scope digest covers)."""
        return split_messages(kwargs, self.neutral)

    def skip_reason(self, kwargs: Mapping[str, Any]) -> str:
        """Why a request of this API is never cached ("" when it may be)."""
        return ""

    def unfinished(self, response: Any) -> str:
        """Why ``response`` is not a finished answer to store ("" when it is)."""
        return ""

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

    def tool_calls(self, response: Any) -> list[str]:  # canonical lines (tool_call_line)
        return []

    def assembler(self) -> Assembler:
        raise NotImplementedError

    def stream_request(
        self, request: dict[str, Any]
    ) -> tuple[dict[str, Any], Callable[[Any], bool] | None]:
        """(request to send, filter of events to hide from the caller) for a recorded stream."""
        return request, None

    def replay(self, response: Any, request: Mapping[str, Any]) -> list[Any]:
        raise NotImplementedError


class AnthropicAdapter(Adapter):
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

    def tool_calls(self, response: Any) -> list[str]:
        return [tool_call_line(b.name, b.input) for b in response.content if b.type == "tool_use"]

    def assembler(self) -> AnthropicAssembler:
        return AnthropicAssembler()

    def replay(self, response: Any, request: Mapping[str, Any]) -> list[Any]:
        return anthropic_replay(response.model_dump(mode="json"))


class OpenAIAdapter(Adapter):
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

    def tool_calls(self, response: Any) -> list[str]:
        calls = [t for c in response.choices for t in c.message.tool_calls or []]
        fns = [f for t in calls if (f := getattr(t, "function", None))]  # custom tools: none
        return [tool_call_line(f.name, f.arguments) for f in fns]

    def assembler(self) -> OpenAIAssembler:
        return OpenAIAssembler()

    def stream_request(
        self, request: dict[str, Any]
    ) -> tuple[dict[str, Any], Callable[[Any], bool] | None]:
        options = request.get("stream_options")
        if isinstance(options, Mapping) and options.get("include_usage"):
            return request, None
        # Ask for the usage chunk (the stored entry needs token counts for its saving),
        # and hide it from a caller who did not ask for it.
        options = dict(options) if isinstance(options, Mapping) else {}
        return {**request, "stream_options": {**options, "include_usage": True}}, is_usage_chunk

    def replay(self, response: Any, request: Mapping[str, Any]) -> list[Any]:
        options = request.get("stream_options")
        usage = isinstance(options, Mapping) and bool(options.get("include_usage"))
        return openai_replay(response.model_dump(mode="json"), include_usage=usage)


@dataclass
class Call:
    request: dict[str, Any]
    tenant: str
    agent: str
    controls: Controls
    model: str
    key_text: str | None
    scope: str
    lookup: bool
    skip_reason: str  # why the semantic cache is not used ("" when it is)
    stream: bool
    plan: dict[str, Any]
    started: float
    record: bool = False  # a stream assembled for the cache (streaming opted in)
    hide: Callable[[Any], bool] | None = None  # events of a recorded stream not passed on


class LLMCore:
    """Everything a cached call does that is not I/O, shared by the four clients."""

    def __init__(
        self,
        adapter: Adapter,
        settings: AgentCacheSettings,
        prices: PriceTable,
        ledger: Ledger,
        tenant: str,
        agent: str,
        metrics: Metrics | None = None,
    ) -> None:
        self.adapter = adapter
        self.settings = settings
        self.prices = prices
        self.ledger = ledger
        self.tenant = tenant
        self.agent = agent
        self.metrics = metrics or Metrics(enabled=False)

    def scope(self, kwargs: Mapping[str, Any]) -> tuple[str | None, str]:
        """(key text, scope) of an SDK call's keyword arguments (sentinels already dropped)."""
        key_text, context = self.adapter.split(kwargs)
        canonical = json.dumps(strip_markers(context), sort_keys=True, default=str)
        model = str(kwargs.get("model", ""))
        return key_text, f"{self.adapter.name}:{model}:{_keys.digest(canonical)}"

    def prepare(
        self, kwargs: dict[str, Any], tenant: str | None, agent: str | None, controls: Controls
    ) -> Call:
        tenant = _keys.validate_id(tenant if tenant is not None else self.tenant, "tenant")
        agent = _keys.validate_id(agent if agent is not None else self.agent, "agent")
        kwargs = given(kwargs)
        model = str(kwargs.get("model", ""))
        key_text, scope = self.scope(kwargs)
        llm = self.settings.llm
        mode = controls.mode
        stream = bool(kwargs.get("stream"))
        record = stream and (
            llm.cache_streaming if controls.streaming is None else controls.streaming
        )
        extra_body = kwargs.get("extra_body")
        temperature = kwargs.get("temperature")
        if temperature is None and isinstance(extra_body, Mapping):
            # Newer anthropic SDKs dropped the argument; it still travels in extra_body.
            temperature = extra_body.get("temperature")
        reason = ""
        if mode == "bypass":
            reason = "bypass requested"
        elif skip := self.adapter.skip_reason(kwargs):
            reason = skip
        elif stream and not record:
            reason = "streaming call (passed through uncached)"
        elif isinstance(temperature, int | float) and temperature > llm.max_cacheable_temperature:
            reason = f"temperature {temperature} > {llm.max_cacheable_temperature}"
        elif key_text is None or not key_text.strip():
            reason = "last user turn is not plain text"
        elif len(key_text) > self.settings.semantic.max_prompt_chars:
            reason = "last user turn longer than semantic.max_prompt_chars"
        request, plan = self.adapter.shape(dict(kwargs), tenant, agent, self.settings)
        hide = None
        if record:
            request, hide = self.adapter.stream_request(request)
        return Call(
            request=request,
            tenant=tenant,
            agent=agent,
            controls=controls,
            model=model,
            key_text=key_text,
            scope=scope,
            lookup=not reason and controls.looks_up,
            skip_reason=reason,
            stream=stream,
            plan=plan,
            started=time.perf_counter(),
            record=record,
            hide=hide,
        )

    def from_hit(self, call: Call, hit: CacheHit) -> Any | None:
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
        self._count(call, info)
        return self._mark(response, info)

    def replay(self, call: Call, response: Any) -> list[Any]:
        """The stream events of a hit's response, in the shape the caller asked for."""
        events = self.adapter.replay(response, call.request)
        return [e for e in events if call.hide is None or not call.hide(e)]

    def assembled(self, body: dict[str, Any] | None) -> Any | None:
        """The SDK response of a completed stream, or None (incomplete or unparseable)."""
        if body is None:
            return None
        try:
            return self.adapter.parse(body)
        except ValueError:
            return None

    def answer_text(self, response: Any) -> str:
        """The response's text and tool calls as stored and compared ("(no text)": neither)."""
        parts = [self.adapter.text(response), *self.adapter.tool_calls(response)]
        return "\n".join(p for p in parts if p) or "(no text)"

    def after_call(self, call: Call, response: Any) -> tuple[dict[str, Any] | None, str]:
        """(store arguments or None, note) for a provider response."""
        if call.skip_reason:
            return None, call.skip_reason
        if not call.controls.stores:
            return None, f"not stored (cache={call.controls.mode!r})"
        if unfinished := self.adapter.unfinished(response):
            return None, unfinished
        if self.adapter.is_tool_use(response) and not self.settings.llm.cache_tool_use:
            return None, "tool-use response not stored (llm.cache_tool_use is off)"
        usage = Usage.from_response(response)
        metadata = {
            "format": _FORMAT,
            "provider": self.adapter.name,
            "response": response.model_dump(mode="json"),
            "usage": usage.model_dump(),
        }
        text = self.answer_text(response)
        store: dict[str, Any] = {
            "prompt": call.key_text,
            "response": text,
            "tenant": call.tenant,
            "agent": call.agent,
            "model": call.scope,
            "metadata": metadata,
        }
        if call.controls.ttl is not None:
            store["ttl"] = call.controls.ttl
        return store, ""

    def explore_outcome(
        self, found: CheckResult, store: dict[str, Any] | None, note: str, correct: bool | None
    ) -> tuple[dict[str, Any] | None, str]:
        """(store arguments, note) after verifying ``found.candidate`` against the model.

        A withheld hit judged right is not stored again (the cached entry stands);
        a near miss or a shadow lookup stores as any miss does.
        """
        cand = found.candidate
        assert cand is not None
        verdict = {True: "right", False: "wrong", None: "undecided"}[correct]
        if correct and found.accepted and not found.shadow:
            store, note = None, note or "not stored: the cached answer was right"
        text = f"explore: cached answer {verdict} (entry {cand.entry_id}, {cand.similarity:.3f})"
        return store, f"{text}; {note}" if note else text

    def finish(self, call: Call, response: Any, stored: bool, note: str) -> Any:
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
        self._count(call, info)
        return self._mark(response, info)

    def _count(self, call: Call, info: CacheInfo) -> None:
        count_model_call(self.metrics, info, call.tenant, call.agent, looked_up=call.lookup)

    def _mark(self, response: Any, info: CacheInfo) -> Any:
        object.__setattr__(response, "_agentcache", info)
        self.ledger.add(info)
        return response


def count_model_call(
    metrics: Metrics, info: CacheInfo, tenant: str, agent: str, *, looked_up: bool
) -> None:
    """Report one model call to the metrics (layer ``llm``), with its saving.

    A hit saves the whole avoided call (every token of the stored usage);
    a provider call saves what prompt caching saved (tokens read from the
    provider's cache; dollars net of cache writes, so possibly negative).
    Shared by the cached clients and the agent-framework wrappers.
    """
    if info.hit:
        metrics.count(_LAYER, HITS, tenant, agent)
        if info.layer == "exact":
            metrics.count(_LAYER, EXACT_HITS, tenant, agent)
        tokens = info.usage.total_tokens
    else:
        if looked_up:
            metrics.count(_LAYER, MISSES, tenant, agent)
        metrics.count(_LAYER, PROVIDER_CALLS, tenant, agent)
        tokens = info.usage.cache_read_tokens
    if tokens or info.cost.saved_usd:
        metrics.saved(_LAYER, tenant, agent, tokens=tokens, usd=info.cost.saved_usd)
