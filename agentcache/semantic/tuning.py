"""Choose a similarity threshold from labeled scores.

Given the similarity of each lookup to its best cached candidate and whether
serving that candidate would be correct, these functions sweep every cut-off
and pick the one that maximises F-beta (beta < 1 weighs precision more: a
wrong cached answer costs more than a miss) or that meets a target precision
or false-hit rate with the most recall. Pure numpy, no I/O.

Example::

    result = best_threshold(scores, labels, beta=0.5)
    print(result.settings_line())   # AGENTCACHE_SEMANTIC__THRESHOLD=0.8713
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class Operating:
    """The cache's quality at one threshold: a hit is ``score >= threshold``."""

    threshold: float
    precision: float
    recall: float
    false_hit_rate: float  # false hits / lookups that should miss
    fbeta: float
    hits: int
    true_hits: int

    def settings_line(self) -> str:
        return f"AGENTCACHE_SEMANTIC__THRESHOLD={self.threshold:.4f}"


@dataclass(frozen=True)
class Curve:
    """Precision, recall and false-hit rate at every distinct cut-off, highest first."""

    thresholds: npt.NDArray[np.float64]
    precision: npt.NDArray[np.float64]
    recall: npt.NDArray[np.float64]
    false_hit_rate: npt.NDArray[np.float64]
    hits: npt.NDArray[np.int64]
    true_hits: npt.NDArray[np.int64]

    def fbeta(self, beta: float) -> npt.NDArray[np.float64]:
        return _fbeta(self.precision, self.recall, beta)

    def at(self, i: int, beta: float) -> Operating:
        return Operating(
            threshold=float(self.thresholds[i]),
            precision=float(self.precision[i]),
            recall=float(self.recall[i]),
            false_hit_rate=float(self.false_hit_rate[i]),
            fbeta=float(_fbeta(self.precision[i], self.recall[i], beta)),
            hits=int(self.hits[i]),
            true_hits=int(self.true_hits[i]),
        )


def _fbeta(precision: npt.ArrayLike, recall: npt.ArrayLike, beta: float) -> npt.NDArray[np.float64]:
    """F-beta of precision and recall (arrays or scalars); 0 where both are 0."""
    p, r = np.asarray(precision, dtype=np.float64), np.asarray(recall, dtype=np.float64)
    b2 = beta * beta
    denom = b2 * p + r
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, (1 + b2) * p * r / denom, 0.0)


def _arrays(
    scores: Sequence[float] | npt.ArrayLike, labels: Sequence[bool] | npt.ArrayLike
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=bool)
    if s.shape != y.shape or s.ndim != 1:
        raise ValueError("scores and labels must be 1-D and of the same length")
    if s.size == 0:
        raise ValueError("no scores to tune on")
    if not y.any():
        raise ValueError("no positive labels: every hit would be wrong")
    return s, y


def curve(scores: Sequence[float] | npt.ArrayLike, labels: Sequence[bool] | npt.ArrayLike) -> Curve:
    """The operating curve over every distinct score used as the threshold.

    A score of ``-inf`` stands for "no candidate" (or a vetoed one): it never hits.
    """
    s, y = _arrays(scores, labels)
    order = np.argsort(-s, kind="stable")
    s_sorted, y_sorted = s[order], y[order]
    tp = np.cumsum(y_sorted)
    fp = np.cumsum(~y_sorted)
    # Keep the last index of each run of equal scores: ties hit together.
    last = np.r_[s_sorted[1:] != s_sorted[:-1], True]
    last &= np.isfinite(s_sorted)
    tp, fp, thr = tp[last], fp[last], s_sorted[last]
    hits = tp + fp
    positives, negatives = int(y.sum()), int((~y).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(hits > 0, tp / np.maximum(hits, 1), 1.0)
    return Curve(
        thresholds=thr,
        precision=precision.astype(np.float64),
        recall=(tp / positives).astype(np.float64),
        false_hit_rate=(fp / negatives if negatives else np.zeros_like(thr)).astype(np.float64),
        hits=hits.astype(np.int64),
        true_hits=tp.astype(np.int64),
    )


def _midpoint(c: Curve, i: int) -> float:
    """Halfway down to the next distinct score, so the cut generalises to unseen scores."""
    upper = float(c.thresholds[i])
    if i + 1 < len(c.thresholds):
        return (upper + float(c.thresholds[i + 1])) / 2.0
    return upper


def _result(c: Curve, i: int, beta: float) -> Operating:
    return replace(c.at(i, beta), threshold=min(1.0, max(0.0, _midpoint(c, i))))


def best_threshold(
    scores: Sequence[float] | npt.ArrayLike,
    labels: Sequence[bool] | npt.ArrayLike,
    beta: float = 0.5,
) -> Operating:
    """The threshold that maximises F-beta (ties: the higher, stricter threshold)."""
    if beta <= 0:
        raise ValueError("beta must be > 0")
    c = curve(scores, labels)
    f = c.fbeta(beta)
    i = int(np.argmax(f))  # first maximum = highest threshold among ties
    return _result(c, i, beta)


def threshold_for_precision(
    scores: Sequence[float] | npt.ArrayLike,
    labels: Sequence[bool] | npt.ArrayLike,
    target: float,
    beta: float = 0.5,
) -> Operating | None:
    """The lowest threshold whose precision is at least ``target`` (most recall); None if none."""
    c = curve(scores, labels)
    ok = np.flatnonzero(c.precision >= target)
    return _result(c, int(ok[-1]), beta) if ok.size else None


def threshold_for_false_hit_rate(
    scores: Sequence[float] | npt.ArrayLike,
    labels: Sequence[bool] | npt.ArrayLike,
    max_rate: float,
    beta: float = 0.5,
) -> Operating | None:
    """The lowest threshold whose false-hit rate is at most ``max_rate``; None if none."""
    c = curve(scores, labels)
    ok = np.flatnonzero(c.false_hit_rate <= max_rate)
    return _result(c, int(ok[-1]), beta) if ok.size else None


def operating_point(
    scores: Sequence[float] | npt.ArrayLike,
    labels: Sequence[bool] | npt.ArrayLike,
    threshold: float,
    beta: float = 0.5,
) -> Operating:
    """Precision, recall and false-hit rate of the fixed cut-off ``threshold``."""
    s, y = _arrays(scores, labels)
    hit = s >= threshold
    tp, fp = int((hit & y).sum()), int((hit & ~y).sum())
    negatives = int((~y).sum())
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / int(y.sum())
    return Operating(
        threshold=threshold,
        precision=precision,
        recall=recall,
        false_hit_rate=fp / negatives if negatives else 0.0,
        fbeta=float(_fbeta(precision, recall, beta)),
        hits=tp + fp,
        true_hits=tp,
    )
