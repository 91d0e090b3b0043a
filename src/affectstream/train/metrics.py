"""Agreement metrics, as pure functions of numpy arrays (population moments throughout)."""
from __future__ import annotations

import numpy as np


def _pair(x, y) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, np.float64).ravel(), np.asarray(y, np.float64).ravel()
    if x.shape != y.shape or x.size == 0:
        raise ValueError(f"need two non-empty arrays of one length, got {x.shape} and {y.shape}")
    return x, y


def ccc(x, y) -> float:
    """Lin's concordance correlation: 2·cov / (var x + var y + (mean x − mean y)²)."""
    x, y = _pair(x, y)
    cov = np.mean((x - x.mean()) * (y - y.mean()))
    denominator = x.var() + y.var() + (x.mean() - y.mean()) ** 2
    return float(2 * cov / denominator) if denominator > 0 else 0.0


def pcc(x, y) -> float:
    """Pearson correlation; 0 when either side is constant."""
    x, y = _pair(x, y)
    sx, sy = x.std(), y.std()
    return float(np.mean((x - x.mean()) * (y - y.mean())) / (sx * sy)) if sx > 0 and sy > 0 else 0.0


def mae(x, y) -> float:
    x, y = _pair(x, y)
    return float(np.mean(np.abs(x - y)))


def rmse(x, y) -> float:
    x, y = _pair(x, y)
    return float(np.sqrt(np.mean((x - y) ** 2)))


def icc3_1(x, y) -> float:
    """ICC(3,1), two-way mixed, consistency, single rater (Shrout & Fleiss), for two raters
    x and y."""
    x, y = _pair(x, y)
    ratings = np.stack([x, y], axis=1)  # (n targets, k=2 raters)
    n, k = ratings.shape
    grand = ratings.mean()
    ss_rows = k * np.sum((ratings.mean(1) - grand) ** 2)
    ss_cols = n * np.sum((ratings.mean(0) - grand) ** 2)
    ss_error = np.sum((ratings - grand) ** 2) - ss_rows - ss_cols
    ms_rows, ms_error = ss_rows / (n - 1), ss_error / ((n - 1) * (k - 1))
    denominator = ms_rows + (k - 1) * ms_error
    return float((ms_rows - ms_error) / denominator) if denominator > 0 else 0.0


def accuracy(true, predicted) -> float:
    true, predicted = np.asarray(true).ravel(), np.asarray(predicted).ravel()
    return float(np.mean(true == predicted))


def macro_f1(true, predicted, classes: int | None = None) -> float:
    """Unweighted mean of per-class F1 over the classes present in `true` or `predicted`."""
    true, predicted = np.asarray(true).ravel(), np.asarray(predicted).ravel()
    labels = range(classes) if classes else np.union1d(true, predicted)
    scores = []
    for c in labels:
        tp = np.sum((true == c) & (predicted == c))
        fp, fn = np.sum((true != c) & (predicted == c)), np.sum((true == c) & (predicted != c))
        if tp + fp + fn:
            scores.append(2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores)) if scores else 0.0
