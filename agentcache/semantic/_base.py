"""What the sync and async semantic caches share without I/O: construction, counting.

The logic without I/O is in ``_core`` (and its parts); ``_async.AsyncSemanticCache``
adds the Redis I/O, and ``_sync.SemanticCache`` is generated from it.
"""

from __future__ import annotations

import functools
import logging
import random
from typing import Any

from redisvl.schema import IndexSchema

from agentcache._redis.faults import FaultGuard
from agentcache._redis.replies import search_rows
from agentcache.exceptions import ConfigurationError
from agentcache.metrics._counters import (
    ERRORS,
    EVICTIONS,
    EXACT_HITS,
    EXPLORES,
    GUARD_VETOES,
    HITS,
    MISSES,
    SHADOW_HITS,
    STORES,
    Metrics,
    current_scope,
)
from agentcache.semantic._core import SemanticCore
from agentcache.semantic._policy import DecisionPolicy, policy_from_settings
from agentcache.semantic._queries import SemanticQueries
from agentcache.semantic._schema import build_schema
from agentcache.semantic._types import CacheStats, CheckResult, Scope
from agentcache.settings import AgentCacheSettings
from agentcache.vectorizers import Vectorizer, as_vectorizer, vectorizer_from_settings

logger = logging.getLogger("agentcache.semantic")

_BATCH = 1000
_LAYER = "semantic"


def _default_policy(settings: AgentCacheSettings) -> DecisionPolicy:
    return policy_from_settings(settings)


def _total(reply: Any) -> int:
    return search_rows(reply)[0]


def _ids(reply: Any) -> list[str]:
    return [key for key, _ in search_rows(reply)[1]]


class _SemanticBase:
    """Construction shared by the sync and async caches."""

    def __init__(
        self,
        settings: AgentCacheSettings | None,
        vectorizer: Vectorizer | None,
        policy: DecisionPolicy | None,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings or AgentCacheSettings()
        self.vectorizer: Vectorizer = (
            vectorizer_from_settings(self.settings)
            if vectorizer is None
            else as_vectorizer(vectorizer)
        )
        if self.vectorizer.dims != self.settings.embeddings.dims:
            raise ConfigurationError(
                f"vectorizer {self.vectorizer.model} returns {self.vectorizer.dims}-dim vectors "
                f"but AGENTCACHE_EMBEDDINGS__DIMS is {self.settings.embeddings.dims}"
            )
        self.core = SemanticCore(self.settings, policy or _default_policy(self.settings), rng=rng)
        self.core.vector_model = self.vectorizer.model
        self.queries = SemanticQueries(self.core)
        # A bad schema file is a setup error: named now, not at the first call.
        first = self.core.initial_state()
        self._schema_for(first.physical, first.entry_prefix)
        # Replaced by the subclass once its client exists (metrics may count into it).
        self.metrics = Metrics(enabled=False)
        self._owns_metrics = False
        self.guard = FaultGuard(
            self.settings.reliability,
            layer="semantic",
            on_fault=self._count_fault,
            on_latency=self._observe,
        )
        self.embed_guard = FaultGuard(
            self.settings.reliability,
            layer="embedding",
            on_fault=self._count_fault,
            on_latency=self._observe,
        )

    def _use_metrics(self, metrics: Metrics | None, client: object) -> None:
        self._owns_metrics = metrics is None
        self.metrics = metrics or Metrics.from_settings(self.settings, client=client)

    # Faults and latencies belong to the tenant/agent bound by core.scope().
    def _count_fault(self, operation: str, exc: BaseException) -> None:
        self.core.stats.errors += 1
        self.metrics.count(_LAYER, ERRORS, *current_scope())

    def _observe(self, operation: str, seconds: float) -> None:
        self.metrics.observe(_LAYER, operation, seconds)

    def _count_stores(self, scope: Scope, stored: int, evicted: int) -> None:
        self.core.stats.stores += stored
        self.core.stats.evictions += evicted
        self.metrics.count(_LAYER, STORES, scope.tenant, scope.agent, stored)
        if evicted:
            self.metrics.count(_LAYER, EVICTIONS, scope.tenant, scope.agent, evicted)

    @property
    def stats(self) -> CacheStats:
        return self.core.stats

    # On a Redis Cluster each primary has its own index (see _cluster.py).
    def _index_spec(self) -> tuple[str, str]:
        state = self.core.require_state()
        return state.physical, state.entry_prefix

    def _schema_for(self, name: str, entry_prefix: str) -> IndexSchema:
        """The schema of a (re)created index: the recorded version's datatype, not the settings'.

        After a float16 migration the settings may still say float32; an index lost
        in a restart must come back over the float16 vectors it had.
        """
        settings = self.settings
        state = self.core.state
        if state is not None and state.datatype != settings.semantic.vector_datatype:
            semantic = settings.semantic.model_copy(update={"vector_datatype": state.datatype})
            settings = settings.model_copy(update={"semantic": semantic})
        return build_schema(settings, index_name=name, key_prefix=entry_prefix)

    @property
    def policy(self) -> DecisionPolicy:
        return self.core.policy

    def _record_miss(self) -> None:
        self.core.stats.misses += 1
        self.metrics.count(_LAYER, MISSES, *current_scope())

    def _unavailable(self) -> CheckResult:
        self._record_miss()
        return CheckResult(None, "unavailable")

    def _finish(self, result: CheckResult, scope: Scope) -> CheckResult:
        """Count (and in shadow mode log) a decided lookup."""
        stats, tenant, agent = self.core.stats, scope.tenant, scope.agent
        count = functools.partial(self.metrics.count, _LAYER, tenant=tenant, agent=agent)
        if result.reason.startswith("guard:"):
            stats.guard_vetoes += 1
            count(GUARD_VETOES)
        if result.explore:
            stats.explores += 1
            count(EXPLORES)
        hit = result.hit
        if hit is not None:
            stats.hits += 1
            count(HITS)
            if hit.exact:
                stats.exact_hits += 1
                count(EXACT_HITS)
            return result
        stats.misses += 1
        count(MISSES)
        if result.shadow and result.accepted:
            stats.shadow_hits += 1
            count(SHADOW_HITS)
        if result.shadow:
            _log_shadow(result, scope)
        elif result.explore and result.candidate is not None:
            logger.debug(
                "explore (a miss, to verify): tenant=%r agent=%r entry=%s similarity=%.4f "
                "accepted=%s", scope.tenant, scope.agent, result.candidate.entry_id,
                result.candidate.similarity, result.accepted,
            )  # fmt: skip
        return result


def _log_shadow(result: CheckResult, scope: Scope) -> None:
    """One line per shadow lookup: the best candidate and what the policy decided."""
    cand = result.candidate
    verdict = "would-hit" if result.accepted else "declined"
    if cand is None:
        logger.debug(
            "shadow lookup: decision=%s reason=%s tenant=%r agent=%r (no candidates)",
            verdict, result.reason, scope.tenant, scope.agent,
        )  # fmt: skip
        return
    logger.info(
        "shadow lookup: decision=%s reason=%s tenant=%r agent=%r entry=%s similarity=%.4f "
        "exact=%s", verdict, result.reason, scope.tenant, scope.agent, cand.entry_id,
        cand.similarity, cand.exact,
    )  # fmt: skip
