"""Canonical, stable hashing of tool arguments.

A tool result is cached under a digest of its arguments, so two calls that
mean the same thing must hash alike and two that differ must not. The
arguments are first bound to the function's signature (``f(1, b=2)`` and
``f(a=1, b=2)`` are one call, defaults filled in), then turned into a
canonical, type-tagged JSON document:

* dicts and sets are sorted by the canonical form of their keys/members, so
  insertion order does not matter;
* types that compare unequal stay distinct (``1`` / ``1.0`` / ``True`` /
  ``"1"``, list / tuple, naive / aware datetimes);
* dataclasses and pydantic models hash by class name and field values;
* anything else (open files, clients, lambdas, objects whose ``repr`` holds an
  address) raises ``UnkeyableArgumentError`` naming the argument path: a
  missed cache hit is cheap, a wrong key is not.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import enum
import hashlib
import inspect
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from pathlib import PurePath
from typing import Any

import numpy as np
import pydantic

from agentcache.exceptions import UnkeyableArgumentError

MAX_DEPTH = 64

# A canonical form is a JSON value; containers and non-JSON scalars are
# tagged lists (["d", ...]) so that, e.g., a tuple never equals a list.
Canonical = None | bool | int | str | list[Any]


def canonical(value: object, path: str = "value") -> Canonical:
    """The canonical, type-tagged JSON form of ``value``; raise if it has none."""
    return _canon(value, path, 0, set())


def _dumps(value: Canonical) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _sorted(items: Iterable[Canonical]) -> list[Canonical]:
    # Sort by serialised form: a total order over any mix of canonical values.
    return sorted(items, key=_dumps)


def _canon(value: object, path: str, depth: int, seen: set[int]) -> Canonical:
    if depth > MAX_DEPTH:
        raise UnkeyableArgumentError(f"{path}: nested deeper than {MAX_DEPTH} levels")
    # Enums first (IntEnum/StrEnum are also int/str), then bool before int.
    if isinstance(value, enum.Enum):
        return ["enum", _type_name(value), _canon(value.value, path, depth + 1, seen)]
    if isinstance(value, np.generic):  # before float: np.float64 subclasses it
        return _canon(value.item(), path, depth, seen)
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return ["f", repr(value)]  # repr round-trips; also covers nan/inf and -0.0
    if isinstance(value, Decimal):
        return ["dec", str(value)]  # keeps the exponent: 1.0 and 1.00 stay distinct
    if isinstance(value, bytes | bytearray | memoryview):
        return ["b", base64.b64encode(bytes(value)).decode("ascii")]
    if isinstance(value, dt.datetime):
        # The offset and the zone name are kept: the tool may format either.
        tz = None if value.tzinfo is None else str(value.tzinfo)
        return ["dt", value.isoformat(), tz, value.fold]
    if isinstance(value, dt.date):
        return ["date", value.isoformat()]
    if isinstance(value, dt.time):
        tz = None if value.tzinfo is None else str(value.tzinfo)
        return ["time", value.isoformat(), tz]
    if isinstance(value, dt.timedelta):
        return ["td", value.days, value.seconds, value.microseconds]
    if isinstance(value, uuid.UUID):
        return ["uuid", str(value)]
    if isinstance(value, PurePath):
        return ["path", type(value).__name__, str(value)]
    return _canon_container(value, path, depth, seen)


def _canon_container(value: object, path: str, depth: int, seen: set[int]) -> Canonical:
    if id(value) in seen:
        raise UnkeyableArgumentError(f"{path}: contains a reference cycle")
    seen.add(id(value))
    try:
        return _canon_container_inner(value, path, depth + 1, seen)
    finally:
        seen.discard(id(value))


def _canon_container_inner(value: object, path: str, depth: int, seen: set[int]) -> Canonical:
    if isinstance(value, pydantic.BaseModel):
        fields = value.model_dump(mode="python", round_trip=True)
        return ["model", _type_name(value), _canon(fields, path, depth, seen)]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return ["dc", _type_name(value), _canon(fields, path, depth, seen)]
    if isinstance(value, Mapping):
        pairs = []
        for k, v in value.items():
            ck = _canon(k, f"{path} key {k!r}", depth, seen)
            pairs.append([ck, _canon(v, f"{path}[{k!r}]", depth, seen)])
        return ["d", *sorted(pairs, key=lambda pair: _dumps(pair[0]))]
    if isinstance(value, list):
        return ["l", *(_canon(v, f"{path}[{i}]", depth, seen) for i, v in enumerate(value))]
    if isinstance(value, tuple):
        return ["t", *(_canon(v, f"{path}[{i}]", depth, seen) for i, v in enumerate(value))]
    if isinstance(value, set | frozenset):
        return ["s", *_sorted(_canon(v, f"{path} member", depth, seen) for v in value)]
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            raise UnkeyableArgumentError(f"{path}: numpy arrays of objects have no stable key")
        data = np.ascontiguousarray(value).tobytes()
        return ["nd", value.dtype.str, list(value.shape), base64.b64encode(data).decode()]
    raise UnkeyableArgumentError(
        f"{path}: a {type(value).__module__}.{type(value).__qualname__} has no stable cache "
        "key (supported: JSON-like values, tuples, sets, bytes, Decimal, datetime, UUID, "
        "enums, dataclasses, pydantic models, numpy arrays); pass key= to the decorator, "
        "ignore= for this argument, or on_unkeyable='bypass'"
    )


def _type_name(value: object) -> str:
    cls = type(value)
    return f"{cls.__module__}.{cls.__qualname__}"


def bind_arguments(
    signature: inspect.Signature,
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    ignore: Iterable[str] = (),
) -> dict[str, Any]:
    """Arguments by parameter name with defaults applied, minus ``ignore``."""
    bound = signature.bind(*args, **kwargs)
    bound.apply_defaults()
    skip = set(ignore)
    return {name: value for name, value in bound.arguments.items() if name not in skip}


def arguments_digest(arguments: Mapping[str, Any]) -> str:
    """A 32-hex-char digest of the canonical form of ``arguments``."""
    canon = ["args", *([name, canonical(v, f"argument {name!r}")] for name, v in arguments.items())]
    return value_digest(canon)


def value_digest(canon: Canonical) -> str:
    """Digest of an already canonical value."""
    # surrogatepass: a lone surrogate in an argument still gets its own stable key
    # (valid text encodes exactly as with strict UTF-8, so no existing key changes).
    data = _dumps(canon).encode("utf-8", "surrogatepass")
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def key_digest(value: object) -> str:
    """Digest of whatever a custom key function returned (a str is used as given)."""
    return value_digest(canonical(value, "key function result"))
