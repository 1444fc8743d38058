"""Canonical argument hashing and cluster-slot grouping (no server)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import inspect
import uuid
from collections import OrderedDict
from decimal import Decimal
from pathlib import PurePosixPath
from typing import Any

import numpy as np
import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentcache.exceptions import InvalidInputError, UnkeyableArgumentError
from agentcache.tools._hashing import (
    arguments_digest,
    bind_arguments,
    canonical,
    key_digest,
)


class Color(enum.Enum):
    RED = 1


class Level(enum.IntEnum):
    ONE = 1


@dataclasses.dataclass
class Query:
    text: str
    filters: dict[str, Any]


class Model(pydantic.BaseModel):
    name: str
    tags: set[str]


def d(value: object) -> str:
    return key_digest(value)


def test_equal_meaning_hashes_alike() -> None:
    assert d({"a": 1, "b": 2}) == d({"b": 2, "a": 1})
    assert d({"a": 1}) == d(OrderedDict(a=1))
    assert d({3, 1, 2}) == d({2, 3, 1}) == d({1, 2, 3})
    assert d(frozenset({1, 2})) == d({2, 1})
    assert d(Query("q", {"x": 1, "y": 2})) == d(Query("q", {"y": 2, "x": 1}))
    assert d(Model(name="n", tags={"b", "a"})) == d(Model(name="n", tags={"a", "b"}))
    assert d(np.float64(1.5)) == d(1.5)
    assert d(np.array([1, 2], dtype=np.int32)) == d(np.array([1, 2], dtype=np.int32))


@pytest.mark.parametrize(
    ("left", "right"),
    [
        (1, 1.0),
        (1, True),
        (0, False),
        (1, "1"),
        ([1, 2], (1, 2)),
        ([1, 2], [2, 1]),
        ({1, 2}, [1, 2]),
        (b"a", "a"),
        (Decimal("1.0"), Decimal("1.00")),
        (Decimal("1"), 1),
        (0.0, -0.0),
        (None, "None"),
        ({"a": None}, {}),
        (Color.RED, 1),
        (Level.ONE, 1),
        (dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 1, tzinfo=dt.UTC)),
        (
            dt.datetime(2024, 1, 1, 12, tzinfo=dt.UTC),
            dt.datetime(2024, 1, 1, 13, tzinfo=dt.timezone(dt.timedelta(hours=1))),
        ),
        (dt.date(2024, 1, 1), "2024-01-01"),
        (Query("q", {}), {"text": "q", "filters": {}}),
        (np.array([1, 2], dtype=np.int32), np.array([1, 2], dtype=np.int64)),
        (np.array([1, 2]), np.array([[1, 2]])),
        ({"a": [1]}, {"a": (1,)}),
    ],
)
def test_different_values_hash_apart(left: object, right: object) -> None:
    assert d(left) != d(right)


def test_supported_scalars_have_a_form() -> None:
    values = [
        dt.time(1, 2),
        dt.timedelta(seconds=3),
        uuid.UUID(int=5),
        PurePosixPath("/a/b"),
        bytearray(b"x"),
        float("nan"),
        10**40,
    ]
    forms = [canonical(v) for v in values]
    assert len({str(f) for f in forms}) == len(values)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (object(), "builtins.object"),
        ({"k": lambda: 1}, "['k']"),
        ([1, {2: open}], "[1][2]"),
        ({object(): 1}, "key"),
        (np.array([object()]), "numpy arrays of objects"),
    ],
)
def test_unkeyable_values_raise_naming_the_path(value: object, fragment: str) -> None:
    with pytest.raises(UnkeyableArgumentError) as info:
        canonical(value, "argument 'x'")
    assert "argument 'x'" in str(info.value) and fragment in str(info.value)
    assert isinstance(info.value, InvalidInputError)


def test_cycles_and_depth_are_refused() -> None:
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(UnkeyableArgumentError, match="cycle"):
        canonical(loop)
    deep: list[object] = []
    for _ in range(100):
        deep = [deep]
    with pytest.raises(UnkeyableArgumentError, match="deeper"):
        canonical(deep)
    shared = [1]
    assert canonical([shared, shared]) == ["l", ["l", 1], ["l", 1]]  # not a cycle


def test_binding_makes_positional_keyword_and_defaults_one_call() -> None:
    def f(a: int, b: int = 2, *rest: int, c: str = "x", **extra: object) -> None: ...

    sig = inspect.signature(f)

    def digest(*args: Any, **kwargs: Any) -> str:
        return arguments_digest(bind_arguments(sig, args, kwargs))

    assert digest(1) == digest(1, 2) == digest(a=1, b=2) == digest(1, c="x")
    assert digest(1, 2, 3) != digest(1, 2)
    assert digest(1, z=1, y=2) == digest(1, y=2, z=1)
    assert digest(1, z=1) != digest(1)
    assert bind_arguments(sig, (1,), {"c": "q"}, ignore=("c",)) == {
        "a": 1,
        "b": 2,
        "rest": (),
        "extra": {},
    }
    with pytest.raises(TypeError):
        bind_arguments(sig, (), {})


json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=12,
)


@given(st.dictionaries(st.text(max_size=4), json_like, max_size=6))
def test_dict_digest_ignores_insertion_order(value: dict[str, object]) -> None:
    reversed_copy = dict(reversed(list(value.items())))
    assert d(value) == d(reversed_copy)
