"""The semantic cache's logic without I/O: keys, queries, reply parsing, validation.

``SemanticCache`` and ``AsyncSemanticCache`` (semantic.py) only send what
this module builds and hand the replies back to it, so the two stay alike.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from agentcache._limits import MAX_METADATA_BYTES, MAX_TTL_SECONDS, check_text, check_ttl
from agentcache._redis import keys as _keys
from agentcache._redis.index_meta import (
    PREVIOUS,
    VECTOR_FIELD,
    Version,
    decode,
    first_version,
    version_from_meta,
)
from agentcache._redis.replies import is_missing_index as is_missing_index  # re-exported
from agentcache._redis.replies import search_rows as search_rows  # re-exported
from agentcache._redis.replies import to_text as _text
from agentcache.exceptions import ConfigurationError, InvalidInputError, SerializationError
from agentcache.metrics._counters import bind_scope
from agentcache.semantic._plan import HybridPlanner
from agentcache.semantic._policy import Candidate, Decision, DecisionPolicy
from agentcache.settings import AgentCacheSettings
from agentcache.vectorizers import Vector, as_vector

DISTANCE_ALIAS = "__dist"
# Fields every candidate comes back with (policies may ask for more). The payload
# (response, metadata) is read only for the entry a lookup serves or verifies:
# top_k full responses per search would be most of the reply.
CANDIDATE_FIELDS = ("prompt", "tenant_id", "agent_id", "model_name")
PAYLOAD_FIELDS = ("response", "metadata")
EXACT_FIELDS = CANDIDATE_FIELDS + PAYLOAD_FIELDS
# What a hit reads of its entry: the payload, and the raw ids to check it again.
PAYLOAD_READ = (*PAYLOAD_FIELDS, "tenant_id", "agent_id", "model_name")
_logger = logging.getLogger("agentcache.semantic")
# A declined candidate this far below the threshold is still worth verifying
# (a learning policy can lower the entry's own threshold); as in bench/quality.py.
LOOSE_BAND = 0.10

# Per-hit state never touches the indexed entry hash: any write to it makes
# RediSearch re-index the whole document, HNSW vector included (0.4 ms at 1k
# entries, ~1 ms at 100k). It lives in two per-tenant keys in the entry's slot:
#   KEYS[2] the LRU sorted set: entry id -> last store or hit time (the last-hit time)
#   KEYS[3] the hits hash: entry id -> hit count, "<id>:sim" -> last hit's similarity
# Both expire like the tenant's newest entry; fields of entries that expired on
# their own stay until evicted past the cap, invalidated, or the key expires.

# Atomic store: write the entry, set its TTL, mark it recently used, and
# evict the tenant's least recently hit entries past the cap. A new entry's
# hit count starts at 0; a replacement (same prompt and scope) keeps its count.
# ARGV: now, ttl (whole seconds, 0: none), cap (0: none), entry id, the tenant's
# entry prefix, then field/value pairs. Every argument is checked before the
# first write: a refused EXPIRE after the HSET would leave an entry that never
# expires and sits outside the LRU set (never evicted).
STORE_SCRIPT = """
local now, ttl, cap = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local function whole(n, high)
  return n ~= nil and n == n and n >= 0 and n <= high and n == math.floor(n)
end
if now == nil or now ~= now or now < 0 or now == math.huge then
  return redis.error_reply('ERR agentcache store: bad time ' .. tostring(ARGV[1]))
end
if not whole(ttl, MAX_TTL) then
  return redis.error_reply('ERR agentcache store: ttl must be a whole number of seconds in ' ..
    '[0, MAX_TTL], got ' .. tostring(ARGV[2]))
end
if not whole(cap, 9007199254740991) then
  return redis.error_reply('ERR agentcache store: bad cap ' .. tostring(ARGV[3]))
end
if #ARGV < 7 or (#ARGV - 5) % 2 ~= 0 or ARGV[4] == '' then
  return redis.error_reply('ERR agentcache store: bad entry id or field list')
end
local existed = redis.call('EXISTS', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 6))
if ttl > 0 then redis.call('EXPIRE', KEYS[1], ttl) else redis.call('PERSIST', KEYS[1]) end
local lru_existed = redis.call('EXISTS', KEYS[2])
local hits_existed = redis.call('EXISTS', KEYS[3])
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[4])
if existed == 0 then
  redis.call('HSET', KEYS[3], ARGV[4], 0)
  redis.call('HDEL', KEYS[3], ARGV[4] .. ':sim')
