"""Lexical guards: cheap checks that veto a cached answer for a near-duplicate prompt.

Embeddings place "enable 2FA" next to "disable 2FA" and "orders over $50"
next to "orders over $500". Each guard looks for one kind of such a
difference between the query and a candidate's stored prompt and returns
the reason it rejects the pair, or ``None``. Guards only fire on a
*contradiction*: both texts state something and what they state differs.
A detail present on one side only is left to the similarity threshold,
so a true paraphrase that merely adds or drops words is not vetoed.

Every guard is a pure function ``(query, candidate_prompt) -> str | None``;
``check_all`` runs them in order and returns the first reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import lru_cache

Guard = Callable[[str, str], "str | None"]
_RSQUO = "\u2019"  # typographic apostrophe, as in "don\u2019t"

# --------------------------------------------------------------------------- tokens

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


@lru_cache(maxsize=4096)
def _tokens(text: str) -> tuple[str, ...]:
    """Lower-cased tokens of ``text`` (cached: guards tokenise each prompt many times)."""
    return tuple(t.lower().replace(_RSQUO, "'") for t in _TOKEN.findall(text))


def _stem(word: str) -> str:
    """A crude stem so 'enabled', 'enables', 'enabling' compare equal; never used for output."""
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    # enabl(e) / enabl(ed): drop a trailing 'e' so both forms meet.
    return word[:-1] if word.endswith("e") and len(word) > 3 else word


# --------------------------------------------------------------------------- numbers

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


def _quantities(text: str) -> set[str]:
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
    return out


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


def _sides(text: str) -> dict[int, set[int]]:
    """For each opposite group mentioned in ``text``, the sides it mentions."""
    stems = [_stem(t) for t in _tokens(text)]
    found: dict[int, set[int]] = {}
    for i in range(len(stems)):
        for n in range(_MAX_PHRASE, 0, -1):
            hit = _SIDE_INDEX.get(tuple(stems[i : i + n]))
            if hit is not None:
                found.setdefault(hit[0], set()).add(hit[1])
                break
    return found


# Words skipped when looking for what a negation applies to ("did not *go*", "can't be *found*").
_NEG_SKIP = _wordset(
    """be is are was were been being am do does did have has had get got it its my your the a an
    to any anything yet even really always ever able still working work this that so very i you
    we they he she me us them much many more too also just all"""
)


def _is_negation(token: str) -> bool:
    return token in _NEGATIONS or token.endswith("n't")


def _negated_words(text: str) -> set[str]:
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
    return out


def _content(text: str) -> set[str]:
    return {_stem(t) for t in _tokens(text) if t not in _COMMON and not _is_negation(t)}


def _overlap(query: str, candidate: str) -> float:
    """Shared content stems over the smaller side's: 1.0 when one text contains the other."""
    q, c = _content(query), _content(candidate)
    return len(q & c) / min(len(q), len(c)) if q and c else 0.0


def _negation_conflict(query: str, candidate: str) -> str | None:
    """A word negated on one side that the other side states without any negation."""
    for first, second in ((query, candidate), (candidate, query)):
        second_tokens = _tokens(second)
        if any(_is_negation(t) for t in second_tokens):
            continue
        stems = {_stem(t) for t in second_tokens}
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


def _directed_pairs(text: str) -> set[tuple[str, str]]:
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
    return pairs


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


# --------------------------------------------------------------------------- entities

_COMMON = _wordset(
    """
    i i'm i've i'd i'll a an the and or but if of in on at to for from by with about as is
    are was were be been do does did can could should would will shall may might must have
    has had what which who whom whose when where why how whats hows whos there here this
    that these those it its my your our their his her me we you they he she them us please
    hi hello hey thanks yes no not any some all best good new top vs versus ok okay
    """
)
# Double quotes anywhere; single quotes only as a pair around a phrase, not apostrophes.
_QUOTED = re.compile(r"[\"“”]([^\"“”]{2,60})[\"“”]|(?:^|(?<=\s))'([^'\n]{2,60}?)'(?=[\s,.?!:;]|$)")
_WORD_SPAN = re.compile(r"[^\W_][\w.+#'\u2019-]*")


def _clean(word: str) -> str:
    """Lower-case ``word`` without trailing punctuation or a possessive ending."""
    core = word.lower().replace(_RSQUO, "'").rstrip(".,!?;:/-'")
    return core[:-2] if core.endswith("'s") else core


