"""The savings benchmark's traffic: a seeded support-agent workload from BANKING77.

BANKING77 (13,083 real customer queries, 77 labelled intents, in the shared data
folder) gives groups of real paraphrases with a label, which is what a false-hit
count needs: "does the served answer belong to this turn's intent".

* tenants with skewed volume (Zipf s=TENANT_S over tenants);
* per tenant, intents drawn with Zipf popularity (s=INTENT_S) over a per-tenant
  ranking that perturbs one global ranking (popular topics are popular everywhere,
  not in the same order);
* per (tenant, intent): the first turn is a new phrasing; a later one repeats a
  phrasing this tenant already used with probability P_EXACT (in proportion to how
  often it was asked), otherwise it is a fresh phrasing of the intent (a paraphrase);
* arrival times: sorted uniform over DURATION_S of virtual time.

An answer is derived from (tenant, intent) and carries the tag "[tenant/intent ref N]",
so a served answer is a false hit iff its tag differs from the turn's label. The ref
numbers differ between intents, so agentcache's own explore verdict (numbers guard)
judges a wrong answer wrong and a right one right (same text): it equals the label.
"""

from __future__ import annotations

import bisect
import collections
import csv
import hashlib
import itertools
import random
from dataclasses import dataclass
from pathlib import Path

DATA = Path("/work/shared/data/original")  # the shared data folder (../shared/data)
SEED = 17
TURNS = 2000
TENANTS = 20
TENANT_S = 0.6  # tenant volume skew: biggest tenant ~6x the smallest
INTENT_S = 1.1  # intent popularity skew within a tenant
RANK_NOISE = 0.5  # log-normal perturbation of the global intent ranking per tenant
P_EXACT = 0.30  # a repeat (tenant, intent) turn reuses an earlier phrasing
KB_SHARE = 0.6  # intents answered via the knowledge-base tool (others: from the prompt)
DURATION_S = 3600.0  # virtual time the turns span

# Intent pairs the BANKING77 README calls near-synonyms: a false hit between them is
# reported separately ("label-noise false hits"), not hidden.
CONFUSABLE = {
    frozenset(p)
    for p in [
        ("verify_my_identity", "unable_to_verify_identity"),
        ("card_arrival", "card_delivery_estimate"),
        ("top_up_failed", "top_up_reverted"),
    ]
}


def norm(text: str) -> str:
    return " ".join(text.casefold().split())


def h(*parts: object) -> int:
    return int.from_bytes(
        hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    )


@dataclass(frozen=True)
class Turn:
    n: int
    t: float  # virtual seconds since start
    tenant: str
    intent: str
    text: str
    kind: str  # "novel" | "exact" | "paraphrase"  (relative to this tenant's history)
    via_kb: bool  # the simulated model calls kb_search for this intent