else
  redis.call('HSETNX', KEYS[3], ARGV[4], 0)
end
local function follow(key, key_existed)
  if ttl > 0 then
    local left = redis.call('TTL', key)
    if key_existed == 0 or (left >= 0 and left < ttl) then redis.call('EXPIRE', key, ttl) end
  else
    redis.call('PERSIST', key)
  end
end
follow(KEYS[2], lru_existed)
follow(KEYS[3], hits_existed)
local evicted = {}
if cap > 0 then
  while redis.call('ZCARD', KEYS[2]) > cap do
    local popped = redis.call('ZPOPMIN', KEYS[2])
    local id = popped[1]
    if id == ARGV[4] then
      redis.call('ZADD', KEYS[2], ARGV[1], id)
      break
    end
    redis.call('HDEL', KEYS[3], id, id .. ':sim')
    if redis.call('DEL', ARGV[5] .. id) == 1 then table.insert(evicted, id) end
  end
end
return {existed, evicted}
""".replace("MAX_TTL", str(MAX_TTL_SECONDS))

# A served hit (KEYS: entry, LRU set, hits hash; ARGV: now, id, similarity, payload
# fields): bump the count, record the similarity and the LRU time; the entry is only
# read. Returns the payload and the count after this hit (0: the entry is gone).
_BUMP = """
hits = redis.call('HINCRBY', KEYS[3], ARGV[2], 1)
redis.call('HSET', KEYS[3], ARGV[2] .. ':sim', SIM)
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[2])
if hits == 1 and redis.call('TTL', KEYS[3]) == -1 then
  -- Made by this hit (an entry stored before counts lived here): expire with the LRU set.
  local left = redis.call('PTTL', KEYS[2])
  if left > 0 then redis.call('PEXPIRE', KEYS[3], left) end
end
"""
TOUCH_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local hits
BUMP
local values = redis.call('HMGET', KEYS[1], unpack(ARGV, 4))
table.insert(values, hits)
return values
""".replace("BUMP", _BUMP.replace("SIM", "ARGV[3]"))

# Exact repeat (ARGV: now, id, touch flag, fields): the entry's fields and its hit
# count, bumped unless in shadow mode, in one round trip.
EXACT_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local hits
if ARGV[3] == '1' then
BUMP
else
  hits = tonumber(redis.call('HGET', KEYS[3], ARGV[2])) or 0
end
local values = redis.call('HMGET', KEYS[1], unpack(ARGV, 4))
table.insert(values, hits)
return values
""".replace("BUMP", _BUMP.replace("SIM", "'1'"))


# Feedback, compare-and-set: write the policy's update only if the fields it was
# computed from are unchanged, so concurrent feedback never drops an observation.
# ARGV: n, n field names, their expected values ('' = absent), then field/value pairs.
# Returns -1 (entry gone), 0 (changed meanwhile: recompute and retry) or 1 (written).
FEEDBACK_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local n = tonumber(ARGV[1])
for i = 1, n do
  if (redis.call('HGET', KEYS[1], ARGV[1 + i]) or '') ~= ARGV[1 + n + i] then return 0 end
end
if #ARGV > 1 + 2 * n then redis.call('HSET', KEYS[1], unpack(ARGV, 2 + 2 * n)) end
return 1
"""
# Attempts before a contended feedback gives up (each loser retries after a winner wrote).
FEEDBACK_ATTEMPTS = 64


@dataclass(frozen=True)
class CacheHit:
    """A cached response served for a prompt.

    ``similarity`` is the cosine similarity (1 - cosine distance) between the
    prompt and the cached prompt; 1.0 for an exact repeat (``exact=True``).
    ``hit_count`` is the entry's hit count after this hit when served; on a
    candidate that was not served (shadow mode, explore, declined) it is 0, not read,
    and a declined candidate that is not to be verified has an empty ``response``.
    """

    response: str
    prompt: str
    similarity: float
    entry_id: str
    tenant: str
    agent: str
    model: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    exact: bool = False
    hit_count: int = 0


