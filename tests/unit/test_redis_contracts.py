"""The Redis contracts written once in agentcache/_redis: key strings, reply decoding, index meta.

No server: these pin the layouts that existing data on disk depends on and the
reply shapes (RESP2 and RESP3) every reader goes through.
"""

from __future__ import annotations

import enum
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.exceptions import ResponseError

from agentcache._redis import keys as _keys
from agentcache._redis.index_meta import (
    PREVIOUS,
    VECTOR_FIELD,
    Version,
    active_physical,
    decode,
    first_version,
    version_fields,
    version_from_meta,
)
from agentcache._redis.replies import (
    aggregate_rows,
    info_dict,
    is_missing_index,
    module_list,
    raw_rows,
    search_rows,
    search_rows_total,
    to_text,
)
from agentcache.migrations._plan import MigrationPlan, checkpoint_fields, plan_from_checkpoint
from agentcache.semantic._core import IndexState
from agentcache.semantic._schema import VECTOR_FIELD as SCHEMA_VECTOR_FIELD

# -- keys -----------------------------------------------------------------------


def test_index_key_layout_is_the_one_on_disk() -> None:
    alias = _keys.index_alias("ac", "agentcache")
    assert alias == "ac:idx:agentcache"
    assert _keys.physical_index(alias, 2) == "ac:idx:agentcache:v2"
    assert _keys.meta_key("ac", "agentcache") == "ac:meta:agentcache"
    assert _keys.migration_checkpoint_key("ac", "agentcache") == "ac:meta:agentcache:migration"
    assert _keys.migration_lock_key("ac", "agentcache") == "ac:lock:migrate:agentcache"
    assert _keys.entry_prefix("ac", "agentcache") == "ac:sem:agentcache:"
    assert _keys.entry_prefix("ac", "agentcache", 3) == "ac:sem3:agentcache:"
    assert _keys.index_alias_pattern("ac") == "ac:idx:*"
    assert _keys.meta_pattern("ac") == "ac:meta:*"


def test_side_key_layout_is_the_one_on_disk() -> None:
    assert _keys.lru_key("ac", "t 1", "agentcache") == "ac:lru:{t%201}:agentcache"
    assert _keys.hits_key("ac", "t 1", "agentcache") == "ac:hits:{t%201}:agentcache"
    assert _keys.hits_fields("a", "b") == ["a", "a:sim", "b", "b:sim"]
    assert _keys.side_patterns("ac", "idx2") == ("ac:lru:{*}:idx2", "ac:hits:{*}:idx2")
    assert _keys.lru_pattern("ac") == "ac:lru:*"
    assert _keys.lru_pattern("ac", "t") == "ac:lru:{t}:*"
    assert _keys.tenant_entry_prefix("ac:sem:agentcache:", "t/1") == "ac:sem:agentcache:{t%2F1}:"


def test_entry_id_ignores_whitespace_only_and_separates_scope() -> None:
    assert _keys.entry_id("a", "m", "hello  world ") == _keys.entry_id("a", "m", "hello world")
    assert _keys.entry_id("a", "m", "x") != _keys.entry_id("a", "", "x")
    assert _keys.entry_id("a", "m", "x") != _keys.entry_id("b", "m", "x")


@given(st.text(min_size=1, max_size=40).filter(lambda s: s.strip()))
def test_the_tenant_of_an_lru_key_is_the_tenant_it_was_built_for(tenant: str) -> None:
    key = _keys.lru_key("ac", tenant, "agentcache")
    assert _keys.tenant_of_lru_key(key, "ac") == tenant
    assert _keys.tenant_of_lru_key(key, "other") is None


def test_keys_that_are_not_lru_sets_have_no_tenant() -> None:
    assert _keys.tenant_of_lru_key("ac:hits:{t}:agentcache", "ac") is None
    assert _keys.tenant_of_lru_key("ac:lru:{unclosed", "ac") is None


# -- replies --------------------------------------------------------------------


def test_search_rows_reads_resp2_with_fields_and_nocontent() -> None:
    reply = [2, b"k1", [b"prompt", b"hi", b"vec", b"\xff\x00"], b"k2", [b"prompt", b"yo"]]
    total, rows = search_rows(reply)
    assert total == 2
    assert rows == [("k1", {"prompt": b"hi", "vec": b"\xff\x00"}), ("k2", {"prompt": b"yo"})]
    assert search_rows(reply, text=True)[1][0][1]["vec"] == "\ufffd\x00"
    assert search_rows([5, b"a", b"b"]) == (5, [("a", {}), ("b", {})])
    assert search_rows([]) == (0, [])
    assert search_rows(None) == (0, [])


def _resp3(encode: bool) -> dict[Any, Any]:
    def k(name: str) -> Any:
        return name.encode() if encode else name

    return {
        k("total_results"): 7,
        k("results"): [
            {k("id"): b"e1", k("extra_attributes"): {b"prompt": b"p"}},
            {k("id"): b"e2"},
        ],
    }


@pytest.mark.parametrize("encode", [True, False])
def test_search_rows_reads_resp3_maps_with_bytes_or_text_keys(encode: bool) -> None:
    reply = _resp3(encode)
    assert search_rows(reply, text=True) == (7, [("e1", {"prompt": "p"}), ("e2", {})])
    assert search_rows_total(reply) == 7
    assert raw_rows(reply) == (7, [(b"e1", {b"prompt": b"p"}), (b"e2", {})])


