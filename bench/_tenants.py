"""Multi-tenant workloads of real MiniLM question vectors, and their exact filtered search.

The four shapes of issue #14 (``SHAPES``): (a) one tenant holding 100,000
entries, (b) 10 tenants x 1,000, (c) 100 tenants x 1,000, (d) 1,000 tenants
each holding the same 20 FAQ questions (identical vectors in every tenant)
and 10 of their own. Stored entries are real questions from /work/shared/data;
each query is the other side of a labelled pair (duplicate or not) whose first
side is stored in the tenant the query is asked in, so the exact-repeat path
always misses and every lookup is a semantic one. Ground truth is a
brute-force cosine search over the asking tenant's entries only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from agentcache.vectorizers import CallableVectorizer, Vector
from bench._workloads import DIMS, Matrix, _near

Corpus = tuple[list[str], Matrix, list[tuple[int, int]]]  # texts, unit vectors, pairs (a, b)


@dataclass(frozen=True)
class Shape:
    key: str
    tenants: int
    per_tenant: int  # entries of each tenant (own questions for a FAQ shape)
    faq: int = 0  # questions stored identically in every tenant

    @property
    def label(self) -> str:
        if self.faq:
            return (
                f"({self.key}) {self.tenants:,} tenants x ({self.faq} shared FAQ "
                f"+ {self.per_tenant} own)"
            )
        return f"({self.key}) {self.tenants:,} tenant{'s' if self.tenants > 1 else ''} x " + (
            f"{self.per_tenant:,}"
        )

    @property
    def entries(self) -> int:
        return self.tenants * (self.per_tenant + self.faq)


SHAPES = {
    "a": Shape("a", 1, 100_000),
    "b": Shape("b", 10, 1_000),
    "c": Shape("c", 100, 1_000),
    "d": Shape("d", 1_000, 10, faq=20),
}
# --quick: the same four shapes, scaled down to run in a few minutes.
QUICK_SHAPES = {
    "a": Shape("a", 1, 10_000),
    "b": Shape("b", 10, 1_000),
    "c": Shape("c", 20, 500),
    "d": Shape("d", 100, 10, faq=20),
}


@dataclass
class TenantWorkload:
    """Stored rows (tenant, prompt, vector) and queries (tenant, prompt, vector)."""

    shape: Shape
    fill: str  # how the stored questions were drawn, for the report
    tenants: list[str]
    prompts: list[str]
    vectors: Matrix
    q_tenants: list[str]
    q_prompts: list[str]
    queries: Matrix
    q_kinds: list[str]  # "own" or "faq"
    padded: int = 0
    exact_best: npt.NDArray[np.float32] | None = None
    exact_arg: npt.NDArray[np.int64] | None = None
    rows: dict[tuple[str, str], int] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.prompts)

    def row_of(self, tenant: str, prompt: str) -> int:
        """The stored row of ``prompt`` in ``tenant``, -1 if that tenant holds no such entry."""
        if not self.rows:
            self.rows = {
                (t, p): i for i, (t, p) in enumerate(zip(self.tenants, self.prompts, strict=True))
            }
        return self.rows.get((tenant, prompt), -1)


def tenant_name(i: int) -> str:
    return f"tenant-{i:04d}"


def _query_pairs(corpus: Corpus, count: int, rng: np.random.Generator) -> dict[int, int]:
    """Up to ``count`` disjoint pairs: stored side -> query side."""
    _, _, pairs = corpus
    chosen: dict[int, int] = {}
    taken: set[int] = set()
    for i in rng.permutation(len(pairs)):
        a, b = pairs[int(i)]
        if len(chosen) >= count:
            break
        if a in taken or b in taken:
            continue
        taken.update((a, b))
        chosen[a] = b
    return chosen


def build(shape: Shape, corpus: Corpus, queries: int, seed: int = 14) -> TenantWorkload:
    """The workload of ``shape``, with ``queries`` lookups asked in the right tenants."""
    texts, vectors, _ = corpus
    rng = np.random.default_rng(seed)
    partner = _query_pairs(corpus, queries, rng)
    asked = set(partner.values())
    firsts = [a for a in partner]
    rest = [
        int(i) for i in rng.permutation(len(texts)) if int(i) not in asked and int(i) not in partner
    ]
    order = [firsts[int(i)] for i in rng.permutation(len(firsts))] + rest  # never a query side
    per_tenant: list[list[int]] = []
    faq: list[int] = []
    if shape.faq:
        faq, order = order[: shape.faq], order[shape.faq :]
    need = shape.tenants * shape.per_tenant
    if need <= len(order):
        fill = f"{need + len(faq):,} distinct questions" + (
            f" ({len(faq)} of them in every tenant)" if faq else ""
        )
        per_tenant = [order[t :: shape.tenants][: shape.per_tenant] for t in range(shape.tenants)]
    elif shape.tenants > 1:
        # Fewer distinct questions than entries: each tenant draws its own sample,
        # so a question recurs across tenants (as the same FAQ does in real SaaS).
        per_tenant = [
            [order[int(i)] for i in rng.choice(len(order), shape.per_tenant, replace=False)]
            for _ in range(shape.tenants)
        ]
        fill = (
            f"each tenant samples {shape.per_tenant:,} of {len(order):,} distinct questions "
            f"(a question is in ~{need / len(order):.1f} tenants)"
        )
    else:
        per_tenant = [order]
        fill = ""
    stored_tenants: list[str] = []
    ids: list[int] = []
    for t, own in enumerate(per_tenant):
        name = tenant_name(t)
        for i in [*faq, *own]:
            stored_tenants.append(name)
            ids.append(i)
    stored = vectors[ids]
    prompts = [texts[i] for i in ids]
    padded = shape.entries - len(ids)
    if padded > 0:  # one tenant past the corpus: perturbed copies of real vectors
        sources = rng.integers(0, len(ids), padded)
        extra = _near(rng, stored[sources], rng.uniform(0.6, 0.85, padded))
        stored = np.concatenate([stored, extra])
        prompts.extend(f"{prompts[s]} (variant {j})" for j, s in enumerate(sources))
        stored_tenants.extend([tenant_name(0)] * padded)
        fill = (
            f"all {len(ids):,} distinct questions, then {padded:,} perturbed copies "
            "(cosine 0.6-0.85 to a real vector)"
        )
    q_tenants, q_ids, kinds = _queries(shape, per_tenant, faq, partner, queries, rng)
    return TenantWorkload(
        shape=shape,
        fill=fill,
        tenants=stored_tenants,
        prompts=prompts,
        vectors=stored,
        q_tenants=q_tenants,
        q_prompts=[texts[i] for i in q_ids],
        queries=vectors[q_ids],
        q_kinds=kinds,
        padded=max(0, padded),
    )


def _queries(
    shape: Shape,
    per_tenant: list[list[int]],
    faq: list[int],
    partner: dict[int, int],
    count: int,
    rng: np.random.Generator,
) -> tuple[list[str], list[int], list[str]]:
    """(tenant, query id) of the other side of a pair stored in that tenant; half FAQ for (d)."""
    own = [(t, partner[i]) for t, ids in enumerate(per_tenant) for i in ids if i in partner]
    faq_pairs = [i for i in faq if i in partner]
    n_faq = count // 2 if faq_pairs else 0
    picks = [own[int(i)] for i in rng.choice(len(own), min(len(own), count - n_faq), replace=False)]
    kinds = ["own"] * len(picks)
    for _ in range(n_faq):
        asked_faq = faq_pairs[int(rng.integers(len(faq_pairs)))]
        picks.append((int(rng.integers(shape.tenants)), partner[asked_faq]))
        kinds.append("faq")
    return [tenant_name(t) for t, _ in picks], [q for _, q in picks], kinds


def exact_search(work: TenantWorkload, chunk: int = 20_000) -> None:
    """Best cosine similarity (and its row) of every query over its own tenant's entries."""
    by_tenant: dict[str, list[int]] = defaultdict(list)
    for row, tenant in enumerate(work.tenants):
        by_tenant[tenant].append(row)
    asked: dict[str, list[int]] = defaultdict(list)
    for q, tenant in enumerate(work.q_tenants):
        asked[tenant].append(q)
    best = np.full(len(work.queries), -2.0, dtype=np.float32)
    arg = np.full(len(work.queries), -1, dtype=np.int64)
    for tenant, qs in asked.items():
        rows = np.asarray(by_tenant[tenant], dtype=np.int64)
        q_vecs = work.queries[qs]
        for start in range(0, len(rows), chunk):
            part = rows[start : start + chunk]
            sims = q_vecs @ work.vectors[part].T
            local = sims.argmax(axis=1)
            value = sims[np.arange(len(qs)), local]
            for j, q in enumerate(qs):
                if value[j] > best[q]:
                    best[q] = value[j]
                    arg[q] = part[local[j]]
    work.exact_best = best
    work.exact_arg = arg


