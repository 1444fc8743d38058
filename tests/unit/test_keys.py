from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.crc import key_slot

from agentcache import InvalidInputError
from agentcache._redis import keys as _keys


def test_encode_is_injective_for_look_alikes() -> None:
    ids = ["t1", "T1", "t1 ", " t1", "t%31", "t{1}", "a:b", "a|b", "*"]
    encoded = [_keys.encode_id(i) for i in ids]
    assert len(set(encoded)) == len(ids)
    for value in encoded:
        assert "{" not in value and "}" not in value and ":" not in value and " " not in value


@given(st.text(min_size=1, max_size=50), st.text(min_size=1, max_size=50))
def test_distinct_ids_never_share_a_key_or_tag(a: str, b: str) -> None:
    if a == b:
        return
    assert _keys.encode_id(a) != _keys.encode_id(b)
    assert _keys.tag_value(a) != _keys.tag_value(b)


@given(st.text(min_size=1, max_size=80).filter(lambda s: s.strip()))
def test_all_keys_of_a_tenant_share_one_slot(tenant: str) -> None:
    keys = [
        _keys.tenant_key("ac", _keys.SEMANTIC, tenant, "abc"),
        _keys.tenant_key("ac", _keys.LRU, tenant, "agentcache"),
        _keys.tenant_key("ac", _keys.TOOLS, tenant, "search", "123"),
    ]
    assert len({key_slot(k.encode()) for k in keys}) == 1


def test_tag_values_need_no_escaping() -> None:
    value = _keys.tag_value("a|b {x} -t* @tenant:{evil}")
    assert len(value) == 32 and all(c in "0123456789abcdef" for c in value)


@pytest.mark.parametrize("bad", ["", "   ", "x" * (_keys.MAX_ID_LENGTH + 1), None, 5])
def test_invalid_ids_are_rejected_by_name(bad: object) -> None:
    with pytest.raises(InvalidInputError, match="tenant"):
        _keys.validate_id(bad, "tenant")


def test_digest_separates_parts() -> None:
    assert _keys.digest("ab", "c") != _keys.digest("a", "bc")


def test_normalize_prompt_collapses_whitespace_only() -> None:
    assert _keys.normalize_prompt("  What   is\n2+2? ") == "What is 2+2?"
    assert _keys.normalize_prompt("ABC") != _keys.normalize_prompt("abc")


def test_slot_helpers_match_redis_cluster() -> None:
    keys = [_keys.tenant_key("ac", "tool", "acme", "t", str(i)) for i in range(5)]
    keys += [f"ac:emb:m:32:{i:032x}" for i in range(50)]
    for key in keys:
        assert _keys.key_slot(key) == key_slot(key.encode())
    groups = _keys.slot_groups(keys)
    assert sorted(i for group in groups.values() for i in group) == list(range(len(keys)))
    assert groups[_keys.key_slot(keys[0])][:5] == [0, 1, 2, 3, 4]  # one tenant, one slot
    assert len(groups) > 20  # untagged embedding keys spread out
