"""``agentcache tune DATASET``: the threshold to use, from labeled question pairs.

DATASET is JSONL with ``{"q1", "q2", "duplicate"}`` per line: q1 stands for a
cached prompt, q2 for a lookup, ``duplicate`` for whether q1's answer is right
for q2. Both sides are embedded with the configured model
(``AGENTCACHE_EMBEDDINGS__*``); the cosine similarity of each pair, with the
guarded policy's vetoes applied when ``--policy guarded``, is tuned by
agentcache.semantic.tuning.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from agentcache.semantic import tuning
from agentcache.semantic._guards import check_all
from agentcache.settings import AgentCacheSettings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "tune",
        help="print the threshold that maximises F-beta (or meets a target) on labeled pairs",
    )
    parser.add_argument("dataset", type=Path, help='JSONL with {"q1","q2","duplicate"} lines')
    parser.add_argument(
        "--beta", type=float, default=0.5, help="F-beta weight; < 1 favours precision (0.5)"
    )
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--target-precision", type=float, help="meet this precision instead")
    target.add_argument("--max-false-hit-rate", type=float, help="meet this false-hit rate")
    parser.add_argument(
        "--policy",
        choices=("threshold", "guarded"),
        default=None,
        help="tune for this policy (default: AGENTCACHE_SEMANTIC__POLICY)",
    )
    parser.add_argument("--limit", type=int, default=None, help="use the first N pairs")
    parser.set_defaults(func=run)


def load(path: Path, limit: int | None) -> list[tuple[str, str, bool]]:
    pairs = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                pairs.append((str(row["q1"]), str(row["q2"]), bool(row["duplicate"])))
            except (ValueError, KeyError, TypeError) as exc:
                raise SystemExit(f"{path}:{number}: not a q1/q2/duplicate object ({exc})") from None
            if limit and len(pairs) >= limit:
                break
    return pairs


def scores_for(
    pairs: list[tuple[str, str, bool]], settings: AgentCacheSettings, guarded: bool
) -> np.ndarray:
    from agentcache.vectorizers import vectorizer_from_settings

    vectorizer = vectorizer_from_settings(settings)
    texts = sorted({t for q1, q2, _ in pairs for t in (q1, q2)})
    vectors = np.stack(vectorizer.embed_many(texts)).astype(np.float64)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    row = {t: i for i, t in enumerate(texts)}
    scores = np.array([float(vectors[row[q1]] @ vectors[row[q2]]) for q1, q2, _ in pairs])
    if guarded:
        vetoed = np.array([check_all(q2, q1) is not None for q1, q2, _ in pairs])
        scores[vetoed] = -np.inf  # a vetoed pair never hits, whatever the threshold
    return scores


def run(args: argparse.Namespace) -> int:
    settings = AgentCacheSettings()
    policy = args.policy or settings.semantic.policy
    pairs = load(args.dataset, args.limit)
    labels = np.array([dup for _, _, dup in pairs])
    if not labels.any() or labels.all():
        print("tune needs both duplicate and non-duplicate pairs", file=sys.stderr)
        return 2
    scores = scores_for(pairs, settings, guarded=policy == "guarded")
    if args.target_precision is not None:
        result = tuning.threshold_for_precision(scores, labels, args.target_precision, args.beta)
        goal = f"precision >= {args.target_precision}"
    elif args.max_false_hit_rate is not None:
        result = tuning.threshold_for_false_hit_rate(
            scores, labels, args.max_false_hit_rate, args.beta
        )
        goal = f"false-hit rate <= {args.max_false_hit_rate}"
    else:
        result = tuning.best_threshold(scores, labels, args.beta)
        goal = f"max F{args.beta:g}"
    print(f"{len(pairs)} pairs ({int(labels.sum())} duplicates), model "
          f"{settings.embeddings.model}, policy {policy}, goal: {goal}")  # fmt: skip
    if result is None:
        print("no threshold meets the goal on this data", file=sys.stderr)
        return 1
    current = tuning.operating_point(scores, labels, settings.semantic.threshold, args.beta)
    for label, op in (("tuned", result), ("current", current)):
        print(
            f"{label:8} threshold {op.threshold:.4f}: precision {op.precision:.3f}  "
            f"recall {op.recall:.3f}  F{args.beta:g} {op.fbeta:.3f}  "
            f"false-hit rate {op.false_hit_rate:.3f}"
        )
    print(result.settings_line())
    if policy != settings.semantic.policy:
        print(f"AGENTCACHE_SEMANTIC__POLICY={policy}")
    return 0
