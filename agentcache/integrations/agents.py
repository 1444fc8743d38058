"""OpenAI Agents SDK: a ``Model`` and a ``ModelProvider`` that answer repeats from the cache.

Wrap the model an agent uses, or the provider that resolves model names::

    from agents import Agent, Runner, RunConfig
    from agentcache.integrations import tenant_scope
    from agentcache.integrations.agents import CachedAgentsModel, CachedAgentsModelProvider

    agent = Agent(name="support", instructions="...",
                  model=CachedAgentsModel(OpenAIChatCompletionsModel("gpt-4.1-mini", client)))
    # or, for agents whose model is a name: RunConfig(model_provider=CachedAgentsModelProvider())
    with tenant_scope("acme"):
        result = await Runner.run(agent, "How do I reset my password?")

Each model call (``get_response`` and ``stream_response``) is keyed on the last
user input item, within a scope made of the model name, the system
instructions, every other input item (item ``id``s left out: they are the
provider's), the tools, handoffs and output schema, the model settings (less
transport options and the runner's per-run ``prompt_cache_key``) and the
prompt template, plus tenant and agent. A hit makes no model request: it
returns the stored output items (tool calls keep their stored ``call_id``, so
a repeated tool loop hits on every turn) with zero usage and no
``response_id``; a streamed hit replays them as Responses stream events ending
in ``response.completed``, which is what the runner reads.

Hit metadata: ``cache_info(result.raw_responses[i])`` for ``Runner.run`` (the
``ModelResponse`` carries it); a streamed run's ``ModelResponse`` is rebuilt by
the runner, so read it from the ``response.completed`` raw event
(``cache_info(event.data.response)``) or from the wrapper's ``ledger``.

Calls carrying server-side conversation state (``previous_response_id``,
``conversation_id``) are passed through uncached: the key cannot see that
state, and a hit would leave the server's conversation without the turn.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

try:
    from agents import Model, ModelProvider, ModelResponse, ModelSettings, ModelTracing
    from agents import Usage as AgentsUsage
    from agents.agent_output import AgentOutputSchemaBase
    from agents.handoffs import Handoff
    from agents.items import TResponseInputItem, TResponseStreamEvent
    from agents.models.multi_provider import MultiProvider
    from agents.tool import Tool
    from openai.types.responses import (
        Response,
        ResponseCompletedEvent,
        ResponseOutputItem,
        ResponseOutputItemDoneEvent,
    )
    from openai.types.responses.response_prompt_param import ResponsePromptParam
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "agentcache.integrations.agents needs the OpenAI Agents SDK: "
        "pip install 'agentcache[agents]'"
    ) from exc
from pydantic import TypeAdapter

from agentcache.integrations._model_cache import CoreBacked, ModelCall, ModelCallCache, plain
from agentcache.integrations._responses_replay import mark, replay_events
from agentcache.integrations._scope import ControlMode
from agentcache.llm._ledger import CacheInfo, Ledger
from agentcache.prompt_caching.costs import PriceTable, Usage
from agentcache.semantic import AsyncSemanticCache
from agentcache.settings import AgentCacheSettings
from agentcache.vectorizers import Vectorizer

__all__ = ["CachedAgentsModel", "CachedAgentsModelProvider"]

FRAMEWORK = "agents"
_OUTPUT = TypeAdapter(list[ResponseOutputItem])
# Model settings that do not change the answer (transport, bookkeeping, retries).
_NEUTRAL_SETTINGS = frozenset(
    {
        "extra_headers", "extra_query", "retry", "timeout", "metadata", "store",
        "include_usage", "preserve_raw_usage", "prompt_cache_retention", "prompt_cache_options",
    }
)  # fmt: skip
# Output items that ask the caller to act (run a tool, approve, hand off).
_TOOL_USE = frozenset(
    {
        "function_call", "custom_tool_call", "computer_call", "local_shell_call",
        "shell_call", "apply_patch_call", "mcp_approval_request",
    }
)  # fmt: skip


def _user_text(item: Any) -> str | None:
    """The text of a user input item, or None when it is not plain user text."""
    if not isinstance(item, Mapping) or item.get("role") != "user":
        return None
    if item.get("type", "message") != "message":
        return None
    content = item.get("content")
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return None
    parts: list[str] = []
    for part in content:
        if not isinstance(part, Mapping) or part.get("type") != "input_text":
            return None  # an image or a file: a text key cannot stand for it
        parts.append(str(part.get("text", "")))
    return "\n".join(parts)


def _split_input(input: str | list[TResponseInputItem]) -> tuple[str | None, list[Any]]:
    """(key text, the other items with the key replaced by a marker)."""
    if isinstance(input, str):
        return input, ["<key>"]
    items = [plain(item) for item in input]
    last = max(
        (i for i, it in enumerate(items) if isinstance(it, dict) and it.get("role") == "user"),
        default=-1,
    )
    if last < 0:
        return None, items
    key = _user_text(items[last])
    # Item ids are the provider's, new on every response: they say nothing to the model.
    rest = [{k: v for k, v in it.items() if k != "id"} if isinstance(it, dict) else it
            for it in items]  # fmt: skip
    rest[last] = "<key>"
    return key, rest


def _tool(tool: Any) -> Any:
    """What a tool shows the model: a function tool's schema, a hosted tool's settings."""
    if hasattr(tool, "params_json_schema"):
        return {
            "name": tool.name,
            "description": getattr(tool, "description", None),
            "parameters": tool.params_json_schema,
            "strict": getattr(tool, "strict_json_schema", None),
        }
    fields = {
        name: value
        for name, value in vars(tool).items()
        if not name.startswith("_") and isinstance(value, str | int | float | bool | list | dict)
    }
    return {"type": type(tool).__name__, **fields}


def _settings(model_settings: ModelSettings) -> dict[str, Any]:
    settings = {
        k: v for k, v in model_settings.to_json_dict().items() if k not in _NEUTRAL_SETTINGS
    }
    extra = dict(settings.get("extra_args") or {})
    extra.pop("prompt_cache_key", None)  # the runner's per-run key would make every run unique
    settings["extra_args"] = extra
    return settings


def _usage(usage: AgentsUsage | Any) -> Usage:
    """agentcache ``Usage`` from the SDK's (whose input tokens include the cached ones)."""
    details = getattr(usage, "input_tokens_details", None)
    inputs = int(getattr(usage, "input_tokens", 0) or 0)
    cached = min(int(getattr(details, "cached_tokens", 0) or 0), inputs)
    return Usage(
        input_tokens=inputs - cached,
        cache_read_tokens=cached,
        output_tokens=int(getattr(usage, "output_tokens", 0) or 0),
    )


