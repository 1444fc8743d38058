"""The index schema travels with the package (a wheel has no top-level schema/)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import yaml

from agentcache.exceptions import SchemaError
from agentcache.semantic._schema import build_schema, load_schema_dict, packaged_schema_text
from agentcache.settings import DEFAULT_SCHEMA_PATH, AgentCacheSettings

ROOT = Path(__file__).resolve().parents[2]
OPERATOR_COPY = ROOT / "schema" / "semantic_cache.yaml"
PACKAGED_COPY = ROOT / "agentcache" / "schema" / "semantic_cache.yaml"
SYNC = "cp schema/semantic_cache.yaml agentcache/schema/semantic_cache.yaml"


def test_the_packaged_schema_is_byte_identical_to_the_operators_copy() -> None:
    assert OPERATOR_COPY.read_bytes() == PACKAGED_COPY.read_bytes(), (
        f"schema/semantic_cache.yaml (the one operators edit) and the copy shipped in the "
        f"wheel differ; sync them with: {SYNC}"
    )


def test_the_default_schema_is_read_from_the_package() -> None:
    settings = AgentCacheSettings()
    assert settings.semantic.schema_path is None
    assert packaged_schema_text() == OPERATOR_COPY.read_text(encoding="utf-8")
    assert DEFAULT_SCHEMA_PATH.resolve() == PACKAGED_COPY
    assert load_schema_dict(None) == yaml.safe_load(OPERATOR_COPY.read_text(encoding="utf-8"))
    schema = build_schema(settings, index_name="x:idx:v1", key_prefix="x:sem")
    assert schema.index.name == "x:idx:v1"
    assert {"tenant", "agent", "model", "embedding"} <= set(schema.field_names)


def test_a_custom_schema_path_still_wins(tmp_path: Path) -> None:
    raw = yaml.safe_load(OPERATOR_COPY.read_text(encoding="utf-8"))
    raw["fields"].append({"name": "extra_tag", "type": "tag"})
    custom = tmp_path / "custom.yaml"
    custom.write_text(yaml.safe_dump(raw), encoding="utf-8")
    settings = AgentCacheSettings(semantic={"schema_path": custom})
    schema = build_schema(settings, index_name="x:idx:v1", key_prefix="x:sem")
    assert "extra_tag" in schema.field_names
    missing = AgentCacheSettings(semantic={"schema_path": tmp_path / "nope.yaml"})
    with pytest.raises(SchemaError, match=r"nope\.yaml"):
        build_schema(missing, index_name="x:idx:v1", key_prefix="x:sem")


def test_the_wheel_declares_the_schema_as_package_data() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    data = pyproject["tool"]["setuptools"]["package-data"]["agentcache"]
    assert "py.typed" in data
    assert "schema/*.yaml" in data
