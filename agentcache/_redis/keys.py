"""Key layout and the encoding of tenant, agent and model ids.

Every key a tenant owns has the form ``{prefix}:{layer}:{{tenant}}:{rest}``.
The tenant sits in a Redis hash tag, so all of one tenant's keys share one
hash slot: on an OSS Redis Cluster a tenant lives on one node, whose search
index then holds all of its entries. The layer comes before the tag so that
each layer has its own key prefix (the semantic index is defined over one).

Ids are free text, so they are encoded before they touch a key or a query:

* In keys, ``encode_id`` percent-encodes everything outside ``[A-Za-z0-9_.-]``.
  It is injective (``t1``, ``T1`` and ``t1 `` stay distinct), and braces and
  colons can never appear raw, so an id cannot break the hash tag or forge
  another tenant's key.
* In index TAG fields, ``tag_value`` stores a fixed-length hex digest of the
  id. A query then never carries user text: no RediSearch escaping to get
  wrong, and TAG case-folding cannot merge ``T1`` into ``t1``.

``key_slot`` and ``slot_groups`` say which cluster slot a key lands in, so
batch commands can be split per slot.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from urllib.parse import unquote

from redis.crc import key_slot as _crc_key_slot

from agentcache._limits import check_text
from agentcache.exceptions import InvalidInputError

MAX_ID_LENGTH = 256
_SAFE_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
_WHITESPACE = re.compile(r"\s+")

# Layers: short, fixed names that appear in keys.
SEMANTIC = "sem"
EXACT = "exact"
LRU = "lru"
HITS = "hits"  # per-tenant hit counts, beside the indexed entries
TOOLS = "tool"
LOCKS = "lock"
EMBEDDINGS = "emb"
METRICS = "stats"
META = "meta"

# One name per layer in metrics labels and fault logs. The metrics series keys
# in Redis (and the Prometheus/stats output) hold these, so they are as fixed
# as the key segments above; "emb" stays the embeddings' key segment.
TOOL_LAYER = TOOLS
EMBEDDING_LAYER = "embedding"


def validate_id(value: object, what: str) -> str:
    """Return ``value`` if it is a usable tenant/agent id, else raise naming ``what``."""
    if not isinstance(value, str):
        raise InvalidInputError(f"{what} must be a string, got {type(value).__name__}")
    if not value or not value.strip():
        raise InvalidInputError(f"{what} must be a non-empty string")
    if len(value) > MAX_ID_LENGTH:
        raise InvalidInputError(
            f"{what} is {len(value)} characters long; the limit is {MAX_ID_LENGTH}"
        )
    return check_text(value, what)  # a lone surrogate would fail inside redis-py


def encode_id(value: str) -> str:
    """Injective, key-safe form of an id: unsafe characters become ``%XX`` bytes."""
    if all(ch in _SAFE_ID_CHARS for ch in value):
        return value
    out: list[str] = []
    for ch in value:
        if ch in _SAFE_ID_CHARS:
            out.append(ch)
        else:
            out.extend(f"%{byte:02X}" for byte in ch.encode("utf-8"))
    return "".join(out)


def tag_value(value: str) -> str:
    """The TAG-field form of an id: 32 hex chars, safe in any query unescaped."""
    return hashlib.blake2b(value.encode("utf-8"), digest_size=16).hexdigest()


# The hash tag of keys outside any tenant (shared tool results, metrics series
# with no tenant). encode_id always escapes '~', so no tenant's tag can equal it.
SHARED_TAG = "{~global}"


def hash_tag(tenant: str) -> str:
    """The ``{...}`` hash tag that pins every key of ``tenant`` to one slot."""
    return "{" + encode_id(tenant) + "}"


def tenant_key(prefix: str, layer: str, tenant: str, *rest: str) -> str:
    """``prefix:layer:{tenant}:rest...``."""
    return ":".join((prefix, layer, hash_tag(tenant), *rest))


def tenant_pattern(prefix: str, layer: str, tenant: str) -> str:
    """A SCAN/ACL glob matching every key of ``tenant`` in ``layer``."""
    encoded = encode_id(tenant)
    # Glob metacharacters cannot occur in an encoded id except '.', '-', '_'.
    return f"{prefix}:{layer}:{{{encoded}}}:*"


def normalize_prompt(text: str) -> str:
    """Whitespace-collapsed, trimmed prompt: the form exact matches compare."""
    return _WHITESPACE.sub(" ", text).strip()


def digest(*parts: str) -> str:
    """A 32-hex-char digest of ``parts``, unambiguous about where each part ends."""
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        data = part.encode("utf-8")
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h.hexdigest()


def key_slot(key: str | bytes) -> int:
    """The Redis Cluster hash slot of ``key`` (CRC16 of its hash tag, mod 16384)."""
    return int(_crc_key_slot(key.encode("utf-8") if isinstance(key, str) else key))


def slot_groups(keys: Sequence[str | bytes]) -> dict[int, list[int]]:
    """Indexes into ``keys`` grouped by cluster slot, in input order within a slot.

    A cluster rejects a multi-key command whose keys span slots, so batch
    reads send one MGET per group.
    """
    groups: dict[int, list[int]] = {}
    for index, key in enumerate(keys):
        groups.setdefault(key_slot(key), []).append(index)
    return groups


def decode_id(encoded: str) -> str:
    """The id ``encode_id`` made ``encoded`` from (``%XX`` bytes decoded)."""
    return unquote(encoded)


# -- the semantic index: alias, metadata, versions, entries and side keys ------
# These strings are data on disk (existing deployments hold keys of this form):
# change none of them without a migration.


def index_alias(prefix: str, index_name: str) -> str:
    """``{prefix}:idx:{index_name}``: the alias caches read and write through."""
    return f"{prefix}:idx:{index_name}"


def index_alias_pattern(prefix: str) -> str:
    """A glob of every index alias (and version) under ``prefix`` (ACLs)."""
    return f"{prefix}:idx:*"


def physical_index(alias: str, version: int) -> str:
    """``{alias}:v{N}``: the physical index of one version."""
    return f"{alias}:v{version}"


def meta_key(prefix: str, index_name: str) -> str:
    """``{prefix}:meta:{index_name}``: the index-metadata hash (see index_meta.py)."""
    return f"{prefix}:{META}:{index_name}"


def meta_pattern(prefix: str) -> str:
    """A glob of every metadata hash under ``prefix`` (ACLs)."""
    return f"{prefix}:{META}:*"


def migration_checkpoint_key(prefix: str, index_name: str) -> str:
    """The hash a running migration keeps its progress in (beside the metadata)."""
    return f"{meta_key(prefix, index_name)}:migration"


def migration_lock_key(prefix: str, index_name: str) -> str:
    """The lock one migration of ``index_name`` holds."""
    return f"{prefix}:{LOCKS}:migrate:{index_name}"


def entry_prefix(prefix: str, index_name: str, version: int = 1) -> str:
    """The entry key prefix of a version: ``{prefix}:sem:{index}:`` for the first,
    ``{prefix}:sem{N}:{index}:`` for a copy made by a migration to version N.

    The index name is part of it, so two caches with different index names on
    one key prefix never index each other's entries.
    """
    layer = SEMANTIC if version == 1 else f"{SEMANTIC}{version}"
    return f"{prefix}:{layer}:{index_name}:"


def tenant_entry_prefix(version_prefix: str, tenant: str) -> str:
    """The prefix of ``tenant``'s entries under a version's entry prefix."""
    return f"{version_prefix}{hash_tag(tenant)}:"


def entry_id(agent: str, model: str, prompt: str) -> str:
    """An entry's id: one per agent, model and (whitespace-normalised) prompt."""
    return digest(agent, model, normalize_prompt(prompt))


