"""Benchmark workloads: stored vectors, query vectors, and exact-search ground truth.

Two kinds: random unit vectors (queries are noisy copies of stored vectors,
or unrelated), and real all-MiniLM-L6-v2 embeddings of the questions in
/work/shared/data (queries are the other side of each question pair). The
real corpus has ~50k questions; past that it is padded with perturbed
copies of real vectors, so the density stays like real data.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

Matrix = npt.NDArray[np.float32]

DATA_DIR = Path("/work/shared/data")
RESULTS_DIR = Path(__file__).resolve().parent / "results"
DATA_FILES = (
    "qqp_gptcache_20k.jsonl",
    "mqp.jsonl",
    "banking77_pairs.jsonl",
    "redis_langcache_chatgpt_pairs.jsonl",
)
DIMS = 384
# ~200 bytes: a short LLM answer, the same payload in every system compared.
RESPONSE = ("This is a cached answer of a typical short length. " * 4)[:200]


@dataclass
class Workload:
    """N stored entries and Q queries, with the exact best similarity per query."""

    name: str
    prompts: list[str]
    vectors: Matrix  # (N, DIMS), unit rows
    query_prompts: list[str]
    queries: Matrix  # (Q, DIMS), unit rows
    padded: int = 0  # stored entries that are synthetic (real workload past the corpus)
    exact_best: npt.NDArray[np.float32] | None = None  # filled by exact_search
    exact_arg: npt.NDArray[np.int64] | None = None

    @property
    def n(self) -> int:
        return len(self.prompts)


def _unit(rows: Matrix) -> Matrix:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    unit: Matrix = (rows / np.maximum(norms, 1e-12)).astype(np.float32)
    return unit


def _near(rng: np.random.Generator, sources: Matrix, cos: npt.NDArray[np.float64]) -> Matrix:
    """Unit vectors at roughly cosine ``cos`` from each source row (noise orthogonal-ish)."""
    noise = rng.standard_normal(sources.shape).astype(np.float32) / np.sqrt(sources.shape[1])
    scale = np.sqrt(1.0 / np.square(cos) - 1.0).astype(np.float32)[:, None]
    return _unit(sources + scale * noise)


def random_workload(n: int, queries: int, seed: int = 7) -> Workload:
    """Random unit vectors; half the queries near a stored vector (cos 0.85-0.99), half not."""
    rng = np.random.default_rng(seed)
    stored = _unit(rng.standard_normal((n, DIMS)).astype(np.float32))
    near = queries // 2
    picks = rng.integers(0, n, near)
    q_near = _near(rng, stored[picks], rng.uniform(0.85, 0.99, near))
    q_far = _unit(rng.standard_normal((queries - near, DIMS)).astype(np.float32))
    return Workload(
        name="random",
        prompts=[f"random prompt {i}" for i in range(n)],
        vectors=stored,
        query_prompts=[f"random query {i}" for i in range(queries)],
        queries=np.concatenate([q_near, q_far]),
    )


def load_pairs() -> list[tuple[str, str]]:
    """(q1, q2) of every labelled pair in the shared data, both labels."""
    pairs = []
    for name in DATA_FILES:
        path = DATA_DIR / name
        if not path.exists():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                pairs.append((str(row["q1"]), str(row["q2"])))
    return pairs


def embed_corpus(texts: list[str]) -> Matrix:
    """MiniLM embeddings of ``texts``, computed once and cached in bench/results/*.npy."""
    key = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    path = RESULTS_DIR / f"speed-minilm-{key}.npy"
    if path.exists():
        loaded: Matrix = np.load(path)
        return loaded
    import torch

    from agentcache.vectorizers import LocalVectorizer

    torch.set_num_threads(1)  # the machine is shared; the vectors are computed once
    print(f"embedding {len(texts)} questions with MiniLM once (cached in {path.name}) ...")
    vectors = LocalVectorizer(batch_size=128).embed_many(texts)
    array = _unit(np.stack(vectors).astype(np.float32))
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    np.save(path, array)
    return array


def real_corpus() -> tuple[list[str], Matrix, list[tuple[int, int]]]:
    """Unique questions, their embeddings, and the pairs as index pairs."""
    pairs = load_pairs()
    index: dict[str, int] = {}
    for q1, q2 in pairs:
        index.setdefault(q1, len(index))
        index.setdefault(q2, len(index))
    texts = list(index)
    return texts, embed_corpus(texts), [(index[a], index[b]) for a, b in pairs if a != b]


def real_workload(n: int, queries: int, seed: int = 11) -> Workload:
    """Stored: real questions (first sides of pairs, then the rest); queries: the other sides."""
    texts, vectors, pairs = real_corpus()
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(pairs))
    query_ids: list[int] = []
    stored_ids: list[int] = []
    taken: set[int] = set()
    for i in order:
        a, b = pairs[i]
        if len(query_ids) >= queries or len(stored_ids) >= n:
            break
        if a in taken or b in taken:
            continue
        taken.update((a, b))
        stored_ids.append(a)
        query_ids.append(b)
    rest = [i for i in rng.permutation(len(texts)) if int(i) not in taken]
    stored_ids.extend(int(i) for i in rest[: max(0, n - len(stored_ids))])
    stored = vectors[stored_ids]
    prompts = [texts[i] for i in stored_ids]
    padded = n - len(stored_ids)
    if padded > 0:
        sources = rng.integers(0, len(stored_ids), padded)
        extra = _near(rng, stored[sources], rng.uniform(0.6, 0.85, padded))
        stored = np.concatenate([stored, extra])
        prompts.extend(f"{prompts[s]} (variant {j})" for j, s in enumerate(sources))
    return Workload(
        name="real",
        prompts=prompts,
        vectors=stored,
        query_prompts=[texts[i] for i in query_ids],
        queries=vectors[query_ids],
        padded=max(0, padded),
    )


def exact_search(work: Workload, chunk: int = 20_000) -> None:
    """Best cosine similarity (and its row) of every query over all stored vectors."""
    best = np.full(len(work.queries), -2.0, dtype=np.float32)
    arg = np.zeros(len(work.queries), dtype=np.int64)
    for start in range(0, work.n, chunk):
        sims = work.queries @ work.vectors[start : start + chunk].T
        local = sims.argmax(axis=1)
        value = sims[np.arange(len(sims)), local]
        better = value > best
        best[better] = value[better]
        arg[better] = local[better] + start
    work.exact_best = best
    work.exact_arg = arg