def test_search_rows_total_of_both_protocols() -> None:
    assert search_rows_total([3, b"a", b"b", b"c"]) == 3
    assert search_rows_total([]) == 0
    assert search_rows_total({b"total_results": 0, b"results": []}) == 0


def test_info_dict_of_both_protocols() -> None:
    assert info_dict([b"index_name", b"x", b"num_docs", 3]) == {"index_name": b"x", "num_docs": 3}
    assert info_dict({b"num_docs": 3}) == {"num_docs": 3}


def test_aggregate_rows_of_both_protocols() -> None:
    resp2 = [2, [b"tenant", b"t1", b"n", b"3"], [b"tenant", b"t2", b"n", b"1"]]
    resp3 = {
        b"results": [
            {b"extra_attributes": {b"tenant": b"t1", b"n": b"3"}},
            {b"extra_attributes": {b"tenant": b"t2", b"n": b"1"}},
        ]
    }
    expected = [{"tenant": "t1", "n": "3"}, {"tenant": "t2", "n": "1"}]
    assert aggregate_rows(resp2) == expected
    assert aggregate_rows(resp3) == expected


def test_missing_index_errors_are_told_apart() -> None:
    assert is_missing_index(ResponseError("ac:idx:x: no such index"))
    assert is_missing_index(ResponseError("Unknown Index name"))
    assert is_missing_index(ResponseError("Unknown: Index name"))
    assert not is_missing_index(ResponseError("Index already exists"))


def test_to_text_never_fails() -> None:
    class Kind(enum.Enum):
        VECTOR = "vector"

    assert to_text(None) == ""
    assert to_text(b"\xff") == "\ufffd"
    assert to_text(Kind.VECTOR) == "vector"
    assert to_text(3) == "3"


def test_module_list_of_flat_and_map_replies() -> None:
    flat = [[b"name", b"search", b"ver", 21005]]
    mapped = [{b"name": b"search", b"ver": 21005}]
    assert module_list(flat) == module_list(mapped) == [{"name": "search", "ver": 21005}]
    assert module_list(None) == []


# -- index meta -----------------------------------------------------------------

V2 = Version("ac:idx:agentcache:v2", "ac:sem2:agentcache:", 2, 384, "float16", "minilm")


def test_a_version_survives_the_hash_under_any_prefix() -> None:
    for prefix in ("", PREVIOUS, "source_", "target_"):
        stored = {k.encode(): v.encode() for k, v in V2.as_meta(prefix).items()}
        assert version_from_meta(decode(stored), prefix) == V2
    assert set(V2.as_meta(PREVIOUS)) == set(version_fields(PREVIOUS))


def test_the_first_version_records_no_model() -> None:
    first = first_version("ac", "agentcache", 384, "float32")
    assert first == Version("ac:idx:agentcache:v1", "ac:sem:agentcache:", 1, 384, "float32")
    assert "model" not in first.as_meta(with_model=False)
    assert version_from_meta(first.as_meta(with_model=False)) == first


def test_no_version_without_a_physical_index() -> None:
    assert version_from_meta({}) is None
    assert version_from_meta({"physical": ""}) is None
    assert version_from_meta(V2.as_meta(), PREVIOUS) is None


def test_active_physical_falls_back_to_version_one() -> None:
    assert active_physical(decode({b"physical": b"ac:idx:x:v4"}), "ac", "x") == "ac:idx:x:v4"
    assert active_physical({}, "ac", "x") == "ac:idx:x:v1"


def test_the_cache_state_is_the_shared_version_model() -> None:
    state = IndexState(**V2.__dict__, alias="ac:idx:agentcache", pinned=True)
    assert isinstance(state, Version)
    assert version_from_meta(state.as_meta()) == V2
    assert SCHEMA_VECTOR_FIELD is VECTOR_FIELD == "embedding"


def test_a_migration_checkpoint_records_its_plan() -> None:
    source = first_version("ac", "agentcache", 384, "float32")
    plan = MigrationPlan(source, V2, "copy", "reembed", ("dims 384 -> 384", "model"))
    fields = checkpoint_fields(plan, total=12, started_at=1.5)
    assert fields["phase"] == "build" and fields["total"] == "12"
    assert plan_from_checkpoint(decode(fields)) == plan
    del fields["target_physical"]
    assert plan_from_checkpoint(fields) is None


def test_tool_and_metrics_key_layout_is_the_one_on_disk() -> None:
    tag = _keys.hash_tag("t 1")
    assert _keys.tool_keys("ac", tag, "web search", "d1") == (
        "ac:tool:{t%201}:web%20search:d1",
        "ac:lock:{t%201}:tool:web%20search:d1",
    )
    assert _keys.tool_pattern("ac", "web search") == "ac:tool:{*}:web%20search:*"
    assert _keys.layer_pattern("ac", _keys.METRICS) == "ac:stats:*"
    assert _keys.layer_pattern("ac", _keys.METRICS, _keys.SHARED_TAG) == "ac:stats:{~global}:*"