@dataclass(frozen=True)
class CheckResult:
    """One lookup, explained (``SemanticCache.lookup``); ``check`` returns only ``hit``.

    Attributes:
        hit: the response served, or None (a miss).
        reason: the policy's reason ("similarity+guards", "guard:numbers",
            "below_threshold", "no_candidates", "verified:err=..."), "exact" for an
            exact repeat, "unavailable" when Redis or the embedder failed, "gone"
            when the chosen entry was deleted between the search and the read.
        candidate: the entry the decision is about: the hit, the would-be hit
            (shadow mode, explore) or the most similar declined entry. A declined
            entry that is not to be verified carries no payload (``response`` is
            empty): lookups read the payload of the entry they serve or verify only.
        accepted: the policy accepted ``candidate`` (served, or would have been).
        shadow: shadow mode served a miss in its place.
        explore: verify ``candidate`` against the model: the caller asks the model
            anyway (this is a miss), compares, and sends ``feedback``. Set on a
            would-be hit with probability ``explore_rate`` (the hit is withheld),
            and, when the policy learns, on a near miss within ``LOOSE_BAND``.
    """

    hit: CacheHit | None
    reason: str
    candidate: CacheHit | None = None
    accepted: bool = False
    shadow: bool = False
    explore: bool = False


@dataclass(frozen=True)
class IndexState(Version):
    """The version this cache uses (the metadata hash's model) and how to name it."""

    alias: str = ""
    # True: query the physical index by name, not the alias (a retained older
    # version, or the source of a running transform migration).
    pinned: bool = False


@dataclass
class CacheStats:
    """In-process counters of one cache object."""

    hits: int = 0
    exact_hits: int = 0
    misses: int = 0
    stores: int = 0
    evictions: int = 0
    errors: int = 0
    shadow_hits: int = 0
    guard_vetoes: int = 0  # lookups declined because a guard vetoed every near candidate
    explores: int = 0
    declined: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Scope:
    """A validated lookup scope: who asks, and about which model."""

    tenant: str
    agent: str
    model: str | None

    @property
    def model_key(self) -> str:
        return self.model or ""


def bad_embedding(model: str, exc: BaseException) -> ConfigurationError:
    """The error for a vectorizer that returned an unusable vector (wrong dims, NaN...)."""
    return ConfigurationError(
        f"vectorizer {model!r} returned an unusable embedding: {exc} "
        "(a bug in the vectorizer or its dims setting, AGENTCACHE_EMBEDDINGS__DIMS)"
    )


