"""Lexical guards: cheap checks that veto a cached answer for a near-duplicate prompt.

Embeddings place "enable 2FA" next to "disable 2FA" and "orders over $50"
next to "orders over $500". Each guard looks for one kind of such a
difference between the query and a candidate's stored prompt and returns
the reason it rejects the pair, or ``None``. Guards only fire on a
*contradiction*: both texts state something and what they state differs.
A detail present on one side only is left to the similarity threshold,
so a true paraphrase that merely adds or drops words is not vetoed.

Every guard is a pure function ``(query, candidate_prompt) -> str | None``;
``check_all`` runs them in order and returns the first reason. The entity
guard is in ``_entities``, the tokeniser and word lists they share in ``_lexicon``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache

from agentcache.semantic._entities import entity_guard
from agentcache.semantic._lexicon import (
    _COMMON,
    _MONTH_NUMBER,
    _NUMBER_WORDS,
    _RSQUO,
    _WEEKDAYS,
    _stem,
    _tokens,
    _wordset,
)

__all__ = [
    "GUARDS",
    "Guard",
    "check_all",
    "direction_guard",
    "entity_guard",
    "numbers_guard",
    "polarity_guard",
]

Guard = Callable[[str, str], "str | None"]

# What a guard reads of one text is derived once per text and kept (bounded LRU):
# a lookup's query is compared with up to top_k candidates, and the candidates a
# process meets are mostly the same popular entries, so a decision is set operations.
_PER_TEXT = 8192

# --------------------------------------------------------------------------- numbers

# "m" is left out: "5m old" is months far more often than millions in questions.
_SCALE = {"k": 1_000, "bn": 1_000_000_000}
_SCALE_WORDS = {"thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000}
_NUMERIC = re.compile(r"^[$€£¥]?(\d[\d,]*(?:\.\d+)?)([a-z%]*)$")
_DATE = re.compile(r"\b(\d{1,2})/(\d{1,2})/(\d{4})\b")  # US order, the common one in questions
_ON_THE_HOUR = re.compile(r"\b(\d{1,2}):00\b")  # "2:00 pm" == "2pm"
_VERSIONISH = re.compile(r"^v?\d+(?:\.\d+){2,}$")


def _number_value(token: str) -> str | None:
    """The canonical value of a numeric token, or None if it is not a quantity."""
    if token in _NUMBER_WORDS:
        return _canon(float(_NUMBER_WORDS[token]))
    if _VERSIONISH.match(token):
        return token.lstrip("v")
    match = _NUMERIC.match(token)
    if not match:
        # 2fa, mp3, h264, ipv6: an identifier with digits, compared whole.
        return token if any(ch.isdigit() for ch in token) else None
    digits, suffix = match.groups()
    if "," in digits and not re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", digits):
        return None  # "1,2" is a list, not a number
    value = float(digits.replace(",", ""))
    if suffix in _SCALE:
        value *= _SCALE[suffix]
    # Any other suffix is a unit ("5km", "7pm", "4gb", "20s"): the value alone is compared,
    # because paraphrases write units in many ways ("5km" == "5 kilometers").
    return _canon(value)


def _canon(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)


@lru_cache(maxsize=_PER_TEXT)
def _quantities(text: str) -> frozenset[str]:
    """Numbers, amounts, versions, months and weekdays in ``text``, normalised."""
    out: set[str] = set()
    for month, day, year in _DATE.findall(text):
        out.update((f"month:{int(month)}", str(int(day)), year))
    tokens = _tokens(_ON_THE_HOUR.sub(r"\1", _DATE.sub(" ", text)))
    for i, token in enumerate(tokens):
        if token == "may":
            continue  # the verb, almost always
        if token in _MONTH_NUMBER:
            out.add(f"month:{_MONTH_NUMBER[token]}")
            continue
        if token in _WEEKDAYS:
            out.add(f"day:{token}")
            continue
        value = _number_value(token)
        if value is None:
            continue
        if token in ("first", "second", "third") and i + 1 < len(tokens):
            # "second hand", "first time": ordinals as adjectives are too ambiguous.
            continue
        # "100 thousand" -> 100000
        scale = _SCALE_WORDS.get(tokens[i + 1]) if i + 1 < len(tokens) else None
        if scale is not None and value.replace(".", "", 1).isdigit():
            value = _canon(float(value) * scale)
        out.add(value)
    # "100 thousand" also yields a bare 'thousand' quantity; drop it when a scaled one exists.
    if "1000" in out and any(int(v) > 1000 for v in out if v.isdigit()):
        out.discard("1000")
    return frozenset(out)


def numbers_guard(query: str, candidate: str) -> str | None:
    """Reject if both texts state numbers, amounts, dates or versions and they differ.

    >>> numbers_guard("refund for orders over $50", "refunds on orders above $500")
    'numbers: 50 vs 500'
    """
    q, c = _quantities(query), _quantities(candidate)
    only_q, only_c = q - c, c - q
    if only_q and only_c:
        return f"numbers: {','.join(sorted(only_q))} vs {','.join(sorted(only_c))}"
    return None


# --------------------------------------------------------------------------- polarity

_NEGATIONS = {
    "not", "no", "never", "cannot", "cant", "can't", "won't", "don't", "doesn't", "didn't",
    "isn't", "aren't", "wasn't", "weren't", "shouldn't", "wouldn't", "couldn't", "haven't",
    "hasn't", "hadn't", "mustn't", "nobody", "nothing", "neither", "nor",
}  # fmt: skip

# Groups of mutually exclusive terms. Words in one tuple are synonyms (one "side");
# different tuples of a group are opposite or exclusive.
_OPPOSITES: tuple[tuple[tuple[str, ...], ...], ...] = (
    (
        ("enable", "activate", "turn on", "switch on"),
        ("disable", "deactivate", "turn off", "switch off"),
    ),
    (("before",), ("after",)),
    (("increase", "raise", "higher", "more"), ("decrease", "reduce", "lower", "less")),
    (("today", "tonight"), ("tomorrow",), ("yesterday",)),
    (("daily",), ("weekly",), ("monthly",), ("annually", "yearly", "annual"), ("hourly",)),
    (("add",), ("remove", "delete")),
    (("with",), ("without",)),
    (("buy", "purchase"), ("sell",)),
    (("upload",), ("download",)),
    (("import",), ("export",)),
    (("encrypt",), ("decrypt",)),
    (("lock",), ("unlock",)),
    (("install",), ("uninstall",)),
    (("min", "minimum"), ("max", "maximum")),
    (("deposit",), ("withdraw", "withdrawal")),
    (("send", "sent"), ("receive", "received")),
    (("accept", "approve"), ("reject", "decline", "deny")),
    (("open",), ("close",)),
    (("start",), ("stop",)),
    (("win",), ("lose",)),
    (("best",), ("worst",)),
    (("advantage", "pro"), ("disadvantage", "con")),
    (("positive",), ("negative",)),
    (("true",), ("false",)),
    (("above",), ("below",)),
    (("inside", "indoor"), ("outside", "outdoor")),
    (("north",), ("south",)),
    (("east",), ("west",)),
    (("hot", "warm"), ("cold",)),
    (("cheap", "cheapest"), ("expensive",)),
    (("male", "men", "man", "boy"), ("female", "women", "woman", "girl")),
    (("credit",), ("debit",)),
    (("input",), ("output",)),
    (("left",), ("right",)),
    (("encode",), ("decode",)),
    (("compress",), ("decompress",)),
    (("follow",), ("unfollow",)),
    (("subscribe",), ("unsubscribe",)),
    (("login", "log in", "sign in"), ("logout", "log out", "sign out")),
)


def _build_side_index() -> dict[tuple[str, ...], tuple[int, int]]:
    index: dict[tuple[str, ...], tuple[int, int]] = {}
    for g, group in enumerate(_OPPOSITES):
        for s, side in enumerate(group):
            for phrase in side:
                index[tuple(_stem(w) for w in phrase.split())] = (g, s)
    return index


_SIDE_INDEX = _build_side_index()
_MAX_PHRASE = max(len(k) for k in _SIDE_INDEX)


@lru_cache(maxsize=_PER_TEXT)
def _sides(text: str) -> Mapping[int, frozenset[int]]:
    """For each opposite group mentioned in ``text``, the sides it mentions (not to be
    changed: shared by every caller)."""
    stems = [_stem(t) for t in _tokens(text)]
    found: dict[int, set[int]] = {}
    for i in range(len(stems)):
        for n in range(_MAX_PHRASE, 0, -1):
            hit = _SIDE_INDEX.get(tuple(stems[i : i + n]))
            if hit is not None:
                found.setdefault(hit[0], set()).add(hit[1])
                break
    return {group: frozenset(sides) for group, sides in found.items()}


# Words skipped when looking for what a negation applies to ("did not *go*", "can't be *found*").
_NEG_SKIP = _wordset(
    """be is are was were been being am do does did have has had get got it its my your the a an
    to any anything yet even really always ever able still working work this that so very i you
    we they he she me us them much many more too also just all"""
)


def _is_negation(token: str) -> bool:
    return token in _NEGATIONS or token.endswith("n't")


@lru_cache(maxsize=_PER_TEXT)
def _negated_words(text: str) -> frozenset[str]:
    """Stems of the content words that a negation in ``text`` applies to."""
    tokens = _tokens(text)
    out: set[str] = set()
    for i, token in enumerate(tokens):
        if not _is_negation(token):
            continue
        if i > 0 and tokens[i - 1] in ("why", "how", "what", "where", "when"):
            # "why don't X ..." asks about X's trouble; it is how people ask "how do I X".
            continue
        for nxt in tokens[i + 1 : i + 4]:
            if _is_negation(nxt):
                break
            if nxt not in _NEG_SKIP:
                out.add(_stem(nxt))
                break
    return frozenset(out)


@lru_cache(maxsize=_PER_TEXT)
def _content(text: str) -> frozenset[str]:
    return frozenset(
        _stem(t) for t in _tokens(text) if t not in _COMMON and not _is_negation(t)
    )


@lru_cache(maxsize=_PER_TEXT)
def _stems_if_affirmative(text: str) -> frozenset[str] | None:
    """The stems of ``text``, or None when it has a negation of its own."""
    tokens = _tokens(text)
    if any(_is_negation(t) for t in tokens):
        return None
    return frozenset(_stem(t) for t in tokens)


def _overlap(query: str, candidate: str) -> float:
    """Shared content stems over the smaller side's: 1.0 when one text contains the other."""
    q, c = _content(query), _content(candidate)
    return len(q & c) / min(len(q), len(c)) if q and c else 0.0


