"""Hit-quality benchmark: precision, recall and false-hit rate of the cache decision.

For every labeled pair file in the data folder (JSONL ``{"q1","q2","duplicate"}``)
this stores prompts in a real ``SemanticCache`` (embedded Redis Stack, MiniLM
embeddings) and looks the other side up, in two settings:

- ``pairwise``: each pair in its own scope (one agent per pair): q1 alone is
  cached, q2 is looked up. This measures the decision on that one pair.
- ``cache``: all q1s of the file are cached together and every distinct q2 is
  looked up against all of them, the way a cache is used. A hit is correct
  when the served prompt is a labeled duplicate of the query (banking77: has
  the query's intent); a query "should hit" when the cache holds such a prompt.

The cache returns its top-k HNSW candidates to a recording policy; each
policy's ``decide`` is then replayed on exactly those candidates, at the
default threshold and across a sweep, which is what ``check()`` does per
lookup. ``verified`` is replayed as a stream with simulated feedback on
served hits and 10% exploration of near misses (the model is "called" and
the label tells whether the cached answer would have been right).

Run: ``python -m bench.quality`` (all data, qqp sampled to 5,000 pairs) or
``python -m bench.quality --limit 400`` (a quick run). Writes docs/quality.md
and docs/quality_pr.png; embeddings are cached in bench/results/*.npy.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from agentcache.semantic._guards import check_all
from agentcache.semantic._policy import (
    Candidate,
    Decision,
    DecisionPolicy,
    GuardedPolicy,
    ThresholdPolicy,
    VerifiedPolicy,
)

DATA_DIR = Path("/work/shared/data")
ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"
SWEEP = [round(0.60 + 0.01 * i, 2) for i in range(40)]  # 0.60 .. 0.99
QQP_SAMPLE = 5000
EXPLORE_RATE = 0.10
LOOSE_BAND = 0.10  # exploration looks at candidates this far below the threshold


# --------------------------------------------------------------------------- data


def load_pairs(path: Path, limit: int | None = None) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if path.name.startswith("qqp") and len(rows) > QQP_SAMPLE:
        rows = random.Random(0).sample(rows, QQP_SAMPLE)
    return rows[:limit] if limit else rows


def embed_texts(texts: list[str], model: str = "minilm") -> npt.NDArray[np.float32]:
    """Embeddings of ``texts`` (rows L2-normalised), cached in bench/results/*.npy."""
    key = hashlib.sha256(("\n".join(texts) + model).encode()).hexdigest()[:16]
    path = RESULTS_DIR / f"emb-{model}-{key}.npy"
    if path.exists():
        return np.load(path)  # type: ignore[no-any-return]
    from agentcache.vectorizers import LocalVectorizer

    vectors = LocalVectorizer(batch_size=128).embed_many(texts)
    array = np.stack(vectors).astype(np.float32)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    np.save(path, array)
    return array


def dataset_vectors(path: Path) -> dict[str, npt.NDArray[np.float32]]:
    """Vectors of every text in the whole file (embedded once, then read from disk)."""
    rows = load_pairs(path)
    texts = sorted({r["q1"] for r in rows} | {r["q2"] for r in rows})
    array = embed_texts(texts)
    return {t: array[i] for i, t in enumerate(texts)}


# --------------------------------------------------------------------------- lookups


@dataclass
class Lookup:
    """One query, the cache's top-k candidates for it, and which prompts are right."""

    query: str
    candidates: list[Candidate]
    correct: set[str]  # cached prompts whose answer is right for the query
    hard_negative: bool = False  # a labeled non-duplicate that a guard would flag


@dataclass
class Recorder:
    """A DecisionPolicy that records the candidates and never serves."""

    name: str = "recorder"
    fields: tuple[str, ...] = ()
    seen: list[list[Candidate]] = field(default_factory=list)

    def decide(self, query: str, candidates: Sequence[Candidate], threshold: float) -> Decision:
        self.seen.append(list(candidates))
        return Decision(None, "recorded")

    def feedback_update(self, fields: Any, similarity: float, correct: bool) -> dict[str, str]:
        return {}


def _settings(url: str, run: str) -> Any:
    from agentcache.settings import AgentCacheSettings

    return AgentCacheSettings(
        redis={"url": url, "key_prefix": f"q{run}", "socket_timeout": 10.0},
        embeddings={"dims": 384, "model": "minilm"},
        semantic={
            "ttl_seconds": None,
            "max_entries_per_tenant": None,
            "exact_match": False,  # every lookup goes through the policy
            "top_k": 5,
        },
        metrics={"enabled": False},
    )


def collect(
    url: str, name: str, rows: list[dict[str, Any]], vectors: dict[str, Any], mode: str
) -> list[Lookup]:
    """Store and look up through a real SemanticCache; return what each lookup saw."""
    from agentcache.semantic import SemanticCache

    recorder = Recorder()
    run = hashlib.sha1(f"{name}{mode}{time.time()}".encode()).hexdigest()[:8]
    cache = SemanticCache(_settings(url, run), policy=recorder)
    intents = name.startswith("banking")
    try:
        if mode == "pairwise":
            lookups = []
            for i, r in enumerate(rows):
                agent = f"p{i}"
                cache.store(r["q1"], "answer", tenant=name, agent=agent, vector=vectors[r["q1"]])
                cache.check(r["q2"], tenant=name, agent=agent, vector=vectors[r["q2"]])
                flagged = not r["duplicate"] and check_all(r["q2"], r["q1"]) is not None
                lookups.append(
                    Lookup(
                        r["q2"],
                        recorder.seen[-1],
                        {r["q1"]} if r["duplicate"] else set(),
                        hard_negative=flagged,
                    )
                )
            return lookups
        stored = sorted({r["q1"] for r in rows})
        cache.store_many(
            [(p, "answer") for p in stored], tenant=name, agent="all",
            vectors=[vectors[p] for p in stored],
        )  # fmt: skip
        truth: dict[str, set[str]] = {}
        for r in rows:
            truth.setdefault(r["q2"], set())
            if r["duplicate"]:
                truth[r["q2"]].add(r["q1"])
        if intents:
            by_intent: dict[str, set[str]] = {}
            for r in rows:
                by_intent.setdefault(r["q1_intent"], set()).add(r["q1"])
            for r in rows:
                truth[r["q2"]] |= by_intent.get(r["q2_intent"], set())
        stored_set = set(stored)
        lookups = []
        for query, correct in truth.items():
            cache.check(query, tenant=name, agent="all", vector=vectors[query])
            if query in stored_set:
                correct = correct | {query}
            lookups.append(Lookup(query, recorder.seen[-1], correct))
        return lookups
    finally:
        cache.clear()
        cache.close()


# --------------------------------------------------------------------------- replay


@dataclass(frozen=True)
class Scores:
    threshold: float
    precision: float
    recall: float
    f1: float
    false_hit_rate: float
    hits: int
    wrong_hits: int
    hard_negative_hits: int


def score(lookups: list[Lookup], served: list[Candidate | None], threshold: float) -> Scores:
    should_hit = sum(1 for lk in lookups if lk.correct)
    should_miss = len(lookups) - should_hit
    hits = right = wrong_on_miss = hard = 0
    for lk, cand in zip(lookups, served, strict=True):
        if cand is None:
            continue
        hits += 1
        if cand.prompt in lk.correct:
            right += 1
        elif not lk.correct:
            wrong_on_miss += 1
            hard += lk.hard_negative
    precision = right / hits if hits else 1.0
    recall = right / should_hit if should_hit else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Scores(
        threshold, precision, recall, f1,
        wrong_on_miss / should_miss if should_miss else 0.0, hits, hits - right, hard,
    )  # fmt: skip


def replay(policy: DecisionPolicy, lookups: list[Lookup], threshold: float) -> Scores:
    served = [policy.decide(lk.query, lk.candidates, threshold).candidate for lk in lookups]
    return score(lookups, served, threshold)


def replay_verified(
    policy: VerifiedPolicy, lookups: list[Lookup], threshold: float, seed: int = 0
) -> Scores:
    """The verified policy as a stream: its entries learn from feedback as traffic flows."""
    rng = random.Random(seed)
    order = list(range(len(lookups)))
    rng.shuffle(order)
    state: dict[str, dict[str, str]] = {}  # entry id -> vc_* fields (the HSET)
    served: list[Candidate | None] = [None] * len(lookups)
    for i in order:
        lk = lookups[i]
        cands = [
            Candidate(c.entry_id, c.prompt, c.similarity, state.get(c.entry_id, {}))
            for c in lk.candidates
        ]
        cand = policy.decide(lk.query, cands, threshold).candidate
        served[i] = cand
        if cand is None:
            near = [c for c in cands if c.similarity >= threshold - LOOSE_BAND]
            if not near or rng.random() >= EXPLORE_RATE:
                continue
            cand = max(near, key=lambda c: c.similarity)  # explore: call the model, compare
        ok = cand.prompt in lk.correct
        fields = state.setdefault(cand.entry_id, {})
        fields.update(policy.feedback_update(fields, cand.similarity, ok))
    return score(lookups, served, threshold)


_VERDICTS: dict[tuple[str, str], str | None] = {}


def _memo_guards(query: str, prompt: str) -> str | None:
    """check_all, memoised: the sweep asks about the same pairs at every threshold."""
    key = (query, prompt)
    if key not in _VERDICTS:
        _VERDICTS[key] = check_all(query, prompt)
    return _VERDICTS[key]


POLICIES: dict[str, Callable[[], DecisionPolicy]] = {
    "threshold": ThresholdPolicy,
    "guarded": lambda: GuardedPolicy(guards=[("all", _memo_guards)]),
}


def evaluate(lookups: list[Lookup], default: float, delta: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, make in POLICIES.items():
        policy = make()
        out[name] = {
            "default": replay(policy, lookups, default),
            "sweep": [replay(policy, lookups, t) for t in SWEEP],
        }
    verified = VerifiedPolicy(delta)
    out["verified"] = {
        "default": replay_verified(verified, lookups, default),
        "sweep": [replay_verified(verified, lookups, t) for t in SWEEP[::4]],
    }
    return out


def recall_at_fhr(sweep: list[Scores], max_fhr: float) -> tuple[float, float]:
    """Best recall among sweep points whose false-hit rate is at most ``max_fhr``."""
    ok = [s for s in sweep if s.false_hit_rate <= max_fhr]
    best = max(ok, key=lambda s: s.recall, default=None)
    return (best.recall, best.threshold) if best else (0.0, 1.0)


# --------------------------------------------------------------------------- report

TABLE_THRESHOLDS = (0.70, 0.75, 0.80, 0.85, 0.88, 0.90, 0.92, 0.95)


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def write_report(
    results: dict[str, Any],
    threshold: float,
    delta: float,
    command: str,
    limit: int | None,
    plot_name: str = "quality_pr.png",
) -> str:
    lines = [
        "## Measurements",
        "",
        f"Generated by `{command}` (embedding model all-MiniLM-L6-v2, top_k=5, real",
        "SemanticCache on the embedded Redis Stack). "
        + (f"**Quick run: {limit} pairs per dataset.** " if limit else "")
        + f"qqp is a seeded sample of {QQP_SAMPLE:,} of its 20,000 pairs.",
        "",
        "- *false-hit rate* = wrong hits on lookups that should miss / lookups that should miss",
        "- *precision* counts every wrong hit, including a wrong entry served to a lookup that",
        "  had a right one in the cache; *recall* = right hits / lookups that should hit.",
        "- *hard-neg FH*: false hits on labeled non-duplicates that differ by a number,",
        "  polarity, direction or entity (flagged by the guards; pairwise mode only, so the",
        "  guarded policy scores 0 there by construction).",
        "",
        f"### At the default settings (threshold {threshold}, verified delta {delta})",
        "",
        "| dataset / mode | lookups | policy | precision | recall | F1 | false-hit rate"
        " | hits | hard-neg FH |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for key, res in results.items():
        for pol, data in res["policies"].items():
            d: Scores = data["default"]
            hn = f"{d.hard_negative_hits}/{res['hard_negatives']}" if "pairwise" in key else "-"
            lines.append(
                f"| {key} | {res['lookups']} | {pol} | {_pct(d.precision)} | {_pct(d.recall)} | "
                f"{_pct(d.f1)} | {_pct(d.false_hit_rate)} | {d.hits} | {hn} |"
            )
    lines += [
        "",
        "### Recall at an equal false-hit rate (best point of the sweep)",
        "",
        "| dataset / mode | FHR <= | threshold: recall (at t) | guarded: recall (at t) |",
        "| --- | ---: | ---: | ---: |",
    ]
    for key, res in results.items():
        for cap in (0.01, 0.02, 0.05):
            r1, t1 = recall_at_fhr(res["policies"]["threshold"]["sweep"], cap)
            r2, t2 = recall_at_fhr(res["policies"]["guarded"]["sweep"], cap)
            mark = " **+**" if r2 > r1 else ""
            lines.append(
                f"| {key} | {_pct(cap)} | {_pct(r1)} ({t1:.2f}) | {_pct(r2)} ({t2:.2f}){mark} |"
            )
    lines += ["", "### Threshold sweep (false-hit rate / recall)", ""]
    header = "| dataset / mode | policy | " + " | ".join(f"{t:.2f}" for t in TABLE_THRESHOLDS)
    lines += [header + " |", "| --- | --- |" + " ---: |" * len(TABLE_THRESHOLDS)]
    for key, res in results.items():
        for pol in ("threshold", "guarded"):
            by_t = {s.threshold: s for s in res["policies"][pol]["sweep"]}
            cells = [
                f"{_pct(by_t[t].false_hit_rate)} / {_pct(by_t[t].recall)}" if t in by_t else "-"
                for t in TABLE_THRESHOLDS
            ]
            lines.append(f"| {key} | {pol} | " + " | ".join(cells) + " |")
    lines += ["", "### Worst-case false-hit rate and mean F1 across datasets", ""]
    lines += [
        "| threshold | threshold: max FHR | threshold: mean F1 | guarded: max FHR"
        " | guarded: mean F1 |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    for t in SWEEP:
        if t < 0.75:
            continue
        row = [f"{t:.2f}"]
        for pol in ("threshold", "guarded"):
            pts = [
                s for res in results.values() for s in res["policies"][pol]["sweep"]
                if s.threshold == t
            ]  # fmt: skip
            row += [
                _pct(max(s.false_hit_rate for s in pts)),
                _pct(sum(s.f1 for s in pts) / len(pts)),
            ]
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", f"![precision-recall]({plot_name})", ""]
    lines += _defaults_section(results, threshold)
    return "\n".join(lines)


START, END = "<!-- bench.quality: generated from here -->", "<!-- bench.quality: end -->"


def merge_report(path: Path, generated: str) -> str:
    """The report file with its generated part replaced; hand-written text around it stays."""
    block = f"{START}\n{generated}\n{END}"
    old = path.read_text() if path.exists() else ""
    if START in old and END in old:
        return old[: old.index(START)] + block + old[old.index(END) + len(END) :]
    return block + "\n"


def _lowest_safe(results: dict[str, Any], policy: str, cap: float) -> tuple[float, float] | None:
    """The lowest swept threshold whose false-hit rate is <= cap on every dataset and mode."""
    for t in SWEEP:
        pts = [
            s for res in results.values() for s in res["policies"][policy]["sweep"]
            if s.threshold == t
        ]  # fmt: skip
        if pts and max(s.false_hit_rate for s in pts) <= cap:
            return t, sum(s.f1 for s in pts) / len(pts)
    return None


def _defaults_section(results: dict[str, Any], threshold: float) -> list[str]:
    lines = ["### The lowest thresholds that meet the 2% target", ""]
    for policy in ("threshold", "guarded"):
        safe = _lowest_safe(results, policy, 0.02)
        if safe:
            lines.append(
                f"- `{policy}`: the lowest threshold with a false-hit rate <= 2% on every "
                f"dataset and mode is **{safe[0]:.2f}** (mean F1 there {_pct(safe[1])})."
            )
        else:
            lines.append(f"- `{policy}`: no swept threshold keeps every dataset <= 2%.")
    over = [
        f"{key} {_pct(res['policies']['guarded']['default'].false_hit_rate)}"
        for key, res in results.items()
        if res["policies"]["guarded"]["default"].false_hit_rate > 0.02
    ]
    lines.append(
        f"- At the threshold used for the first table ({threshold}), the guarded policy's "
        "false-hit rate is "
        + ("above 2% on: " + ", ".join(over) + "." if over else "at most 2% on every dataset.")
    )
    return lines


def write_plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted({key.split("/")[0] for key in results})
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 4.0), squeeze=False)
    styles = {"threshold": ("tab:gray", "threshold"), "guarded": ("tab:blue", "guarded")}
    for ax, name in zip(axes[0], names, strict=True):
        for key, res in results.items():
            if not key.startswith(name + "/"):
                continue
            dash = "-" if key.endswith("pairwise") else "--"
            for pol, (color, label) in styles.items():
                sweep = res["policies"][pol]["sweep"]
                ax.plot(
                    [s.recall for s in sweep], [s.precision for s in sweep], dash, color=color,
                    label=f"{label} ({key.split('/')[1]})",
                )  # fmt: skip
            ver = res["policies"]["verified"]["sweep"]
            ax.plot([s.recall for s in ver], [s.precision for s in ver], "o", ms=3,
                    color="tab:orange", label=f"verified ({key.split('/')[1]})")  # fmt: skip
        ax.set_title(name)
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
        ax.set_xlim(0, 1)
        ax.set_ylim(0.4, 1.01)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7, loc="lower left")
    fig.suptitle("Semantic cache decision: precision vs recall over thresholds 0.60-0.99")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------- main


def run(limit: int | None, default: float, delta: float, modes: Sequence[str]) -> dict[str, Any]:
    from agentcache._redis.server import EmbeddedRedis

    results: dict[str, Any] = {}
    with EmbeddedRedis() as server:
        for path in sorted(DATA_DIR.glob("*.jsonl")):
            name = path.stem.replace("_pairs", "")
            t0 = time.perf_counter()
            vectors = dataset_vectors(path)
            rows = load_pairs(path, limit)
            for mode in modes:
                lookups = collect(server.url, name, rows, vectors, mode)
                results[f"{name}/{mode}"] = {
                    "pairs": len(rows),
                    "lookups": len(lookups),
                    "should_hit": sum(1 for lk in lookups if lk.correct),
                    "hard_negatives": sum(lk.hard_negative for lk in lookups),
                    "policies": evaluate(lookups, default, delta),
                }
            print(f"{name}: {len(rows)} pairs in {time.perf_counter() - t0:.1f}s", flush=True)
    return results


def _dump_results(results: dict[str, Any]) -> dict[str, Any]:
    def conv(value: Any) -> Any:
        if isinstance(value, Scores):
            return {"__scores__": asdict(value)}
        if isinstance(value, dict):
            return {k: conv(v) for k, v in value.items()}
        if isinstance(value, list):
            return [conv(v) for v in value]
        return value

    return conv(results)  # type: ignore[no-any-return]


def _load_results(path: Path) -> dict[str, Any]:
    def conv(value: Any) -> Any:
        if isinstance(value, dict):
            if "__scores__" in value:
                return Scores(**value["__scores__"])
            return {k: conv(v) for k, v in value.items()}
        if isinstance(value, list):
            return [conv(v) for v in value]
        return value

    return conv(json.loads(path.read_text()))  # type: ignore[no-any-return]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.quality", description=__doc__)
    parser.add_argument("--limit", type=int, default=None, help="pairs per dataset (quick run)")
    parser.add_argument("--threshold", type=float, default=None, help="default threshold")
    parser.add_argument("--delta", type=float, default=None, help="verified policy delta")
    parser.add_argument("--modes", default="pairwise,cache")
    parser.add_argument(
        "--out",
        type=Path,
        help="report (default docs/quality.md; quick runs: "
        "bench/results/quality_quick.md, so they never replace the full report)",
    )
    parser.add_argument("--plot", type=Path, help="PR plot PNG (default beside the report)")
    parser.add_argument(
        "--report-only", action="store_true", help="rewrite the report from the last run's JSON"
    )
    args = parser.parse_args(argv)
    from agentcache.settings import SemanticSettings

    defaults = SemanticSettings()
    threshold = args.threshold if args.threshold is not None else defaults.threshold
    delta = args.delta if args.delta is not None else defaults.verified_delta
    if args.out is None:
        quick = args.limit is not None
        args.out = RESULTS_DIR / "quality_quick.md" if quick else ROOT / "docs" / "quality.md"
    if args.plot is None:
        args.plot = args.out.with_name(args.out.stem + "_pr.png")
    started = time.perf_counter()
    saved = RESULTS_DIR / ("quality_quick.json" if args.limit else "quality.json")
    if args.report_only:
        results = _load_results(saved)
    else:
        results = run(args.limit, threshold, delta, args.modes.split(","))
        saved.write_text(json.dumps(_dump_results(results)))
    command = "python -m bench.quality" + "".join(
        f" --{flag} {value}"
        for flag, value in (("limit", args.limit), ("threshold", args.threshold))
        if value is not None
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = write_report(results, threshold, delta, command, args.limit, args.plot.name)
    args.out.write_text(merge_report(args.out, report))
    write_plot(results, args.plot)
    print(f"wrote {args.out} and {args.plot} in {time.perf_counter() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
