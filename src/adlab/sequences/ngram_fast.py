r"""Every order of interpolated Kneser-Ney at once, vectorised with numpy (same numbers as :class:`~adlab.sequences.ngram.KneserNeyLM`).

:class:`~adlab.sequences.ngram.KneserNeyLM` reads as the method: one dictionary per context,
one probability at a time. Choosing the best order on a validation text needs models of
orders 1..N fitted on millions of characters and scored on hundreds of thousands, which
that loop does in minutes; this module does it in seconds with sorted integer keys.

An n-gram $x_{i} \dots x_{i+k-1}$ over a vocabulary of size $V$ becomes one integer,
$\mathrm{key} = \sum_{j<k} x_{i+j} V^{k-1-j}$ (so $\mathrm{key} = V \cdot \mathrm{key}(u) + w$
for context $u$ and next token $w$). For every length $k \le N$ we keep, as sorted arrays:

- raw counts $c(u w)$ (used by the model of order $n = k$, at its top level);
- continuation counts $N_{1+}(\cdot\, u w)$ (used by every model of order $n > k$);

and, per context $u$, the totals $\sum_w$ and the number of distinct $w$ of each. Scoring a
stream position $t$ with order $n$ applies, from level 1 up to level $\min(t, n-1) + 1$,

    $p \leftarrow \frac{\max(\mathrm{cnt}(u w) - d_k, 0)}{\mathrm{tot}(u)} + \frac{d_k \, \mathrm{types}(u)}{\mathrm{tot}(u)} \, p$,

starting from $p = 1/V$; a context never seen at level $k$ leaves $p$ unchanged. This is the
recursion of :class:`~adlab.sequences.ngram.KneserNeyLM` (tested equal), for all positions at once.
Keys are int64, so $V^N$ must stay below $2^{63}$ (characters: $N \le 9$; 10,000 words: $N \le 4$).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from torch import Tensor

_MAX_KEY = 2**63 - 1


@dataclass
class _Level:
    """One n-gram length's counts: sorted ``keys`` with ``values``; per context, sorted ``ctx`` with ``total`` and ``types``."""

    keys: np.ndarray
    values: np.ndarray
    ctx: np.ndarray
    total: np.ndarray
    types: np.ndarray

    @classmethod
    def build(cls, keys: np.ndarray, values: np.ndarray, V: int) -> "_Level":
        # keys are sorted, so their contexts (key // V) are sorted too
        ctx_of = keys // V
        ctx, start = np.unique(ctx_of, return_index=True)
        total = np.add.reduceat(values, start) if len(keys) else np.zeros(0)
        types = np.diff(np.append(start, len(keys)))
        return cls(keys, values.astype(np.float64), ctx, total.astype(np.float64), types.astype(np.float64))