def _negation_conflict(query: str, candidate: str) -> str | None:
    """A word negated on one side that the other side states without any negation."""
    for first, second in ((query, candidate), (candidate, query)):
        stems = _stems_if_affirmative(second)
        if stems is None:
            continue
        shared = sorted(_negated_words(first) & stems)
        if shared:
            return f"polarity: not {shared[0]} vs {shared[0]}"
    return None


_NEGATION_OVERLAP = 0.7
_ANTONYM_OVERLAP = 0.4


def polarity_guard(query: str, candidate: str) -> str | None:
    """Reject on opposite polarity: negation on one side only, or antonyms across sides.

    >>> polarity_guard("how do I enable 2FA", "how to disable 2FA")
    'polarity: enable vs disable'
    """
    # Polarity words are common in paraphrases ("not working" == "broken"); they only
    # signal a different question when the rest of the two texts says the same thing.
    overlap = _overlap(query, candidate)
    if overlap < _ANTONYM_OVERLAP:
        return None
    negation = _negation_conflict(query, candidate) if overlap >= _NEGATION_OVERLAP else None
    if negation is not None:
        return negation
    q_sides, c_sides = _sides(query), _sides(candidate)
    for group in q_sides.keys() & c_sides.keys():
        only_q, only_c = q_sides[group] - c_sides[group], c_sides[group] - q_sides[group]
        if only_q and only_c:
            a = _OPPOSITES[group][min(only_q)][0]
            b = _OPPOSITES[group][min(only_c)][0]
            return f"polarity: {a} vs {b}"
    return None


