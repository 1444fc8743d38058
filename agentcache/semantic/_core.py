"""The semantic cache's logic without I/O: keys, index state, reply parsing, entries.

The I/O shell (``_async.AsyncSemanticCache``, and ``_sync.SemanticCache``
generated from it) only sends what the core builds and hands the replies back
to it. Its parts: ``_validate`` (input checks), ``_decide`` (the policy's
decision, shadow mode, explore), ``_queries`` (FT.SEARCH commands), ``_scripts``
(Lua), ``_types`` (what the cache returns). Nothing here imports a Redis client,
metrics or the fault guard.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from agentcache._redis import keys as _keys
from agentcache._redis.index_meta import (
    PREVIOUS,
    VECTOR_FIELD,
    Version,
    decode,
    first_version,
    version_from_meta,
)
from agentcache._redis.replies import scripted_search, search_rows
from agentcache._redis.replies import to_text as _text
from agentcache.exceptions import ConfigurationError
from agentcache.semantic._decide import Decisions
from agentcache.semantic._plan import HybridPlanner
from agentcache.semantic._policy import Candidate, DecisionPolicy
from agentcache.semantic._types import CacheHit, CacheStats, CheckResult, Scope
from agentcache.semantic._validate import InputChecks
from agentcache.settings import AgentCacheSettings
from agentcache.vectorizers import Vector

DISTANCE_ALIAS = "__dist"
# Set on a candidate by the lookup's search script: its hit count, and whether its
# payload (response, metadata) was read with it.
HITS_FIELD = "__hits"
READ_FIELD = "__read"
# Fields every candidate comes back with (policies may ask for more). The payload
# (response, metadata) is read only for the entry a lookup serves or verifies:
# top_k full responses per search would be most of the reply.
CANDIDATE_FIELDS = ("prompt", "tenant_id", "agent_id", "model_name")
PAYLOAD_FIELDS = ("response", "metadata")
EXACT_FIELDS = CANDIDATE_FIELDS + PAYLOAD_FIELDS
# What a hit reads of its entry: the payload, and the raw ids to check it again.
PAYLOAD_READ = (*PAYLOAD_FIELDS, "tenant_id", "agent_id", "model_name")
_logger = logging.getLogger("agentcache.semantic")


@dataclass(frozen=True)
class IndexState(Version):
    """The version this cache uses (the metadata hash's model) and how to name it."""

    alias: str = ""
    # True: query the physical index by name, not the alias (a retained older
    # version, or the source of a running transform migration).
    pinned: bool = False


class SemanticCore(InputChecks, Decisions):
    """Everything about a lookup or a store that does not touch the network (see above)."""

    def __init__(
        self,
        settings: AgentCacheSettings,
        policy: DecisionPolicy,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.policy = policy
        self.clock = clock
        # Draws the explore step and feedback back-off; inject a seeded one in tests.
        self.rng = rng or random.Random()
        prefix = settings.redis.key_prefix
        name = settings.semantic.index_name
        self.alias = _keys.index_alias(prefix, name)
        self.meta_key = _keys.meta_key(prefix, name)
        self.default_entry_prefix = _keys.entry_prefix(prefix, name)
        self.dtype = np.float16 if settings.semantic.vector_datatype == "float16" else np.float32
        self.state: IndexState | None = None
        self.stats = CacheStats()
        # The vectorizer's model name (set by the cache); matched against meta.
        self.vector_model = settings.embeddings.model
        # Index metadata is re-read at most this often (see refresh_due).
        self.refresh_interval = 1.0
        self._refreshed_at = time.monotonic()
        self.return_fields = tuple(dict.fromkeys(CANDIDATE_FIELDS + tuple(policy.fields)))
        # A policy learns when feedback changes an entry (the protocol: empty = nothing).
        self.learns = bool(policy.feedback_update({}, 1.0, True))
        self._memo: OrderedDict[tuple[str, str], Vector] = OrderedDict()
        cfg = settings.semantic
        self.planner = HybridPlanner(
            cfg.hybrid_policy, cfg.batches_min_share, cfg.batches_min_entries
        )

    # -- embeddings memo ----------------------------------------------------
    # check() then store() of the same prompt is the common miss path; the
    # memo keeps it to one embedding call.
    def memo_get(self, model: str, text: str) -> Vector | None:
        vec = self._memo.get((model, text))
        if vec is not None:
            self._memo.move_to_end((model, text))
        return vec

    def memo_put(self, model: str, text: str, vector: Vector) -> None:
        self._memo[(model, text)] = vector
        if len(self._memo) > 256:
            self._memo.popitem(last=False)

    # -- keys ---------------------------------------------------------------
    def require_state(self) -> IndexState:
        if self.state is None:
            raise ConfigurationError("the semantic index is not initialised")
        return self.state

    def entry_id(self, scope: Scope, prompt: str) -> str:
        return _keys.entry_id(scope.agent, scope.model_key, prompt)

    def tenant_entry_prefix(self, tenant: str) -> str:
        return _keys.tenant_entry_prefix(self.require_state().entry_prefix, tenant)

    def entry_key(self, tenant: str, entry_id: str) -> str:
        return self.tenant_entry_prefix(tenant) + entry_id

    def lru_key(self, tenant: str) -> str:
        return _keys.lru_key(
            self.settings.redis.key_prefix, tenant, self.settings.semantic.index_name
        )

    def hits_key(self, tenant: str) -> str:
        """The tenant's hits hash: ``<id>`` -> hit count, ``<id>:sim`` -> last similarity."""
        return _keys.hits_key(
            self.settings.redis.key_prefix, tenant, self.settings.semantic.index_name
        )

    def hits_fields(self, *entry_ids: str) -> list[str]:
        """The entries' fields in the hits hash (deleted with the entries)."""
        return _keys.hits_fields(*entry_ids)

    def side_patterns(self) -> tuple[str, ...]:
        """SCAN globs of every tenant's LRU set and hits hash in this index (``clear``);
        another index on the same key prefix keeps its LRU sets and hit counts."""
        return _keys.side_patterns(
            self.settings.redis.key_prefix, self.settings.semantic.index_name
        )

    @property
    def search_name(self) -> str:
        """The alias, or the physical index while this cache is pinned to one."""
        state = self.state
        return state.physical if state is not None and state.pinned else self.alias

    # -- replies ------------------------------------------------------------
    def parse_candidates(
        self, reply: Any, scope: Scope, extra: Sequence[Sequence[Any]] | None = None
    ) -> list[Candidate]:
        """FT.SEARCH reply -> candidates of exactly this scope (re-checked, not trusted).

        ``extra``: SEARCH_SCRIPT's per-row hit count (-1: the key is gone, dropped) and
        payload when read, kept in the fields (``HITS_FIELD``, ``READ_FIELD``)."""
        candidates = []
        for row, (key, fields) in enumerate(search_rows(reply, text=True)[1]):
            if not self._same_scope(fields, scope):
                continue  # digest collision or a foreign entry: never serve it
            distance = float(fields.get(DISTANCE_ALIAS, "inf"))
            if math.isnan(distance):
                continue
            if extra is not None:
                info = extra[row] if row < len(extra) else ()
                if not info or int(info[0]) < 0:
                    continue  # deleted or expired: never served
                fields[HITS_FIELD] = str(int(info[0]))
                if len(info) > 1 and info[1] is not None:
                    fields["response"] = _text(info[1])
                    fields["metadata"] = _text(info[2]) if len(info) > 2 else ""
                    fields[READ_FIELD] = "1"
            candidates.append(
                Candidate(
                    entry_id=key.rsplit(":", 1)[-1],
                    prompt=fields.get("prompt", ""),
                    similarity=1.0 - distance,
                    fields=fields,
                )
            )
        return candidates

    def parse_scripted(self, reply: Any, scope: Scope) -> list[Candidate]:
        """SEARCH_SCRIPT reply -> candidates with their hit counts and read payloads."""
        search, extra = scripted_search(reply)
        return self.parse_candidates(search, scope, extra)

    def from_search(
        self, result: CheckResult, candidates: Sequence[Candidate]
    ) -> tuple[CheckResult, bool]:
        """``result`` with the payload (and, for a hit, the count after it) the search
        brought back, and whether it did (False: read it, as ``served``/``with_payload``)."""
        chosen = result.hit or result.candidate
        if chosen is None:
            return result, False
        if result.hit is None and not (result.explore or (result.shadow and result.accepted)):
            return result, True  # a declined entry: its payload is not shown (CheckResult)
        cand = next((c for c in candidates if c.entry_id == chosen.entry_id), None)
        if cand is None or READ_FIELD not in cand.fields:
            return result, False
        fields = cand.fields
        filled = replace(
            chosen,
            response=fields.get("response", ""),
            metadata=self._decode_metadata(fields.get("metadata")),
        )
        if result.hit is None:
            return replace(result, candidate=filled), True
        # The count the search read (this cache's earlier hits were sent before it), + this one.
        filled = replace(filled, hit_count=int(fields.get(HITS_FIELD, "0")) + 1)
        return replace(result, hit=filled, candidate=filled), True

    def _same_scope(self, fields: Mapping[str, str], scope: Scope) -> bool:
        if fields.get("tenant_id") != scope.tenant or fields.get("agent_id") != scope.agent:
            return False
        return scope.model is None or fields.get("model_name") == scope.model

    def served(self, result: CheckResult, reply: Any) -> CheckResult:
        """The hit with its payload and count, from TOUCH_SCRIPT's reply (or the
        payload's HMGET with a count of 0 when the script could not run).

        An entry deleted since the search (invalidated, evicted, expired) is a miss.
        """
        assert result.hit is not None
        payload = self._payload(reply[:-1] if reply else None, result.hit)
        if payload is None:
            return CheckResult(None, "gone", None, result.accepted, result.shadow)
        hit = replace(payload, hit_count=int(reply[-1]))
        return replace(result, hit=hit, candidate=hit)

    def payload_key(self, scope: Scope, result: CheckResult) -> str | None:
        """The entry whose payload a miss still needs: a withheld hit (shadow mode,
        explore) or a near miss to verify; None for any other lookup."""
        cand = result.candidate
        if result.hit is not None or cand is None:
            return None
        if result.explore or (result.shadow and result.accepted):
            return self.entry_key(scope.tenant, cand.entry_id)
        return None

    def with_payload(self, result: CheckResult, values: Sequence[Any] | None) -> CheckResult:
        """``result`` whose candidate carries its payload (``PAYLOAD_READ`` values)."""
        cand = result.candidate
        filled = None if cand is None else self._payload(values, cand)
        if filled is None:
            return replace(result, explore=False)  # nothing to verify against: gone or a fault
        return replace(result, candidate=filled)

    def _payload(self, values: Sequence[Any] | None, hit: CacheHit) -> CacheHit | None:
        """``hit`` with the read payload; None if the entry is gone or not this scope's."""
        if not values or values[0] is None:
            return None
        fields = dict(zip(PAYLOAD_READ, (_text(v) for v in values), strict=False))
        scope = Scope(hit.tenant, hit.agent, hit.model)
        if not self._same_scope(fields, scope):
            return None  # replaced under another scope since the search: never serve it
        metadata = self._decode_metadata(fields.get("metadata"))
        return replace(hit, response=fields.get("response", ""), metadata=metadata)

    def hit_from_exact(
        self, values: Sequence[Any], scope: Scope, entry_id: str, prompt: str
    ) -> CacheHit | None:
        *raw, hits = values  # EXACT_SCRIPT appends the hit count
        fields = dict(zip(EXACT_FIELDS, (_text(v) for v in raw), strict=False))
        if not self._same_scope(fields, scope) or fields.get("model_name", "") != scope.model_key:
            return None
        if _keys.normalize_prompt(fields.get("prompt", "")) != _keys.normalize_prompt(prompt):
            return None
        return CacheHit(
            response=fields.get("response", ""),
            prompt=fields.get("prompt", ""),
            similarity=1.0,
            entry_id=entry_id,
            tenant=scope.tenant,
            agent=scope.agent,
            model=scope.model,
            metadata=self._decode_metadata(fields.get("metadata")),
            exact=True,
            hit_count=int(hits or 0),  # already bumped by EXACT_SCRIPT unless shadowed
        )

    def _decode_metadata(self, raw: str | None) -> dict[str, Any]:
        if not raw:
            return {}
        try:
            value = json.loads(raw)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    @property
    def feedback_reads(self) -> tuple[str, ...]:
        """Entry fields one feedback attempt reads (HMGET): presence and policy state."""
        return ("tenant_id", *self.policy.fields)

    def last_similarity(self, raw: Any) -> float:
        """The last served hit's similarity, from the hits hash (1.0 if never recorded)."""
        text = _text(raw)
        return float(text) if text else 1.0

    def feedback_args(
        self, values: Sequence[Any], similarity: float, correct: bool
    ) -> list[Any] | None:
        """FEEDBACK_SCRIPT arguments from the ``feedback_reads`` values; None: entry gone.

        An empty list means the policy learns nothing (no write). The policy's
        state fields are the compare-and-set guard, so an update computed from
        state another process has since changed is retried, never written.
        """
        if not values or values[0] is None:
            return None
        fields = {
            name: _text(value)
            for name, value in zip(self.feedback_reads, values, strict=True)
            if value is not None
        }
        update = self.policy.feedback_update(fields, similarity, correct)
        if not update:
            return []
        watched = self.policy.fields
        pairs = [item for name, value in update.items() for item in (name, value)]
        return [len(watched), *watched, *(fields.get(name, "") for name in watched), *pairs]

    def feedback_backoff(self, attempt: int) -> float:
        """Seconds to wait before retrying a feedback that lost a race (jittered)."""
        return self.rng.uniform(0.0, 0.001 * min(attempt + 1, 10))

    # -- store --------------------------------------------------------------
    def store_args(
        self,
        scope: Scope,
        prompt: str,
        response: str,
        blob: bytes,
        metadata_json: str,
        tags: list[str],
        ttl: int,
    ) -> tuple[list[str], list[Any], str]:
        entry_id = self.entry_id(scope, prompt)
        now = self.clock()
        cap = self.settings.semantic.max_entries_per_tenant or 0
        fields: list[Any] = [
            "prompt", prompt,
            "response", response,
            "metadata", metadata_json,
            "tenant", _keys.tag_value(scope.tenant),
            "agent", _keys.tag_value(scope.agent),
            "model", _keys.tag_value(scope.model_key),
            "tags", ",".join(_keys.tag_value(t) for t in tags),
            "tenant_id", scope.tenant,
            "agent_id", scope.agent,
            "model_name", scope.model_key,
            VECTOR_FIELD, blob,
            "inserted_at", now,
        ]  # fmt: skip
        keys = [
            self.entry_key(scope.tenant, entry_id),
            self.lru_key(scope.tenant),
            self.hits_key(scope.tenant),
        ]
        args = [now, ttl, cap, entry_id, self.tenant_entry_prefix(scope.tenant), *fields]
        return keys, args, entry_id

    def oldest(self, max_age: float | None) -> float | None:
        """The oldest ``inserted_at`` a lookup with ``max_age`` serves (None: any)."""
        return None if max_age is None else self.clock() - max_age

    def exact_args(
        self, scope: Scope, prompt: str, since: float | None = None
    ) -> tuple[list[str], list[Any], str]:
        entry_id = self.entry_id(scope, prompt)
        keys = [
            self.entry_key(scope.tenant, entry_id),
            self.lru_key(scope.tenant),
            self.hits_key(scope.tenant),
        ]
        touch = "0" if self.settings.semantic.shadow_mode else "1"
        oldest = "" if since is None else repr(since)
        return keys, [self.clock(), entry_id, touch, oldest, *EXACT_FIELDS], entry_id

    def hit_args(self, hit: CacheHit) -> tuple[list[str], list[Any]]:
        """HIT_SCRIPT's keys and arguments: a served hit's bookkeeping, sent later."""
        tenant, entry_id = hit.tenant, hit.entry_id
        keys = [self.entry_key(tenant, entry_id), self.lru_key(tenant), self.hits_key(tenant)]
        return keys, [self.clock(), entry_id, f"{hit.similarity:.6f}"]

    def touch_args(
        self, tenant: str, entry_id: str, similarity: float
    ) -> tuple[list[str], list[Any]]:
        keys = [self.entry_key(tenant, entry_id), self.lru_key(tenant), self.hits_key(tenant)]
        return keys, [self.clock(), entry_id, f"{similarity:.6f}", *PAYLOAD_READ]

    # -- index state --------------------------------------------------------
    def state_from_meta(self, meta: Mapping[Any, Any]) -> IndexState:
        """The version this cache should use: the active one, else a retained older one.

        After a migration to another embedding model, caches still running the
        old model keep serving from the previous version until ``cleanup``.
        """
        decoded = decode(meta)
        active = self._version_from_meta(decoded, "")
        previous = self._version_from_meta(decoded, PREVIOUS)
        for state, older in ((active, False), (previous, True)):
            if state is None or state.dims != self.settings.embeddings.dims:
                continue
            if state.model and state.model != self.vector_model:
                continue
            # While a transform migration runs, stay on the known physical index:
            # the alias may be swapped to vectors of another datatype at any time.
            pinned = older or decoded.get("pending_transform") == "1"
            state = replace(state, pinned=pinned)
            self.check_compatible(state)
            return state
        assert active is not None
        self.check_compatible(active)  # raises, naming the mismatch
        return active

    def _version_from_meta(self, decoded: Mapping[str, str], prefix: str) -> IndexState | None:
        version = version_from_meta(decoded, prefix)
        return None if version is None else self._state(version)

    def _state(self, version: Version) -> IndexState:
        return IndexState(**version.__dict__, alias=self.alias)

    def refresh_due(self) -> bool:
        """True at most once per ``refresh_interval``: time to re-read the index metadata."""
        now = time.monotonic()
        if now - self._refreshed_at < self.refresh_interval:
            return False
        self._refreshed_at = now
        return True

    def adopt_meta(self, meta: Mapping[bytes, bytes]) -> None:
        """Follow a migration's alias swap recorded in the metadata hash."""
        if not meta:
            return
        try:
            state = self.state_from_meta(meta)
        except ConfigurationError as exc:
            _logger.warning("keeping index %s: %s", self.search_name, exc)
            return
        if state != self.state:
            _logger.info("semantic cache now uses %s (%s)", state.physical, state.entry_prefix)
            self.state = state

    def initial_state(self) -> IndexState:
        cfg = self.settings
        return self._state(
            first_version(
                cfg.redis.key_prefix,
                cfg.semantic.index_name,
                cfg.embeddings.dims,
                cfg.semantic.vector_datatype,
            )
        )

    def meta_mapping(self, state: IndexState) -> dict[Any, Any]:
        # No model: a migration records it (an unknown model never blocks a cache).
        return dict(state.as_meta(with_model=False))

    def check_compatible(self, state: IndexState) -> None:
        cfg = self.settings
        if state.dims != cfg.embeddings.dims:
            raise ConfigurationError(
                f"index {state.physical} holds {state.dims}-dim vectors but "
                f"AGENTCACHE_EMBEDDINGS__DIMS is {cfg.embeddings.dims}; migrate the index "
                "(agentcache migrate plan) or use the matching embedding model"
            )
        if state.model and state.model != self.vector_model:
            raise ConfigurationError(
                f"index {state.physical} holds vectors of model {state.model!r} but this "
                f"cache embeds with {self.vector_model!r}; migrate the index first"
            )
        # The datatype follows the index (a float16 migration needs no config change).
        self.dtype = np.float16 if state.datatype == "float16" else np.float32
