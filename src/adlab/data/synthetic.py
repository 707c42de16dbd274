"""Synthetic data sets, generated deterministically from a seed.

Each generator takes ``seed`` and returns numpy arrays; the same seed gives the same data
on every machine (numpy's PCG64 generator).
"""

from __future__ import annotations

import numpy as np


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def xor(n: int = 200, noise: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Four Gaussian clusters at the corners of the unit square; label = x1 XOR x2. Returns x (n, 2), y (n,)."""
    r = _rng(seed)
    corners = r.integers(0, 2, size=(n, 2))
    x = corners + noise * r.standard_normal((n, 2))
    y = corners[:, 0] ^ corners[:, 1]
    return x.astype(np.float32), y.astype(np.int64)


def doughnut(n: int = 1000, r_inner: float = 1.0, r_ring: tuple[float, float] = (2.0, 3.0), seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A disc of radius ``r_inner`` (label 1) inside a ring ``r_ring`` (label 0), uniform in area."""
    r = _rng(seed)
    y = r.integers(0, 2, size=n)
    theta = r.uniform(0, 2 * np.pi, size=n)
    u = r.uniform(size=n)
    # uniform in area: radius = sqrt(a^2 + u (b^2 - a^2))
    lo = np.where(y == 1, 0.0, r_ring[0])
    hi = np.where(y == 1, r_inner, r_ring[1])
    rad = np.sqrt(lo**2 + u * (hi**2 - lo**2))
    x = np.stack([rad * np.cos(theta), rad * np.sin(theta)], axis=1)
    return x.astype(np.float32), y.astype(np.int64)


def gaussian_ring(n: int, k: int = 8, radius: float = 2.0, std: float = 0.02, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` samples of an equal mixture of ``k`` Gaussians on a circle; returns samples (n, 2) and mode centres (k, 2)."""
    r = _rng(seed)
    angles = 2 * np.pi * np.arange(k) / k
    centres = radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    idx = r.integers(0, k, size=n)
    return (centres[idx] + std * r.standard_normal((n, 2))).astype(np.float32), centres.astype(np.float32)


def gaussian_grid(n: int, side: int = 5, spacing: float = 2.0, std: float = 0.05, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` samples of an equal mixture of ``side``x``side`` Gaussians on a centred grid; samples and centres."""
    r = _rng(seed)
    ticks = spacing * (np.arange(side) - (side - 1) / 2)
    centres = np.stack(np.meshgrid(ticks, ticks, indexing="ij"), axis=-1).reshape(-1, 2)
    idx = r.integers(0, len(centres), size=n)
    return (centres[idx] + std * r.standard_normal((n, 2))).astype(np.float32), centres.astype(np.float32)


def adding_problem(n: int, T: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Hochreiter's adding problem: inputs (n, T, 2) = (uniform values, two markers); target = sum of the marked values.

    One marker lies in the first half, one in the second half. Predicting the mean (1.0)
    gives MSE 1/6 ~ 0.167, the trivial baseline.
    """
    r = _rng(seed)
    values = r.uniform(0, 1, size=(n, T))
    markers = np.zeros((n, T))
    first = r.integers(0, T // 2, size=n)
    second = r.integers(T // 2, T, size=n)
    markers[np.arange(n), first] = 1.0
    markers[np.arange(n), second] = 1.0
    y = values[np.arange(n), first] + values[np.arange(n), second]
    return np.stack([values, markers], axis=-1).astype(np.float32), y.astype(np.float32)


def copy_task(n: int, length: int, delay: int, n_symbols: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Copy after a delay: input = symbols (1..n_symbols), ``delay`` blanks (0), a go marker (n_symbols+1),
    then blanks; target = blanks until the marker, then the symbols. Returns int64 (n, L) inputs and targets."""
    r = _rng(seed)
    seq = r.integers(1, n_symbols + 1, size=(n, length))
    total = length + delay + 1 + length
    x = np.zeros((n, total), dtype=np.int64)
    y = np.zeros((n, total), dtype=np.int64)
    x[:, :length] = seq
    x[:, length + delay] = n_symbols + 1
    y[:, length + delay + 1 :] = seq
    return x, y


def waveforms(n: int, length: int, sample_rate: int = 8000, seed: int = 0) -> np.ndarray:
    """Sums of 1-3 sines and a linear chirp with random frequencies and phases, scaled into [-1, 1]. (n, length)."""
    r = _rng(seed)
    t = np.arange(length) / sample_rate
    out = np.zeros((n, length))
    for i in range(n):
        for _ in range(r.integers(1, 4)):
            f = r.uniform(100, 1200)
            out[i] += r.uniform(0.2, 1.0) * np.sin(2 * np.pi * f * t + r.uniform(0, 2 * np.pi))
        f0, f1 = r.uniform(100, 600), r.uniform(600, 2000)
        out[i] += 0.5 * np.sin(2 * np.pi * (f0 * t + (f1 - f0) * t**2 / (2 * t[-1] if length > 1 else 1)))
        out[i] /= max(np.abs(out[i]).max(), 1e-8)
    return out.astype(np.float32)
