"""The entity guard: each side names something (a product, a place, a quoted string)
the other lacks ("books like Harry Potter" vs "books like Percy Jackson")."""

from __future__ import annotations

import re
from functools import lru_cache

from agentcache.semantic._lexicon import _CALENDAR, _COMMON, _NUMBER_WORDS, _RSQUO, _tokens

# Double quotes anywhere; single quotes only as a pair around a phrase, not apostrophes.
_QUOTED = re.compile(r"[\"“”]([^\"“”]{2,60})[\"“”]|(?:^|(?<=\s))'([^'\n]{2,60}?)'(?=[\s,.?!:;]|$)")
_WORD_SPAN = re.compile(r"[^\W_][\w.+#'\u2019-]*")


def _clean(word: str) -> str:
    """Lower-case ``word`` without trailing punctuation or a possessive ending."""
    core = word.lower().replace(_RSQUO, "'").rstrip(".,!?;:/-'")
    return core[:-2] if core.endswith("'s") else core


@lru_cache(maxsize=8192)
def _words(text: str) -> frozenset[str]:
    return frozenset(_clean(w) for w in _WORD_SPAN.findall(text))


@lru_cache(maxsize=8192)
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


@lru_cache(maxsize=8192)
def _initials(text: str) -> frozenset[str]:
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
    return frozenset(out)


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
