"""The versioned value envelope (no server)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from typing import Any

import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentcache.exceptions import SerializationError
from agentcache.tools._serialize import dumps, loads


@dataclasses.dataclass
class Inner:
    when: dt.datetime
    amount: Decimal


@dataclasses.dataclass
class Outer:
    name: str
    items: list[Inner]
    tags: frozenset[str]


class Page(pydantic.BaseModel):
    url: str
    rank: int
    fetched: dt.date
    meta: dict[str, float] = {}


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_json_like_values_round_trip_equal(value: object) -> None:
    raw = dumps(value)
    assert raw.startswith(b"ac1 json\n")
    assert loads(raw) == value


def test_typed_values_round_trip_equal() -> None:
    outer = Outer(
        "o",
        [Inner(dt.datetime(2024, 1, 2, 3, tzinfo=dt.UTC), Decimal("1.25"))],
        frozenset({"a", "b"}),
    )
    page = Page(url="https://x", rank=2, fetched=dt.date(2024, 1, 1), meta={"s": 0.5})
    cases: list[tuple[Any, object]] = [
        (Outer, outer),
        (Page, page),
        (list[Page], [page, page]),
        (tuple[int, str], (1, "a")),
        (dt.datetime, dt.datetime(2024, 1, 1, tzinfo=dt.UTC)),
    ]
    for result_type, value in cases:
        raw = dumps(value, result_type)
        assert raw.startswith(b"ac1 typed\n")
        back = loads(raw, result_type)
        assert back == value and type(back) is type(value)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ((1, 2), "tuple"),
        ({1: "a"}, "int key"),
        ({"a": {1, 2}}, "result['a'] is a set"),
        (float("nan"), "nan"),
        ([b"x"], "result[0] is a bytes"),
        (Page(url="u", rank=1, fetched=dt.date(2024, 1, 1)), "result_type"),
    ],
)
def test_values_that_would_change_are_refused(value: object, fragment: str) -> None:
    with pytest.raises(SerializationError) as info:
        dumps(value)
    assert fragment in str(info.value)


def test_typed_value_of_the_wrong_type_is_refused() -> None:
    with pytest.raises(SerializationError, match="Page"):
        dumps({"url": 1}, Page)


@pytest.mark.parametrize(
    "raw",
    [b"", b"garbage", b"ac2 json\n1", b"ac1 json\n{", b"ac1 pickle\n...", b"ac1 typed\n{}"],
)
def test_unreadable_envelopes_raise(raw: bytes) -> None:
    with pytest.raises(SerializationError):
        loads(raw)


def test_stored_value_not_matching_the_type_raises() -> None:
    with pytest.raises(SerializationError, match="not a valid"):
        loads(dumps({"url": "u"}), Page)