def _decode(payload: Any) -> list[ResponseOutputItem]:
    return _OUTPUT.validate_python(payload["output"])


def _text(output: Sequence[Any]) -> str:
    return "".join(
        part.text
        for item in output
        if getattr(item, "type", None) == "message"
        for part in item.content
        if getattr(part, "type", None) == "output_text"
    )


class CachedAgentsModel(CoreBacked, Model):
    """An Agents SDK ``Model`` whose calls are answered from the semantic cache when they can be.

    Args:
        model: the ``Model`` to wrap (``OpenAIResponsesModel``,
            ``OpenAIChatCompletionsModel``, any other).
        model_name: the name in the scope (default: the wrapped model's ``model``).
        cache: an ``AsyncSemanticCache`` (not closed by ``close``); built from
            ``settings``/``vectorizer`` when omitted.
        tenant, agent: fixed ids; when None, from ``tenant_scope`` per call.
        mode, ttl, max_age, threshold: default per-request controls
            (``cache_controls`` around a run overrides them).
        ledger: one ``CacheInfo`` per call; prices: for the savings.
    """

    def __init__(
        self,
        model: Model,
        *,
        model_name: str | None = None,
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
        self.model = model
        self.model_name = model_name or str(getattr(model, "model", "") or type(model).__name__)
        self._core = ModelCallCache(
            FRAMEWORK, cache=cache, settings=settings, vectorizer=vectorizer, tenant=tenant,
            agent=agent, mode=mode, ttl=ttl, max_age=max_age, threshold=threshold,
            ledger=ledger, prices=prices,
        )  # fmt: skip

    def _prepare(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        previous_response_id: str | None,
        conversation_id: str | None,
        prompt: ResponsePromptParam | None,
    ) -> ModelCall:
        key, rest = _split_input(input)
        context = {
            "instructions": system_instructions,
            "input": rest,
            "settings": _settings(model_settings),
            "tools": [_tool(t) for t in tools],
            "handoffs": [
                {
                    "name": h.tool_name,
                    "description": h.tool_description,
                    "parameters": h.input_json_schema,
                }
                for h in handoffs
            ],
            "output": None
            if output_schema is None or output_schema.is_plain_text()
            else [output_schema.json_schema(), output_schema.is_strict_json_schema()],
            "prompt": prompt,
        }
        skip = ""
        if previous_response_id or conversation_id:
            skip = "server-side conversation state (previous_response_id / conversation_id)"
        return self._core.prepare(
            model=self.model_name, key_text=key, context=context,
            temperature=model_settings.temperature, skip=skip,
        )  # fmt: skip

    async def _store(self, call: ModelCall, output: Sequence[Any], usage: Usage) -> CacheInfo:
        return await self._core.answered(
            call,
            payload={"output": [o.model_dump(mode="json", exclude_none=True) for o in output]},
            text=_text(output),
            usage=usage,
            tool_use=any(getattr(o, "type", None) in _TOOL_USE for o in output),
        )

    async def get_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None,
        conversation_id: str | None,
        prompt: ResponsePromptParam | None,
    ) -> ModelResponse:
        call = self._prepare(
            system_instructions, input, model_settings, tools, output_schema, handoffs,
            previous_response_id, conversation_id, prompt,
        )  # fmt: skip
        found = await self._core.lookup(call, _decode)
        if found is not None:
            output, info = found
            response = ModelResponse(output=output, usage=AgentsUsage(), response_id=None)
            mark(response, info)
            return response
        response = await self.model.get_response(
            system_instructions, input, model_settings, tools, output_schema, handoffs, tracing,
            previous_response_id=previous_response_id, conversation_id=conversation_id,
            prompt=prompt,
        )  # fmt: skip
        mark(response, await self._store(call, response.output, _usage(response.usage)))
        return response

    async def stream_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None,
        conversation_id: str | None,
        prompt: ResponsePromptParam | None,
    ) -> AsyncIterator[TResponseStreamEvent]:
        call = self._prepare(
            system_instructions, input, model_settings, tools, output_schema, handoffs,
            previous_response_id, conversation_id, prompt,
        )  # fmt: skip
        found = await self._core.lookup(call, _decode)
        if found is not None:
            for event in replay_events(self.model_name, *found):
                yield event
            return
        completed: Response | None = None
        done_items: list[Any] = []
        async for event in self.model.stream_response(
            system_instructions, input, model_settings, tools, output_schema, handoffs, tracing,
            previous_response_id=previous_response_id, conversation_id=conversation_id,
            prompt=prompt,
        ):  # fmt: skip
            if isinstance(event, ResponseCompletedEvent):
                completed = event.response
            elif isinstance(event, ResponseOutputItemDoneEvent):
                done_items.append(event.item)
            yield event
        # Reached only when the consumer drained the stream to its end: store then.
        if completed is not None:
            items = completed.output or done_items
            usage = _usage(completed.usage) if completed.usage is not None else Usage()
            mark(completed, await self._store(call, items, usage))

    def _supports_default_prompt_cache_key(self) -> bool:
        # The runner's per-run prompt_cache_key still reaches the provider (its prompt
        # cache works as without the wrapper); the scope leaves it out.
        supports = getattr(self.model, "_supports_default_prompt_cache_key", None)
        return bool(supports()) if callable(supports) else False

    async def _cleanup_on_run_end(self, owner: object) -> None:
        await self.model._cleanup_on_run_end(owner)

    def get_retry_advice(self, request: Any) -> Any:
        return self.model.get_retry_advice(request)

    async def close(self) -> None:
        """Close the wrapped model, and the semantic cache if this wrapper built it."""
        await self.model.close()
        await self._core.aclose()


