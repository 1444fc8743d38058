"""Decoding of Redis replies: text values, FT.SEARCH, FT.INFO, FT.AGGREGATE, MODULE LIST.

The clients here do not decode responses (entries hold binary vectors), and a
server may answer in RESP2 (flat lists) or RESP3 (maps); every reply shape is
read here, once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_MISSING_INDEX_MARKERS = ("no such index", "unknown index name", "unknown: index name")

# One FT.SEARCH hit: (document key, its returned fields).
Row = tuple[Any, dict[Any, Any]]


def reply_text(value: Any) -> str:
    """A reply value as text: bytes decoded (clients here do not decode), others str()."""
    return value.decode() if isinstance(value, bytes) else str(value)


def to_text(value: Any) -> str:
    """A reply value as text, never failing: None is "", bad UTF-8 is replaced,
    an enum (redisvl schema attributes) gives its value."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(getattr(value, "value", value))


def decode_map(mapping: Any) -> dict[str, str]:
    """A hash reply (HGETALL) with keys and values as text."""
    return {to_text(k): to_text(v) for k, v in mapping.items()}


def is_missing_index(exc: BaseException) -> bool:
    """True if ``exc`` is RediSearch saying the index (or alias) does not exist."""
    message = str(exc).lower()
    return any(marker in message for marker in _MISSING_INDEX_MARKERS)


def _get(reply: dict[Any, Any], name: str) -> Any:
    # RESP3 maps come with bytes keys from these clients, str keys from others.
    return reply.get(name.encode(), reply.get(name))


def raw_rows(reply: Any) -> tuple[int, list[Row]]:
    """FT.SEARCH reply (RESP2 list or RESP3 map) -> (total, [(key, fields)]), undecoded.

    A RESP2 reply without fields (``NOCONTENT``) gives empty field dicts.
    """
    if isinstance(reply, dict):  # RESP3
        rows: list[Row] = []
        for result in _get(reply, "results") or []:
            attrs = _get(result, "extra_attributes") or {}
            rows.append((_get(result, "id"), dict(attrs)))
        return int(_get(reply, "total_results") or 0), rows
    if not reply:
        return 0, []
    out: list[Row] = []
    i = 1
    while i < len(reply):
        if i + 1 < len(reply) and isinstance(reply[i + 1], list):
            raw = reply[i + 1]
            out.append((reply[i], dict(zip(raw[::2], raw[1::2], strict=False))))
            i += 2
        else:  # NOCONTENT: keys only
            out.append((reply[i], {}))
            i += 1
    return int(reply[0]), out


def _same(value: Any) -> Any:
    return value


def search_rows(reply: Any, text: bool = False) -> tuple[int, list[tuple[str, dict[str, Any]]]]:
    """FT.SEARCH reply -> (total, [(key, fields)]), keys and field names as text.

    ``text`` decodes the values too (vectors stay bytes otherwise).
    """
    total, rows = raw_rows(reply)
    value: Callable[[Any], Any] = to_text if text else _same
    return total, [
        (to_text(key), {to_text(k): value(v) for k, v in fields.items()}) for key, fields in rows
    ]


def scripted_search(reply: Any) -> tuple[Any, list[list[Any]]]:
    """The semantic lookup's SEARCH_SCRIPT reply -> (the FT.SEARCH reply, one list per
    row: hit count (-1: gone), then response and metadata when read)."""
    search, extra = reply
    return search, [list(row) for row in extra]


def search_rows_total(reply: Any) -> int:
    """The total hit count of an FT.SEARCH reply (RESP2 or RESP3)."""
    if isinstance(reply, dict):
        return int(_get(reply, "total_results") or 0)
    return int(reply[0]) if reply else 0


def info_dict(reply: Any) -> dict[str, Any]:
    """FT.INFO reply (RESP2 flat list or RESP3 map) as a dict with text keys."""
    if isinstance(reply, dict):
        return {to_text(k): v for k, v in reply.items()}
    return {to_text(reply[i]): reply[i + 1] for i in range(0, len(reply) - 1, 2)}


def aggregate_rows(reply: Any) -> list[dict[str, str]]:
    """An FT.AGGREGATE reply's rows, keys and values as text."""
    if isinstance(reply, dict):
        return [decode_map(_get(r, "extra_attributes") or {}) for r in _get(reply, "results") or []]
    return [decode_map(dict(zip(row[::2], row[1::2], strict=True))) for row in reply[1:]]


def module_list(reply: Any) -> list[dict[str, Any]]:
    """A ``MODULE LIST`` reply as one ``{"name": .., "ver": ..}`` dict per module, decoded."""
    modules = []
    for module in reply or []:
        # A map per module, or (RESP2 without parsing) a flat [b"name", b"search", b"ver", ...].
        flat = isinstance(module, list | tuple)
        pairs = dict(zip(module[::2], module[1::2], strict=False)) if flat else module
        modules.append({_decoded(k): _decoded(v) for k, v in pairs.items()})
    return modules


def _decoded(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value
