"""The semantic index and its entries in bulk: ensure, search, embed, invalidate, count, drop.

The base of the asyncio I/O shell (``_async.AsyncSemanticCache`` adds lookups and
writes); ``_index_sync.py`` is generated from this file by ``scripts/unasync.py``.
"""

from __future__ import annotations

from contextlib import suppress
from functools import partial
from logging import getLogger
from typing import Any

import redis
from redisvl.exceptions import RedisVLError
from redisvl.index import AsyncSearchIndex

from agentcache._redis.clients import AsyncClient, acheck_modules
from agentcache._redis.replies import is_missing_index
from agentcache.exceptions import InvalidInputError
from agentcache.metrics._counters import scoped
from agentcache.semantic._base import _BATCH, _ids, _SemanticBase, _total
from agentcache.semantic._cluster import AsyncClusterSearch
from agentcache.semantic._core import IndexState
from agentcache.semantic._validate import bad_embedding
from agentcache.vectorizers import Vector

logger = getLogger("agentcache.semantic")


class AsyncSemanticIndex(_SemanticBase):
    """The index lifecycle and bulk deletes shared by every semantic cache call."""

    client: AsyncClient
    _cluster: AsyncClusterSearch | None

    # -- index --------------------------------------------------------------
    async def ensure_index(self) -> IndexState:
        """Create the index (and its alias and metadata) unless they exist."""
        await acheck_modules(self.client, str(self.settings.redis.url or "embedded"))
        core = self.core
        meta = await self.client.hgetall(core.meta_key)
        state = core.state_from_meta(meta) if meta else core.initial_state()
        core.state = state  # a (re)created index follows the recorded version's schema
        try:
            if self._cluster is not None:
                await self._cluster.ensure(state.physical, state.entry_prefix)
            elif not await self._index_exists(state.physical):
                await self._create_index(state)
            if not meta:
                await self.client.hset(core.meta_key, mapping=core.meta_mapping(state))
        except BaseException:
            core.state = None  # not ready: the next call tries again
            raise
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
        schema = self._schema_for(state.physical, state.entry_prefix)
        index = AsyncSearchIndex(schema, redis_client=self.client)
        try:
            await index.create(overwrite=False)
        except (RedisVLError, redis.RedisError) as exc:  # a concurrent creator won the race
            if "already exists" not in str(exc).lower():
                raise
        try:
            await self.client.execute_command("FT.ALIASUPDATE", state.alias, state.physical)
        except redis.ResponseError as exc:
            logger.debug("alias update for %s: %s", state.alias, exc)
        logger.info("created semantic index %s (alias %s)", state.physical, state.alias)

    async def _search(self, command: list[Any], tenant: str | None = None) -> Any:
        """FT.SEARCH, recreating a lost index once (e.g. after a restart without persistence).

        On a cluster it runs on the primary owning ``tenant``'s slot (all primaries if None).
        """
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
        """Ensure the index on first use; then follow migrations (one HGETALL a second at most)."""
        if self.core.state is None:
            return await self.guard.arun("connect", self.ensure_index) is not None
        if self.core.refresh_due():
            meta = await self.guard.arun("refresh", self._meta)
            self.core.adopt_meta(meta or {})
        return True

    async def _meta(self) -> Any:
        return await self.client.hgetall(self.core.meta_key)

    # -- embedding ----------------------------------------------------------
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
            # Wrong dims or NaN from the vectorizer is a setup bug: say so, even fail-open.
            raise bad_embedding(model, exc) from None
        if vector is None:
            return None
        self.core.memo_put(model, text, vector)
        return vector

    # -- invalidation -------------------------------------------------------
    async def invalidate(self, entry_id: str, *, tenant: str) -> bool:
        """Delete one entry; True if it existed."""
        tenant = self.core.scope(tenant, "-", None).tenant
        entry_id = self.core.validate_entry_id(entry_id)
        with scoped(tenant, "-"):
            if not await self._ready():
                return False
            delete = partial(self._delete_keys, tenant, [self.core.entry_key(tenant, entry_id)])
            return bool(await self.guard.arun("invalidate", delete))

    async def invalidate_tenant(self, tenant: str) -> int:
        """Delete every entry of ``tenant``; return how many."""
        tenant = self.core.scope(tenant, "-", None).tenant
        with scoped(tenant, "-"):
            removed = await self._delete_matching(tenant, self.queries.filter_expr(tenant))
            side = (self.core.lru_key(tenant), self.core.hits_key(tenant))
            await self.guard.arun("invalidate", lambda: self.client.delete(*side))
        return removed

    async def invalidate_agent(self, tenant: str, agent: str) -> int:
        """Delete every entry of one agent of ``tenant``; return how many."""
        scope = self.core.scope(tenant, agent, None)
        expr = self.queries.filter_expr(scope.tenant, scope.agent)
        with scoped(scope.tenant, scope.agent):
            return await self._delete_matching(scope.tenant, expr)

    async def invalidate_tag(self, tenant: str, tag: str) -> int:
        """Delete every entry of ``tenant`` stored with ``tag``; return how many."""
        tenant = self.core.scope(tenant, "-", None).tenant
        tag = self.core.validate_tags([tag])[0]
        with scoped(tenant, "-"):
            return await self._delete_matching(tenant, self.queries.filter_expr(tenant, tag=tag))

    async def invalidate_similar(
        self, text: str, *, tenant: str, threshold: float, agent: str | None = None
    ) -> int:
        """Delete the tenant's entries within ``threshold`` cosine similarity of ``text``."""
        core = self.core
        tenant = core.scope(tenant, agent or "-", None).tenant
        text = core.validate_prompt(text, "text")
        minimum = core.validate_threshold(threshold)
        with scoped(tenant, agent or "-"):
            vector = await self._embed(text)
            if vector is None or not await self._ready():
                return 0
            blob = core.vector_bytes(vector)
            command = self.queries.range_command(tenant, agent, blob, minimum, 0, _BATCH)
            return await self._delete_found(tenant, command)

    async def _delete_matching(self, tenant: str, filter_expr: str) -> int:
        if not await self._ready():
            return 0
        command = self.queries.ids_command(filter_expr, _BATCH)
        return await self._delete_found(tenant, command)

    async def _delete_found(self, tenant: str, command: list[Any]) -> int:
        """Delete the entries ``command`` finds, a batch at a time, until it finds none."""

        async def run() -> int:
            removed = 0
            while keys := _ids(await self._search(command, tenant)):
                removed += await self._delete_keys(tenant, keys)
            return removed

        return await self.guard.arun("invalidate", run) or 0

    async def _delete_keys(self, tenant: str, keys: list[str]) -> int:
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.delete(key)
        ids = [key.rsplit(":", 1)[-1] for key in keys]
        pipe.zrem(self.core.lru_key(tenant), *ids)
        pipe.hdel(self.core.hits_key(tenant), *self.core.hits_fields(*ids))
        return sum(int(n) for n in (await pipe.execute())[:-2])

    async def clear(self) -> int:
        """Delete every entry of every tenant in this cache's index; return how many."""
        if not await self._ready():
            return 0

        async def run() -> int:
            removed = 0
            while keys := _ids(await self._search(self.queries.ids_command("*", _BATCH))):
                pipe = self.client.pipeline(transaction=False)
                for key in keys:
                    pipe.delete(key)
                removed += sum(int(n) for n in await pipe.execute())
            for pattern in self.core.side_patterns():
                async for side in self.client.scan_iter(match=pattern, count=1000):
                    await self.client.delete(side)
            return removed

        return await self.guard.arun("clear", run) or 0

    async def count(self, tenant: str | None = None, agent: str | None = None) -> int:
        """Entries stored (for one tenant, or one agent of it, when given)."""
        if tenant is None:
            return await self._count("*", None)
        tenant = self.core.scope(tenant, agent or "-", None).tenant
        with scoped(tenant, agent or "-"):
            return await self._count(self.queries.filter_expr(tenant, agent), tenant)

    async def _count(self, expr: str, tenant: str | None) -> int:
        if not await self._ready():
            return 0
        command = self.queries.count_command(expr)
        reply = await self.guard.arun("count", lambda: self._search(command, tenant))
        return _total(reply)

    async def drop(self) -> None:
        """Delete the index, its alias, its metadata and every entry (tests, teardown)."""
        await self.clear()
        state = self.core.state
        if state is not None and self._cluster is not None:
            await self._cluster.drop()
        elif state is not None:
            for command in (("FT.ALIASDEL", state.alias), ("FT.DROPINDEX", state.physical)):
                with suppress(redis.ResponseError):
                    await self.client.execute_command(*command)
        await self.client.delete(self.core.meta_key)
        self.core.state = None

