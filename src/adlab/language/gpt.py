r"""A GPT-style decoder-only language model.

The model factorises a sequence's probability left to right and predicts each
token from the ones before it:

$$ p(x_1, \dots, x_T) = \prod_t p(x_t \mid x_{<t}), \qquad
   \mathcal{L} = -\frac{1}{T} \sum_t \log p(x_{t+1} \mid x_{\le t}) $$

Architecture: token embedding $E \in \mathbb{R}^{V \times d}$ plus position
encodings, ``n_layer`` causal transformer blocks, a final LayerNorm (pre-LN
stacks only), and logits $h E^\top$ when the output layer is tied to the
input embedding (GPT-2), or $h W_{out}$ otherwise.

Generation feeds the model's own samples back. With the KV cache
(:class:`adlab.nn.transformer.KVCache`) each new token costs one position's
worth of work instead of re-running the whole prefix; the logits are the same.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from adlab.nn.positions import LearnedPositions, SinusoidalPositions
from adlab.nn.transformer import KVCache, TransformerBlock

__all__ = ["GPTConfig", "GPT", "gpt_parameter_count"]


@dataclass
class GPTConfig:
    """Size and shape of a GPT-style language model."""

    vocab_size: int = 65
    """Number of token ids $V$."""
    block_size: int = 128
    """Longest context the model reads (number of learned positions)."""
    n_layer: int = 4
    """Number of transformer blocks."""
    n_head: int = 4
    """Attention heads per block; ``d_model`` must divide by it."""
    d_model: int = 128
    """Width of the token representations."""
    d_ff: int | None = None
    """Hidden width of the feed-forward nets; ``4 * d_model`` when ``None``."""
    dropout: float = 0.0
    """Dropout on embeddings, attention weights, FFN hidden units and residual branches."""
    norm: Literal["pre", "post"] = "pre"
    """``"pre"`` (GPT-2, with a final LayerNorm) or ``"post"`` (the original transformer, the lecture's)."""
    tie_embeddings: bool = True
    """Use the token embedding matrix as the output layer (saves $V d$ parameters)."""
    positions: Literal["learned", "sinusoidal"] = "learned"
    """Learned position table (GPT) or fixed sinusoids."""
    activation: Literal["gelu", "relu"] = "gelu"
    """Feed-forward non-linearity."""
    bias: bool = True
    """Biases in the linear layers of the blocks."""
    fast_attention: bool = False
    """Use torch's fused attention kernel instead of the written-out one (same numbers)."""

    @property
    def ff_width(self) -> int:
        return 4 * self.d_model if self.d_ff is None else self.d_ff


def gpt_parameter_count(cfg: GPTConfig) -> int:
    r"""Number of parameters of :class:`GPT` ``(cfg)``, from the architecture.

    $V d$ (tokens) $+\ T d$ (learned positions) $+\ L\,[4d^2 + 2 d\,d_{ff}$
    (weights) $+\ 5d + d_{ff}$ (biases) $+\ 4d$ (two LayerNorms)$]$ $+\ 2d$
    (final LayerNorm, pre-LN) $+\ V d$ (untied output layer).
    """
    d, f, V = cfg.d_model, cfg.ff_width, cfg.vocab_size
    per_block = 4 * d * d + 2 * d * f + 4 * d
    if cfg.bias:
        per_block += 4 * d + f + d
    n = V * d + cfg.n_layer * per_block
    n += cfg.block_size * d if cfg.positions == "learned" else 0
    n += 2 * d if cfg.norm == "pre" else 0
    n += 0 if cfg.tie_embeddings else V * d
    return n


class GPT(nn.Module):
    """Decoder-only transformer language model (see the module docstring)."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.tok_emb = nn.Embedding(cfg.vocab_size, d)
        self.pos_emb = LearnedPositions(cfg.block_size, d) if cfg.positions == "learned" else SinusoidalPositions(d)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(
            TransformerBlock(
                d, cfg.n_head, cfg.ff_width, dropout=cfg.dropout, norm=cfg.norm, causal=True,
                activation=cfg.activation, bias=cfg.bias, fast=cfg.fast_attention,
            )
            for _ in range(cfg.n_layer)
        )
        self.ln_f = nn.LayerNorm(d) if cfg.norm == "pre" else nn.Identity()
        self.lm_head = None if cfg.tie_embeddings else nn.Linear(d, cfg.vocab_size, bias=False)
        self._init_weights()

    def _init_weights(self) -> None:
        # GPT-2: weights N(0, 0.02^2), biases zero, LayerNorms (1, 0); the
        # residual branches' output projections shrunk by 1/sqrt(2 n_layer) so
        # the residual stream's variance does not grow with depth.
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, mean=0.0, std=0.02)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)
        for block in self.blocks:
            for W in (block.attn.W_O, block.ffn.W_2):
                nn.init.normal_(W.weight, mean=0.0, std=0.02 / math.sqrt(2 * self.cfg.n_layer))

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(
        self, idx: Tensor, targets: Tensor | None = None, cache: KVCache | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """Logits ``(B, T, V)`` for every position of ``idx`` ``(B, T)``, and the
        mean cross-entropy against ``targets`` ``(B, T)`` if given (ids ``-100``
        are ignored).

        With a ``cache``, ``idx`` holds only the tokens after the ones already
        cached; their positions continue from ``len(cache)``.
        """
        B, T = idx.shape
        offset = 0 if cache is None else len(cache)
        if offset + T > self.cfg.block_size:
            raise ValueError(f"sequence of {offset + T} tokens is longer than block_size={self.cfg.block_size}")
        pos = torch.arange(offset, offset + T, device=idx.device)
        # $h_0 = E[x_t] + P[t]$                                                  (B, T, d)
        h = self.drop(self.tok_emb(idx) + self.pos_emb(pos))
        for i, block in enumerate(self.blocks):
            h = block(h, cache=None if cache is None else cache[i])
        h = self.ln_f(h)
        # $\mathrm{logits} = h E^\top$ (tied) or $h W_{out}$                      (B, T, V)
        logits = h @ self.tok_emb.weight.T if self.lm_head is None else self.lm_head(h)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100)
        return logits, loss

    def new_cache(self) -> KVCache:
        return KVCache(self.cfg.n_layer)

    @torch.no_grad()
    def generate(
        self,
        idx: Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        use_cache: bool = True,
        generator: torch.Generator | None = None,
        return_logits: bool = False,
    ) -> Tensor | tuple[Tensor, Tensor]:
        r"""Extend ``idx`` ``(B, T)`` by ``max_new_tokens`` sampled tokens.

        Args:
            temperature: sample from $\mathrm{softmax}(z / \tau)$; ``0`` picks
                the most likely token (greedy decoding).
            top_k: sample only among the ``k`` most likely tokens.
            use_cache: keep the keys and values of processed positions and
                feed only the new token at each step. When the text outgrows
                ``block_size`` the window slides, every position shifts, and
                each further step recomputes the last ``block_size`` tokens,
                exactly as without the cache.
            generator: random generator for the sampling.
            return_logits: also return the (untempered) logits that chose each
                new token, ``(B, max_new_tokens, V)``.

        Call ``model.eval()`` first unless dropout during sampling is wanted.
        """
        block = self.cfg.block_size
        cache = self.new_cache() if use_cache else None
        fed = 0  # tokens of idx already in the cache
        step_logits = []
        for _ in range(max_new_tokens):
            if cache is not None and idx.shape[1] <= block:
                x = idx[:, fed:]  # only the tokens the cache has not seen
            else:
                if cache is not None:
                    cache.reset()
                x = idx[:, -block:]
            logits, _ = self(x, cache=cache)
            fed = idx.shape[1]
            z = logits[:, -1, :]  # (B, V)
            step_logits.append(z)
            if temperature == 0.0:
                nxt = z.argmax(dim=-1, keepdim=True)
            else:
                z = z / temperature
                if top_k is not None:
                    kth = torch.topk(z, min(top_k, z.shape[-1]), dim=-1).values[:, -1:]
                    z = z.masked_fill(z < kth, float("-inf"))
                probs = torch.softmax(z, dim=-1)
                nxt = torch.multinomial(probs, 1, generator=generator)
            idx = torch.cat([idx, nxt], dim=1)
        if return_logits:
            return idx, torch.stack(step_logits, dim=1)
        return idx
