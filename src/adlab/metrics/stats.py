"""Small statistics used by several verdicts."""

from __future__ import annotations

import numpy as np


def spearman(a, b) -> float:
    r"""Spearman's rank correlation: Pearson's correlation of the ranks (ties not averaged).

    Without ties it equals $1 - 6\sum_i d_i^2 / (n(n^2-1))$, with $d_i$ the rank differences.
    Returns 0 for fewer than two points or a constant input.
    """
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    if len(a) != len(b):
        raise ValueError(f"spearman needs equal lengths, got {len(a)} and {len(b)}")
    if len(a) < 2:
        return 0.0
    ra, rb = np.argsort(np.argsort(a)).astype(np.float64), np.argsort(np.argsort(b)).astype(np.float64)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    den = float(np.linalg.norm(ra) * np.linalg.norm(rb))
    return float(ra @ rb) / den if den > 0 else 0.0