def _lookup(sorted_keys: np.ndarray, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of each query in ``sorted_keys`` and whether it is there."""
    if len(sorted_keys) == 0:
        return np.zeros(len(query), dtype=np.int64), np.zeros(len(query), dtype=bool)
    idx = np.searchsorted(sorted_keys, query).clip(max=len(sorted_keys) - 1)
    return idx, sorted_keys[idx] == query


def _gram_keys(x: np.ndarray, k: int, V: int) -> np.ndarray:
    """key of the k-gram ending at each position t >= k - 1: (len(x) - k + 1,)."""
    key = x[k - 1 :].copy()
    for j in range(1, k):
        key += x[k - 1 - j : len(x) - j] * V**j
    return key


class KneserNeyTables:
    """Interpolated Kneser-Ney models of every order 1..``max_order`` from one pass over the counts.

    ``fit(ids)``, then ``log_probs(ids, order, discount)`` ((N,) natural logs of each token
    given its preceding ones) or ``nll(ids, order, discount)`` (mean nats). ``discount`` is one
    d for every level or ``order`` values, as in :class:`~adlab.sequences.ngram.KneserNeyLM`.
    """

    def __init__(self, max_order: int, vocab_size: int) -> None:
        if max_order < 1 or vocab_size < 1:
            raise ValueError(f"need max_order >= 1 and vocab_size >= 1, got {max_order} and {vocab_size}")
        if vocab_size**max_order > _MAX_KEY:
            raise ValueError(f"vocab_size**max_order = {vocab_size}**{max_order} does not fit int64 keys; lower max_order")
        self.max_order, self.vocab_size = max_order, vocab_size
        self.raw: dict[int, _Level] = {}
        self.cont: dict[int, _Level] = {}

    def fit(self, ids: Sequence[int] | Tensor | np.ndarray) -> "KneserNeyTables":
        x = _as_array(ids)
        V = self.vocab_size
        if x.size and (x.min() < 0 or x.max() >= V):
            raise ValueError(f"ids must lie in [0, {V})")
        uniq: dict[int, np.ndarray] = {}
        for k in range(1, self.max_order + 1):
            keys, counts = np.unique(_gram_keys(x, k, V), return_counts=True) if len(x) >= k else (np.zeros(0, np.int64), np.zeros(0, np.int64))
            uniq[k] = keys
            # raw counts c(u w)
            self.raw[k] = _Level.build(keys, counts, V)
        for k in range(1, self.max_order):
            # $N_{1+}(\cdot\, u w)$: distinct (k+1)-grams whose last k tokens are u w
            suffix = np.sort(uniq[k + 1] % V**k)
            keys, counts = np.unique(suffix, return_counts=True)
            self.cont[k] = _Level.build(keys, counts, V)
        return self

    def _discounts(self, order: int, discount: float | Sequence[float]) -> list[float]:
        d = [float(discount)] * order if isinstance(discount, (int, float)) else [float(v) for v in discount]
        if len(d) != order or not all(0 < v <= 1 for v in d):
            raise ValueError(f"discount must be one value or {order} values in (0, 1], got {discount!r}")
        return d

    def log_probs(self, ids: Sequence[int] | Tensor | np.ndarray, order: int, discount: float | Sequence[float] = 0.75) -> np.ndarray:
        """ln P(x_t | x_{t-order+1} .. x_{t-1}) for every position t of ``ids`` ((N,), nats)."""
        if not self.raw:
            raise RuntimeError("call fit() before asking for probabilities")
        if not 1 <= order <= self.max_order:
            raise ValueError(f"order must be in 1..{self.max_order}, got {order}")
        d = self._discounts(order, discount)
        x = _as_array(ids)
        V, N = self.vocab_size, len(x)
        p = np.full(N, 1.0 / V)
        for k in range(1, order + 1):
            if N < k:
                break
            level = self.raw[k] if k == order else self.cont[k]
            # positions t >= k - 1 have a context of k - 1 tokens
            key = _gram_keys(x, k, V)  # (N - k + 1,)
            ctx = key // V
            ci, c_found = _lookup(level.ctx, ctx)
            ki, k_found = _lookup(level.keys, key)
            cnt = np.where(k_found, level.values[ki], 0.0)
            tot = np.where(c_found, level.total[ci], 1.0)
            typ = np.where(c_found, level.types[ci], 0.0)
            q = p[k - 1 :]
            # $\max(c - d, 0)/\mathrm{tot} + d \cdot \mathrm{types}/\mathrm{tot} \cdot p$; unseen context: p unchanged
            new = np.maximum(cnt - d[k - 1], 0.0) / tot + d[k - 1] * typ / tot * q
            p[k - 1 :] = np.where(c_found, new, q)
        return np.log(p)

    def nll(self, ids: Sequence[int] | Tensor | np.ndarray, order: int, discount: float | Sequence[float] = 0.75, start: int = 0) -> float:
        """Mean negative log-likelihood (nats per token) of ``ids[start:]``, each given its preceding ids."""
        lp = self.log_probs(ids, order, discount)[start:]
        if lp.size == 0:
            raise ValueError("nothing to score")
        return float(-lp.mean())

    def bits_per_token(self, ids: Sequence[int] | Tensor | np.ndarray, order: int, discount: float | Sequence[float] = 0.75) -> float:
        return self.nll(ids, order, discount) / math.log(2)


def _as_array(ids: Sequence[int] | Tensor | np.ndarray) -> np.ndarray:
    if isinstance(ids, Tensor):
        ids = ids.cpu().numpy()
    x = np.asarray(ids, dtype=np.int64)
    if x.ndim != 1:
        raise ValueError(f"ids must be one stream (1-D), got shape {x.shape}")
    return x
