# Generated from agentcache/semantic/_index_async.py by scripts/unasync.py:
# edit that file, then rerun it.
"""The semantic index and its entries in bulk: ensure, search, embed, invalidate, count, drop.

The base of the asyncio I/O shell (``_async.SemanticCache`` adds lookups and
writes); ``_index_sync.py`` is generated from this file by ``scripts/unasync.py``.
"""

from __future__ import annotations

from contextlib import suppress
from functools import partial
from logging import getLogger
from typing import Any

import redis
from redisvl.exceptions import RedisVLError
from redisvl.index import SearchIndex

from agentcache._redis.clients import SyncClient, check_modules
from agentcache.exceptions import InvalidInputError
from agentcache.metrics._counters import scoped
from agentcache.semantic._base import _BATCH, _ids, _SemanticBase, _total
from agentcache.semantic._cluster import ClusterSearch
from agentcache.semantic._core import IndexState, is_missing_index
from agentcache.semantic._validate import bad_embedding
from agentcache.vectorizers import Vector

logger = getLogger("agentcache.semantic")


class SemanticIndex(_SemanticBase):
    """The index lifecycle and bulk deletes shared by every semantic cache call."""

    client: SyncClient
    _cluster: ClusterSearch | None

    # -- index --------------------------------------------------------------
    def ensure_index(self) -> IndexState:
        """Create the index (and its alias and metadata) unless they exist."""
        check_modules(self.client, str(self.settings.redis.url or "embedded"))
        core = self.core
        meta = self.client.hgetall(core.meta_key)
        state = core.state_from_meta(meta) if meta else core.initial_state()
        core.state = state  # a (re)created index follows the recorded version's schema
        try:
            if self._cluster is not None:
                self._cluster.ensure(state.physical, state.entry_prefix)
            elif not self._index_exists(state.physical):
                self._create_index(state)
            if not meta:
                self.client.hset(core.meta_key, mapping=core.meta_mapping(state))
        except BaseException:
            core.state = None  # not ready: the next call tries again
            raise
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
        schema = self._schema_for(state.physical, state.entry_prefix)
        index = SearchIndex(schema, redis_client=self.client)
        try:
            index.create(overwrite=False)
        except (RedisVLError, redis.RedisError) as exc:  # a concurrent creator won the race
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
        """Ensure the index on first use; then follow migrations (one HGETALL a second at most)."""
        if self.core.state is None:
            return self.guard.run("connect", self.ensure_index) is not None
        if self.core.refresh_due():
            meta = self.guard.run("refresh", self._meta)
            self.core.adopt_meta(meta or {})
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
            # Wrong dims or NaN from the vectorizer is a setup bug: say so, even fail-open.
            raise bad_embedding(model, exc) from None
        if vector is None:
            return None
        self.core.memo_put(model, text, vector)
        return vector

    # -- invalidation -------------------------------------------------------
    def invalidate(self, entry_id: str, *, tenant: str) -> bool:
        """Delete one entry; True if it existed."""
        tenant = self.core.scope(tenant, "-", None).tenant
        entry_id = self.core.validate_entry_id(entry_id)
        with scoped(tenant, "-"):
            if not self._ready():
                return False
            delete = partial(self._delete_keys, tenant, [self.core.entry_key(tenant, entry_id)])
            return bool(self.guard.run("invalidate", delete))

    def invalidate_tenant(self, tenant: str) -> int:
        """Delete every entry of ``tenant``; return how many."""
        tenant = self.core.scope(tenant, "-", None).tenant
        with scoped(tenant, "-"):
            removed = self._delete_matching(tenant, self.queries.filter_expr(tenant))
            side = (self.core.lru_key(tenant), self.core.hits_key(tenant))
            self.guard.run("invalidate", lambda: self.client.delete(*side))
        return removed

    def invalidate_agent(self, tenant: str, agent: str) -> int:
        """Delete every entry of one agent of ``tenant``; return how many."""
        scope = self.core.scope(tenant, agent, None)
        expr = self.queries.filter_expr(scope.tenant, scope.agent)
        with scoped(scope.tenant, scope.agent):
            return self._delete_matching(scope.tenant, expr)

    def invalidate_tag(self, tenant: str, tag: str) -> int:
        """Delete every entry of ``tenant`` stored with ``tag``; return how many."""
        tenant = self.core.scope(tenant, "-", None).tenant
        tag = self.core.validate_tags([tag])[0]
        with scoped(tenant, "-"):
            return self._delete_matching(tenant, self.queries.filter_expr(tenant, tag=tag))

    def invalidate_similar(
        self, text: str, *, tenant: str, threshold: float, agent: str | None = None
    ) -> int:
        """Delete the tenant's entries within ``threshold`` cosine similarity of ``text``."""
        core = self.core
        tenant = core.scope(tenant, agent or "-", None).tenant
        text = core.validate_prompt(text, "text")
        minimum = core.validate_threshold(threshold)
        with scoped(tenant, agent or "-"):
            vector = self._embed(text)
            if vector is None or not self._ready():
                return 0
            blob = core.vector_bytes(vector)
            command = self.queries.range_command(tenant, agent, blob, minimum, 0, _BATCH)
            return self._delete_found(tenant, command)

    def _delete_matching(self, tenant: str, filter_expr: str) -> int:
        if not self._ready():
            return 0
        command = self.queries.ids_command(filter_expr, _BATCH)
        return self._delete_found(tenant, command)

    def _delete_found(self, tenant: str, command: list[Any]) -> int:
        """Delete the entries ``command`` finds, a batch at a time, until it finds none."""

        def run() -> int:
            removed = 0
            while keys := _ids(self._search(command, tenant)):
                removed += self._delete_keys(tenant, keys)
            return removed

        return self.guard.run("invalidate", run) or 0

    def _delete_keys(self, tenant: str, keys: list[str]) -> int:
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.delete(key)
        ids = [key.rsplit(":", 1)[-1] for key in keys]
        pipe.zrem(self.core.lru_key(tenant), *ids)
        pipe.hdel(self.core.hits_key(tenant), *self.core.hits_fields(*ids))
        return sum(int(n) for n in (pipe.execute())[:-2])

    def clear(self) -> int:
        """Delete every entry of every tenant in this cache's index; return how many."""
        if not self._ready():
            return 0

        def run() -> int:
            removed = 0
            while keys := _ids(self._search(self.queries.ids_command("*", _BATCH))):
                pipe = self.client.pipeline(transaction=False)
                for key in keys:
                    pipe.delete(key)
                removed += sum(int(n) for n in pipe.execute())
            for pattern in self.core.side_patterns():
                for side in self.client.scan_iter(match=pattern, count=1000):
                    self.client.delete(side)
            return removed

        return self.guard.run("clear", run) or 0

    def count(self, tenant: str | None = None, agent: str | None = None) -> int:
        """Entries stored (for one tenant, or one agent of it, when given)."""
        if tenant is None:
            return self._count("*", None)
        tenant = self.core.scope(tenant, agent or "-", None).tenant
        with scoped(tenant, agent or "-"):
            return self._count(self.queries.filter_expr(tenant, agent), tenant)

    def _count(self, expr: str, tenant: str | None) -> int:
        if not self._ready():
            return 0
        command = self.queries.count_command(expr)
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
                with suppress(redis.ResponseError):
                    self.client.execute_command(*command)
        self.client.delete(self.core.meta_key)
        self.core.state = None

