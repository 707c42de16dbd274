r"""word2vec: skip-gram with negative sampling (Mikolov et al., 2013).

Every word $w$ has an input vector $v_w$ and an output vector $u_w$. For each
(centre $c$, context $o$) pair inside a window, the model learns to tell the
true context from $K$ noise words $n_k \sim P_n$:

$$ \ell(c, o) = -\log \sigma(u_o^\top v_c) - \sum_{k=1}^{K} \log \sigma(-u_{n_k}^\top v_c) $$

- Noise distribution: the unigram distribution raised to the power 3/4,
  $P_n(w) \propto \mathrm{count}(w)^{0.75}$, which samples rare words more
  often than their frequency.
- Frequent-word subsampling: each occurrence of $w$ is kept with probability
  $\min\!\big(1, \sqrt{t / f(w)}\big)$, $f(w)$ the word's relative frequency
  and $t \approx 10^{-5}$ (the paper's formula; the reference C code keeps
  $\sqrt{t/f} + t/f$, available as ``variant="code"``). "the" is mostly
  dropped, rare words are always kept, and windows reach further.
- Dynamic window: for each centre the window radius is drawn uniformly from
  ``1..window``, so near words count more than far ones.

After training, the rows of $V$ are the word embeddings (or $V$ and $U$
together, :func:`word_vectors`: Levy et al., 2015, add them, as GloVe does); similar words are
near each other by cosine similarity, and analogies are vector offsets
($v_{king} - v_{man} + v_{woman} \approx v_{queen}$).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "Word2VecConfig",
    "noise_distribution",
    "keep_probability",
    "subsample",
    "skipgram_pairs",
    "SkipGramNS",
    "train_word2vec",
    "word_vectors",
    "nearest_neighbours",
    "analogy",
]


@dataclass
class Word2VecConfig:
    """Hyper-parameters of skip-gram with negative sampling."""

    dim: int = 50
    """Embedding dimension $D$."""
    window: int = 5
    """Largest distance between centre and context words."""
    negatives: int = 5
    """Noise words $K$ per (centre, context) pair."""
    noise_power: float = 0.75
    """Exponent of the unigram counts in the noise distribution."""
    subsample_t: float | None = 1e-5
    """Subsampling threshold $t$; ``None`` keeps every token."""
    epochs: int = 5
    """Passes over the (re-subsampled) corpus."""
    batch_size: int = 1024
    """(centre, context) pairs per step."""
    lr: float = 0.01
    """SparseAdam learning rate."""
    seed: int = 0
    """Seed of the generator behind subsampling, windows, shuffling and noise."""


def noise_distribution(counts: Tensor, power: float = 0.75) -> Tensor:
    r"""$P_n(w) = c_w^{p} / \sum_{w'} c_{w'}^{p}$ (float64)."""
    weights = counts.to(torch.float64) ** power
    return weights / weights.sum()


def keep_probability(counts: Tensor, t: float = 1e-5, variant: Literal["paper", "code"] = "paper") -> Tensor:
    r"""Probability of keeping one occurrence of each word, from its count.

    ``"paper"``: $\min(1, \sqrt{t / f})$ (discard with $1 - \sqrt{t/f}$);
    ``"code"``: $\min(1, \sqrt{t / f} + t / f)$, the word2vec C code.
    $f$ is the word's share of all tokens. Words never seen get probability 1.
    """
    f = counts.to(torch.float64) / counts.sum()
    ratio = t / f.clamp_min(torch.finfo(torch.float64).tiny)
    p = ratio.sqrt() if variant == "paper" else ratio.sqrt() + ratio
    return p.clamp(max=1.0)


def subsample(tokens: Tensor, keep_prob: Tensor, generator: torch.Generator) -> Tensor:
    """Drop each token ``w`` with probability ``1 - keep_prob[w]``."""
    u = torch.rand(tokens.shape, generator=generator, dtype=torch.float64)
    return tokens[u < keep_prob[tokens]]


def skipgram_pairs(tokens: Tensor, window: int, generator: torch.Generator, dynamic: bool = True) -> Tensor:
    """All (centre, context) pairs of a token stream, ``(N, 2)``.

    With ``dynamic``, each centre's radius is drawn from ``1..window``; a
    pair at distance ``k`` is kept when ``k <= radius``.
    """
    n = tokens.numel()
    radius = (
        torch.randint(1, window + 1, (n,), generator=generator) if dynamic else torch.full((n,), window)
    )
    pairs = []
    for k in range(1, window + 1):
        centre = torch.arange(n - k)
        # context to the right (centre i, word i+k) and to the left (centre i+k, word i)
        right = centre[radius[centre] >= k]
        left = centre[radius[centre + k] >= k]
        pairs.append(torch.stack([tokens[right], tokens[right + k]], dim=1))
        pairs.append(torch.stack([tokens[left + k], tokens[left]], dim=1))
    return torch.cat(pairs) if pairs else torch.empty(0, 2, dtype=torch.long)


class SkipGramNS(nn.Module):
    """Input vectors $V$ (``in_embed``) and output vectors $U$ (``out_embed``), sparse gradients."""

    def __init__(self, vocab_size: int, dim: int, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.in_embed = nn.Embedding(vocab_size, dim, sparse=True)
        self.out_embed = nn.Embedding(vocab_size, dim, sparse=True)
        # word2vec's initialisation: V uniform in +-0.5/D, U zero
        nn.init.uniform_(self.in_embed.weight, -0.5 / dim, 0.5 / dim, generator=generator)
        nn.init.zeros_(self.out_embed.weight)

    @property
    def embeddings(self) -> Tensor:
        return self.in_embed.weight.detach()

    def forward(self, centre: Tensor, context: Tensor, noise: Tensor) -> Tensor:
        """Mean negative-sampling loss; ``centre``, ``context`` ``(B,)``, ``noise`` ``(B, K)``."""
        v_c = self.in_embed(centre)  # (B, D)
        u_o = self.out_embed(context)  # (B, D)
        u_n = self.out_embed(noise)  # (B, K, D)
        # $-\log\sigma(u_o^\top v_c) - \sum_k \log\sigma(-u_{n_k}^\top v_c)$
        pos = F.logsigmoid((u_o * v_c).sum(-1))  # (B,)
        neg = F.logsigmoid(-(u_n @ v_c.unsqueeze(-1)).squeeze(-1)).sum(-1)  # (B,)
        return -(pos + neg).mean()


def train_word2vec(tokens: Tensor, vocab_size: int, cfg: Word2VecConfig) -> tuple[SkipGramNS, list[float]]:
    """Train skip-gram with negative sampling on a token-id stream ``(N,)``.

    Returns the model and the mean loss of each epoch. Deterministic for a
    given ``cfg.seed``.
    """
    g = torch.Generator().manual_seed(cfg.seed)
    counts = torch.bincount(tokens, minlength=vocab_size)
    P_n = noise_distribution(counts, cfg.noise_power)
    keep = keep_probability(counts, cfg.subsample_t) if cfg.subsample_t is not None else None

    model = SkipGramNS(vocab_size, cfg.dim, generator=g)
    opt = torch.optim.SparseAdam(model.parameters(), lr=cfg.lr)
    history = []
    for _ in range(cfg.epochs):
        stream = subsample(tokens, keep, g) if keep is not None else tokens
        pairs = skipgram_pairs(stream, cfg.window, g)
        pairs = pairs[torch.randperm(len(pairs), generator=g)]
        total, seen = 0.0, 0
        for start in range(0, len(pairs), cfg.batch_size):
            batch = pairs[start : start + cfg.batch_size]
            noise = torch.multinomial(P_n, len(batch) * cfg.negatives, replacement=True, generator=g)
            loss = model(batch[:, 0], batch[:, 1], noise.view(len(batch), cfg.negatives))
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(batch)
            seen += len(batch)
        history.append(total / max(seen, 1))
    return model, history


def word_vectors(model: SkipGramNS, kind: Literal["input", "sum", "concat"] = "input") -> Tensor:
    r"""Word vectors ``(V, D)`` or ``(V, 2D)`` of a trained model.

    ``"input"``: $v_w$; ``"sum"``: $v_w + u_w$; ``"concat"``: $[\hat v_w, \hat u_w]$, each
    half unit length, so the cosine of two such vectors is the mean of their input
    and output cosines.
    """
    v, u = model.in_embed.weight.detach(), model.out_embed.weight.detach()
    if kind == "input":
        return v
    if kind == "sum":
        return v + u
    if kind == "concat":
        return torch.cat([F.normalize(v, dim=-1), F.normalize(u, dim=-1)], dim=-1)
    raise ValueError(f"kind must be 'input', 'sum' or 'concat', got {kind!r}")


def nearest_neighbours(
    embeddings: Tensor, queries: Tensor, k: int = 5, exclude: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """The ``k`` rows of ``embeddings`` with the highest cosine similarity to each query vector.

    Args:
        embeddings: ``(V, D)``.
        queries: ``(Q, D)`` vectors, or ``(Q,)`` row ids (each then excludes itself).
        exclude: optional ``(Q, m)`` row ids to leave out per query.

    Returns:
        ``(ids, similarities)``, each ``(Q, k)``, most similar first.
    """
    E = F.normalize(embeddings, dim=-1)
    if queries.dim() == 1:
        ids = queries.long()
        sims = E[ids] @ E.T
        exclude = ids[:, None] if exclude is None else torch.cat([ids[:, None], exclude], dim=1)
    else:
        sims = F.normalize(queries, dim=-1) @ E.T  # (Q, V)
    if exclude is not None:
        sims = sims.scatter(1, exclude, float("-inf"))
    top = sims.topk(k, dim=1)
    return top.indices, top.values


def analogy(embeddings: Tensor, a: int, b: int, c: int, k: int = 1) -> Tensor:
    r"""Words $d$ with $v_b - v_a + v_c \approx v_d$ ("a is to b as c is to d"), by cosine, excluding a, b, c."""
    E = F.normalize(embeddings, dim=-1)
    target = E[b] - E[a] + E[c]
    ids, _ = nearest_neighbours(embeddings, target[None], k=k, exclude=torch.tensor([[a, b, c]]))
    return ids[0]
