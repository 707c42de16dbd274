r"""Character-level language modelling: random text windows, an LSTM baseline, bits per character.

A character LM is scored by its cross-entropy on held-out text in **bits per character**:

$$ \mathrm{bpc} = -\frac{1}{N} \sum_{i=1}^{N} \log_2 p(x_i \mid x_{<i}) = \frac{\mathcal{L}_{\text{nats}}}{\ln 2} $$

(a uniform guess over $V$ characters costs $\log_2 V$ bits; 84 characters: 6.39 bits).

Training batches are windows of ``block_size + 1`` characters cut at random offsets; the
model reads the first ``block_size`` and predicts each next one. Evaluation uses a fixed set
of such windows from the held-out plays and averages over every position of every window,
so early positions, which see little context, count too.

The LSTM baseline (:class:`CharLSTM`) is embedding -> ``num_layers`` LSTM -> linear read-out,
with its hidden size chosen (:func:`match_lstm_hidden`) so its parameter count is as close as
possible to a given transformer's.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from adlab.nn.recurrent import RNN

__all__ = [
    "sample_windows",
    "CharLSTM",
    "lstm_parameter_count",
    "match_lstm_hidden",
    "lm_loss",
    "bits_per_char",
]


def sample_windows(data: Tensor, n: int, length: int, generator: torch.Generator) -> Tensor:
    """``n`` windows of ``length`` consecutive ids from the 1-D ``data``, at uniform random offsets; ``(n, length)``."""
    if data.numel() < length:
        raise ValueError(f"text of {data.numel()} tokens is shorter than one window of {length}")
    start = torch.randint(0, data.numel() - length + 1, (n,), generator=generator)
    return data[start[:, None] + torch.arange(length)]


class CharLSTM(nn.Module):
    r"""Embedding $E$ (V x H), an LSTM stack of width H, and logits $h_t W_{out} + b$."""

    def __init__(self, vocab_size: int, hidden_size: int, num_layers: int = 2, dropout: float = 0.0) -> None:
        super().__init__()
        self.emb = nn.Embedding(vocab_size, hidden_size)
        self.rnn = RNN("lstm", hidden_size, hidden_size, num_layers, batch_first=True, fast=True, dropout=dropout)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, idx: Tensor, targets: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """Logits ``(B, T, V)`` for ``idx`` ``(B, T)`` and, with ``targets``, the mean cross-entropy (same interface as GPT)."""
        h, _ = self.rnn(self.drop(self.emb(idx)))  # (B, T, H)
        logits = self.head(self.drop(h))  # (B, T, V)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
        return logits, loss


def lstm_parameter_count(vocab_size: int, hidden_size: int, num_layers: int) -> int:
    r"""Parameters of :class:`CharLSTM`: $VH$ (embedding) $+\ L\,(8H^2 + 8H)$ (each layer: four gates
    acting on $[x_t; h_{t-1}]$ of width $2H$, torch's two bias vectors) $+\ HV + V$ (read-out)."""
    V, H = vocab_size, hidden_size
    return V * H + num_layers * (8 * H * H + 8 * H) + H * V + V


def match_lstm_hidden(target: int, vocab_size: int, num_layers: int) -> int:
    """The hidden size whose :class:`CharLSTM` parameter count is closest to ``target``."""
    # the count grows with H; solve 8 L H^2 + (2V + 8L) H + V = target, then check the neighbours
    a, b, c = 8 * num_layers, 2 * vocab_size + 8 * num_layers, vocab_size - target
    guess = max(1, int((-b + math.sqrt(max(b * b - 4 * a * c, 0.0))) / (2 * a)))
    candidates = range(max(1, guess - 2), guess + 3)
    return min(candidates, key=lambda H: abs(lstm_parameter_count(vocab_size, H, num_layers) - target))


def lm_loss(model: nn.Module, windows: Tensor) -> Tensor:
    """Mean next-token cross-entropy (nats) of a model with the ``model(idx, targets)`` interface on ``(B, T+1)`` windows."""
    _, loss = model(windows[:, :-1], windows[:, 1:])
    return loss


@torch.no_grad()
def bits_per_char(model: nn.Module, windows: Tensor, batch_size: int = 256, device: torch.device | str = "cpu") -> float:
    """Mean cross-entropy in bits of every next-character prediction in ``windows`` ``(N, T+1)``."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for i in range(0, len(windows), batch_size):
        w = windows[i : i + batch_size].to(device)
        logits, _ = model(w[:, :-1])
        total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), w[:, 1:].reshape(-1), reduction="sum").item()
        count += w[:, 1:].numel()
    model.train(was_training)
    return total / count / math.log(2)