class SemanticCore:
    """Everything about a lookup or a store that does not touch the network."""

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
        self._return_fields = tuple(dict.fromkeys(CANDIDATE_FIELDS + tuple(policy.fields)))
        # A policy learns when feedback changes an entry (the protocol: empty = nothing).
        self.learns = bool(policy.feedback_update({}, 1.0, True))
        self._memo: OrderedDict[tuple[str, str], Vector] = OrderedDict()
        cfg = settings.semantic
        self.planner = HybridPlanner(
            cfg.hybrid_policy, cfg.batches_min_share, cfg.batches_min_entries
        )

    # -- validation ---------------------------------------------------------
    def scope(self, tenant: object, agent: object, model: object) -> Scope:
        tenant_id = _keys.validate_id(tenant, "tenant")
        agent_id = _keys.validate_id(agent, "agent")
        if model is not None:
            model = _keys.validate_id(model, "model")
        bind_scope(tenant_id, agent_id)  # faults and latencies in this call are theirs
        return Scope(tenant_id, agent_id, model)

    def validate_prompt(self, prompt: object, what: str = "prompt") -> str:
        if not isinstance(prompt, str):
            raise InvalidInputError(f"{what} must be a string, got {type(prompt).__name__}")
        if not prompt.strip():
            raise InvalidInputError(f"{what} is empty or whitespace")
        limit = self.settings.semantic.max_prompt_chars
        if len(prompt) > limit:
            raise InvalidInputError(
                f"{what} is {len(prompt)} characters; the limit is {limit} "
                "(AGENTCACHE_SEMANTIC__MAX_PROMPT_CHARS)"
            )
        return check_text(prompt, what)

    def validate_response(self, response: object) -> str:
        if not isinstance(response, str):
            raise InvalidInputError(
                f"response must be a string, got {type(response).__name__} "
                "(serialise structured responses to JSON first)"
            )
        size = len(check_text(response, "response").encode("utf-8"))
        if size > self.settings.semantic.max_response_bytes:
            raise InvalidInputError(
                f"response is {size} bytes; the limit is "
                f"{self.settings.semantic.max_response_bytes} "
                "(AGENTCACHE_SEMANTIC__MAX_RESPONSE_BYTES)"
            )
        return response

    def encode_metadata(self, metadata: Mapping[str, Any] | None) -> str:
        if metadata is None:
            return "{}"
        if not isinstance(metadata, Mapping):
            raise InvalidInputError(f"metadata must be a mapping, got {type(metadata).__name__}")
        try:
            encoded = json.dumps(dict(metadata), sort_keys=True, allow_nan=False)
        except (TypeError, ValueError, RecursionError) as exc:
            raise SerializationError(f"metadata is not JSON-serialisable: {exc}") from None
        # ensure_ascii (the default) made it ASCII: its length is its size in bytes.
        if len(encoded) > MAX_METADATA_BYTES:
            raise InvalidInputError(
                f"metadata is {len(encoded)} bytes as JSON; the limit is {MAX_METADATA_BYTES} "
                "(keep bulk in the response)"
            )
        return encoded

    def validate_tags(self, tags: Sequence[str] | None) -> list[str]:
        if tags is None:
            return []
        if isinstance(tags, str):
            raise InvalidInputError("tags must be a list of strings, not one string")
        return [_keys.validate_id(tag, "tag") for tag in tags]

    def validate_threshold(self, threshold: float | None) -> float:
        if threshold is None:
            return self.settings.semantic.threshold
        if (
            isinstance(threshold, bool)  # True would pass as 1.0
            or not isinstance(threshold, int | float)
            or not 0.0 <= float(threshold) <= 1.0
        ):
            raise InvalidInputError(
                f"threshold is a minimum cosine similarity in [0, 1], got {threshold!r}"
            )
        return float(threshold)

    def validate_ttl(self, ttl: int | None) -> int:
        """Whole seconds in [1, ``MAX_TTL_SECONDS``]; None: the settings' (0: no expiry)."""
        if ttl is None:
            return self.settings.semantic.ttl_seconds or 0
        return int(check_ttl(ttl, "ttl", whole=True))

    def validate_similarity(self, similarity: object) -> float | None:
        """A feedback similarity: None (the last hit's) or a cosine similarity in [-1, 1]."""
        if similarity is None:
            return None
        if (
            isinstance(similarity, bool)
            or not isinstance(similarity, int | float)
            or not -1.0 <= float(similarity) <= 1.0
        ):
            raise InvalidInputError(
                f"similarity is a cosine similarity in [-1, 1], got {similarity!r}"
            )
        return float(similarity)

    def validate_entry_id(self, entry_id: object) -> str:
        """An entry id as ``store`` returned it (checked before it becomes a key)."""
        return _keys.validate_id(entry_id, "entry_id")

    def vectorizer_output(self, value: Any, model: str) -> Vector:
        """A vector the vectorizer returned; a bad one is a setup bug, not a cache fault."""
        try:
            return self.vector(value)
        except InvalidInputError as exc:
            raise bad_embedding(model, exc) from None

    def vector(self, value: Any) -> Vector:
        return as_vector(value, self.settings.embeddings.dims, what="embedding")

    def vector_bytes(self, vector: Vector) -> bytes:
        return np.asarray(vector, dtype=self.dtype).tobytes()

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

    # -- queries ------------------------------------------------------------
    def filter_expr(
        self,
        tenant: str,
        agent: str | None = None,
        model: str | None = None,
        tag: str | None = None,
    ) -> str:
        parts = [f"@tenant:{{{_keys.tag_value(tenant)}}}"]
        if agent is not None:
            parts.append(f"@agent:{{{_keys.tag_value(agent)}}}")
        if model is not None:
            parts.append(f"@model:{{{_keys.tag_value(model)}}}")
        if tag is not None:
            parts.append(f"@tags:{{{_keys.tag_value(tag)}}}")
        return "(" + " ".join(parts) + ")"

    @property
    def search_name(self) -> str:
        """The alias, or the physical index while this cache is pinned to one."""
        state = self.state
        return state.physical if state is not None and state.pinned else self.alias

    def knn_command(
        self,
        scope: Scope,
        blob: bytes,
        k: int | None = None,
        index_key: str = "",
        planned: bool = True,
    ) -> list[Any]:
        """The filtered KNN; ``planned``: with the hybrid planner's policy (``_hybrid``)."""
        k = k or self.settings.semantic.top_k
        scope_filter = self.filter_expr(scope.tenant, scope.agent, scope.model)
        policy = self.planner.policy(scope, index_key) if planned else None
        hybrid = f" HYBRID_POLICY {policy}" if policy else ""
        query = (
            f"{scope_filter}"
            f"=>[KNN $K @{VECTOR_FIELD} $BLOB{hybrid} EF_RUNTIME $EF AS {DISTANCE_ALIAS}]"
        )
        fields = (*self._return_fields, DISTANCE_ALIAS)
        return [
            "FT.SEARCH", self.search_name, query,
            "PARAMS", 6, "BLOB", blob, "K", k, "EF", self.settings.semantic.ef_runtime,
            "SORTBY", DISTANCE_ALIAS, "ASC",
            "RETURN", len(fields), *fields,
            "LIMIT", 0, k,
            "DIALECT", 2,
        ]  # fmt: skip

    def lookup_command(
        self, scope: Scope, blob: bytes, threshold: float, index_key: str = ""
    ) -> list[Any]:
        """The candidate query of a lookup, in the configured form."""
        if self.settings.semantic.query == "knn":
            return self.knn_command(scope, blob, index_key=index_key)
        return self.nearby_command(scope, blob, threshold)

    def nearby_command(self, scope: Scope, blob: bytes, threshold: float) -> list[Any]:
        """The scope's top-k entries within a radius of the threshold, nearest first.

        The radius is the threshold itself, widened by ``LOOSE_BAND`` when near
        misses matter (a learning policy, shadow mode or exploring), so the
        policy sees every candidate it could accept and nothing far beyond.
        """
        cfg = self.settings.semantic
        wide = self.learns or cfg.shadow_mode or cfg.explore_rate > 0
        floor = max(0.0, threshold - (LOOSE_BAND if wide else 0.0))
        query = (
            f"@{VECTOR_FIELD}:[VECTOR_RANGE $R $BLOB]=>{{$EPSILON: {cfg.query_epsilon}; "
            f"$YIELD_DISTANCE_AS: {DISTANCE_ALIAS}}} "
            f"{self.filter_expr(scope.tenant, scope.agent, scope.model)}"
        )
        fields = (*self._return_fields, DISTANCE_ALIAS)
        return [
            "FT.SEARCH", self.search_name, query,
            "PARAMS", 4, "R", 1.0 - floor + 1e-6, "BLOB", blob,
            "SORTBY", DISTANCE_ALIAS, "ASC",
            "RETURN", len(fields), *fields,
            "LIMIT", 0, cfg.top_k,
            "DIALECT", 2,
        ]  # fmt: skip

    def range_command(
        self, tenant: str, agent: str | None, blob: bytes, threshold: float, offset: int, limit: int
    ) -> list[Any]:
        radius = 1.0 - threshold
        query = (
            f"@{VECTOR_FIELD}:[VECTOR_RANGE $R $BLOB]=>{{$EPSILON: 0.5; $YIELD_DISTANCE_AS: "
            f"{DISTANCE_ALIAS}}} {self.filter_expr(tenant, agent)}"
        )
        return [
            "FT.SEARCH", self.search_name, query,
            "PARAMS", 4, "R", radius, "BLOB", blob,
            "NOCONTENT", "LIMIT", offset, limit, "DIALECT", 2,
        ]  # fmt: skip

    # -- hybrid planner (the I/O layer counts, in this order, when asked) ----
    def index_count_command(self, index_key: str) -> list[Any] | None:
        """The whole index's count, when the planner's figure is missing or stale."""
        if self.settings.semantic.query != "knn" or not self.planner.needs_index_count(index_key):
            return None
        return self.count_command("*")

    def scope_count_command(self, scope: Scope, index_key: str) -> list[Any] | None:
        """The scope's count, when the planner needs it (its index is big enough)."""
        if self.settings.semantic.query != "knn":
            return None
        if not self.planner.needs_scope_count(scope, index_key):
            return None
        return self.count_command(self.filter_expr(scope.tenant, scope.agent, scope.model))

    def record_index(self, index_key: str, reply: Any) -> None:
        self.planner.record_index(index_key, search_rows(reply)[0])

    def record_scope(self, scope: Scope, reply: Any) -> None:
        self.planner.record_scope(scope, search_rows(reply)[0])

    def planner_failed(self, scope: Scope, index_key: str) -> None:
        self.planner.record_failure(scope, index_key)

    def ids_command(self, filter_expr: str, limit: int) -> list[Any]:
        return [
            "FT.SEARCH", self.search_name, filter_expr, "NOCONTENT", "LIMIT", 0, limit, "DIALECT", 2
        ]  # fmt: skip

    def count_command(self, filter_expr: str) -> list[Any]:
        return ["FT.SEARCH", self.search_name, filter_expr, "LIMIT", 0, 0, "DIALECT", 2]

    # -- replies ------------------------------------------------------------
    def parse_candidates(self, reply: Any, scope: Scope) -> list[Candidate]:
        """FT.SEARCH reply -> candidates of exactly this scope (re-checked, not trusted)."""
        candidates = []
        for key, fields in search_rows(reply, text=True)[1]:
            if not self._same_scope(fields, scope):
                continue  # digest collision or a foreign entry: never serve it
            distance = float(fields.get(DISTANCE_ALIAS, "inf"))
            if math.isnan(distance):
                continue
            candidates.append(
                Candidate(
                    entry_id=key.rsplit(":", 1)[-1],
                    prompt=fields.get("prompt", ""),
                    similarity=1.0 - distance,
                    fields=fields,
                )
            )
        return candidates

    def _same_scope(self, fields: Mapping[str, str], scope: Scope) -> bool:
        if fields.get("tenant_id") != scope.tenant or fields.get("agent_id") != scope.agent:
            return False
        return scope.model is None or fields.get("model_name") == scope.model

    def hit_from_candidate(self, candidate: Candidate, scope: Scope) -> CacheHit:
        """The candidate as a hit, without its payload (``served``/``with_payload`` add it)."""
        fields = candidate.fields
        return CacheHit(
            response="",
            prompt=candidate.prompt,
            similarity=candidate.similarity,
            entry_id=candidate.entry_id,
            tenant=scope.tenant,
            agent=scope.agent,
            model=fields.get("model_name") or None,
        )

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

    def decide(self, prompt: str, candidates: list[Candidate], threshold: float) -> Decision:
        decision = self.policy.decide(prompt, candidates, threshold)
        if not decision.hit:
            self.stats.declined[decision.reason] = self.stats.declined.get(decision.reason, 0) + 1
        return decision

    def resolve(
        self, prompt: str, candidates: list[Candidate], threshold: float, scope: Scope
    ) -> CheckResult:
        """The policy's decision on the candidates, with shadow mode and the explore draw."""
        shadow = self.settings.semantic.shadow_mode
        decision = self.decide(prompt, candidates, threshold)
        if decision.candidate is not None:
            hit = self.hit_from_candidate(
                decision.candidate, scope
            )  # count and payload: see served()
            explore = self._explore()
            served = None if shadow or explore else hit
            return CheckResult(served, decision.reason, hit, True, shadow, explore)
        best = max(candidates, key=lambda c: c.similarity, default=None)
        if best is None:
            return CheckResult(None, decision.reason, shadow=shadow)
        near = (
            self.learns
            and not decision.reason.startswith("guard:")  # a different question, not a near one
            and best.similarity >= threshold - LOOSE_BAND
        )
        declined = self.hit_from_candidate(best, scope)
        return CheckResult(None, decision.reason, declined, False, shadow, near and self._explore())

    def exact_result(self, hit: CacheHit) -> CheckResult:
        """An exact repeat: served (never explored: it verifies nothing), or shadowed."""
        shadow = self.settings.semantic.shadow_mode
        return CheckResult(None if shadow else hit, "exact", hit, True, shadow)

    def _explore(self) -> bool:
        rate = self.settings.semantic.explore_rate
        return rate > 0.0 and self.rng.random() < rate

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

    def exact_args(self, scope: Scope, prompt: str) -> tuple[list[str], list[Any], str]:
        entry_id = self.entry_id(scope, prompt)
        keys = [
            self.entry_key(scope.tenant, entry_id),
            self.lru_key(scope.tenant),
            self.hits_key(scope.tenant),
        ]
        touch = "0" if self.settings.semantic.shadow_mode else "1"
        return keys, [self.clock(), entry_id, touch, *EXACT_FIELDS], entry_id

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
