"""The model-call cache behind the agent-framework wrappers (OpenAI Agents SDK, pydantic-ai).

A framework hands its model wrapper one call at a time: the instructions, the
conversation so far, the tools, the model settings. The wrapper splits that
into the *key text* (the last user turn, matched semantically) and the
*context* (everything else, hashed into the scope), and this module does the
rest the same way for every framework: tenant/agent and per-request controls
(``tenant_scope`` / ``cache_controls``), the skip rules of the cached clients
(``llm.max_cacheable_temperature``, ``llm.cache_tool_use``, prompt length),
the semantic lookup and store, the explore step's feedback, and one
``CacheInfo`` per call in the ledger (and the ``llm`` metrics layer).

No framework is imported here; the wrappers translate their objects to and
from plain JSON (the stored payload) themselves.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import openai
from pydantic import BaseModel

from agentcache._redis import keys as _keys
from agentcache.integrations._scope import (
    CacheControls,
    ControlMode,
    resolve_controls,
    resolve_scope,
)
from agentcache.llm._core import answers_verdict, count_model_call, vectors_agree
from agentcache.llm._ledger import CacheInfo, Ledger
from agentcache.metrics._counters import Metrics
from agentcache.prompt_caching.costs import PriceTable, Usage
from agentcache.semantic import AsyncSemanticCache, CheckResult
from agentcache.settings import AgentCacheSettings
from agentcache.vectorizers import Vectorizer

logger = logging.getLogger("agentcache.integrations")

FORMAT = 1  # version of the stored payload envelope
_MODEL_CHARS = 80  # of the model name shown in the scope string (the digest has all of it)
_SENTINELS = (openai.NotGiven, openai.Omit)
_MAX_DEPTH = 32
T = TypeVar("T")


class _Drop:
    """Marks a value that says nothing about the answer (an SDK sentinel, a callable)."""


_DROP = _Drop()


def plain(value: Any, depth: int = 0) -> Any:
    """``value`` as canonical JSON data: the same on every run and in every process.

    SDK sentinels (``openai.omit``), callables and None-valued mapping entries
    are left out (they change nothing a model sees); sets are sorted; pydantic
    models and dataclasses become their fields; anything else becomes its type
    name, never ``str(obj)`` (a memory address would make every digest unique).
    Below ``_MAX_DEPTH`` levels (a cycle) only type names are kept.
    """
    if depth > _MAX_DEPTH:
        return f"<{type(value).__qualname__}>"
    depth += 1
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, _SENTINELS) or (callable(value) and not isinstance(value, BaseModel)):
        return _DROP
    if isinstance(value, enum.Enum):
        return plain(value.value, depth)
    if isinstance(value, BaseModel):
        return plain(value.model_dump(mode="json", exclude_none=True), depth)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return plain({f.name: getattr(value, f.name) for f in dataclasses.fields(value)}, depth)
    if isinstance(value, Mapping):
        out = {str(k): plain(v, depth) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not None and v is not _DROP}
    if isinstance(value, set | frozenset):
        items = [plain(v, depth) for v in value]
        return sorted((v for v in items if v is not _DROP), key=_dumps)
    if isinstance(value, list | tuple):
        return [v for v in (plain(v, depth) for v in value) if v is not _DROP]
    if isinstance(value, bytes | bytearray):
        return "sha256:" + hashlib.sha256(value).hexdigest()
    return f"<{type(value).__qualname__}>"


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def scope_of(framework: str, model: str, context: Mapping[str, Any]) -> str:
    """The semantic cache's exact-match scope for one call: framework, model, context digest."""
    canonical = _dumps(plain({"model": model, **context}))
    return f"{framework}:{model[:_MODEL_CHARS]}:{_keys.digest(canonical)}"


@dataclass
class ModelCall:
    """One model call as the cache sees it (built by ``ModelCallCache.prepare``)."""

    framework: str
    tenant: str
    agent: str
    model: str
    key_text: str | None
    scope: str
    controls: CacheControls
    skip_reason: str  # why the cache is not used at all ("" when it is)
    started: float
    found: CheckResult | None = None

    @property
    def lookup(self) -> bool:
        return not self.skip_reason and self.controls.lookup

    @property
    def store(self) -> bool:
        return not self.skip_reason and self.controls.store