# --------------------------------------------------------------------------- direction

_SKIP = {"the", "a", "an", "my", "your", "our", "their", "his", "her", "its", "this", "that"}
# Connectors whose two sides are ordered: "X -> Y", "X but not Y", "X instead of Y".
_ORDERED = re.compile(
    r"([\w°$€£.+#-]+)\s*(?:->|→|=>|\bbut not\b|\binstead of\b|\brather than\b)"
    r"\s*(?:(?:the|a|an|my|your|on|in)\s+)?([\w°$€£.+#-]+)",
    re.IGNORECASE,
)
# "X to Y" is usually an infinitive ("want to know"), so it counts only after "from"
# or a verb of conversion or movement ("convert USD to EUR", "from London to Paris").
_TO = re.compile(
    r"\b(from|convert\w*|translat\w*|transfer\w*|migrat\w*|switch\w*|mov\w*|chang\w*|"
    r"exchang\w*|port\w*|upgrad\w*|downgrad\w*|go|going|fly\w*|flight\w*|driv\w*|"
    r"travel\w*|send\w*|sent|cast\w*|map\w*)\s+(?:(?:the|a|an|my|your)\s+)?"
    r"([\w°$€£.+#-]+)\s+(?:to|into|in)\s+(?:(?:the|a|an|my|your)\s+)?([\w°$€£.+#-]+)",
    re.IGNORECASE,
)
_BARE_TO = re.compile(r"([\w°$€£.+#-]+)\s+to\s+([\w°$€£.+#-]+)")


