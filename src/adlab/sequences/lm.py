r"""Recurrent language models, sampling with temperature and top-k, and the units of their losses.

An RNN language model reads $x_1 \dots x_{t}$ and outputs the distribution of $x_{t+1}$:

    $h_t = f(h_{t-1}, E x_t)$,   $P(x_{t+1} \mid x_{\le t}) = \mathrm{softmax}(W_{hy} h_t + b_y)$

and is trained by the mean cross-entropy (negative log-likelihood, in nats) of the next token,
$\mathcal{L} = -\frac{1}{T}\sum_t \ln P(x_{t+1} \mid x_{\le t})$. Reported as
bits per token ($\mathcal{L} / \ln 2$; bits per character for a character model) or
perplexity ($e^{\mathcal{L}}$).

Sampling with temperature $\tau$ draws from $\mathrm{softmax}(\ell / \tau)$ ($\tau \to 0$: the
argmax; $\tau = 1$: the model; $\tau > 1$: flatter); top-$k$ keeps only the $k$ largest logits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from adlab.nn.recurrent import RNN, State


def bits_per_token(nll_nats: float | Tensor) -> float | Tensor:
    """Nats -> bits: nll / ln 2 (bits per character for a character model)."""
    return nll_nats / math.log(2)


def perplexity(nll_nats: float | Tensor) -> float | Tensor:
    """exp(mean NLL in nats)."""
    return torch.exp(nll_nats) if isinstance(nll_nats, Tensor) else math.exp(nll_nats)


def sample_from_logits(
    logits: Tensor, temperature: float = 1.0, top_k: int | None = None, generator: torch.Generator | None = None
) -> Tensor:
    r"""Draw one token id per row of ``logits`` (..., V) from $\mathrm{softmax}(\ell/\tau)$ restricted to the top k.

    ``temperature == 0`` returns the argmax (greedy), as does ``top_k == 1``.
    """
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be >= 1 or None, got {top_k}")
    if temperature == 0 or top_k == 1:
        return logits.argmax(-1)
    logits = logits.float()
    if top_k is not None and top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[..., -1:]  # (..., 1)
        logits = logits.masked_fill(logits < kth, -math.inf)
    probs = F.softmax(logits / temperature, dim=-1)
    flat = probs.reshape(-1, probs.shape[-1])
    if generator is not None and generator.device != flat.device:
        # draw where the generator lives (e.g. a CPU generator for a CUDA model)
        return torch.multinomial(flat.to(generator.device), 1, generator=generator).to(flat.device).reshape(probs.shape[:-1])
    return torch.multinomial(flat, 1, generator=generator).reshape(probs.shape[:-1])


class RNNLM(nn.Module):
    """Embedding -> ``num_layers`` recurrent layers -> linear read-out to vocabulary logits.

    ``forward(ids (B, T), state=None)`` returns logits (B, T, V) (position t predicts token
    t + 1) and the final recurrent state, which the next truncated-BPTT batch continues from
    (detach it first: :func:`detach_state`). ``cell`` is ``"lstm"``, ``"gru"`` or ``"rnn"``;
    ``fast=True`` runs torch's fused layers, ``fast=False`` our cells (:mod:`adlab.nn.recurrent`).
    The GRU defaults to torch's variant so that both settings compute the same function; the
    lecture's (Cho) GRU is ``gru_variant="cho", fast=False``. ``tie_weights`` shares the
    embedding with the read-out (needs ``d_embed == d_hidden``).
    """

    def __init__(
        self,
        vocab_size: int,
        d_embed: int,
        d_hidden: int,
        num_layers: int = 1,
        cell: str = "lstm",
        fast: bool = True,
        dropout: float = 0.0,
        gru_variant: str = "torch",
        tie_weights: bool = False,
    ) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.embed = nn.Embedding(vocab_size, d_embed)
        self.rnn = RNN(cell, d_embed, d_hidden, num_layers, batch_first=True, fast=fast, dropout=dropout, gru_variant=gru_variant)
        self.drop = nn.Dropout(dropout)
        self.W_hy = nn.Linear(d_hidden, vocab_size)
        if tie_weights:
            if d_embed != d_hidden:
                raise ValueError(f"tie_weights needs d_embed == d_hidden, got {d_embed} and {d_hidden}")
            self.W_hy.weight = self.embed.weight

    def forward(self, ids: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        x = self.drop(self.embed(ids))  # (B, T, E)
        h, state = self.rnn(x, state)  # (B, T, H)
        return self.W_hy(self.drop(h)), state  # (B, T, V)


def detach_state(state: State | None) -> State | None:
    """Cut the graph between truncated-BPTT batches (keeps the values)."""
    if state is None:
        return None
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


def lm_loss(logits: Tensor, targets: Tensor) -> Tensor:
    """Mean next-token cross-entropy in nats. logits (B, T, V), targets (B, T)."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


@torch.no_grad()
def evaluate_nll(model: nn.Module, batches, device: torch.device | str | None = None) -> float:
    """Mean NLL (nats per target token) over (x, y) batches from :func:`~adlab.sequences.text.contiguous_batches`,
    carrying the state from one batch to the next."""
    state, total, count = None, 0.0, 0
    for x, y in batches:
        if device is not None:
            x, y = x.to(device), y.to(device)
        logits, state = model(x, state)
        total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum").item()
        count += y.numel()
    if count == 0:
        raise ValueError("no batches to evaluate")
    return total / count


@torch.no_grad()
def sample(
    model: nn.Module,
    prompt_ids: Sequence[int] | Tensor,
    n: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Continue ``prompt_ids`` ((T,) or (B, T), T >= 1) by ``n`` tokens drawn one at a time.

    ``model(ids, state) -> (logits (B, T, V), state)``, as :class:`RNNLM`. Returns the new
    tokens only: (n,) for a 1-D prompt, (B, n) for a batch of prompts.
    """
    prompt = torch.as_tensor(prompt_ids, dtype=torch.long)
    squeeze = prompt.dim() == 1
    if squeeze:
        prompt = prompt[None]
    if prompt.dim() != 2 or prompt.shape[1] < 1:
        raise ValueError(f"prompt_ids must be (T,) or (B, T) with T >= 1, got shape {tuple(prompt.shape)}")
    param = next(iter(model.parameters()), None)
    if param is not None:
        prompt = prompt.to(param.device)
    out = []
    logits, state = model(prompt, None)
    for i in range(n):
        token = sample_from_logits(logits[:, -1], temperature, top_k, generator)  # (B,)
        out.append(token)
        if i + 1 < n:
            logits, state = model(token[:, None], state)
    new = torch.stack(out, dim=1) if out else prompt.new_zeros(prompt.shape[0], 0)
    return new[0] if squeeze else new