class ModelCallCache:
    """Lookup, store and bookkeeping of framework model calls on the semantic cache.

    Args:
        framework: names the wrapper in scopes, ledgers and error messages.
        cache: the ``AsyncSemanticCache`` to use (not closed by ``aclose``);
            built from ``settings`` (and ``vectorizer``) when omitted, then owned.
        tenant, agent: fixed ids; when None, taken per call from ``tenant_scope``
            (a call with no tenant anywhere raises ``InvalidInputError``; the agent
            falls back to the framework's name, as in every integration).
        mode, ttl, max_age, threshold: default ``cache_controls`` for every call;
            a ``cache_controls`` block around a call overrides them.
        ledger: collects one ``CacheInfo`` per call (a new ``Ledger`` when omitted).
        prices: prices the saving of a hit (default: from settings).
    """

    def __init__(
        self,
        framework: str,
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
        self.framework = framework
        self.tenant = None if tenant is None else _keys.validate_id(tenant, "tenant")
        self.agent = None if agent is None else _keys.validate_id(agent, "agent")
        self.defaults = CacheControls(mode=mode, ttl=ttl, max_age=max_age, threshold=threshold)
        if cache is not None:
            self.settings = settings or cache.settings
        else:
            self.settings = settings or AgentCacheSettings()
        self._owns_cache = cache is None
        self.cache = (
            cache if cache is not None else AsyncSemanticCache(self.settings, vectorizer=vectorizer)
        )
        metrics = getattr(self.cache, "metrics", None)
        self.metrics = metrics if isinstance(metrics, Metrics) else Metrics(enabled=False)
        self.ledger = ledger or Ledger()
        self.prices = prices or PriceTable.from_settings(self.settings)

    # -- one call --------------------------------------------------------------------------

    def prepare(
        self,
        *,
        model: str,
        key_text: str | None,
        context: Mapping[str, Any],
        temperature: Any = None,
        skip: str = "",
    ) -> ModelCall:
        """The call's tenant, agent, controls, scope and skip reason (no I/O).

        ``skip`` is a reason of the wrapper's own not to use the cache (server-side
        conversation state, say); the shared rules are checked after it.
        """
        integration = f"agentcache.integrations.{self.framework}"
        tenant, agent = resolve_scope(
            self.tenant, self.agent, default_agent=self.framework, integration=integration
        )
        controls = resolve_controls(self.defaults)
        llm = self.settings.llm
        reason = skip
        if not reason and not (controls.lookup or controls.store):
            reason = "bypass requested"
        elif (
            not reason
            and isinstance(temperature, int | float)
            and not isinstance(temperature, bool)
            and temperature > llm.max_cacheable_temperature
        ):
            reason = f"temperature {temperature} > {llm.max_cacheable_temperature}"
        elif not reason and (key_text is None or not key_text.strip()):
            reason = "no user text to key on"
        elif (
            not reason
            and key_text is not None
            and (len(key_text) > self.settings.semantic.max_prompt_chars)
        ):
            reason = "last user turn longer than semantic.max_prompt_chars"
        return ModelCall(
            framework=self.framework,
            tenant=tenant,
            agent=agent,
            model=model,
            key_text=key_text,
            scope=scope_of(self.framework, model, context),
            controls=controls,
            skip_reason=reason,
            started=time.perf_counter(),
        )

    async def lookup(
        self, call: ModelCall, decode: Callable[[Any], T | None]
    ) -> tuple[T, CacheInfo] | None:
        """The stored answer for ``call`` and how it was served, or None (a miss, a skip,
        a store-only call, or an entry ``decode`` cannot turn back into a framework
        answer: then the model is asked, and its answer replaces the entry)."""
        if not call.lookup or call.key_text is None:
            return None
        found = await self.cache.lookup(
            call.key_text,
            tenant=call.tenant,
            agent=call.agent,
            model=call.scope,
            threshold=call.controls.threshold,
            max_age=call.controls.max_age,
        )
        call.found = found
        hit = found.hit
        if hit is None:
            return None
        meta = hit.metadata
        if meta.get("format") != FORMAT or meta.get("framework") != self.framework:
            return None
        try:
            stored = Usage.model_validate(meta.get("usage") or {})
            answer = decode(meta["response"])
        except (KeyError, ValueError, TypeError):  # pydantic's ValidationError is a ValueError
            answer = None
        if answer is None:
            return None
        info = CacheInfo(
            provider=self.framework,
            model=call.model,
            tenant=call.tenant,
            agent=call.agent,
            layer="exact" if hit.exact else "semantic",
            latency_s=time.perf_counter() - call.started,
            cost=self.prices.semantic_hit(call.model, stored),
            prompt=call.key_text,
            similarity=hit.similarity,
            entry_id=hit.entry_id,
            note=f"cached prompt: {hit.prompt}",
        )
        self._record(call, info)
        return answer, info

    async def answered(
        self, call: ModelCall, *, payload: Any, text: str, usage: Usage, tool_use: bool
    ) -> CacheInfo:
        """Store a fresh answer when the call allows it; its ``CacheInfo`` (recorded).

        ``payload`` is the framework's answer as JSON data (what a hit hands
        back), ``text`` its text (what the explore step compares), ``tool_use``
        whether it asks the caller to run a tool (stored only with
        ``llm.cache_tool_use``).
        """
        text = text or "(no text)"
        store, note = call.store, call.skip_reason
        if store and tool_use and not self.settings.llm.cache_tool_use:
            store, note = False, "tool-use answer not stored (llm.cache_tool_use is off)"
        elif not call.controls.store and not call.skip_reason:
            note = "lookup-only: not stored"
        found = call.found
        if found is not None and found.explore and found.candidate is not None:
            correct = await self._verify(call, found, text)
            if correct and found.accepted and not found.shadow:
                store, note = False, "not stored: the cached answer was right"
        entry = None
        if store and call.key_text is not None:
            entry = await self.cache.store(
                call.key_text,
                text,
                tenant=call.tenant,
                agent=call.agent,
                model=call.scope,
                metadata={
                    "format": FORMAT,
                    "framework": self.framework,
                    "response": payload,
                    "usage": usage.model_dump(),
                },
                ttl=call.controls.ttl,
            )
        info = CacheInfo(
            provider=self.framework,
            model=call.model,
            tenant=call.tenant,
            agent=call.agent,
            layer="provider",
            latency_s=time.perf_counter() - call.started,
            cost=self.prices.cost(call.model, usage),
            prompt=call.key_text or "",
            stored=entry is not None,
            entry_id=entry,
            note=note,
        )
        self._record(call, info)
        return info

    async def _verify(self, call: ModelCall, found: CheckResult, fresh: str) -> bool | None:
        """The explore step: is the fresh answer the withheld one? Sends the feedback."""
        cand = found.candidate
        assert cand is not None
        correct = answers_verdict(cand.response, fresh)
        if correct is None:
            try:
                pair = await self.cache.vectorizer.aembed_many([cand.response, fresh])
            except Exception as exc:  # an embedder fault leaves it undecided, never fails
                logger.warning("explore: answers not compared (%s: %s)", type(exc).__name__, exc)
                return None
            correct = vectors_agree(pair[0], pair[1])
        await self.cache.feedback(
            cand.entry_id, correct, tenant=call.tenant, similarity=cand.similarity
        )
        return correct

    def _record(self, call: ModelCall, info: CacheInfo) -> None:
        """Ledger and metrics (layer ``llm``, as the cached clients count)."""
        self.ledger.add(info)
        count_model_call(self.metrics, info, call.tenant, call.agent, looked_up=call.lookup)

    async def aclose(self) -> None:
        """Close the semantic cache if this object built it."""
        if self._owns_cache:
            self._owns_cache = False
            await self.cache.aclose()


class CoreBacked:
    """The ``cache`` and ``ledger`` of a framework wrapper built on a ``ModelCallCache``."""

    _core: ModelCallCache

    @property
    def cache(self) -> AsyncSemanticCache:
        return self._core.cache

    @property
    def ledger(self) -> Ledger:
        return self._core.ledger


def info_dict(info: CacheInfo) -> dict[str, Any]:
    """``CacheInfo`` as JSON data (for frameworks that keep hit metadata in a message)."""
    return {
        "layer": info.layer,
        "hit": info.hit,
        "tenant": info.tenant,
        "agent": info.agent,
        "model": info.model,
        "prompt": info.prompt,
        "similarity": info.similarity,
        "entry_id": info.entry_id,
        "stored": info.stored,
        "note": info.note,
        "saved_usd": info.cost.saved_usd,
        "latency_s": info.latency_s,
    }