@lru_cache(maxsize=_PER_TEXT)
def _directed_pairs(text: str) -> frozenset[tuple[str, str]]:
    text = text.replace(_RSQUO, "'")
    found = [(m.group(1), m.group(2)) for m in _ORDERED.finditer(text)]
    found += [(m.group(2), m.group(3)) for m in _TO.finditer(text)]
    # "USD to EUR", "°F to °C", "Paris to London": a bare "to" between two codes, units or
    # names is a direction too.
    found += [
        (a, b)
        for a, b in _BARE_TO.findall(text)
        if (_is_code(a) and _is_code(b)) or (a[:1].isupper() and b[:1].isupper())
    ]
    pairs: set[tuple[str, str]] = set()
    for raw_a, raw_b in found:
        a, b = raw_a.lower().strip(".,"), raw_b.lower().strip(".,")
        if a and b and a != b and a not in _SKIP and b not in _SKIP:
            pairs.add((a, b))
    return frozenset(pairs)


def _is_code(word: str) -> bool:
    """USD, °F, km, 2FA: short all-caps codes or units."""
    core = word.strip(".,")
    return (2 <= len(core) <= 5 and core.isupper()) or core.startswith("°")


def direction_guard(query: str, candidate: str) -> str | None:
    """Reject when a directed pair ("USD to EUR", "desktop but not mobile") is reversed.

    >>> direction_guard("convert USD to EUR", "EUR to USD conversion")
    'direction: usd->eur vs eur->usd'
    """
    q_pairs, c_pairs = _directed_pairs(query), _directed_pairs(candidate)
    for a, b in sorted(q_pairs):
        if (b, a) in c_pairs and (a, b) not in c_pairs:
            return f"direction: {a}->{b} vs {b}->{a}"
    return None


# --------------------------------------------------------------------------- all

GUARDS: tuple[tuple[str, Guard], ...] = (
    ("numbers", numbers_guard),
    ("polarity", polarity_guard),
    ("direction", direction_guard),
    ("entities", entity_guard),
)


def check_all(
    query: str, candidate: str, guards: Sequence[tuple[str, Guard]] = GUARDS
) -> str | None:
    """The first guard's reason to reject ``candidate`` for ``query``, or None."""
    for _, guard in guards:
        reason = guard(query, candidate)
        if reason is not None:
            return reason
    return None
