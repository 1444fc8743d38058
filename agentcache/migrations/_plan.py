"""Index migrations without I/O: what a version is, what changed, which strategy applies.

A *version* is one physical RediSearch index (``{alias}:v{N}``) over one entry
key prefix; the metadata hash that records the versions is modelled in
agentcache/_redis/index_meta.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from redisvl.schema import IndexSchema

from agentcache._redis import keys as _keys
from agentcache._redis.index_meta import VECTOR_FIELD, Version, version_from_meta
from agentcache._redis.replies import info_dict
from agentcache._redis.replies import to_text as _text

Strategy = Literal["none", "in_place", "copy"]
Transform = Literal["none", "datatype", "reembed"]
# Vector attributes that shape the stored vectors: changing them needs a copy.
_VECTOR_SHAPE = ("dims", "datatype")

FieldSpecs = dict[str, dict[str, str]]


@dataclass(frozen=True)
class MigrationPlan:
    """What ``apply`` would do: the strategy, the transform and the changes behind them."""

    source: Version
    target: Version
    strategy: Strategy
    transform: Transform
    changes: tuple[str, ...] = field(default_factory=tuple)

    def describe(self) -> str:
        lines = [
            f"live index   {self.source.physical} over {self.source.entry_prefix}* "
            f"({self.source.dims} dims, {self.source.datatype}, model {self.source.model or '?'})",
        ]
        if self.strategy == "none":
            lines.append("no changes: the live index matches the schema")
            return "\n".join(lines)
        lines.append(
            f"target index {self.target.physical} over {self.target.entry_prefix}* "
            f"({self.target.dims} dims, {self.target.datatype}, model {self.target.model or '?'})"
        )
        lines.extend(f"  - {change}" for change in self.changes)
        if self.strategy == "in_place":
            lines.append(
                "strategy     re-index in place: a new index over the same keys, "
                "built in the background, then the alias is swapped"
            )
        else:
            how = "re-embed each prompt" if self.transform == "reembed" else "convert each vector"
            lines.append(
                f"strategy     copy with transform ({how}) into the new prefix, catch-up pass "
                "for writes made meanwhile, verify, then swap the alias"
            )
        return "\n".join(lines)


@dataclass
class MigrationReport:
    """What ``apply`` did (or, with ``dry_run``, would do)."""

    plan: MigrationPlan
    dry_run: bool = False
    resumed: bool = False
    copied: int = 0
    caught_up: int = 0
    reconciled: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    samples: int = 0
    seconds: float = 0.0

    def describe(self) -> str:
        if self.dry_run:
            return self.plan.describe() + "\n(dry run: nothing changed)"
        if self.plan.strategy == "none":
            return self.plan.describe()
        return (
            f"{self.plan.describe()}\nswapped {self.plan.source.physical} -> "
            f"{self.plan.target.physical} in {self.seconds:.1f}s: copied {self.copied}, "
            f"caught up {self.caught_up}, reconciled {self.reconciled}, "
            f"{sum(self.counts.values())} entries in {len(self.counts)} tenants verified, "
            f"{self.samples} sample queries matched"
        )


@dataclass
class MigrationStatus:
    """Versions, alias target, counts and the progress of a running migration."""

    alias: str
    alias_target: str | None
    active: Version | None
    previous: Version | None
    docs: dict[str, int]
    checkpoint: dict[str, str]
    lock_holder: str | None

    def describe(self) -> str:
        lines = [f"alias        {self.alias} -> {self.alias_target or '(missing)'}"]
        for label, version in (("active", self.active), ("previous", self.previous)):
            if version is not None:
                lines.append(
                    f"{label:<12} v{version.version} {version.physical} over "
                    f"{version.entry_prefix}* ({version.dims} dims, {version.datatype}, "
                    f"model {version.model or '?'}): {self.docs.get(version.physical, 0)} entries"
                )
        if self.checkpoint:
            ck = self.checkpoint
            lines.append(
                f"migrating    to {ck.get('target_physical')} ({ck.get('strategy')}): phase "
                f"{ck.get('phase')}, {ck.get('copied', '0')} of ~{ck.get('total', '?')} copied"
            )
        lines.append(f"lock         {self.lock_holder or 'free'}")
        return "\n".join(lines)


def fields_from_info(info: Mapping[str, Any]) -> FieldSpecs:
    """The live index's fields, normalised like ``fields_from_schema``."""
    specs: FieldSpecs = {}
    for raw in info.get("attributes", []):
        attrs = info_dict(raw)
        name = _text(attrs["attribute"])
        kind = _text(attrs["type"]).lower()
        flags = {_text(f).upper() for f in attrs.get("flags", [])}
        spec = {"type": kind}
        if kind == "vector":
            spec.update(
                algorithm=_text(attrs.get("algorithm", "")).lower(),
                datatype=_text(attrs.get("data_type", "")).lower(),
                dims=_text(attrs.get("dim", "")),
                distance_metric=_text(attrs.get("distance_metric", "")).lower(),
            )
            if spec["algorithm"] == "hnsw":
                spec.update(
                    m=_text(attrs.get("M", "")),
                    ef_construction=_text(attrs.get("ef_construction", "")),
                )
        else:
            spec["sortable"] = str("SORTABLE" in flags).lower()
            if kind == "tag":
                spec["separator"] = _text(attrs.get("SEPARATOR", ","))
        specs[name] = spec
    return specs


