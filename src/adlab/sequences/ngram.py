r"""Count-based language models: add-k unigram and interpolated Kneser-Ney n-grams.

Both work on streams of integer ids in ``range(vocab_size)`` (a :mod:`adlab.sequences.text`
vocabulary's ``encode``), so characters and words are the same code.

Chain rule, truncated to a window of $n-1$ tokens (the n-gram assumption):

    $P(x_1 \dots x_T) = \prod_t P(x_t \mid x_{<t}) \approx \prod_t P(x_t \mid x_{t-n+1} \dots x_{t-1})$

Unigram with add-$k$ smoothing ($n = 1$: no context at all; it generates "the the the"):

    $P(w) = \frac{c(w) + k}{N + k V}$

Interpolated Kneser-Ney (Chen & Goodman 1998), with absolute discount $0 < d \le 1$. At the
highest order, with context $u$ of $n-1$ tokens and raw counts $c$:

    $P_{KN}(w \mid u) = \frac{\max(c(u w) - d, 0)}{c(u \cdot)}
                      + \frac{d \, N_{1+}(u \cdot)}{c(u \cdot)} P_{KN}(w \mid u')$

where $u'$ drops the oldest token of $u$ and $N_{1+}(u \cdot) = |\{w : c(uw) > 0\}|$.
Every lower order uses the same formula with the *continuation count*
$N_{1+}(\cdot\, u' w) = |\{a : c(a u' w) > 0\}|$ (in how many contexts the n-gram appears, not
how often) in place of $c$. The recursion ends in the uniform distribution $1/V$. A context
never seen at some order passes all its mass to the next lower order. For every context the
probabilities over the vocabulary sum to one (tested).

Scoring a sequence: position $t$ is predicted from the last $\min(t, n-1)$ tokens; the first
tokens of a stream, with shorter contexts, use the lower orders of the same model.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from adlab.sequences.lm import sample_from_logits

Ids = Sequence[int] | Tensor | np.ndarray


def _as_list(ids: Ids) -> list[int]:
    if isinstance(ids, Tensor):
        return ids.tolist()
    return [int(i) for i in ids]


class _CountLM(ABC):
    """Shared scoring and sampling for the count-based models (subclasses give ``distribution``)."""

    order: int
    vocab_size: int

    @abstractmethod
    def distribution(self, context: Sequence[int] = ()) -> np.ndarray:
        """P(. | context) as a float64 array (V,)."""

    def log_prob(self, context: Sequence[int], token: int) -> float:
        """ln P(token | context), in nats (only the last order - 1 tokens of the context matter)."""
        p = self.prob(context, token)
        return math.log(p) if p > 0 else -math.inf

    def prob(self, context: Sequence[int], token: int) -> float:
        return float(self.distribution(context)[token])

    def nll(self, ids: Ids, start: int = 0) -> float:
        """Mean negative log-likelihood in nats per token of ``ids[start:]``, each given its preceding ids."""
        ids = _as_list(ids)
        if len(ids) <= start:
            raise ValueError(f"nothing to score: {len(ids)} ids, start={start}")
        k = self.order - 1
        total = 0.0
        for t in range(start, len(ids)):
            total -= self.log_prob(ids[max(0, t - k) : t], ids[t])
        return total / (len(ids) - start)

    def perplexity(self, ids: Ids, start: int = 0) -> float:
        """exp(mean NLL in nats)."""
        return math.exp(self.nll(ids, start))

    def bits_per_token(self, ids: Ids, start: int = 0) -> float:
        """Mean NLL in bits (nats / ln 2): bits per character for a character model."""
        return self.nll(ids, start) / math.log(2)

    def sample(
        self,
        n: int,
        context: Sequence[int] = (),
        temperature: float = 1.0,
        top_k: int | None = None,
        generator: torch.Generator | None = None,
    ) -> list[int]:
        """Draw ``n`` tokens one after another, each from P(. | previous)^(1/temperature) (renormalised)."""
        seq = _as_list(context)
        k = self.order - 1
        out = []
        for _ in range(n):
            p = torch.from_numpy(self.distribution(seq[len(seq) - k :] if k > 0 else []))
            token = int(sample_from_logits(torch.log(p), temperature, top_k, generator))
            seq.append(token)
            out.append(token)
        return out


class UnigramLM(_CountLM):
    """$P(w) = (c(w) + k) / (N + kV)$; ``k = 0`` gives the empirical frequencies."""

    order = 1

    def __init__(self, vocab_size: int, k: float = 1.0) -> None:
        if k < 0:
            raise ValueError(f"k must be >= 0, got {k}")
        self.vocab_size, self.k = vocab_size, k
        self.counts = np.zeros(vocab_size, dtype=np.float64)
        self.N = 0.0  # corpus length

    def fit(self, ids: Ids) -> UnigramLM:
        ids = np.asarray(_as_list(ids), dtype=np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise ValueError(f"ids must lie in [0, {self.vocab_size})")
        self.counts = np.bincount(ids, minlength=self.vocab_size).astype(np.float64)
        self.N = float(self.counts.sum())
        if self.k == 0 and self.N == 0:
            raise ValueError("an empty corpus with k=0 defines no distribution")
        return self

    def distribution(self, context: Sequence[int] = ()) -> np.ndarray:
        return (self.counts + self.k) / (self.N + self.k * self.vocab_size)

    def prob(self, context: Sequence[int], token: int) -> float:
        return float((self.counts[token] + self.k) / (self.N + self.k * self.vocab_size))


class KneserNeyLM(_CountLM):
    """Interpolated Kneser-Ney n-gram model of any ``order`` n >= 1 (see the module docstring).

    ``discount`` is one d for every order, or a sequence of n values (for the n-gram lengths
    1, ..., n). After :meth:`fit`, ``tables[k]`` maps each context of k - 1 tokens to its
    counts of next tokens (raw counts for k = n, continuation counts below).
    """

    def __init__(self, order: int, vocab_size: int, discount: float | Sequence[float] = 0.75) -> None:
        if order < 1:
            raise ValueError(f"order must be >= 1, got {order}")
        d = [float(discount)] * order if isinstance(discount, (int, float)) else [float(x) for x in discount]
        if len(d) != order or not all(0 < x <= 1 for x in d):
            raise ValueError(f"discount must be one value or {order} values in (0, 1], got {discount!r}")
        self.order, self.vocab_size, self.d = order, vocab_size, d
        self.tables: dict[int, dict[tuple[int, ...], _Row]] = {}

    def fit(self, ids: Ids) -> KneserNeyLM:
        ids = _as_list(ids)
        if ids and (min(ids) < 0 or max(ids) >= self.vocab_size):
            raise ValueError(f"ids must lie in [0, {self.vocab_size})")
        n = self.order
        tables: dict[int, dict[tuple[int, ...], Counter]] = {k: defaultdict(Counter) for k in range(1, n + 1)}
        # highest order: raw counts c(u w)
        grams_n = Counter(tuple(ids[i : i + n]) for i in range(len(ids) - n + 1))
        for g, c in grams_n.items():
            tables[n][g[:-1]][g[-1]] += c
        # lower orders: continuation counts N1+(. u w) = number of distinct left extensions
        for k in range(n - 1, 0, -1):
            distinct = {tuple(ids[i : i + k + 1]) for i in range(len(ids) - k)}
            for g in distinct:
                tables[k][g[1:-1]][g[-1]] += 1
        self.tables = {k: {u: _Row(cnt) for u, cnt in t.items()} for k, t in tables.items()}
        return self

    def _check_fitted(self) -> None:
        if not self.tables:
            raise RuntimeError("call fit() before asking for probabilities")

    def prob(self, context: Sequence[int], token: int) -> float:
        self._check_fitted()
        context = tuple(_as_list(context))[-(self.order - 1) :] if self.order > 1 else ()
        # from the longest usable context down to the empty one; combine on the way back up
        p = 1.0 / self.vocab_size
        for k in range(1, len(context) + 2):
            u = context[len(context) - (k - 1) :]
            row = self.tables[k].get(u)
            if row is None:
                continue  # unseen context: all mass to the lower order
            d = self.d[k - 1]
            # $\max(c(uw) - d, 0)/c(u\cdot) + d N_{1+}(u\cdot)/c(u\cdot) \cdot P_{lower}$
            p = max(row.counts.get(token, 0) - d, 0.0) / row.total + d * row.types / row.total * p
        return p

    def distribution(self, context: Sequence[int] = ()) -> np.ndarray:
        self._check_fitted()
        context = tuple(_as_list(context))[-(self.order - 1) :] if self.order > 1 else ()
        p = np.full(self.vocab_size, 1.0 / self.vocab_size)
        for k in range(1, len(context) + 2):
            u = context[len(context) - (k - 1) :]
            row = self.tables[k].get(u)
            if row is None:
                continue
            d = self.d[k - 1]
            p = (d * row.types / row.total) * p
            p[row.words] += np.maximum(row.values - d, 0.0) / row.total
        return p


class _Row:
    """The counts following one context: a dict for lookups, and arrays (built on first use) for whole distributions."""

    __slots__ = ("counts", "total", "types", "_arrays")

    def __init__(self, counts: Counter) -> None:
        self.counts = dict(counts)
        self.total = float(sum(counts.values()))
        self.types = len(counts)
        self._arrays: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def words(self) -> np.ndarray:
        return self._build()[0]

    @property
    def values(self) -> np.ndarray:
        return self._build()[1]

    def _build(self) -> tuple[np.ndarray, np.ndarray]:
        if self._arrays is None:
            n = len(self.counts)
            self._arrays = (
                np.fromiter(self.counts.keys(), dtype=np.int64, count=n),
                np.fromiter(self.counts.values(), dtype=np.float64, count=n),
            )
        return self._arrays


class MarkovSource:
    r"""A synthetic order-``order`` Markov source with a known transition table, for checking n-grams.

    ``table[s_1, ..., s_order]`` is the distribution of the next symbol after the context
    $(s_1, \dots, s_{order})$, drawn from a symmetric Dirichlet(``concentration``) (small
    concentration: peaked, predictable rows). Its entropy rate in closed form is
    $H = \sum_s \pi(s) H(P(\cdot \mid s))$ with $\pi$ the stationary distribution of the chain
    on contexts; an n-gram model of order >= order + 1 approaches it on held-out samples.
    """

    def __init__(self, vocab_size: int, order: int, concentration: float = 0.5, generator: torch.Generator | None = None) -> None:
        if order < 1 or vocab_size < 2:
            raise ValueError(f"need order >= 1 and vocab_size >= 2, got {order} and {vocab_size}")
        self.vocab_size, self.order = vocab_size, order
        rng = _numpy_rng(generator)
        rows = rng.dirichlet(np.full(vocab_size, float(concentration)), size=vocab_size**order)
        self.table = rows.reshape((vocab_size,) * order + (vocab_size,))  # (V,)*order + (V,)

    def stationary(self) -> np.ndarray:
        """pi over the V^order contexts (flattened row-major): the fixed point pi = pi P of the context chain."""
        V = self.vocab_size
        S = V**self.order
        T = self.table.reshape(S, V)
        P = np.zeros((S, S))
        for s in range(S):
            # context s = (s_1 .. s_k) followed by w moves to (s_2 .. s_k, w)
            P[s, (s * V) % S + np.arange(V)] += T[s]
        evals, evecs = np.linalg.eig(P.T)
        pi = np.real(evecs[:, int(np.argmin(np.abs(evals - 1.0)))])
        return pi / pi.sum()

    def entropy_rate(self) -> float:
        """Bits per symbol: $\\sum_s \\pi(s) H(P(\\cdot \\mid s))$."""
        T = self.table.reshape(-1, self.vocab_size)
        H_rows = -(T * np.log2(np.clip(T, 1e-300, None))).sum(-1)
        return float(self.stationary() @ H_rows)

    def sample(self, n: int, generator: torch.Generator | None = None) -> list[int]:
        """A stream of n symbols, started from a uniform random context (a burn-in of 100 steps is discarded)."""
        k, V = self.order, self.vocab_size
        rng = _numpy_rng(generator)
        seq = [int(x) for x in rng.integers(V, size=k)]
        u = rng.random(n + 100)
        cdf = self.table.cumsum(-1)
        for t in range(n + 100):
            seq.append(min(int(np.searchsorted(cdf[tuple(seq[-k:])], u[t], side="right")), V - 1))
        return seq[k + 100 :]


def _numpy_rng(generator: torch.Generator | None) -> np.random.Generator:
    """A numpy generator seeded from the torch one (so a torch seed fixes everything)."""
    seed = torch.randint(0, 2**62, (1,), generator=generator).item()
    return np.random.default_rng(seed)
