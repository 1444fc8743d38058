"""The semantic response cache: LLM answers reused for semantically similar prompts.

Every lookup is one filtered KNN query on a RediSearch HNSW index (tenant AND
agent, and model when given), followed by a decision policy over the top-k
candidates. An exact repeat of a stored prompt is answered from its entry key
before any embedding is computed.

Example::

    cache = SemanticCache(settings)
    cache.store("What is our refund window?", "30 days.", tenant="acme", agent="support")
    hit = cache.check("How long do I have to get a refund?", tenant="acme", agent="support")
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import time
from collections.abc import Mapping, Sequence
from typing import Any

import redis
from redisvl.index import AsyncSearchIndex, SearchIndex
from redisvl.schema import IndexSchema

from agentcache._cluster import (
    aeval_pipelined,
    async_cluster_search,
    cluster_search,
    eval_pipelined,
)
from agentcache._faults import FaultGuard
from agentcache._policy import DecisionPolicy, policy_from_settings
from agentcache._redis import (
    AsyncClient,
    SyncClient,
    acheck_modules,
    async_client,
    check_modules,
    sync_client,
)
from agentcache._schema import build_schema
from agentcache._semantic_core import (
    EXACT_SCRIPT,
    EXPLORES,
    FEEDBACK_ATTEMPTS,
    FEEDBACK_SCRIPT,
    GUARD_VETOES,
    STORE_SCRIPT,
    TOUCH_SCRIPT,
    CacheHit,
    CacheStats,
    CheckResult,
    IndexState,
    Scope,
    SemanticCore,
    is_missing_index,
    search_rows,
)
from agentcache.exceptions import ConfigurationError, InvalidInputError
from agentcache.metrics import (
    ERRORS,
    EVICTIONS,
    EXACT_HITS,
    HITS,
    MISSES,
    SHADOW_HITS,
    STORES,
    Metrics,
    current_scope,
)
from agentcache.settings import AgentCacheSettings
from agentcache.vectorizers import Vector, Vectorizer, vectorizer_from_settings

logger = logging.getLogger("agentcache.semantic")

__all__ = ["AsyncSemanticCache", "CacheHit", "CheckResult", "SemanticCache"]

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
        self.vectorizer: Vectorizer = vectorizer or vectorizer_from_settings(self.settings)
        if self.vectorizer.dims != self.settings.embeddings.dims:
            raise ConfigurationError(
                f"vectorizer {self.vectorizer.model} returns {self.vectorizer.dims}-dim vectors "
                f"but AGENTCACHE_EMBEDDINGS__DIMS is {self.settings.embeddings.dims}"
            )
        self.core = SemanticCore(self.settings, policy or _default_policy(self.settings), rng=rng)
        self.core.vector_model = self.vectorizer.model
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
        return build_schema(self.settings, index_name=name, key_prefix=entry_prefix)

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


class SemanticCache(_SemanticBase):
    """Semantic response cache on a RediSearch HNSW index (synchronous).

    Args:
        settings: the shared settings; defaults to ``AgentCacheSettings()``.
        client: a redis-py client to use (not closed by ``close``). Built from
            the settings when omitted (embedded Redis Stack if no URL is set).
        vectorizer: turns prompts into vectors; defaults to the one in settings.
        policy: decides which candidate, if any, is a hit.
        metrics: where hits, misses and shadow figures are counted (default: from settings).
        rng: draws the explore step (``semantic.explore_rate``); seed one for tests.
    """

    def __init__(
        self,
        settings: AgentCacheSettings | None = None,
        *,
        client: SyncClient | None = None,
        vectorizer: Vectorizer | None = None,
        policy: DecisionPolicy | None = None,
        metrics: Metrics | None = None,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(settings, vectorizer, policy, rng)
        self._owns_client = client is None
        self.client: SyncClient = client or sync_client(self.settings)
        self._use_metrics(metrics, self.client)
        self._cluster = cluster_search(self.client, self._index_spec, self._schema_for)
        self._store_script = self.client.register_script(STORE_SCRIPT)
        self._touch_script = self.client.register_script(TOUCH_SCRIPT)
        self._exact_script = self.client.register_script(EXACT_SCRIPT)
        self._feedback_script = self.client.register_script(FEEDBACK_SCRIPT)
        self.guard.run("connect", self.ensure_index)

    # -- index --------------------------------------------------------------
    def ensure_index(self) -> IndexState:
        """Create the index (and its alias and metadata) unless they exist."""
        check_modules(self.client, str(self.settings.redis.url or "embedded"))
        core = self.core
        meta = self.client.hgetall(core.meta_key)
        state = core.state_from_meta(meta) if meta else core.initial_state()
        if self._cluster is not None:
            self._cluster.ensure(state.physical, state.entry_prefix)
        elif not self._index_exists(state.physical):
            self._create_index(state)
        if not meta:
            self.client.hset(core.meta_key, mapping=core.meta_mapping(state))
        core.state = state
        return state

    def _index_exists(self, name: str) -> bool:
        try:
            self.client.execute_command("FT.INFO", name)
        except redis.ResponseError as exc:
            if is_missing_index(exc):
                return False
            raise
        return True

    def _create_index(self, state: IndexState) -> None:
        schema = build_schema(
            self.settings, index_name=state.physical, key_prefix=state.entry_prefix
        )
        index = SearchIndex(schema, redis_client=self.client)
        try:
            index.create(overwrite=False)
        except Exception as exc:  # a concurrent creator won the race
            if "already exists" not in str(exc).lower():
                raise
        try:
            self.client.execute_command("FT.ALIASUPDATE", state.alias, state.physical)
        except redis.ResponseError as exc:
            logger.debug("alias update for %s: %s", state.alias, exc)
        logger.info("created semantic index %s (alias %s)", state.physical, state.alias)

    def _search(self, command: list[Any], tenant: str | None = None) -> Any:
        """FT.SEARCH, recreating a lost index once (e.g. after a restart without persistence).

        On a cluster it runs on the primary owning ``tenant``'s slot (all primaries if None).
        """
        if self._cluster is not None:
            return self._cluster.search(command, tenant)
        try:
            return self.client.execute_command(*command)
        except redis.ResponseError as exc:
            if not is_missing_index(exc):
                raise
            logger.warning("semantic index %s is gone; recreating it", self.core.alias)
            self.ensure_index()
            return self.client.execute_command(*command)

    def _ready(self) -> bool:
        if self.core.state is None:
            return self.guard.run("connect", self.ensure_index) is not None
        if self.core.refresh_due():  # follows migrations; one HGETALL per second at most
            self.guard.run("refresh", lambda: self.core.adopt_meta(self._meta()))
        return True

    def _meta(self) -> Any:
        return self.client.hgetall(self.core.meta_key)

    # -- embedding ----------------------------------------------------------
    def _embed(self, text: str) -> Vector | None:
        model = self.vectorizer.model
        cached = self.core.memo_get(model, text)
        if cached is not None:
            return cached

        def compute() -> Vector:
            return self.core.vector(self.vectorizer.embed(text))

        try:
            vector = self.embed_guard.run("embed", compute)
        except InvalidInputError as exc:
            # A broken embedder is a cache fault (a miss), not the caller's bad input.
            self.embed_guard.failure(exc, "embed")
            return None
        if vector is None:
            return None
        self.core.memo_put(model, text, vector)
        return vector

    # -- lookups ------------------------------------------------------------
    def check(
        self,
        prompt: str,
        *,
        tenant: str,
        agent: str,
        model: str | None = None,
        threshold: float | None = None,
        vector: Sequence[float] | Vector | None = None,
    ) -> CacheHit | None:
        """The cached response for ``prompt`` in this tenant/agent(/model), or None.

        ``threshold`` is the minimum cosine similarity for a hit (higher is
        stricter); the settings' value when omitted. ``lookup`` takes the same
        arguments and also says why, and which entry the decision was about.
        """
        return self.lookup(
            prompt, tenant=tenant, agent=agent, model=model, threshold=threshold, vector=vector
        ).hit

    def lookup(
        self,
        prompt: str,
        *,
        tenant: str,
        agent: str,
        model: str | None = None,
        threshold: float | None = None,
        vector: Sequence[float] | Vector | None = None,
    ) -> CheckResult:
        """``check``, explained: the hit (or None), the policy's reason, the best
        candidate, and whether the caller should verify it against the model
        (``explore``: call the model, compare, send ``feedback``)."""
        core = self.core
        scope = core.scope(tenant, agent, model)
        prompt = core.validate_prompt(prompt)
        minimum = core.validate_threshold(threshold)
        query_vector = core.vector(vector) if vector is not None else None
        if not self._ready():
            return self._unavailable()
        if self.settings.semantic.exact_match:
            exact = self.guard.run("check", lambda: self._check_exact(scope, prompt))
            if exact is not None:
                return self._finish(core.exact_result(exact), scope)
        if query_vector is None:
            query_vector = self._embed(prompt)
            if query_vector is None:
                return self._unavailable()
        blob = core.vector_bytes(query_vector)
        reply = self.guard.run(
            "check", lambda: self._search(core.knn_command(scope, blob), scope.tenant)
        )
        if reply is None:
            return self._unavailable()
        result = core.resolve(prompt, core.parse_candidates(reply, scope), minimum, scope)
        hit = result.hit
        if hit is not None:
            keys, args = core.touch_args(scope.tenant, hit.entry_id, hit.similarity)
            self.guard.run("touch", lambda: self._touch_script(keys=keys, args=args))
        return self._finish(result, scope)

    def _check_exact(self, scope: Scope, prompt: str) -> CacheHit | None:
        keys, args, entry_id = self.core.exact_args(scope, prompt)
        values = self._exact_script(keys=keys, args=args)
        if not values:
            return None
        return self.core.hit_from_exact(values, scope, entry_id, prompt)

    # -- writes -------------------------------------------------------------
    def store(
        self,
        prompt: str,
        response: str,
        *,
        tenant: str,
        agent: str,
        model: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        tags: Sequence[str] | None = None,
        ttl: int | None = None,
        vector: Sequence[float] | Vector | None = None,
    ) -> str:
        """Store ``response`` for ``prompt``; return the entry id.

        Storing the same prompt again in the same tenant/agent/model replaces
        the entry. Past ``max_entries_per_tenant`` the tenant's least recently
        hit entries are evicted.
        """
        core = self.core
        scope = core.scope(tenant, agent, model)
        prompt = core.validate_prompt(prompt)
        response = core.validate_response(response)
        metadata_json = core.encode_metadata(metadata)
        tag_list = core.validate_tags(tags)
        ttl_seconds = core.validate_ttl(ttl)
        entry_vector = core.vector(vector) if vector is not None else self._embed(prompt)
        entry_id = core.entry_id(scope, prompt)
        if entry_vector is None or not self._ready():
            return entry_id
        blob = core.vector_bytes(entry_vector)
        keys, args, entry_id = core.store_args(
            scope, prompt, response, blob, metadata_json, tag_list, ttl_seconds
        )
        result = self.guard.run("store", lambda: self._store_script(keys=keys, args=args))
        if result is not None:
            self._count_stores(scope, 1, len(result[1]))
        return entry_id

    def store_many(
        self,
        items: Sequence[tuple[str, str]],
        *,
        tenant: str,
        agent: str,
        model: str | None = None,
        ttl: int | None = None,
        vectors: Sequence[Sequence[float] | Vector] | None = None,
    ) -> list[str]:
        """Store many ``(prompt, response)`` pairs in pipelined batches; return their ids.

        Each entry is written by the same atomic script as ``store``; prompts
        without a vector in ``vectors`` are embedded in one ``embed_many`` call.
        """
        core = self.core
        scope = core.scope(tenant, agent, model)
        rows = [(core.validate_prompt(p), core.validate_response(r)) for p, r in items]
        ttl_seconds = core.validate_ttl(ttl)
        ids = [core.entry_id(scope, prompt) for prompt, _ in rows]
        if vectors is None:
            texts = [prompt for prompt, _ in rows]
            vectors = self.embed_guard.run("embed", lambda: self.vectorizer.embed_many(texts))
        if vectors is None or not self._ready():
            return ids
        if len(vectors) != len(rows):
            from agentcache.exceptions import InvalidInputError

            raise InvalidInputError(f"{len(rows)} items but {len(vectors)} vectors")
        blobs = [core.vector_bytes(core.vector(v)) for v in vectors]
        for start in range(0, len(rows), _BATCH):
            calls = [
                core.store_args(scope, prompt, response, blob, "{}", [], ttl_seconds)[:2]
                for (prompt, response), blob in zip(
                    rows[start : start + _BATCH], blobs[start : start + _BATCH], strict=True
                )
            ]
            results = self.guard.run("store", functools.partial(self._store_calls, calls))
            if results is not None:
                self._count_stores(scope, len(results), sum(len(r[1]) for r in results))
        return ids

    def _store_calls(self, calls: list[tuple[list[str], list[Any]]]) -> list[Any]:
        """Run the store script for each ``(keys, args)`` in one pipeline."""
        if self._cluster is not None:  # a cluster pipeline refuses registered scripts
            return eval_pipelined(self._cluster.client, self._store_script, calls)
        pipe = self.client.pipeline(transaction=False)
        for keys, args in calls:
            self._store_script(keys=keys, args=args, client=pipe)
        return pipe.execute()

    def feedback(
        self, entry_id: str, correct: bool, *, tenant: str, similarity: float | None = None
    ) -> bool:
        """Tell the policy whether a hit (served or not) was correct; False if the entry is gone.

        ``similarity`` is the query's similarity to the entry (default: the last
        served hit's). Concurrent feedback on one entry is applied atomically
        (compare-and-set, retried), so no observation is lost.
        """
        core = self.core
        tenant = core.scope(tenant, "-", None).tenant
        key = core.entry_key(tenant, entry_id)

        def apply() -> bool:
            for attempt in range(FEEDBACK_ATTEMPTS):
                args = core.feedback_args(
                    self.client.hmget(key, core.feedback_reads), similarity, correct
                )
                if args is None or not args:
                    return args is not None
                done = int(self._feedback_script(keys=[key], args=args))
                if done:
                    return done == 1
                time.sleep(core.feedback_backoff(attempt))
            logger.warning("feedback on %s dropped: %d tries contended", key, FEEDBACK_ATTEMPTS)
            return False

        return bool(self.guard.run("feedback", apply))

    # -- invalidation -------------------------------------------------------
    def invalidate(self, entry_id: str, *, tenant: str) -> bool:
        """Delete one entry; True if it existed."""
        tenant = self.core.scope(tenant, "-", None).tenant
        key = self.core.entry_key(tenant, entry_id)
        lru = self.core.lru_key(tenant)

        def run() -> bool:
            pipe = self.client.pipeline(transaction=False)
            pipe.delete(key)
            pipe.zrem(lru, entry_id)
            return bool(pipe.execute()[0])

        return bool(self.guard.run("invalidate", run))

    def invalidate_tenant(self, tenant: str) -> int:
        """Delete every entry of ``tenant``; return how many."""
        tenant = self.core.scope(tenant, "-", None).tenant
        removed = self._delete_matching(tenant, self.core.filter_expr(tenant))
        self.guard.run("invalidate", lambda: self.client.delete(self.core.lru_key(tenant)))
        return removed

    def invalidate_agent(self, tenant: str, agent: str) -> int:
        """Delete every entry of one agent of ``tenant``; return how many."""
        scope = self.core.scope(tenant, agent, None)
        return self._delete_matching(scope.tenant, self.core.filter_expr(scope.tenant, scope.agent))

    def invalidate_tag(self, tenant: str, tag: str) -> int:
        """Delete every entry of ``tenant`` stored with ``tag``; return how many."""
        tenant = self.core.scope(tenant, "-", None).tenant
        tag = self.core.validate_tags([tag])[0]
        return self._delete_matching(tenant, self.core.filter_expr(tenant, tag=tag))

    def invalidate_similar(
        self,
        text: str,
        *,
        tenant: str,
        threshold: float,
        agent: str | None = None,
    ) -> int:
        """Delete the tenant's entries within ``threshold`` cosine similarity of ``text``."""
        core = self.core
        tenant = core.scope(tenant, agent or "-", None).tenant
        text = core.validate_prompt(text, "text")
        minimum = core.validate_threshold(threshold)
        vector = self._embed(text)
        if vector is None or not self._ready():
            return 0
        blob = core.vector_bytes(vector)

        def run() -> int:
            removed = 0
            while True:
                command = core.range_command(tenant, agent, blob, minimum, 0, _BATCH)
                reply = self._search(command, tenant)
                keys = _ids(reply)
                if not keys:
                    return removed
                removed += self._delete_keys(tenant, keys)

        return self.guard.run("invalidate", run) or 0

    def _delete_matching(self, tenant: str, filter_expr: str) -> int:
        if not self._ready():
            return 0

        def run() -> int:
            removed = 0
            while True:
                keys = _ids(self._search(self.core.ids_command(filter_expr, _BATCH), tenant))
                if not keys:
                    return removed
                removed += self._delete_keys(tenant, keys)

        return self.guard.run("invalidate", run) or 0

    def _delete_keys(self, tenant: str, keys: list[str]) -> int:
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.delete(key)
        pipe.zrem(self.core.lru_key(tenant), *[key.rsplit(":", 1)[-1] for key in keys])
        return sum(int(n) for n in pipe.execute()[:-1])

    def clear(self) -> int:
        """Delete every entry of every tenant in this cache's index; return how many."""
        if not self._ready():
            return 0

        def run() -> int:
            removed = 0
            while True:
                keys = _ids(self._search(self.core.ids_command("*", _BATCH)))
                if not keys:
                    break
                pipe = self.client.pipeline(transaction=False)
                for key in keys:
                    pipe.delete(key)
                removed += sum(int(n) for n in pipe.execute())
            pattern = f"{self.settings.redis.key_prefix}:lru:*"
            for lru in self.client.scan_iter(match=pattern, count=1000):
                self.client.delete(lru)
            return removed

        return self.guard.run("clear", run) or 0

    def count(self, tenant: str | None = None, agent: str | None = None) -> int:
        """Entries stored (for one tenant, or one agent of it, when given)."""
        if not self._ready():
            return 0
        if tenant is None:
            expr = "*"
        else:
            tenant = self.core.scope(tenant, agent or "-", None).tenant
            expr = self.core.filter_expr(tenant, agent)
        command = self.core.count_command(expr)
        reply = self.guard.run("count", lambda: self._search(command, tenant))
        return _total(reply)

    def drop(self) -> None:
        """Delete the index, its alias, its metadata and every entry (tests, teardown)."""
        self.clear()
        state = self.core.state
        if state is not None and self._cluster is not None:
            self._cluster.drop()
        elif state is not None:
            for command in (("FT.ALIASDEL", state.alias), ("FT.DROPINDEX", state.physical)):
                with contextlib.suppress(redis.ResponseError):
                    self.client.execute_command(*command)
        self.client.delete(self.core.meta_key)
        self.core.state = None

    def close(self) -> None:
        """Close the client if this cache created it (and flush its counters)."""
        if self._owns_metrics:
            self.metrics.close()
        if self._owns_client:
            self.client.close()

    def __enter__(self) -> SemanticCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncSemanticCache(_SemanticBase):
    """The asyncio twin of ``SemanticCache``: same methods, awaited.

    Create it with ``await AsyncSemanticCache.create(settings)`` or call
    ``await cache.ensure_index()`` before first use (methods do it lazily).
    """

    def __init__(
        self,
        settings: AgentCacheSettings | None = None,
        *,
        client: AsyncClient | None = None,
        vectorizer: Vectorizer | None = None,
        policy: DecisionPolicy | None = None,
        metrics: Metrics | None = None,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(settings, vectorizer, policy, rng)
        self._owns_client = client is None
        self.client: AsyncClient = client or async_client(self.settings)
        self._use_metrics(metrics, self.client)
        self._cluster = async_cluster_search(self.client, self._index_spec, self._schema_for)
        self._store_script = self.client.register_script(STORE_SCRIPT)
        self._touch_script = self.client.register_script(TOUCH_SCRIPT)
        self._exact_script = self.client.register_script(EXACT_SCRIPT)
        self._feedback_script = self.client.register_script(FEEDBACK_SCRIPT)

    @classmethod
    async def create(
        cls,
        settings: AgentCacheSettings | None = None,
        *,
        client: AsyncClient | None = None,
        vectorizer: Vectorizer | None = None,
        policy: DecisionPolicy | None = None,
        metrics: Metrics | None = None,
        rng: random.Random | None = None,
    ) -> AsyncSemanticCache:
        cache = cls(
            settings, client=client, vectorizer=vectorizer, policy=policy, metrics=metrics, rng=rng
        )
        await cache.guard.arun("connect", cache.ensure_index)
        return cache

    async def ensure_index(self) -> IndexState:
        await acheck_modules(self.client, str(self.settings.redis.url or "embedded"))
        core = self.core
        meta = await self.client.hgetall(core.meta_key)
        state = core.state_from_meta(meta) if meta else core.initial_state()
        if self._cluster is not None:
            await self._cluster.ensure(state.physical, state.entry_prefix)
        elif not await self._index_exists(state.physical):
            await self._create_index(state)
        if not meta:
            await self.client.hset(core.meta_key, mapping=core.meta_mapping(state))
        core.state = state
        return state

    async def _index_exists(self, name: str) -> bool:
        try:
            await self.client.execute_command("FT.INFO", name)
        except redis.ResponseError as exc:
            if is_missing_index(exc):
                return False
            raise
        return True

    async def _create_index(self, state: IndexState) -> None:
        schema = build_schema(
            self.settings, index_name=state.physical, key_prefix=state.entry_prefix
        )
        index = AsyncSearchIndex(schema, redis_client=self.client)
        try:
            await index.create(overwrite=False)
        except Exception as exc:
            if "already exists" not in str(exc).lower():
                raise
        try:
            await self.client.execute_command("FT.ALIASUPDATE", state.alias, state.physical)
        except redis.ResponseError as exc:
            logger.debug("alias update for %s: %s", state.alias, exc)

    async def _search(self, command: list[Any], tenant: str | None = None) -> Any:
        if self._cluster is not None:
            return await self._cluster.search(command, tenant)
        try:
            return await self.client.execute_command(*command)
        except redis.ResponseError as exc:
            if not is_missing_index(exc):
                raise
            logger.warning("semantic index %s is gone; recreating it", self.core.alias)
            await self.ensure_index()
            return await self.client.execute_command(*command)

    async def _ready(self) -> bool:
        if self.core.state is None:
            return await self.guard.arun("connect", self.ensure_index) is not None
        if self.core.refresh_due():
            meta = await self.guard.arun("refresh", self._meta)
            self.core.adopt_meta(meta or {})
        return True

    async def _meta(self) -> Any:
        return await self.client.hgetall(self.core.meta_key)

    async def _embed(self, text: str) -> Vector | None:
        model = self.vectorizer.model
        cached = self.core.memo_get(model, text)
        if cached is not None:
            return cached

        async def compute() -> Vector:
            return self.core.vector(await self.vectorizer.aembed(text))

        try:
            vector = await self.embed_guard.arun("embed", compute)
        except InvalidInputError as exc:
            # A broken embedder is a cache fault (a miss), not the caller's bad input.
            self.embed_guard.failure(exc, "embed")
            return None
        if vector is None:
            return None
        self.core.memo_put(model, text, vector)
        return vector

    async def check(
        self,
        prompt: str,
        *,
        tenant: str,
        agent: str,
        model: str | None = None,
        threshold: float | None = None,
        vector: Sequence[float] | Vector | None = None,
    ) -> CacheHit | None:
        """See ``SemanticCache.check``."""
        found = await self.lookup(
            prompt, tenant=tenant, agent=agent, model=model, threshold=threshold, vector=vector
        )
        return found.hit

    async def lookup(
        self,
        prompt: str,
        *,
        tenant: str,
        agent: str,
        model: str | None = None,
        threshold: float | None = None,
        vector: Sequence[float] | Vector | None = None,
    ) -> CheckResult:
        """See ``SemanticCache.lookup``."""
        core = self.core
        scope = core.scope(tenant, agent, model)
        prompt = core.validate_prompt(prompt)
        minimum = core.validate_threshold(threshold)
        query_vector = core.vector(vector) if vector is not None else None
        if not await self._ready():
            return self._unavailable()
        if self.settings.semantic.exact_match:
            exact = await self.guard.arun("check", lambda: self._check_exact(scope, prompt))
            if exact is not None:
                return self._finish(core.exact_result(exact), scope)
        if query_vector is None:
            query_vector = await self._embed(prompt)
            if query_vector is None:
                return self._unavailable()
        blob = core.vector_bytes(query_vector)
        reply = await self.guard.arun(
            "check", lambda: self._search(core.knn_command(scope, blob), scope.tenant)
        )
        if reply is None:
            return self._unavailable()
        result = core.resolve(prompt, core.parse_candidates(reply, scope), minimum, scope)
        hit = result.hit
        if hit is not None:
            keys, args = core.touch_args(scope.tenant, hit.entry_id, hit.similarity)
            await self.guard.arun("touch", lambda: self._touch_script(keys=keys, args=args))
        return self._finish(result, scope)

    async def _check_exact(self, scope: Scope, prompt: str) -> CacheHit | None:
        keys, args, entry_id = self.core.exact_args(scope, prompt)
        values = await self._exact_script(keys=keys, args=args)
        if not values:
            return None
        return self.core.hit_from_exact(values, scope, entry_id, prompt)

    async def store(
        self,
        prompt: str,
        response: str,
        *,
        tenant: str,
        agent: str,
        model: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        tags: Sequence[str] | None = None,
        ttl: int | None = None,
        vector: Sequence[float] | Vector | None = None,
    ) -> str:
        """See ``SemanticCache.store``."""
        core = self.core
        scope = core.scope(tenant, agent, model)
        prompt = core.validate_prompt(prompt)
        response = core.validate_response(response)
        metadata_json = core.encode_metadata(metadata)
        tag_list = core.validate_tags(tags)
        ttl_seconds = core.validate_ttl(ttl)
        entry_vector = core.vector(vector) if vector is not None else await self._embed(prompt)
        entry_id = core.entry_id(scope, prompt)
        if entry_vector is None or not await self._ready():
            return entry_id
        blob = core.vector_bytes(entry_vector)
        keys, args, entry_id = core.store_args(
            scope, prompt, response, blob, metadata_json, tag_list, ttl_seconds
        )
        result = await self.guard.arun("store", lambda: self._store_script(keys=keys, args=args))
        if result is not None:
            self._count_stores(scope, 1, len(result[1]))
        return entry_id

    async def store_many(
        self,
        items: Sequence[tuple[str, str]],
        *,
        tenant: str,
        agent: str,
        model: str | None = None,
        ttl: int | None = None,
        vectors: Sequence[Sequence[float] | Vector] | None = None,
    ) -> list[str]:
        """See ``SemanticCache.store_many``."""
        core = self.core
        scope = core.scope(tenant, agent, model)
        rows = [(core.validate_prompt(p), core.validate_response(r)) for p, r in items]
        ttl_seconds = core.validate_ttl(ttl)
        ids = [core.entry_id(scope, prompt) for prompt, _ in rows]
        if vectors is None:
            texts = [prompt for prompt, _ in rows]
            vectors = await self.embed_guard.arun(
                "embed", lambda: self.vectorizer.aembed_many(texts)
            )
        if vectors is None or not await self._ready():
            return ids
        if len(vectors) != len(rows):
            from agentcache.exceptions import InvalidInputError

            raise InvalidInputError(f"{len(rows)} items but {len(vectors)} vectors")
        blobs = [core.vector_bytes(core.vector(v)) for v in vectors]
        for start in range(0, len(rows), _BATCH):
            calls = [
                core.store_args(scope, prompt, response, blob, "{}", [], ttl_seconds)[:2]
                for (prompt, response), blob in zip(
                    rows[start : start + _BATCH], blobs[start : start + _BATCH], strict=True
                )
            ]
            results = await self.guard.arun("store", functools.partial(self._store_calls, calls))
            if results is not None:
                self._count_stores(scope, len(results), sum(len(r[1]) for r in results))
        return ids

    async def _store_calls(self, calls: list[tuple[list[str], list[Any]]]) -> list[Any]:
        """See ``SemanticCache._store_calls``."""
        if self._cluster is not None:
            return await aeval_pipelined(self._cluster.client, self._store_script, calls)
        pipe = self.client.pipeline(transaction=False)
        for keys, args in calls:
            await self._store_script(keys=keys, args=args, client=pipe)  # type: ignore[arg-type]
        return await pipe.execute()

    async def feedback(
        self, entry_id: str, correct: bool, *, tenant: str, similarity: float | None = None
    ) -> bool:
        """See ``SemanticCache.feedback``."""
        core = self.core
        tenant = core.scope(tenant, "-", None).tenant
        key = core.entry_key(tenant, entry_id)

        async def apply() -> bool:
            for attempt in range(FEEDBACK_ATTEMPTS):
                values = await self.client.hmget(key, core.feedback_reads)
                args = core.feedback_args(values, similarity, correct)
                if args is None or not args:
                    return args is not None
                done = int(await self._feedback_script(keys=[key], args=args))
                if done:
                    return done == 1
                await asyncio.sleep(core.feedback_backoff(attempt))
            logger.warning("feedback on %s dropped: %d tries contended", key, FEEDBACK_ATTEMPTS)
            return False

        return bool(await self.guard.arun("feedback", apply))

    async def invalidate(self, entry_id: str, *, tenant: str) -> bool:
        """See ``SemanticCache.invalidate``."""
        tenant = self.core.scope(tenant, "-", None).tenant
        key = self.core.entry_key(tenant, entry_id)
        lru = self.core.lru_key(tenant)

        async def run() -> bool:
            pipe = self.client.pipeline(transaction=False)
            pipe.delete(key)
            pipe.zrem(lru, entry_id)
            return bool((await pipe.execute())[0])

        return bool(await self.guard.arun("invalidate", run))

    async def invalidate_tenant(self, tenant: str) -> int:
        """See ``SemanticCache.invalidate_tenant``."""
        tenant = self.core.scope(tenant, "-", None).tenant
        removed = await self._delete_matching(tenant, self.core.filter_expr(tenant))
        await self.guard.arun("invalidate", lambda: self.client.delete(self.core.lru_key(tenant)))
        return removed

    async def invalidate_agent(self, tenant: str, agent: str) -> int:
        """See ``SemanticCache.invalidate_agent``."""
        scope = self.core.scope(tenant, agent, None)
        return await self._delete_matching(
            scope.tenant, self.core.filter_expr(scope.tenant, scope.agent)
        )

    async def invalidate_tag(self, tenant: str, tag: str) -> int:
        """See ``SemanticCache.invalidate_tag``."""
        tenant = self.core.scope(tenant, "-", None).tenant
        tag = self.core.validate_tags([tag])[0]
        return await self._delete_matching(tenant, self.core.filter_expr(tenant, tag=tag))

    async def invalidate_similar(
        self, text: str, *, tenant: str, threshold: float, agent: str | None = None
    ) -> int:
        """See ``SemanticCache.invalidate_similar``."""
        core = self.core
        tenant = core.scope(tenant, agent or "-", None).tenant
        text = core.validate_prompt(text, "text")
        minimum = core.validate_threshold(threshold)
        vector = await self._embed(text)
        if vector is None or not await self._ready():
            return 0
        blob = core.vector_bytes(vector)

        async def run() -> int:
            removed = 0
            while True:
                command = core.range_command(tenant, agent, blob, minimum, 0, _BATCH)
                keys = _ids(await self._search(command, tenant))
                if not keys:
                    return removed
                removed += await self._delete_keys(tenant, keys)

        return await self.guard.arun("invalidate", run) or 0

    async def _delete_matching(self, tenant: str, filter_expr: str) -> int:
        if not await self._ready():
            return 0

        async def run() -> int:
            removed = 0
            while True:
                command = self.core.ids_command(filter_expr, _BATCH)
                keys = _ids(await self._search(command, tenant))
                if not keys:
                    return removed
                removed += await self._delete_keys(tenant, keys)

        return await self.guard.arun("invalidate", run) or 0

    async def _delete_keys(self, tenant: str, keys: list[str]) -> int:
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.delete(key)
        pipe.zrem(self.core.lru_key(tenant), *[key.rsplit(":", 1)[-1] for key in keys])
        return sum(int(n) for n in (await pipe.execute())[:-1])

    async def clear(self) -> int:
        """See ``SemanticCache.clear``."""
        if not await self._ready():
            return 0

        async def run() -> int:
            removed = 0
            while True:
                keys = _ids(await self._search(self.core.ids_command("*", _BATCH)))
                if not keys:
                    break
                pipe = self.client.pipeline(transaction=False)
                for key in keys:
                    pipe.delete(key)
                removed += sum(int(n) for n in await pipe.execute())
            pattern = f"{self.settings.redis.key_prefix}:lru:*"
            async for lru in self.client.scan_iter(match=pattern, count=1000):
                await self.client.delete(lru)
            return removed

        return await self.guard.arun("clear", run) or 0

    async def count(self, tenant: str | None = None, agent: str | None = None) -> int:
        """See ``SemanticCache.count``."""
        if not await self._ready():
            return 0
        if tenant is None:
            expr = "*"
        else:
            tenant = self.core.scope(tenant, agent or "-", None).tenant
            expr = self.core.filter_expr(tenant, agent)
        command = self.core.count_command(expr)
        reply = await self.guard.arun("count", lambda: self._search(command, tenant))
        return _total(reply)

    async def drop(self) -> None:
        """See ``SemanticCache.drop``."""
        await self.clear()
        state = self.core.state
        if state is not None and self._cluster is not None:
            await self._cluster.drop()
        elif state is not None:
            for command in (("FT.ALIASDEL", state.alias), ("FT.DROPINDEX", state.physical)):
                with contextlib.suppress(redis.ResponseError):
                    await self.client.execute_command(*command)
        await self.client.delete(self.core.meta_key)
        self.core.state = None

    async def aclose(self) -> None:
        """Close the client if this cache created it (and flush its counters)."""
        if self._owns_metrics:
            await asyncio.to_thread(self.metrics.close)
        if self._owns_client:
            await self.client.aclose()

    async def __aenter__(self) -> AsyncSemanticCache:
        await self._ready()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
