"""Input bounds shared by every layer, checked before anything is written.

* TTLs: finite, > 0 and at most ``MAX_TTL_SECONDS`` (10 years). Redis refuses an
  EXPIRE whose deadline overflows its millisecond clock; the bound keeps every
  TTL far inside what EXPIRE and PEXPIRE accept, so a write never half-succeeds.
* Text: valid Unicode that encodes to UTF-8 (no lone surrogates such as
  ``"\\ud800"``, which redis-py cannot send).
* Metadata: at most ``MAX_METADATA_BYTES`` of JSON per entry (it is read with
  every hit; bulk belongs in the response, capped by ``max_response_bytes``).

This module imports nothing but the exceptions, so settings can use it too.
"""

from __future__ import annotations

import math

from agentcache.exceptions import InvalidInputError

MAX_TTL_SECONDS = 10 * 365 * 24 * 3600  # 315,360,000 s: ten years
MAX_METADATA_BYTES = 64 * 1024


def check_text(value: str, what: str) -> str:
    """``value`` if it encodes to UTF-8, else ``InvalidInputError`` naming ``what``."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInputError(
            f"{what} is not valid Unicode text: {exc.reason} at position {exc.start} "
            f"({value[exc.start : exc.end]!r})"
        ) from None
    return value


def check_ttl(value: object, what: str, *, whole: bool) -> float:
    """``value`` as a TTL in seconds: a real number, finite, > 0, <= ``MAX_TTL_SECONDS``.

    ``whole``: only integers are accepted (semantic entries expire in whole seconds).
    """
    kind = "a whole number of seconds" if whole else "a number of seconds"
    bounds = f"{kind} in [1, {MAX_TTL_SECONDS}]" if whole else f"{kind} in (0, {MAX_TTL_SECONDS}]"
    allowed = (int,) if whole else (int, float)
    if isinstance(value, bool) or not isinstance(value, allowed):
        raise InvalidInputError(f"{what} must be {bounds}, got {value!r}")
    # Compared before any float(): a huge int would overflow it.
    low_ok = value >= 1 if whole else value > 0
    if isinstance(value, float) and not math.isfinite(value):
        low_ok = False
    if not low_ok or value > MAX_TTL_SECONDS:
        raise InvalidInputError(f"{what} must be {bounds} (10 years at most), got {value!r}")
    return float(value)