class CachedAgentsModelProvider(ModelProvider):
    """A ``ModelProvider`` whose models are ``CachedAgentsModel`` wrappers over another's.

    For agents whose ``model`` is a name (or None): pass it as
    ``RunConfig(model_provider=...)``. An agent whose ``model`` is a ``Model``
    instance never asks a provider: wrap that instance in ``CachedAgentsModel``.

    Args:
        provider: the provider to wrap (default: the SDK's ``MultiProvider``).
        cache, settings, vectorizer: as ``CachedAgentsModel``; one semantic cache
            (and one ledger) is shared by every model this provider hands out,
            and closed by ``aclose`` when built here.
        The other keyword arguments are passed to every ``CachedAgentsModel``.
    """

    def __init__(
        self,
        provider: ModelProvider | None = None,
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
        self.provider = provider if provider is not None else MultiProvider()
        self._owns_cache = cache is None
        self.cache = (
            cache if cache is not None else AsyncSemanticCache(settings, vectorizer=vectorizer)
        )
        self.ledger = ledger or Ledger()
        self._options: dict[str, Any] = {
            "settings": settings, "tenant": tenant, "agent": agent, "mode": mode, "ttl": ttl,
            "max_age": max_age, "threshold": threshold, "prices": prices,
        }  # fmt: skip
        self._models: dict[str | None, CachedAgentsModel] = {}

    def get_model(self, model_name: str | None) -> Model:
        model = self._models.get(model_name)
        if model is None:
            inner = self.provider.get_model(model_name)
            name = str(getattr(inner, "model", "") or model_name or type(inner).__name__)
            model = CachedAgentsModel(
                inner, model_name=name, cache=self.cache, ledger=self.ledger, **self._options
            )
            self._models[model_name] = model
        return model

    async def aclose(self) -> None:
        """Close the wrapped provider, and the semantic cache if this provider built it."""
        await self.provider.aclose()
        if self._owns_cache:
            self._owns_cache = False
            await self.cache.aclose()