def load_intents() -> dict[str, list[str]]:
    groups: dict[str, list[str]] = collections.defaultdict(list)
    seen: set[str] = set()
    for name in ("banking77_train.csv", "banking77_test.csv"):
        with open(DATA / name, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                text = " ".join(row["text"].split())
                if norm(text) in seen:
                    continue
                seen.add(norm(text))
                groups[row["category"]].append(text)
    return {k: sorted(v) for k, v in sorted(groups.items())}


def zipf_weights(n: int, s: float) -> list[float]:
    return [1.0 / (r + 1) ** s for r in range(n)]


def generate(
    turns: int = TURNS, seed: int = SEED, tenants: int = TENANTS, kb_share: float = KB_SHARE
) -> list[Turn]:
    rng = random.Random(seed)
    groups = load_intents()
    intents = list(groups)
    global_rank = intents[:]
    rng.shuffle(global_rank)
    kb = {i for i in intents if (h(seed, "kb", i) % 1000) / 1000 < kb_share}
    names = [f"t{k:02d}" for k in range(tenants)]
    tenant_cum = list(itertools.accumulate(zipf_weights(tenants, TENANT_S)))

    per_tenant_cum: dict[str, tuple[list[str], list[float]]] = {}
    pools: dict[tuple[str, str], list[str]] = {}
    for name in names:
        score = {i: (r + 1) * rng.lognormvariate(0, RANK_NOISE) for r, i in enumerate(global_rank)}
        ranking = sorted(intents, key=score.__getitem__)
        per_tenant_cum[name] = (
            ranking,
            list(itertools.accumulate(zipf_weights(len(ranking), INTENT_S))),
        )
    asked: dict[tuple[str, str], collections.Counter[str]] = collections.defaultdict(
        collections.Counter
    )
    times = sorted(rng.uniform(0, DURATION_S) for _ in range(turns))

    out: list[Turn] = []
    for n, t in enumerate(times):
        tenant = names[bisect.bisect(tenant_cum, rng.random() * tenant_cum[-1])]
        ranking, cum = per_tenant_cum[tenant]
        intent = ranking[bisect.bisect(cum, rng.random() * cum[-1])]
        history = asked[(tenant, intent)]
        kind = "novel" if not history else "exact" if rng.random() < P_EXACT else "paraphrase"
        if kind == "exact":
            phrasings, counts = zip(*sorted(history.items()), strict=False)
            text = rng.choices(phrasings, weights=counts)[0]
        else:
            pool = pools.get((tenant, intent))
            if pool is None:
                pool = groups[intent][:]
                rng.shuffle(pool)
                pools[(tenant, intent)] = pool
            used = {norm(p) for p in history}
            text = next((p for p in pool if norm(p) not in used), None)
            if text is None:  # pool exhausted (never with 75+ phrasings per intent)
                kind, text = "exact", rng.choice(sorted(history))
        history[text] += 1
        out.append(Turn(n, round(t, 3), tenant, intent, text, kind, intent in kb))
    return out


# -- answers and knowledge-base articles (what the simulated model / tool return) ----------


def answer(tenant: str, intent: str, scale: float = 1.0) -> str:
    """The model's final answer for (tenant, intent): deterministic, tagged, 60-220 tokens."""
    ref = 1000 + h("ref", tenant, intent) % 9000
    topic = intent.replace("_", " ")
    days, fee = 1 + h("d", tenant, intent) % 9, 1 + h("f", tenant, intent) % 25
    tokens = int((60 + h("len", intent) % 161) * scale)  # the length depends on the intent only
    head = (
        f"[{tenant}/{intent} ref {ref}] Thanks for asking about {topic}. At {tenant} this "
        f"usually takes {days} business days and costs {fee} EUR. "
    )
    filler = (
        f"Open the {tenant} app, go to Help, choose '{topic}' and follow the steps; "
        "our team will confirm by email. "
    )
    text = head
    while len(text) < tokens * 4:
        text += filler
    return text[: tokens * 4]


def article(tenant: str, intent: str) -> str:
    """kb_search's result for (tenant, intent): ~250 tokens of the tenant's own policy."""
    ref = 1000 + h("ref", tenant, intent) % 9000
    topic = intent.replace("_", " ")
    body = (
        f"KB article {ref} [{tenant}/{intent}]: {topic}. Policy: customers asking about {topic} "
        f"should be told the standard process and timelines of {tenant}. "
    )
    while len(body) < 1000:
        body += (
            f"Step: check the customer's {topic} status, explain the outcome, offer escalation. "
        )
    return body[:1000]


def stats(turns: list[Turn]) -> dict[str, object]:
    kinds = collections.Counter(t.kind for t in turns)
    by_tenant = collections.Counter(t.tenant for t in turns)
    intents = collections.Counter(t.intent for t in turns)
    pairs = {(t.tenant, t.intent) for t in turns}
    texts = {norm(t.text) for t in turns}
    top5 = sum(c for _, c in intents.most_common(5)) / len(turns)
    # exact repeats across tenants (same words, another tenant): must never be served
    first_tenant: dict[str, str] = {}
    cross = 0
    for t in turns:
        k = norm(t.text)
        if k in first_tenant and first_tenant[k] != t.tenant:
            cross += 1
        first_tenant.setdefault(k, t.tenant)
    return {
        "turns": len(turns),
        "tenants": len(by_tenant),
        "turns per tenant min/median/max": (
            min(by_tenant.values()),
            sorted(by_tenant.values())[len(by_tenant) // 2],
            max(by_tenant.values()),
        ),
        "unique intents": len(intents),
        "unique (tenant, intent) pairs": len(pairs),
        "top-5 intents share": round(top5, 3),
        "unique question texts": len(texts),
        "novel share (first time in tenant)": round(kinds["novel"] / len(turns), 3),
        "exact repeat share": round(kinds["exact"] / len(turns), 3),
        "paraphrase share": round(kinds["paraphrase"] / len(turns), 3),
        "turns via kb_search": round(sum(t.via_kb for t in turns) / len(turns), 3),
        "same words asked earlier in another tenant": cross,
        "intents in KB": len({t.intent for t in turns if t.via_kb}),
        "unique answers / articles needed": len(pairs),
        "mean question chars": round(sum(len(t.text) for t in turns) / len(turns), 1),
    }
