"""The semantic index schema: YAML on disk, completed from the settings."""

from __future__ import annotations

import importlib.resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from redisvl.schema import IndexSchema

from agentcache._redis.index_meta import VECTOR_FIELD as VECTOR_FIELD  # re-exported
from agentcache.exceptions import SchemaError
from agentcache.settings import AgentCacheSettings

REQUIRED_FIELDS = {"tenant": "tag", "agent": "tag", "model": "tag", "embedding": "vector"}


# The schema shipped in the package (agentcache/schema/), a copy of the top-level
# schema/semantic_cache.yaml that operators read and edit.
PACKAGED_SCHEMA = ("schema", "semantic_cache.yaml")


def packaged_schema_text() -> str:
    """The YAML of the schema shipped in the package (no path needed: works from a wheel)."""
    resource = importlib.resources.files("agentcache").joinpath(*PACKAGED_SCHEMA)
    try:
        return resource.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SchemaError(
            "the packaged schema agentcache/schema/semantic_cache.yaml is missing from this "
            "install; set AGENTCACHE_SEMANTIC__SCHEMA_PATH to a schema YAML"
        ) from None


def load_schema_dict(path: Path | None) -> dict[str, Any]:
    """Read and structurally check the schema YAML; raise ``SchemaError`` naming the problem.

    ``path=None`` reads the schema shipped in the package.
    """
    try:
        if path is None:
            path = Path("agentcache", *PACKAGED_SCHEMA)  # named in messages only
            text = packaged_schema_text()
        else:
            text = Path(path).read_text(encoding="utf-8")
        raw = yaml.safe_load(text)
    except FileNotFoundError:
        raise SchemaError(f"schema file not found: {path}") from None
    except yaml.YAMLError as exc:
        raise SchemaError(f"schema file {path} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("fields"), list):
        raise SchemaError(f"schema file {path} needs a 'fields' list")
    by_name = {}
    for i, field in enumerate(raw["fields"]):
        if not isinstance(field, dict) or "name" not in field or "type" not in field:
            raise SchemaError(f"schema file {path}: field #{i} needs 'name' and 'type'")
        by_name[field["name"]] = field
    for name, kind in REQUIRED_FIELDS.items():
        if name not in by_name:
            raise SchemaError(f"schema file {path} lacks the required {kind} field '{name}'")
        if by_name[name]["type"] != kind:
            raise SchemaError(
                f"schema file {path}: field '{name}' must be of type {kind}, "
                f"not {by_name[name]['type']}"
            )
    return raw


def build_schema(
    settings: AgentCacheSettings,
    *,
    index_name: str,
    key_prefix: str,
    path: Path | None = None,
) -> IndexSchema:
    """The redisvl ``IndexSchema`` for one physical index, dims and HNSW knobs from settings."""
    source = path or settings.semantic.schema_path
    raw = load_schema_dict(source)
    if source is None:
        source = Path("agentcache", *PACKAGED_SCHEMA)  # for the message below
    raw.setdefault("index", {})
    raw["index"].update(
        {"name": index_name, "prefix": key_prefix, "key_separator": ":", "storage_type": "hash"}
    )
    for field in raw["fields"]:
        if field["name"] == VECTOR_FIELD:
            attrs = field.setdefault("attrs", {})
            attrs["dims"] = settings.embeddings.dims
            attrs["datatype"] = settings.semantic.vector_datatype
            attrs["distance_metric"] = "cosine"
            if attrs.get("algorithm", "hnsw") == "hnsw":
                attrs["m"] = settings.semantic.hnsw_m
                attrs["ef_construction"] = settings.semantic.hnsw_ef_construction
                attrs["ef_runtime"] = settings.semantic.ef_runtime
    try:
        return IndexSchema.from_dict(raw)
    except (ValidationError, ValueError, TypeError, KeyError) as exc:
        raise SchemaError(f"schema file {source} is not a valid index schema: {exc}") from None