@lru_cache(maxsize=4096)
def _words(text: str) -> frozenset[str]:
    return frozenset(_clean(w) for w in _WORD_SPAN.findall(text))


@lru_cache(maxsize=4096)
def _entities(text: str) -> frozenset[str]:
    """Capitalised names, product names, acronyms, key:value terms and quoted strings."""
    found: set[str] = set()
    for match in _QUOTED.finditer(text):
        found.add((match.group(1) or match.group(2)).strip().lower())
    for token in _tokens(text):
        if ":" in token and not token.startswith("http"):
            found.add(token)
    words = _WORD_SPAN.findall(text)
    alpha = [w for w in words if w[0].isalpha()]
    caps = sum(1 for w in alpha if w[0].isupper())
    # Title Case Or ALL CAPS text says nothing about names: keep only strong signals.
    weak_case = bool(alpha) and (caps / len(alpha) > 0.6 and len(alpha) >= 3)
    sentence_start = True
    for word in words:
        at_start, sentence_start = sentence_start, word.endswith((".", "!", "?"))
        lower = _clean(word)
        if (
            not word[0].isalpha()
            or lower in _COMMON
            or lower in _NUMBER_WORDS
            or lower in _CALENDAR  # dates are the numbers guard's business
            or len(lower) < 2
        ):
            continue
        capital = word[0].isupper() and not at_start and not weak_case
        if capital or _is_strong_name(word):
            found.add(lower)
    return frozenset(found)


def _is_strong_name(word: str) -> bool:
    """iPhone, macOS, PyTorch, USD, GPT-4: casing no sentence start explains."""
    core = word.rstrip(".,!?;:'" + _RSQUO)
    if len(core) < 2:
        return False
    if core.isupper() and core.isalpha() and core.lower() not in _COMMON:
        return True
    return any(ch.isupper() for ch in core[1:]) and any(ch.islower() for ch in core)


def _present(entity: str, text: str, words: frozenset[str]) -> bool:
    """Whether ``entity`` occurs in ``text``, forgiving plurals, demonyms and typos."""
    if " " in entity or ":" in entity:
        return entity in text.lower()
    if entity in words or entity.rstrip("s") in words or entity + "s" in words:
        return True
    for word in words:
        short, long_ = sorted((entity, word), key=len)
        # germany/german, pakistani/pakistan, america/american
        if len(short) >= 5 and long_.startswith(short) and len(long_) - len(short) <= 2:
            return True
        # mastercard/matercard, chlmydia/chlamydia: one typo in a long name
        if len(short) >= 6 and len(long_) - len(short) <= 1 and _one_edit(short, long_):
            return True
    return False


def _one_edit(a: str, b: str) -> bool:
    """``a`` and ``b`` (len(a) <= len(b)) differ by at most one insert or substitution."""
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) <= 1
    return any(a == b[:k] + b[k + 1 :] for k in range(len(b)))


def _initials(text: str) -> set[str]:
    """Initials of runs of capitalised words: 'United States' -> 'us'."""
    out: set[str] = set()
    run: list[str] = []
    for word in [*re.findall(r"[A-Za-z]+", text), ""]:
        if word[:1].isupper():
            run.append(word[0].lower())
            continue
        for i in range(len(run)):
            for j in range(i + 2, len(run) + 1):
                out.add("".join(run[i:j]))
        run = []
    return out


def entity_guard(query: str, candidate: str) -> str | None:
    """Reject when each side names something (entity, product, quoted string) the other lacks.

    Entities found in both texts are compared case-insensitively; an entity
    on one side only (a more specific question) is left to the threshold.

    >>> entity_guard("Books similar to Harry Potter", "books like Percy Jackson")
    'entities: harry,potter vs jackson,percy'
    """
    q_words, c_words = _words(query), _words(candidate)
    q_initials, c_initials = _initials(query), _initials(candidate)
    only_q = {
        e for e in _entities(query) if not _present(e, candidate, c_words) and e not in c_initials
    }
    only_c = {
        e for e in _entities(candidate) if not _present(e, query, q_words) and e not in q_initials
    }
    if only_q and only_c:
        return f"entities: {','.join(sorted(only_q))} vs {','.join(sorted(only_c))}"
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
