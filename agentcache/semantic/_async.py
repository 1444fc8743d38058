"""The semantic response cache: LLM answers reused for semantically similar prompts.

Every lookup is one filtered KNN query on a RediSearch HNSW index (tenant AND
agent, and model when given), followed by a decision policy over the top-k
candidates; the search brings back the hit counts and the payload of the
candidates the policy could accept (``_lookup_async``), and a hit's bookkeeping
rides on the next command. An exact repeat of a stored prompt is answered from
its entry key before any embedding is computed (with a vector at hand, probe and
search share one round trip).
Now and then (every 30 s per scope) the hybrid planner counts entries to pick
RediSearch's hybrid policy (``_plan``).

The I/O shell is written once, for asyncio, in ``_async.py`` (and its base in
``_index_async.py``); the blocking cache in ``_sync.py`` is generated from it by
``scripts/unasync.py``. The logic without I/O is in ``_core`` and its parts; the
shell only sends what they build.

Example::

    cache = await AsyncSemanticCache.create(settings)
    await cache.store("What is our refund window?", "30 days.", tenant="acme", agent="support")
    hit = await cache.check("How long for a refund?", tenant="acme", agent="support")
"""

from __future__ import annotations

import asyncio  # sync: import time
from collections import deque
from collections.abc import Mapping, Sequence
from functools import partial
from logging import getLogger
from random import Random
from typing import Any

from redis.exceptions import NoScriptError

from agentcache._lifecycle_async import AsyncShell
from agentcache._redis.clients import AsyncClient, async_client
from agentcache.exceptions import InvalidInputError
from agentcache.metrics._counters import Metrics, scoped
from agentcache.semantic import _cluster
from agentcache.semantic._base import _BATCH
from agentcache.semantic._flusher import AsyncHitFlusher
from agentcache.semantic._lookup_async import AsyncLookups
from agentcache.semantic._policy import DecisionPolicy
from agentcache.semantic._scripts import (
    EXACT_SCRIPT,
    FEEDBACK_ATTEMPTS,
    FEEDBACK_SCRIPT,
    HIT_SCRIPT,
    SEARCH_SCRIPT,
    STORE_SCRIPT,
    TOUCH_SCRIPT,
)
from agentcache.semantic._types import CacheHit, CheckResult, Scope
from agentcache.semantic._validate import bad_embedding
from agentcache.settings import AgentCacheSettings
from agentcache.vectorizers import Vector, Vectorizer

logger = getLogger("agentcache.semantic")


