"""The index-metadata hash ``{prefix}:meta:{index_name}``: one model for every reader.

The semantic cache, the migrator and the CLI read and write this hash. It
names the active version (``physical``, ``entry_prefix``, ``version``,
``dims``, ``datatype``, ``model``), the retained one (the same fields prefixed
``previous_``) and, while a copy migration runs, the target (``pending`` and
``pending_transform``). A migration checkpoint stores its source and target
versions the same way, prefixed ``source_`` and ``target_``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agentcache._redis import keys as _keys
from agentcache._redis.replies import decode_map

# The vector field of the semantic index schema (schema/semantic_cache.yaml).
VECTOR_FIELD = "embedding"

VERSION_FIELDS = ("physical", "entry_prefix", "version", "dims", "datatype", "model")
PREVIOUS = "previous_"
# Set while a copy migration runs: caches stay on the physical source index.
PENDING_FIELDS = ("pending", "pending_transform", "announced_at")


@dataclass(frozen=True)
class Version:
    """One physical index and the entries it covers."""

    physical: str
    entry_prefix: str
    version: int
    dims: int
    datatype: str
    model: str = ""  # the embedding model of the vectors, when a migration recorded it

    def as_meta(self, prefix: str = "", *, with_model: bool = True) -> dict[str, str]:
        """The hash fields of this version, names prefixed with ``prefix``.

        ``with_model=False`` leaves the model out (a cache creating the first
        version does not know which model a migration will record).
        """
        fields = {
            "physical": self.physical,
            "entry_prefix": self.entry_prefix,
            "version": str(self.version),
            "dims": str(self.dims),
            "datatype": self.datatype,
        }
        if with_model:
            fields["model"] = self.model
        return {f"{prefix}{name}": value for name, value in fields.items()}


def version_fields(prefix: str = "") -> list[str]:
    """The hash field names of a version recorded under ``prefix`` (to delete it)."""
    return [f"{prefix}{name}" for name in VERSION_FIELDS]


def decode(mapping: Mapping[Any, Any]) -> dict[str, str]:
    """An HGETALL reply of the metadata (or checkpoint) hash, as text."""
    return decode_map(mapping)


def version_from_meta(meta: Mapping[str, str], prefix: str = "") -> Version | None:
    """The version recorded under ``prefix`` in a decoded hash, or None if there is none."""
    if not meta.get(f"{prefix}physical"):
        return None
    return Version(
        physical=meta[f"{prefix}physical"],
        entry_prefix=meta[f"{prefix}entry_prefix"],
        version=int(meta[f"{prefix}version"]),
        dims=int(meta[f"{prefix}dims"]),
        datatype=meta[f"{prefix}datatype"],
        model=meta.get(f"{prefix}model", ""),
    )


def first_version(key_prefix: str, index_name: str, dims: int, datatype: str) -> Version:
    """Version 1, the one a cache creates when no metadata exists yet."""
    alias = _keys.index_alias(key_prefix, index_name)
    return Version(
        physical=_keys.physical_index(alias, 1),
        entry_prefix=_keys.entry_prefix(key_prefix, index_name),
        version=1,
        dims=dims,
        datatype=datatype,
    )


def active_physical(meta: Mapping[str, str], key_prefix: str, index_name: str) -> str:
    """The active physical index a decoded hash names (version 1's name when it names none)."""
    return meta.get("physical") or first_version(key_prefix, index_name, 0, "").physical