def lru_key(prefix: str, tenant: str, index_name: str) -> str:
    """The tenant's LRU sorted set of ``index_name``: entry id -> last store or hit time."""
    return tenant_key(prefix, LRU, tenant, index_name)


def hits_key(prefix: str, tenant: str, index_name: str) -> str:
    """The tenant's hits hash: ``<id>`` -> hit count, ``<id>:sim`` -> last similarity."""
    return tenant_key(prefix, HITS, tenant, index_name)


def hits_fields(*entry_ids: str) -> list[str]:
    """The entries' fields in the hits hash."""
    return [name for entry_id in entry_ids for name in (entry_id, f"{entry_id}:sim")]


def side_patterns(prefix: str, index_name: str) -> tuple[str, ...]:
    """SCAN globs of every tenant's LRU set and hits hash of ``index_name``.

    The side keys end in the index name, and neither the key prefix nor the
    index name nor an encoded tenant can hold a brace, a colon or a glob
    character, so these match this index's keys only.
    """
    return tuple(f"{prefix}:{layer}:{{*}}:{index_name}" for layer in (LRU, HITS))


def lru_pattern(prefix: str, tenant: str | None = None) -> str:
    """A SCAN glob of the LRU sets of one tenant (every index), or of every tenant."""
    return tenant_key(prefix, LRU, tenant, "*") if tenant is not None else f"{prefix}:{LRU}:*"


def tenant_of_lru_key(key: str, prefix: str) -> str | None:
    """The tenant whose LRU set ``key`` is, or None if it is not an LRU key under ``prefix``."""
    head = f"{prefix}:{LRU}:{{"
    if not key.startswith(head) or "}" not in key[len(head) :]:
        return None
    return decode_id(key[len(head) :].split("}", 1)[0])


# -- the tool cache and the metrics series ----------------------------------------


def tool_keys(prefix: str, tag: str, name: str, digest: str) -> tuple[str, str]:
    """(value key, lock key) of one tool result; ``tag`` is a hash tag (tenant or shared)."""
    encoded = encode_id(name)
    return (
        ":".join((prefix, TOOLS, tag, encoded, digest)),
        ":".join((prefix, LOCKS, tag, TOOLS, encoded, digest)),
    )


def tool_pattern(prefix: str, name: str) -> str:
    """A SCAN glob of every cached result of tool ``name``, any tenant.

    Encoded ids hold no glob characters and no ':' or '}', so the '*' can
    only span the tenant part.
    """
    return f"{prefix}:{TOOLS}:{{*}}:{encode_id(name)}:*"


def layer_pattern(prefix: str, layer: str, tag: str | None = None) -> str:
    """A SCAN glob of every key of ``layer`` (under one hash tag when given)."""
    return f"{prefix}:{layer}:*" if tag is None else f"{prefix}:{layer}:{tag}:*"
