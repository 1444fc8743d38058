"""A versioned envelope for cached values.

Stored bytes are ``b"ac<version> <kind>\\n" + payload``: a short text header a
human can read in ``redis-cli``, then the payload. Two kinds exist:

* ``json``: strict JSON, for values that are JSON-like already (None, bool,
  int, finite float, str, lists, dicts with str keys). What is read back
  equals what was written; anything else (a tuple would come back as a list)
  is refused with ``SerializationError`` rather than silently changed.
* ``typed``: the JSON form of a value of a declared type (a pydantic model,
  a dataclass, ``list[Model]``, ``datetime`` ...), written and validated by
  a pydantic ``TypeAdapter`` of that type.

A reader that meets another version, another kind or a corrupt payload raises
``SerializationError``; the caches treat that as a miss and overwrite it.
"""

from __future__ import annotations

import functools
import json
import math
from typing import Any

import pydantic

from agentcache.exceptions import SerializationError

VERSION = 1
JSON = "json"
TYPED = "typed"
_MAGIC = b"ac"


def _header(kind: str) -> bytes:
    return _MAGIC + str(VERSION).encode() + b" " + kind.encode() + b"\n"


_JSON_HEADER = _header(JSON)
_TYPED_HEADER = _header(TYPED)


@functools.lru_cache(maxsize=256)
def _adapter(result_type: Any) -> pydantic.TypeAdapter[Any]:
    return pydantic.TypeAdapter(result_type)


def check_json_like(value: object, path: str = "result") -> None:
    """Raise ``SerializationError`` unless ``value`` survives a JSON round trip unchanged."""
    if value is None or type(value) in (bool, int, str):
        return
    if type(value) is float:
        if not math.isfinite(value):
            raise SerializationError(f"{path} is {value!r}, which JSON cannot hold")
        return
    if type(value) is list:
        for index, item in enumerate(value):
            check_json_like(item, f"{path}[{index}]")
        return
    if type(value) is dict:
        for key, item in value.items():
            if type(key) is not str:
                raise SerializationError(
                    f"{path} has a {type(key).__name__} key {key!r}; JSON keys are strings"
                )
            check_json_like(item, f"{path}[{key!r}]")
        return
    raise SerializationError(
        f"{path} is a {type(value).__qualname__}, which would not read back as the same "
        "value from JSON; pass result_type= (e.g. the pydantic model or dataclass) to cache it"
    )


def dumps(value: object, result_type: Any = None) -> bytes:
    """Envelope bytes for ``value``; with ``result_type``, via a pydantic TypeAdapter."""
    if result_type is None:
        try:
            check_json_like(value)
        except RecursionError:
            raise SerializationError("result is nested too deeply to store") from None
        try:
            payload = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
            data = payload.encode("utf-8")  # a lone surrogate fails here
        except (TypeError, ValueError, RecursionError) as exc:
            raise SerializationError(f"result cannot be serialised as JSON: {exc}") from exc
        return _JSON_HEADER + data
    try:
        adapter = _adapter(result_type)
        data = adapter.dump_json(value, warnings="error")
        # Serialising is lenient about types; make sure the value reads back.
        adapter.validate_json(data)
    except (pydantic.ValidationError, pydantic.PydanticSchemaGenerationError) as exc:
        raise SerializationError(f"result is not a valid {result_type!r}: {exc}") from exc
    except (TypeError, ValueError, RecursionError) as exc:
        raise SerializationError(f"result cannot be serialised as {result_type!r}: {exc}") from exc
    return _TYPED_HEADER + data


def loads(raw: bytes, result_type: Any = None) -> Any:
    """The value in envelope ``raw``; raise ``SerializationError`` if unreadable."""
    header, sep, payload = raw.partition(b"\n")
    if not sep or not header.startswith(_MAGIC):
        raise SerializationError("stored value has no agentcache envelope")
    version, _, kind = header[len(_MAGIC) :].partition(b" ")
    if version != str(VERSION).encode():
        raise SerializationError(f"stored value has envelope version {version!r}, not {VERSION}")
    if result_type is not None and kind in (JSON.encode(), TYPED.encode()):
        try:
            return _adapter(result_type).validate_json(payload)
        except pydantic.ValidationError as exc:
            raise SerializationError(f"stored value is not a valid {result_type!r}") from exc
    if kind == JSON.encode():
        try:
            return json.loads(payload)
        except ValueError as exc:
            raise SerializationError(f"stored JSON value is corrupt: {exc}") from exc
    if kind == TYPED.encode():
        raise SerializationError("stored value is typed; read it with result_type=")
    raise SerializationError(f"stored value has unknown kind {kind!r}")
