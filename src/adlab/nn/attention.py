r"""Scaled dot-product attention and multi-head attention, written out.

Scaled dot-product attention (Vaswani et al., 2017) lets every query position
read a weighted average of the values, the weights coming from how well the
query matches each key:

$$ \mathrm{Attention}(Q, K, V) = \mathrm{softmax}\!\left(\frac{Q K^\top}{\sqrt{d_k}} + M\right) V $$

with $Q \in \mathbb{R}^{L \times d_k}$, $K \in \mathbb{R}^{S \times d_k}$,
$V \in \mathbb{R}^{S \times d_v}$ and $M$ a mask ($0$ where a query may look,
$-\infty$ where it may not). The score is the *scaled dot product*, not the
cosine similarity the lecture mentions (source L2191): keys and queries are not
normalised, so their lengths carry information, and the $1/\sqrt{d_k}$ keeps
the scores' variance near one for unit-variance inputs, so the softmax does not
saturate as $d_k$ grows.

Multi-head attention runs $h$ such attentions in parallel on learned
projections of width $d_k = d_{model} / h$ and mixes the concatenated results
with $W_O$:

$$ \mathrm{head}_i = \mathrm{Attention}(X W_Q^{(i)}, X W_K^{(i)}, X W_V^{(i)}), \qquad
   \mathrm{MHA}(X) = [\mathrm{head}_1; \dots; \mathrm{head}_h] W_O $$

(the lecture's example: $d_{model} = 100$, 4 heads of 25).

Mask conventions (the same as :func:`torch.nn.functional.scaled_dot_product_attention`):
a boolean mask is ``True`` where attention is **allowed**; a floating mask is
added to the scores. ``torch.nn.MultiheadAttention`` uses the opposite boolean
convention (``True`` = blocked). A query row whose keys are all blocked has no
distribution to take a softmax over; its output is NaN, as in the math.

``causal=True`` blocks keys after the query. When there are fewer queries than
keys (incremental decoding with a KV cache) the queries are taken to be the
*last* ``L`` positions, so query ``i`` may see keys ``0 .. S - L + i``; when
``L == S`` this is the usual lower-triangular mask, and equals torch's
``is_causal=True``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "causal_mask",
    "scaled_dot_product_attention",
    "LayerKVCache",
    "MultiHeadAttention",
]


def causal_mask(L: int, S: int | None = None, device: torch.device | str | None = None) -> Tensor:
    r"""Boolean ``(L, S)`` mask, ``True`` where query ``i`` may attend to key ``j``.

    The queries are the last ``L`` of ``S`` positions: allowed iff
    $j \le i + (S - L)$. With ``S == L`` this is ``tril(ones(L, L))``.
    """
    S = L if S is None else S
    if L > S:
        raise ValueError(f"causal_mask: {L} queries cannot be the last positions of {S} keys")
    return torch.ones(L, S, dtype=torch.bool, device=device).tril(diagonal=S - L)


def _merge_masks(mask: Tensor | None, causal: Tensor | None, dtype: torch.dtype) -> Tensor | None:
    """Combine a user mask (boolean or additive) with a boolean causal mask."""
    if causal is None:
        return mask
    if mask is None:
        return causal
    if mask.dtype == torch.bool:
        return mask & causal
    # additive mask: add -inf where the causal mask blocks
    blocked = torch.zeros(causal.shape, dtype=dtype, device=causal.device)
    blocked = blocked.masked_fill(~causal, float("-inf"))
    return mask + blocked


def scaled_dot_product_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    mask: Tensor | None = None,
    causal: bool = False,
    dropout_p: float = 0.0,
    *,
    scale: float | None = None,
    return_weights: bool = False,
    generator: torch.Generator | None = None,
) -> Tensor | tuple[Tensor, Tensor]:
    r"""$\mathrm{softmax}(Q K^\top / \sqrt{d_k} + M)\,V$, written out.

    Args:
        q: queries ``(..., L, d_k)``.
        k: keys ``(..., S, d_k)``.
        v: values ``(..., S, d_v)``.
        mask: broadcastable to ``(..., L, S)``; boolean (``True`` = may attend)
            or floating (added to the scores).
        causal: block keys after each query (see the module docstring for
            ``L < S``).
        dropout_p: dropout on the attention weights. Pass ``0.0`` at
            evaluation, as with torch's function (this function has no
            training flag).
        scale: the score scale; $1/\sqrt{d_k}$ when ``None``.
        return_weights: also return the attention weights ``(..., L, S)``
            (after dropout, i.e. the ones that multiplied ``V``).
        generator: random generator for the dropout mask.

    Returns:
        ``(..., L, d_v)``, or ``(output, weights)`` if ``return_weights``.
    """
    L, S = q.shape[-2], k.shape[-2]
    d_k = q.shape[-1]
    scale = 1.0 / math.sqrt(d_k) if scale is None else scale

    # $s_{ij} = q_i \cdot k_j / \sqrt{d_k}$                                (..., L, S)
    scores = (q @ k.transpose(-2, -1)) * scale

    full_mask = _merge_masks(mask, causal_mask(L, S, q.device) if causal else None, scores.dtype)
    if full_mask is not None:
        if full_mask.dtype == torch.bool:
            # $s_{ij} = -\infty$ where j is not allowed
            scores = scores.masked_fill(~full_mask, float("-inf"))
        else:
            scores = scores + full_mask

    # $a_{ij} = \exp(s_{ij}) / \sum_{j'} \exp(s_{ij'})$                    (..., L, S)
    weights = torch.softmax(scores, dim=-1)
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"dropout_p must be in [0, 1], got {dropout_p}")
    if dropout_p == 1.0:  # every weight dropped (torch's dropout gives zeros too; 0/0 otherwise)
        weights = torch.zeros_like(weights)
    elif dropout_p > 0.0:
        u = torch.rand(weights.shape, generator=generator, device=generator.device if generator else weights.device)
        keep = u.to(weights.device) >= dropout_p
        weights = weights * keep / (1.0 - dropout_p)

    # $o_i = \sum_j a_{ij} v_j$                                            (..., L, d_v)
    out = weights @ v
    return (out, weights) if return_weights else out


class LayerKVCache:
    r"""The keys and values one attention layer has already computed.

    In autoregressive decoding the keys and values of earlier positions do not
    change (causal attention: position $t$ never sees later positions), so
    they are stored and each new step computes $q, k, v$ for the new tokens
    only. A step then costs $O(T)$ instead of $O(T^2)$.

    Tensors are ``(B, H, T, d_head)``.
    """

    def __init__(self) -> None:
        self.k: Tensor | None = None
        self.v: Tensor | None = None

    def __len__(self) -> int:
        return 0 if self.k is None else self.k.shape[-2]

    def append(self, k_new: Tensor, v_new: Tensor) -> tuple[Tensor, Tensor]:
        """Store the new keys/values after the old ones; return all of them."""
        if self.k is None:
            self.k, self.v = k_new, v_new
        else:
            self.k = torch.cat([self.k, k_new], dim=-2)
            self.v = torch.cat([self.v, v_new], dim=-2)
        return self.k, self.v

    def reset(self) -> None:
        self.k = self.v = None


class MultiHeadAttention(nn.Module):
    r"""Multi-head attention with projections $W_Q, W_K, W_V$ and output $W_O$.

    Args:
        d_model: model width $d_{model}$ (input and output).
        n_heads: number of heads $h$; each works in $d_k = d_{model} / h$.
        bias: whether the four projections have biases.
        dropout: dropout on the attention weights (training only).
        fast: compute the attention with
            :func:`torch.nn.functional.scaled_dot_product_attention` (fused
            kernels) instead of the written-out :func:`scaled_dot_product_attention`.
            Both give the same numbers; ``need_weights=True`` always uses the
            written-out path, since the fused kernels do not return weights.
    """

    def __init__(
        self, d_model: int, n_heads: int, bias: bool = True, fast: bool = False, dropout: float = 0.0
    ) -> None:
        super().__init__()
        if d_model % n_heads != 0:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        self.d_model, self.n_heads, self.d_head = d_model, n_heads, d_model // n_heads
        self.fast, self.dropout = fast, dropout
        # the h heads' (d_model, d_k) projections stacked side by side
        self.W_Q = nn.Linear(d_model, d_model, bias=bias)
        self.W_K = nn.Linear(d_model, d_model, bias=bias)
        self.W_V = nn.Linear(d_model, d_model, bias=bias)
        self.W_O = nn.Linear(d_model, d_model, bias=bias)

    def _split_heads(self, x: Tensor) -> Tensor:
        B, T, _ = x.shape
        # (B, T, d_model) -> (B, H, T, d_k)
        return x.view(B, T, self.n_heads, self.d_head).transpose(1, 2)

    def forward(
        self,
        x: Tensor,
        context: Tensor | None = None,
        mask: Tensor | None = None,
        causal: bool = False,
        cache: LayerKVCache | None = None,
        need_weights: bool = False,
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Attend from ``x`` to ``context`` (to ``x`` itself when ``None``).

        Args:
            x: queries' inputs ``(B, L, d_model)``.
            context: keys' and values' inputs ``(B, S, d_model)``; self-attention if ``None``.
            mask: broadcastable to ``(B, H, L, S)``, boolean (``True`` = may
                attend) or additive. A key-padding mask ``(B, S)`` becomes
                ``mask[:, None, None, :]``.
            causal: block keys after each query.
            cache: a :class:`LayerKVCache`; the new keys and values are
                appended to it and the queries attend to all stored ones
                (self-attention only).
            need_weights: also return the attention weights ``(B, H, L, S)``.
        """
        context = x if context is None else context
        B, L, _ = x.shape

        # $Q = X W_Q$, $K = C W_K$, $V = C W_V$, split into heads          (B, H, *, d_k)
        q = self._split_heads(self.W_Q(x))
        k = self._split_heads(self.W_K(context))
        v = self._split_heads(self.W_V(context))
        if cache is not None:
            k, v = cache.append(k, v)
        S = k.shape[-2]

        p = self.dropout if self.training else 0.0
        weights = None
        if self.fast and not need_weights:
            # torch's is_causal is top-left aligned; build the mask when L != S
            if causal and (mask is not None or L != S):
                mask = _merge_masks(mask, causal_mask(L, S, x.device), q.dtype)
                causal = False
            o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p, is_causal=causal)
        else:
            o, weights = scaled_dot_product_attention(
                q, k, v, mask=mask, causal=causal, dropout_p=p, return_weights=True
            )

        # concatenate the heads and mix them: $[\mathrm{head}_1; \dots; \mathrm{head}_h] W_O$
        o = o.transpose(1, 2).reshape(B, L, self.d_model)  # (B, L, d_model)
        out = self.W_O(o)
        return (out, weights) if need_weights else out
