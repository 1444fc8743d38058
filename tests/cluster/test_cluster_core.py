"""The no-I/O part of agentcache.semantic._cluster: anchors, names, reply rewriting (no server)."""

from __future__ import annotations

import pytest
from redis.crc import key_slot
from redis.exceptions import AskError, MovedError

from agentcache.exceptions import ConfigurationError
from agentcache.semantic._cluster import (
    anchor_slot,
    merge_search_replies,
    node_index_name,
    redirect_of,
    slot_tag,
    split_return,
    with_fields,
)


@pytest.mark.parametrize("slot", [0, 1, 5461, 10922, 16383])
def test_slot_tag_hashes_to_its_slot_and_names_carry_it(slot: int) -> None:
    assert key_slot(slot_tag(slot).encode()) == slot
    name = node_index_name("ac:idx:agentcache:v1", slot)
    assert key_slot(name.encode()) == slot
    assert anchor_slot(name, "ac:idx:agentcache:v1") == slot
    assert anchor_slot(name, "ac:idx:agentcache:v2") is None
    assert anchor_slot("ac:idx:agentcache:v1", "ac:idx:agentcache:v1") is None


def test_index_names_with_braces_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="brace"):
        node_index_name("ac:idx:a{b}:v1", 3)
    with pytest.raises(ValueError):
        slot_tag(16384)


def test_split_return_keeps_only_the_distance_and_lists_stored_fields() -> None:
    knn = [
        "FT.SEARCH", "idx", "(@t:{x})=>[KNN $K @embedding $BLOB AS __dist]",
        "PARAMS", 2, "K", 5, "RETURN", 3, "prompt", "response", "__dist", "LIMIT", 0, 5,
    ]  # fmt: skip
    wire, stored = split_return(knn)
    assert stored == ["prompt", "response"]
    assert wire[wire.index("RETURN") : wire.index("RETURN") + 3] == ["RETURN", 1, "__dist"]
    assert wire[-3:] == ["LIMIT", 0, 5]
    no_alias = ["FT.SEARCH", "idx", "*", "RETURN", 1, "prompt"]
    assert split_return(no_alias) == (["FT.SEARCH", "idx", "*", "NOCONTENT"], ["prompt"])
    counting = ["FT.SEARCH", "idx", "*", "LIMIT", 0, 0]
    assert split_return(counting) == (counting, [])


def test_with_fields_and_merge_build_resp2_replies() -> None:
    resp3 = {
        b"total_results": 2,
        b"results": [
            {b"id": b"k1", b"extra_attributes": {b"__dist": b"0.1"}},
            {b"id": b"k2", b"extra_attributes": {b"__dist": b"0.2"}},
        ],
    }
    out = with_fields(resp3, ["prompt", "gone"], [[b"p1", None], [b"p2", None]])
    assert out == [
        2,
        b"k1",
        ["prompt", b"p1", b"__dist", b"0.1"],
        b"k2",
        ["prompt", b"p2", b"__dist", b"0.2"],
    ]
    merged = merge_search_replies([out, [1, b"k3"], [0]])
    assert merged[0] == 3 and merged[1:] == [*out[1:], b"k3"]


def test_redirects_are_read_from_probe_replies() -> None:
    assert redirect_of(1) is None and redirect_of(0) is None
    assert redirect_of(MovedError("3999 127.0.0.1:7001")) == ("moved", "127.0.0.1", 7001)
    assert redirect_of(AskError("3999 127.0.0.1:7002")) == ("ask", "127.0.0.1", 7002)
    with pytest.raises(ConnectionError):
        redirect_of(ConnectionError("down"))