def fields_from_schema(schema: IndexSchema) -> FieldSpecs:
    """The fields a YAML schema (completed from settings) asks for."""
    specs: FieldSpecs = {}
    for name, fld in schema.fields.items():
        kind = _text(fld.type).lower()
        attrs = fld.attrs
        spec = {"type": kind}
        if kind == "vector":
            spec.update(
                algorithm=_text(attrs.algorithm).lower(),
                datatype=_text(attrs.datatype).lower(),
                dims=str(attrs.dims),
                distance_metric=_text(attrs.distance_metric).lower(),
            )
            if spec["algorithm"] == "hnsw":
                spec.update(m=str(attrs.m), ef_construction=str(attrs.ef_construction))
        else:
            spec["sortable"] = str(bool(getattr(attrs, "sortable", False))).lower()
            if kind == "tag":
                spec["separator"] = _text(getattr(attrs, "separator", ","))
        specs[name] = spec
    return specs


def diff_fields(live: FieldSpecs, wanted: FieldSpecs) -> tuple[list[str], list[str]]:
    """(changes that need a copy, changes an in-place re-index can make), as text."""
    copy: list[str] = []
    in_place: list[str] = []
    for name in sorted(wanted.keys() - live.keys()):
        in_place.append(f"add {wanted[name]['type']} field '{name}'")
    for name in sorted(live.keys() - wanted.keys()):
        in_place.append(f"remove {live[name]['type']} field '{name}'")
    for name in sorted(live.keys() & wanted.keys()):
        old, new = live[name], wanted[name]
        for key in sorted(old.keys() | new.keys()):
            if old.get(key) == new.get(key):
                continue
            text = f"field '{name}': {key} {old.get(key)} -> {new.get(key)}"
            # dims/datatype shape the stored vectors; everything else only the index
            (copy if name == VECTOR_FIELD and key in _VECTOR_SHAPE else in_place).append(text)
    return copy, in_place


def make_plan(
    source: Version,
    live: FieldSpecs,
    wanted: FieldSpecs,
    *,
    alias: str,
    key_prefix: str,
    index_name: str,
    next_version: int,
    target_model: str,
    force_reembed: bool = False,
) -> MigrationPlan:
    """Compare the live index with the wanted one and choose a strategy."""
    copy_changes, in_place_changes = diff_fields(live, wanted)
    vector = wanted[VECTOR_FIELD]
    dims, datatype = int(vector["dims"]), vector["datatype"]
    model_changed = bool(source.model and target_model) and source.model != target_model
    if model_changed:
        copy_changes.append(f"embedding model {source.model} -> {target_model}")
    if force_reembed and not model_changed:
        copy_changes.append(f"re-embed every prompt with {target_model}")
    transform: Transform = "none"
    if dims != source.dims or model_changed or force_reembed:
        transform = "reembed"
    elif datatype != source.datatype:
        transform = "datatype"
    changes = tuple(copy_changes + in_place_changes)
    strategy: Strategy = "copy" if transform != "none" else "in_place" if changes else "none"
    target = Version(
        physical=_keys.physical_index(alias, next_version)
        if strategy != "none"
        else source.physical,
        entry_prefix=_keys.entry_prefix(key_prefix, index_name, next_version)
        if strategy == "copy"
        else source.entry_prefix,
        version=next_version if strategy != "none" else source.version,
        dims=dims,
        datatype=datatype,
        model=target_model or source.model,
    )
    return MigrationPlan(source, target, strategy, transform, changes)


def checkpoint_fields(plan: MigrationPlan, total: int, started_at: float) -> dict[str, str]:
    """The checkpoint hash of a migration that starts now: ``plan`` and its progress."""
    return {
        **plan.source.as_meta("source_"),
        **plan.target.as_meta("target_"),
        "strategy": plan.strategy,
        "transform": plan.transform,
        "changes": "\n".join(plan.changes),
        "phase": "build",
        "cursor": "0",
        "copied": "0",
        "total": str(total),
        "started_at": f"{started_at:.6f}",
    }


def plan_from_checkpoint(checkpoint: Mapping[str, str]) -> MigrationPlan | None:
    """The plan a (decoded) checkpoint hash records, or None if it is unreadable."""
    source = version_from_meta(checkpoint, "source_")
    target = version_from_meta(checkpoint, "target_")
    if source is None or target is None:
        return None
    kind = checkpoint.get("transform")
    transform: Transform = (
        "reembed" if kind == "reembed" else "datatype" if kind == "datatype" else "none"
    )
    return MigrationPlan(
        source,
        target,
        "copy" if checkpoint.get("strategy") == "copy" else "in_place",
        transform,
        tuple(checkpoint.get("changes", "").split("\n")),
    )


def target_key(source_key: str, source: Version, target: Version) -> str:
    """The key an entry gets under the target prefix (same tenant tag and entry id)."""
    return target.entry_prefix + source_key[len(source.entry_prefix) :]


# Copy one entry unless the target already holds this store of it or a newer
# one (a write made through the new version must never be clobbered by a
# catch-up, and a catch-up pass must not count what an earlier one copied).
COPY_SCRIPT = """
local current = redis.call('HGET', KEYS[1], 'inserted_at')
if current and tonumber(current) >= tonumber(ARGV[1]) then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
local pttl = tonumber(ARGV[2])
if pttl > 0 then redis.call('PEXPIRE', KEYS[1], pttl) end
return 1
"""

# The migration lock: refreshed and released only by its holder.
LOCK_REFRESH_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
LOCK_RELEASE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