class AsyncSemanticCache(AsyncLookups, AsyncShell):
    """Semantic response cache on a RediSearch HNSW index.

    The blocking cache and the asyncio one have the same methods and the same
    lifecycle (one is generated from the other):

    - the constructor does no Redis I/O (it checks the vectorizer's dimensions
      and the schema file): the index, with its alias and metadata, is created
      on first use, by the first call that needs it;
    - ``create(...)`` takes the constructor's arguments and returns a cache whose
      index is ensured at once (on the asyncio cache it is awaited). A Redis
      fault there is logged and counted like any other, and the next call tries
      again; strict mode raises ``CacheUnavailableError`` instead;
    - entering the cache as a context manager ensures the index the same way,
      and leaving it closes the cache;
    - closing the cache closes the client and flushes the counters, only if the
      cache created them.

    Faults and latencies of a call are counted for the call's tenant and agent,
    bound for the duration of the call only.

    Args:
        settings: the shared settings; defaults to ``AgentCacheSettings()``.
        client: a redis-py client to use (not closed on close). Built from
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
        client: AsyncClient | None = None,
        vectorizer: Vectorizer | None = None,
        policy: DecisionPolicy | None = None,
        metrics: Metrics | None = None,
        rng: Random | None = None,
    ) -> None:
        super().__init__(settings, vectorizer, policy, rng)
        self._owns_client = client is None
        self.client: AsyncClient = client or async_client(self.settings)
        self._use_metrics(metrics, self.client)
        self._cluster = _cluster.async_cluster_search(
            self.client, self._index_spec, self._schema_for
        )
        self._store_script = self.client.register_script(STORE_SCRIPT)
        self._touch_script = self.client.register_script(TOUCH_SCRIPT)
        self._search_script = self.client.register_script(SEARCH_SCRIPT)
        self._hit_script = self.client.register_script(HIT_SCRIPT)
        self._pending: deque[tuple[list[str], list[Any]]] = deque()
        # Pending bookkeeping is sent within hit_flush_seconds even if the cache stays idle.
        bound = self.settings.semantic.hit_flush_seconds
        self._flusher = AsyncHitFlusher(self._background_flush, bound)
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
        rng: Random | None = None,
    ) -> AsyncSemanticCache:
        """A cache whose index is ensured now rather than on first use."""
        cache = cls(
            settings, client=client, vectorizer=vectorizer, policy=policy, metrics=metrics, rng=rng
        )
        await cache._ready()
        return cache

    # -- lookups ------------------------------------------------------------
    async def check(
        self,
        prompt: str,
        *,
        tenant: str,
        agent: str,
        model: str | None = None,
        threshold: float | None = None,
        vector: Sequence[float] | Vector | None = None,
        max_age: float | None = None,
    ) -> CacheHit | None:
        """The cached response for ``prompt`` in this tenant/agent(/model), or None.

        ``threshold`` is the minimum cosine similarity for a hit (higher is
        stricter); the settings' value when omitted. ``max_age``: serve only
        an entry stored less than this many seconds ago (an older one, exact
        repeat included, is a miss); any age when omitted (entries still expire
        by the ``ttl`` they were stored with). ``vector``: the prompt's vector,
        if the caller has it (saves the embedding). ``lookup`` takes the same
        arguments and also says why, and which entry the decision was about.
        """
        found = await self.lookup(
            prompt,
            tenant=tenant,
            agent=agent,
            model=model,
            threshold=threshold,
            vector=vector,
            max_age=max_age,
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
        max_age: float | None = None,
    ) -> CheckResult:
        """``check``, explained: the hit (or None), the policy's reason, the best
        candidate, and whether the caller should verify it against the model
        (``explore``: call the model, compare, send ``feedback``)."""
        core = self.core
        scope = core.scope(tenant, agent, model)
        prompt = core.validate_prompt(prompt)
        minimum = core.validate_threshold(threshold)
        age = core.validate_max_age(max_age)
        query_vector = core.vector(vector) if vector is not None else None
        with scoped(scope.tenant, scope.agent):
            return await self._lookup(scope, prompt, minimum, query_vector, age)

    # -- writes -------------------------------------------------------------
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
    ) -> str | None:
        """Store ``response`` for ``prompt``; return the entry id, or None if nothing was stored.

        Storing the same prompt again in the same tenant/agent/model replaces
        the entry. Past ``max_entries_per_tenant`` the tenant's least recently
        hit entries are evicted. ``None`` means a cache fault (Redis or the
        embedder unreachable) kept the entry out, fail-open: it was logged and
        counted, and strict mode raises ``CacheUnavailableError`` instead.
        ``ttl``: whole seconds, at most ``MAX_TTL_SECONDS`` (10 years);
        ``metadata``: at most 64 KiB as JSON (``MAX_METADATA_BYTES``). Bad
        input raises ``InvalidInputError`` before anything is written; a
        vectorizer returning an unusable vector raises ``ConfigurationError``.
        """
        core = self.core
        scope = core.scope(tenant, agent, model)
        prompt = core.validate_prompt(prompt)
        response = core.validate_response(response)
        metadata_json = core.encode_metadata(metadata)
        tag_list = core.validate_tags(tags)
        ttl_seconds = core.validate_ttl(ttl)
        with scoped(scope.tenant, scope.agent):
            entry_vector = core.vector(vector) if vector is not None else await self._embed(prompt)
            if entry_vector is None or not await self._ready():
                return None  # a cache fault (logged and counted): nothing stored
            blob = core.vector_bytes(entry_vector)
            keys, args, entry_id = core.store_args(
                scope, prompt, response, blob, metadata_json, tag_list, ttl_seconds
            )
            result = await self.guard.arun("store", lambda: self._store_one(keys, args))
            if result is None:
                return None
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
        """Store many ``(prompt, response)`` pairs in pipelined batches; return their ids.

        Each entry is written by the same atomic script as ``store``; prompts
        without a vector in ``vectors`` are embedded in one ``embed_many`` call.
        """
        core = self.core
        scope = core.scope(tenant, agent, model)
        rows = [(core.validate_prompt(p), core.validate_response(r)) for p, r in items]
        ttl_seconds = core.validate_ttl(ttl)
        ids = [core.entry_id(scope, prompt) for prompt, _ in rows]
        with scoped(scope.tenant, scope.agent):
            await self._store_rows(scope, rows, ttl_seconds, vectors)
        return ids

    async def _store_rows(
        self,
        scope: Scope,
        rows: list[tuple[str, str]],
        ttl_seconds: int,
        vectors: Sequence[Sequence[float] | Vector] | None,
    ) -> None:
        core = self.core
        embedded = vectors is None
        if vectors is None:
            texts = [prompt for prompt, _ in rows]
            try:
                vectors = await self.embed_guard.arun(
                    "embed", lambda: self.vectorizer.aembed_many(texts)
                )
            except InvalidInputError as exc:
                raise bad_embedding(self.vectorizer.model, exc) from None
        if vectors is None or not await self._ready():
            return
        if len(vectors) != len(rows):
            if embedded:
                got = ValueError(f"{len(vectors)} vectors for {len(rows)} texts")
                raise bad_embedding(self.vectorizer.model, got)
            raise InvalidInputError(f"{len(rows)} items but {len(vectors)} vectors")
        check = (
            partial(core.vectorizer_output, model=self.vectorizer.model)
            if embedded
            else core.vector
        )
        blobs = [core.vector_bytes(check(v)) for v in vectors]
        for start in range(0, len(rows), _BATCH):
            calls = [
                core.store_args(scope, prompt, response, blob, "{}", [], ttl_seconds)[:2]
                for (prompt, response), blob in zip(
                    rows[start : start + _BATCH], blobs[start : start + _BATCH], strict=True
                )
            ]
            results = await self.guard.arun("store", partial(self._store_calls, calls))
            if results is not None:
                self._count_stores(scope, len(results), sum(len(r[1]) for r in results))

    async def _store_one(self, keys: list[str], args: list[Any]) -> Any:
        """STORE_SCRIPT, after the pending hit bookkeeping (so its eviction sees it)."""
        if not self._pending or self._cluster is not None:
            return await self._store_script(keys=keys, args=args)
        sha = self._store_script.sha
        (result,) = await self._pipelined(("EVALSHA", sha, len(keys), *keys, *args))
        if isinstance(result, NoScriptError):
            return await self._store_script(keys=keys, args=args)
        if isinstance(result, Exception):
            raise result
        return result

    async def _store_calls(self, calls: list[tuple[list[str], list[Any]]]) -> list[Any]:
        """Run the store script for each ``(keys, args)`` in one pipeline."""
        if self._pending and self._cluster is None:
            await self._pipelined()  # eviction sees this cache's hits
        if self._cluster is not None:  # a cluster pipeline refuses registered scripts
            return await _cluster.aeval_pipelined(self._cluster.client, self._store_script, calls)
        pipe: Any = self.client.pipeline(transaction=False)
        for keys, args in calls:
            await self._store_script(keys=keys, args=args, client=pipe)
        return list(await pipe.execute())

    async def feedback(
        self, entry_id: str, correct: bool, *, tenant: str, similarity: float | None = None
    ) -> bool:
        """Tell the policy whether a hit (served or not) was correct; False if the entry is gone.

        ``similarity`` is the query's similarity to the entry (default: the last
        served hit's). Concurrent feedback on one entry is applied atomically
        (compare-and-set, retried), so no observation is lost.
        """
        core = self.core
        tenant = core.scope(tenant, "-", None).tenant
        entry_id = core.validate_entry_id(entry_id)
        similarity = core.validate_similarity(similarity)
        with scoped(tenant, "-"):
            if not await self._ready():
                return False
            apply = partial(self._feedback, tenant, entry_id, correct, similarity)
            return bool(await self.guard.arun("feedback", apply))

    async def _feedback(
        self, tenant: str, entry_id: str, correct: bool, similarity: float | None
    ) -> bool:
        core = self.core
        if self._pending and self._cluster is None:
            await self._pipelined()  # the last hit's similarity, written
        key = core.entry_key(tenant, entry_id)
        hits_key = core.hits_key(tenant)
        seen = similarity
        if seen is None:  # the last served hit's, kept in the hits hash
            seen = core.last_similarity(
                await self.client.hget(hits_key, core.hits_fields(entry_id)[1])
            )
        for attempt in range(FEEDBACK_ATTEMPTS):
            values = await self.client.hmget(key, core.feedback_reads)
            args = core.feedback_args(values, seen, correct)
            if args is None or not args:
                return args is not None
            done = int(await self._feedback_script(keys=[key], args=args))
            if done:
                return done == 1
            await asyncio.sleep(core.feedback_backoff(attempt))
        logger.warning("feedback on %s dropped: %d tries contended", key, FEEDBACK_ATTEMPTS)
        return False

    async def aclose(self) -> None:
        """Send the pending hit bookkeeping, then close what this cache made."""
        await self._flusher.aclose()
        await self.flush_hits()
        await super().aclose()

    async def __aenter__(self) -> AsyncSemanticCache:
        await self._ready()
        return self
