r"""The transformer block: attention and a position-wise feed-forward net, each
wrapped in a residual connection and layer normalisation.

Post-LN, the arrangement of the original transformer and of the lecture
(add the sub-layer's output to its input, then normalise):

$$ h = \mathrm{LN}(x + \mathrm{MHA}(x)), \qquad y = \mathrm{LN}(h + \mathrm{FFN}(h)) $$

Pre-LN (GPT-2 and most later models; trains deep stacks without warm-up
because the residual path is a pure sum):

$$ h = x + \mathrm{MHA}(\mathrm{LN}(x)), \qquad y = h + \mathrm{FFN}(\mathrm{LN}(h)) $$

A pre-LN stack needs one more LayerNorm after its last block.

The feed-forward net acts on each position separately, widening then narrowing:

$$ \mathrm{FFN}(x) = \phi(x W_1 + b_1) W_2 + b_2, \qquad \phi = \mathrm{ReLU}\ \text{(or GELU)} $$

Dropout sits where ``torch.nn.TransformerEncoderLayer`` puts it (on the
attention weights, after $\phi$, and on each sub-layer's output before the
residual sum), so with copied weights the two agree exactly.
"""

from __future__ import annotations

from typing import Literal

import torch.nn.functional as F
from torch import Tensor, nn

from adlab.nn.attention import LayerKVCache, MultiHeadAttention

__all__ = ["PositionwiseFeedForward", "TransformerBlock", "KVCache"]

_ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu}


class PositionwiseFeedForward(nn.Module):
    r"""$\phi(x W_1 + b_1) W_2 + b_2$, applied to every position independently."""

    def __init__(
        self,
        d_model: int,
        d_ff: int,
        dropout: float = 0.0,
        activation: Literal["relu", "gelu"] = "relu",
        bias: bool = True,
    ) -> None:
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
        self.W_1 = nn.Linear(d_model, d_ff, bias=bias)
        self.W_2 = nn.Linear(d_ff, d_model, bias=bias)
        self.phi = _ACTIVATIONS[activation]
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        # (B, T, d_model) -> (B, T, d_ff) -> (B, T, d_model)
        return self.W_2(self.dropout(self.phi(self.W_1(x))))


class KVCache:
    """Per-layer key/value caches of a transformer stack, for incremental decoding.

    ``cache[i]`` is block ``i``'s :class:`~adlab.nn.attention.LayerKVCache`;
    ``len(cache)`` is the number of positions already processed, i.e. the
    position of the next token.
    """

    def __init__(self, n_layers: int) -> None:
        self.layers = [LayerKVCache() for _ in range(n_layers)]

    def __getitem__(self, i: int) -> LayerKVCache:
        return self.layers[i]

    def __len__(self) -> int:
        return len(self.layers[0]) if self.layers else 0

    def reset(self) -> None:
        for layer in self.layers:
            layer.reset()


class TransformerBlock(nn.Module):
    """One transformer layer: multi-head self-attention, then a feed-forward net.

    Args:
        d_model: width of the token representations.
        n_heads: attention heads (``d_model`` must divide by it).
        d_ff: hidden width of the feed-forward net (typically ``4 * d_model``).
        dropout: dropout rate on attention weights, the FFN hidden layer and
            each sub-layer's output.
        norm: ``"post"`` (LayerNorm after each residual sum, as in the lecture
            and the original transformer) or ``"pre"`` (LayerNorm on each
            sub-layer's input).
        causal: mask attention to later positions (decoder / language model).
        activation: ``"relu"`` (original) or ``"gelu"`` (BERT, GPT).
        bias: biases in the linear layers.
        fast: use torch's fused attention kernel (same numbers).
        layer_norm_eps: epsilon of the LayerNorms.
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        d_ff: int,
        dropout: float = 0.0,
        norm: Literal["post", "pre"] = "post",
        causal: bool = False,
        activation: Literal["relu", "gelu"] = "relu",
        bias: bool = True,
        fast: bool = False,
        layer_norm_eps: float = 1e-5,
    ) -> None:
        super().__init__()
        if norm not in ("post", "pre"):
            raise ValueError(f"norm must be 'post' or 'pre', got {norm!r}")
        self.norm, self.causal = norm, causal
        self.attn = MultiHeadAttention(d_model, n_heads, bias=bias, fast=fast, dropout=dropout)
        self.ffn = PositionwiseFeedForward(d_model, d_ff, dropout=dropout, activation=activation, bias=bias)
        self.ln_1 = nn.LayerNorm(d_model, eps=layer_norm_eps)
        self.ln_2 = nn.LayerNorm(d_model, eps=layer_norm_eps)
        self.dropout_1 = nn.Dropout(dropout)
        self.dropout_2 = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor | None = None, cache: LayerKVCache | None = None) -> Tensor:
        """``x``: ``(B, T, d_model)``; ``mask`` as in :class:`MultiHeadAttention`;
        ``cache``: this block's key/value cache (``x`` then holds only the new positions)."""

        def attend(h: Tensor) -> Tensor:
            return self.dropout_1(self.attn(h, mask=mask, causal=self.causal, cache=cache))

        if self.norm == "post":
            # $h = \mathrm{LN}(x + \mathrm{MHA}(x))$, $y = \mathrm{LN}(h + \mathrm{FFN}(h))$
            h = self.ln_1(x + attend(x))
            return self.ln_2(h + self.dropout_2(self.ffn(h)))
        # $h = x + \mathrm{MHA}(\mathrm{LN}(x))$, $y = h + \mathrm{FFN}(\mathrm{LN}(h))$
        h = x + attend(self.ln_1(x))
        return h + self.dropout_2(self.ffn(self.ln_2(h)))
