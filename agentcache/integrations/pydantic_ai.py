"""pydantic-ai: a ``WrapperModel`` that answers repeated model requests from the cache.

Wrap the model an agent uses::

    from pydantic_ai import Agent
    from agentcache.integrations import tenant_scope
    from agentcache.integrations.pydantic_ai import CachedPydanticAIModel

    model = CachedPydanticAIModel(OpenAIChatModel("gpt-4.1-mini", provider=provider))
    agent = Agent(model, instructions="You are support.")
    with tenant_scope("acme"):
        result = await agent.run("How do I reset my password?")

Each ``request`` (and ``request_stream``) is keyed on the last user prompt
anywhere in the message history (a tool-result turn has none of its own, so
it keys on the question that started the loop), within a scope made of the
model's system and name, the rest of the history (timestamps, run ids,
provider ids and usage left out), the model settings (less transport
options) and the request parameters (tools with their schemas, output tools
and mode, instructions), plus tenant and agent. A hit makes no request: the
stored ``ModelResponse`` comes back with its tool-call ids, zero usage, a
fresh timestamp and no ``provider_response_id``; a streamed hit replays its
parts as stream events.

Hit metadata: ``response.metadata["agentcache"]`` (layer, similarity, entry
id, saving, ...) on every response this wrapper returns, so
``result.all_messages()[-1].metadata["agentcache"]`` tells how the last
answer was served; the wrapper's ``ledger`` has a ``CacheInfo`` per request.

Requests with server-side conversation state (``openai_previous_response_id``,
``openai_conversation_id`` in the settings) are passed through uncached.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

try:
    from pydantic_ai import RunContext
    from pydantic_ai.messages import (
        ModelMessage,
        ModelMessagesTypeAdapter,
        ModelRequest,
        ModelResponse,
        TextPart,
        ToolCallPart,
        UserPromptPart,
    )
    from pydantic_ai.models import (
        CompletedStreamedResponse,
        Model,
        ModelRequestParameters,
        StreamedResponse,
    )
    from pydantic_ai.models.wrapper import WrapperModel
    from pydantic_ai.settings import ModelSettings
    from pydantic_ai.usage import RequestUsage
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "agentcache.integrations.pydantic_ai needs pydantic-ai: "
        "pip install 'agentcache[pydantic-ai]'"
    ) from exc
from pydantic import TypeAdapter

from agentcache.integrations._model_cache import CoreBacked, ModelCall, ModelCallCache, info_dict
from agentcache.integrations._scope import ControlMode
from agentcache.llm._ledger import CacheInfo, Ledger
from agentcache.prompt_caching.costs import PriceTable, Usage
from agentcache.semantic import AsyncSemanticCache
from agentcache.settings import AgentCacheSettings
from agentcache.vectorizers import Vectorizer

__all__ = ["CachedPydanticAIModel"]

FRAMEWORK = "pydantic-ai"
_PARAMS = TypeAdapter(ModelRequestParameters)
# Settings that do not change the answer (deadlines, retries, transport headers).
_NEUTRAL_SETTINGS = frozenset(
    {"timeout", "request_timeout", "first_event_timeout", "max_retries", "extra_headers"}
)
# Server-side state the key cannot see: such requests are not cached.
_SERVER_STATE = ("openai_previous_response_id", "openai_conversation_id")
# Per-message and per-part fields that are bookkeeping, not what the model reads.
_MESSAGE_NOISE = frozenset(
    {
        "timestamp", "run_id", "conversation_id", "provider_response_id", "usage",
        "provider_details", "provider_name", "provider_url", "metadata", "model_name",
        "finish_reason", "state", "failed_attempts",
    }
)  # fmt: skip
_PART_NOISE = frozenset({"timestamp", "id", "provider_details", "provider_name", "metadata"})
_KEY = "<key>"


def _prompt_text(content: Any) -> str | None:
    """A user prompt's text, or None when it holds more than text (images, files)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list | tuple) and all(isinstance(c, str) for c in content):
        return "\n".join(content)
    return None


def _split(messages: list[ModelMessage]) -> tuple[str | None, list[Any]]:
    """(key text, the history as canonical JSON with the key prompt blanked)."""
    where: tuple[int, int] | None = None
    for mi in range(len(messages) - 1, -1, -1):
        message = messages[mi]
        if isinstance(message, ModelRequest):
            found = [pi for pi, p in enumerate(message.parts) if isinstance(p, UserPromptPart)]
            if found:
                where = (mi, found[-1])
                break
    dumped = ModelMessagesTypeAdapter.dump_python(messages, mode="json")
    history: list[Any] = []
    for message in dumped:
        clean = {k: v for k, v in message.items() if k not in _MESSAGE_NOISE}
        clean["parts"] = [
            {k: v for k, v in part.items() if k not in _PART_NOISE}
            for part in message.get("parts", [])
        ]
        history.append(clean)
    if where is None:
        return None, history
    part = messages[where[0]].parts[where[1]]
    assert isinstance(part, UserPromptPart)
    history[where[0]]["parts"][where[1]]["content"] = _KEY
    return _prompt_text(part.content), history


def _parameters(params: ModelRequestParameters) -> Any:
    dumped = _PARAMS.dump_python(params, mode="json")
    for name in ("revealed_tool_names", "introduced_tool_names", "deferred_capability_ids"):
        if isinstance(dumped.get(name), list):  # sets: their order varies between processes
            dumped[name] = sorted(dumped[name])
    return dumped


