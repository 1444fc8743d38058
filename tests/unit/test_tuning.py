"""Threshold tuning on labeled similarity scores."""

from __future__ import annotations

import numpy as np
import pytest

from agentcache.semantic.tuning import (
    best_threshold,
    curve,
    operating_point,
    threshold_for_false_hit_rate,
    threshold_for_precision,
)


def synthetic(cut: float, n: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Positives score above ``cut``, negatives below: a separable set with a known answer."""
    rng = np.random.default_rng(seed)
    labels = rng.random(n) < 0.4
    scores = np.where(labels, rng.uniform(cut, 1.0, n), rng.uniform(0.3, cut, n))
    return scores, labels


@pytest.mark.parametrize("cut", [0.72, 0.85, 0.91])
def test_best_threshold_recovers_a_known_cut(cut: float) -> None:
    scores, labels = synthetic(cut)
    got = best_threshold(scores, labels, beta=0.5)
    assert got.threshold == pytest.approx(cut, abs=0.005)
    assert got.precision == 1.0 and got.recall == 1.0 and got.false_hit_rate == 0.0
    assert got.settings_line() == f"AGENTCACHE_SEMANTIC__THRESHOLD={got.threshold:.4f}"


def test_beta_trades_recall_for_precision_on_overlapping_scores() -> None:
    rng = np.random.default_rng(1)
    labels = rng.random(6000) < 0.5
    scores = np.where(labels, rng.normal(0.85, 0.05, 6000), rng.normal(0.75, 0.05, 6000))
    strict = best_threshold(scores, labels, beta=0.25)
    loose = best_threshold(scores, labels, beta=2.0)
    assert strict.threshold > loose.threshold
    assert strict.precision > loose.precision and strict.recall < loose.recall


def test_target_precision_and_false_hit_rate() -> None:
    rng = np.random.default_rng(2)
    labels = rng.random(6000) < 0.5
    scores = np.where(labels, rng.normal(0.85, 0.05, 6000), rng.normal(0.75, 0.05, 6000))
    p95 = threshold_for_precision(scores, labels, 0.95)
    assert p95 is not None
    at = operating_point(scores, labels, p95.threshold)
    assert at.precision >= 0.95
    # the lowest threshold meeting the target: a little lower breaks it
    assert operating_point(scores, labels, p95.threshold - 0.01).precision < 0.95
    f2 = threshold_for_false_hit_rate(scores, labels, 0.02)
    assert f2 is not None and operating_point(scores, labels, f2.threshold).false_hit_rate <= 0.02
    assert threshold_for_precision(scores, labels, 1.01) is None


def test_curve_counts_ties_together_and_ignores_vetoed_scores() -> None:
    scores = [0.9, 0.9, 0.8, float("-inf")]
    labels = [True, False, True, True]
    c = curve(scores, labels)
    assert list(c.thresholds) == [0.9, 0.8]
    assert list(c.hits) == [2, 3]
    assert list(c.recall) == pytest.approx([1 / 3, 2 / 3])
    assert list(c.false_hit_rate) == [1.0, 1.0]


def test_bad_input_is_rejected() -> None:
    with pytest.raises(ValueError):
        best_threshold([0.5], [False])
    with pytest.raises(ValueError):
        best_threshold([0.5, 0.6], [True])
    with pytest.raises(ValueError):
        best_threshold([0.5], [True], beta=0)
