"""The words the lexical guards (``_guards``, ``_entities``) read prompts as."""

from __future__ import annotations

import re
from functools import lru_cache

_RSQUO = "\u2019"  # typographic apostrophe, as in "don\u2019t"

_TOKEN = re.compile(
    r"""[$€£¥]?\d[\d,]*(?:\.\d+)*[a-z%]*   # numbers, amounts, versions, 2fa, 1st, 50%
      | °[cf]\b                          # temperature units
      | [a-z][\w.+#-]*:[\w.+#-]+         # site:reddit.com, tag:postgres
      | [a-z][a-z0-9+#]*(?:['\u2019][a-z]+)?  # words (c++, c#, can't)
    """,
    re.IGNORECASE | re.VERBOSE,
)


def _wordset(text: str) -> frozenset[str]:
    """A set of words written as text (reads better than a long list literal)."""
    return frozenset(text.split())


@lru_cache(maxsize=8192)
def _tokens(text: str) -> tuple[str, ...]:
    """Lower-cased tokens of ``text`` (cached: guards tokenise each prompt many times)."""
    return tuple(t.lower().replace(_RSQUO, "'") for t in _TOKEN.findall(text))


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    """A crude stem so 'enabled', 'enables', 'enabling' compare equal; never used for output."""
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    # enabl(e) / enabl(ed): drop a trailing 'e' so both forms meet.
    return word[:-1] if word.endswith("e") and len(word) > 3 else word


# -- word lists (numbers and dates are the numbers guard's; the rest is not a name)
_NUMBER_WORDS = {
    # 'one' is left out: "which one", "one of the" are not quantities.
    "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20,
    "thirty": 30, "forty": 40, "fifty": 50, "hundred": 100, "thousand": 1000,
    "dozen": 12, "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5,
    "tenth": 10,
}  # fmt: skip
_MONTHS = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
]
_MONTH_ABBR = {m[:3]: i + 1 for i, m in enumerate(_MONTHS)} | {"sept": 9}
_MONTH_NUMBER = {m: i + 1 for i, m in enumerate(_MONTHS)} | _MONTH_ABBR
_WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_CALENDAR = {*_MONTHS, *_MONTH_ABBR, *_WEEKDAYS}
_COMMON = _wordset(
    """
    i i'm i've i'd i'll a an the and or but if of in on at to for from by with about as is
    are was were be been do does did can could should would will shall may might must have
    has had what which who whom whose when where why how whats hows whos there here this
    that these those it its my your our their his her me we you they he she them us please
    hi hello hey thanks yes no not any some all best good new top vs versus ok okay
    """
)