def _decode(payload: Any) -> ModelResponse | None:
    (stored,) = ModelMessagesTypeAdapter.validate_python([payload])
    return stored if isinstance(stored, ModelResponse) else None


def _usage(usage: RequestUsage) -> Usage:
    """agentcache ``Usage`` from pydantic-ai's (whose input tokens include cache reads/writes)."""
    read, written = usage.cache_read_tokens, usage.cache_write_tokens
    return Usage(
        input_tokens=max(usage.input_tokens - read - written, 0),
        cache_read_tokens=read,
        cache_write_tokens=written,
        output_tokens=usage.output_tokens,
    )


class CachedPydanticAIModel(CoreBacked, WrapperModel):
    """A pydantic-ai model whose requests are answered from the semantic cache when they can be.

    Args:
        wrapped: the model to wrap (a ``Model`` or a model name pydantic-ai knows).
        cache: an ``AsyncSemanticCache`` (not closed by ``aclose``); built from
            ``settings``/``vectorizer`` when omitted.
        tenant, agent: fixed ids; when None, from ``tenant_scope`` per request.
        mode, ttl, max_age, threshold: default per-request controls
            (``cache_controls`` around a run overrides them).
        ledger: one ``CacheInfo`` per request; prices: for the savings.
    """

    def __init__(
        self,
        wrapped: Model | str,
        *,
        cache: AsyncSemanticCache | None = None,
        settings: AgentCacheSettings | None = None,
        vectorizer: Vectorizer | None = None,
        tenant: str | None = None,
        agent: str | None = None,
        mode: ControlMode | None = None,
        ttl: int | None = None,
        max_age: float | None = None,
        threshold: float | None = None,
        ledger: Ledger | None = None,
        prices: PriceTable | None = None,
    ) -> None:
        super().__init__(wrapped)
        self._core = ModelCallCache(
            FRAMEWORK, cache=cache, settings=settings, vectorizer=vectorizer, tenant=tenant,
            agent=agent, mode=mode, ttl=ttl, max_age=max_age, threshold=threshold,
            ledger=ledger, prices=prices,
        )  # fmt: skip

    def _prepare(
        self, messages: list[ModelMessage], settings: ModelSettings | None,
        params: ModelRequestParameters,
    ) -> ModelCall:  # fmt: skip
        key, history = _split(messages)
        given: Mapping[str, Any] = settings or {}
        context = {
            "system": self.system,
            "history": history,
            "settings": {k: v for k, v in given.items() if k not in _NEUTRAL_SETTINGS},
            "parameters": _parameters(params),
        }
        skip = ""
        if any(given.get(name) for name in _SERVER_STATE):
            skip = "server-side conversation state (openai_previous_response_id / conversation)"
        return self._core.prepare(
            model=self.model_name, key_text=key, context=context,
            temperature=given.get("temperature"), skip=skip,
        )  # fmt: skip

    async def _lookup(self, call: ModelCall) -> ModelResponse | None:
        found = await self._core.lookup(call, _decode)
        if found is None:
            return None
        stored, info = found
        # Nothing was spent; and the stored provider id must not be chained from.
        return replace(
            stored,
            usage=RequestUsage(),
            timestamp=datetime.now(UTC),
            provider_response_id=None,
            metadata=self._with_info(stored.metadata, info),
        )

    def _with_info(self, metadata: dict[str, Any] | None, info: CacheInfo) -> dict[str, Any]:
        return {**(metadata or {}), "agentcache": info_dict(info)}

    async def _answered(
        self, call: ModelCall, response: ModelResponse, params: ModelRequestParameters
    ) -> ModelResponse:
        """Store a fresh response (when allowed); the response with its ``agentcache`` info."""
        tools = {t.name for t in params.function_tools}
        payload = ModelMessagesTypeAdapter.dump_python([response], mode="json")[0]
        info = await self._core.answered(
            call,
            payload=payload,
            text="".join(p.content for p in response.parts if isinstance(p, TextPart)),
            usage=_usage(response.usage),
            tool_use=any(
                isinstance(p, ToolCallPart) and p.tool_name in tools for p in response.parts
            ),
        )
        return replace(response, metadata=self._with_info(response.metadata, info))

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> ModelResponse:
        call = self._prepare(messages, model_settings, model_request_parameters)
        hit = await self._lookup(call)
        if hit is not None:
            return hit
        response = await self.wrapped.request(messages, model_settings, model_request_parameters)
        if response.state != "complete":  # suspended or cut short: nothing to keep
            return response
        return await self._answered(call, response, model_request_parameters)

    @asynccontextmanager
    async def request_stream(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
        run_context: RunContext[Any] | None = None,
    ) -> AsyncGenerator[StreamedResponse]:
        call = self._prepare(messages, model_settings, model_request_parameters)
        hit = await self._lookup(call)
        if hit is not None:
            yield CompletedStreamedResponse(
                hit, model_request_parameters=model_request_parameters, replay_events=True
            )
            return
        async with self.wrapped.request_stream(
            messages, model_settings, model_request_parameters, run_context
        ) as stream:
            yield stream
        # The consumer has left the block: store only a stream it read to the end.
        # (pydantic-ai has built its message from the stream by now: the info of a
        # streamed miss is in the ledger only.)
        response = stream.get()
        if response.state == "complete":
            await self._answered(call, response, model_request_parameters)

    async def aclose(self) -> None:
        """Close the semantic cache if this wrapper built it (the wrapped model stays open)."""
        await self._core.aclose()
