"""The ISBI 2012 EM segmentation challenge scores: foreground-restricted Rand and information-theoretic scores.

Arganda-Carreras et al., "Crowdsourcing the creation of image segmentation algorithms for connectomics", Front.
Neuroanat. 2015 (the challenge's own definitions). For a predicted segmentation ``S`` and a ground truth ``T``
(label images, one label per cell or region, 0 = boundary/background), over the pixels where ``T`` is foreground
(``T > 0``: "foreground-restricted"):

* ``p_ij`` = fraction of those pixels with label ``i`` in ``S`` and ``j`` in ``T``; ``s_i = sum_j p_ij``,
  ``t_j = sum_i p_ij``. A pixel that ``S`` labels 0 (a predicted boundary inside a true cell) is a segment of its own,
  as the challenge's and SNEMI3D's scripts count it.
* ``v_rand_split = sum p_ij^2 / sum t_j^2`` and ``v_rand_merge = sum p_ij^2 / sum s_i^2`` (1 = no false split,
  resp. no false merge); ``v_rand`` = their harmonic mean ``= sum p_ij^2 / (0.5 sum s_i^2 + 0.5 sum t_j^2)``.
* ``v_info_split = I(S; T) / H(S)`` and ``v_info_merge = I(S; T) / H(T)`` with the mutual information ``I`` and
  entropies ``H`` of the distributions above (natural logarithm; the ratios do not depend on it); ``v_info`` = their
  harmonic mean ``= I / (0.5 H(S) + 0.5 H(T))``.

Edge rules: with no true foreground pixel every score is 1.0 if ``S`` is empty there too (it always is), so the scores
are 1.0; an entropy of 0 (a single segment) makes the corresponding information ratio 1.0 when ``I`` is 0 as well.
The challenge thinned the boundaries of both images before scoring ("after border thinning"); these functions score
the label images as given. Over a stack the scores are computed per slice and averaged (mean over slices).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["RAND_INFO_METRICS", "rand_info_scores", "rand_info_stack"]

RAND_INFO_METRICS = ("v_rand", "v_rand_split", "v_rand_merge", "v_info", "v_info_split", "v_info_merge")


def _ratio(num: float, den: float) -> float:
    return 1.0 if den <= 0 and num <= 0 else (num / den if den > 0 else 0.0)


def _harmonic(a: float, b: float) -> float:
    return 0.0 if a + b <= 0 else 2 * a * b / (a + b)


def _entropy(p: np.ndarray) -> float:
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def rand_info_scores(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """The six scores of one 2D (or 3D) image; ``pred`` and ``true`` are integer label images of one shape."""
    pred, true = np.asarray(pred), np.asarray(true)
    if pred.shape != true.shape:
        raise ValueError(f"label images of different shapes: {pred.shape} and {true.shape}")
    inside = true != 0
    n = int(inside.sum())
    if n == 0:
        return dict.fromkeys(RAND_INFO_METRICS, 1.0)
    s, t = pred[inside].astype(np.int64), true[inside].astype(np.int64)
    singletons = int((s == 0).sum())  # predicted boundary pixels: one segment each
    _, joint = np.unique(np.stack([s[s != 0], t[s != 0]]), axis=1, return_counts=True)
    joint_p = np.concatenate([joint / n, np.full(singletons, 1 / n)])
    _, s_counts = np.unique(s[s != 0], return_counts=True)
    s_p = np.concatenate([s_counts / n, np.full(singletons, 1 / n)])
    _, t_counts = np.unique(t, return_counts=True)
    t_p = t_counts / n
    sum_p2, sum_s2, sum_t2 = float((joint_p**2).sum()), float((s_p**2).sum()), float((t_p**2).sum())
    h_s, h_t, h_st = _entropy(s_p), _entropy(t_p), _entropy(joint_p)
    mutual = max(0.0, h_s + h_t - h_st)
    scores = {
        "v_rand_split": _ratio(sum_p2, sum_t2),
        "v_rand_merge": _ratio(sum_p2, sum_s2),
        "v_info_split": _ratio(mutual, h_s),
        "v_info_merge": _ratio(mutual, h_t),
    }
    scores["v_rand"] = _harmonic(scores["v_rand_split"], scores["v_rand_merge"])
    scores["v_info"] = _harmonic(scores["v_info_split"], scores["v_info_merge"])
    return {key: scores[key] for key in RAND_INFO_METRICS}


def rand_info_stack(pred: np.ndarray, true: np.ndarray) -> dict[str, float | list[dict[str, float]]]:
    """:func:`rand_info_scores` of every slice of ``(Z, H, W)`` stacks (a 2D image is one slice), their mean over
    slices under the metric names, and the per-slice values under ``"per_slice"``."""
    pred, true = np.asarray(pred), np.asarray(true)
    if pred.ndim == 2:
        pred, true = pred[None], true[None]
    per_slice: Sequence[dict[str, float]] = [rand_info_scores(p, t) for p, t in zip(pred, true, strict=True)]
    mean = {key: float(np.mean([row[key] for row in per_slice])) for key in RAND_INFO_METRICS}
    return {**mean, "per_slice": list(per_slice)}