def agreement(
    work: TenantWorkload, served: dict[int, int], threshold: float, asked: list[int]
) -> dict[str, float]:
    """Of the asked queries whose exact nearest in their tenant is at least ``threshold``,
    the fraction served exactly that entry (or one as similar: a tie). ``served`` maps a
    query to the stored row it was served (-1: an entry outside the tenant's rows)."""
    assert work.exact_best is not None and work.exact_arg is not None
    hits = [i for i in asked if work.exact_best[i] >= threshold]
    right = wrong = 0
    for i in hits:
        row = served.get(i)
        if row is None:
            continue
        if row == work.exact_arg[i] or (
            row >= 0
            and work.tenants[row] == work.q_tenants[i]
            and float(work.vectors[row] @ work.queries[i]) >= float(work.exact_best[i]) - 1e-6
        ):
            right += 1
        else:
            wrong += 1
    extra = sum(1 for i in asked if i in served and work.exact_best[i] < threshold)
    return {
        "queries": float(len(asked)),
        "exact_hits": float(len(hits)),
        "agreement": right / len(hits) if hits else 1.0,
        "wrong_entry": float(wrong),
        "missed": float(len(hits) - right - wrong),
        "served_not_exact": float(extra),
    }


class TableVectorizer(CallableVectorizer):
    """A dict look-up, awaited in place (no worker thread: there is nothing to offload)."""

    async def aembed_many(self, texts: Sequence[str]) -> list[Vector]:
        return self.embed_many(texts)


def table_vectorizer(work: TenantWorkload) -> TableVectorizer:
    """Embedding excluded: every prompt's precomputed vector, looked up by its text."""
    table: dict[str, Vector] = dict(zip(work.prompts, work.vectors, strict=True))
    table.update(zip(work.q_prompts, work.queries, strict=True))

    def look_up(text: str) -> Any:
        return table[text]

    return TableVectorizer(look_up, dims=DIMS, model="bench-table")
