r"""A BERT-style encoder: masked-LM and next-sentence pretraining, then fine-tuning.

Input: ``[CLS] A [SEP] B [SEP]``, embedded as the sum of a token, a position
and a segment embedding (segment 0 for ``[CLS] A [SEP]``, 1 for ``B [SEP]``),
then LayerNorm, then a stack of bidirectional post-LN transformer blocks.
Every position sees every other, so each output vector is a contextual
representation of its token.

Pretraining has two objectives, both from unlabelled text:

- **Masked LM**: select 15% of the (non-special) tokens; of the selected, put
  ``[MASK]`` in 80%, a random token in 10% and leave 10% unchanged (the
  "secondary rule" of the lecture, source L1883, is this 80/10/10 rule: since
  ``[MASK]`` never appears at fine-tuning time, the model must also produce a
  good representation for tokens it sees as they are). The loss is the
  cross-entropy at the selected positions only:
  $\mathcal{L}_{MLM} = -\frac{1}{|S|} \sum_{i \in S} \log p(x_i \mid \tilde{x})$.
- **Next-sentence prediction**: from the ``[CLS]`` output, classify whether
  B followed A in the corpus (50%) or is a random sentence (50%).

Fine-tuning adds a small head on the ``[CLS]`` output (or on the mean of the
token vectors) and trains *all* weights on the labelled task.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from adlab.nn.positions import LearnedPositions
from adlab.nn.transformer import TransformerBlock

__all__ = [
    "BertConfig",
    "mask_tokens",
    "pack_pair",
    "BertEncoder",
    "BertPretrainingOutput",
    "BertForPretraining",
    "BertClassifier",
]

IGNORE_INDEX = -100


@dataclass
class BertConfig:
    """Size and shape of a BERT-style encoder."""

    vocab_size: int = 1000
    """Number of token ids $V$, special tokens included."""
    max_len: int = 128
    """Longest input (number of learned positions)."""
    n_layer: int = 4
    """Number of transformer blocks."""
    n_head: int = 4
    """Attention heads per block; ``d_model`` must divide by it."""
    d_model: int = 128
    """Width of the token representations."""
    d_ff: int | None = None
    """Hidden width of the feed-forward nets; ``4 * d_model`` when ``None``."""
    dropout: float = 0.1
    """Dropout on embeddings, attention weights, FFN hidden units and residual branches."""
    n_segments: int = 2
    """Number of segment (sentence A / B) embeddings."""
    norm: Literal["post", "pre"] = "post"
    """LayerNorm placement in the blocks: ``"post"`` (BERT) or ``"pre"``."""
    pad_id: int = 0
    """Token id of ``[PAD]``; padded positions are not attended to."""

    @property
    def ff_width(self) -> int:
        return 4 * self.d_model if self.d_ff is None else self.d_ff


# ------------------------------------------------------------------ masking


def mask_tokens(
    input_ids: Tensor,
    mask_id: int,
    vocab_size: int,
    special_ids: Iterable[int],
    generator: torch.Generator,
    select_prob: float = 0.15,
    mask_prob: float = 0.8,
    random_prob: float = 0.1,
) -> tuple[Tensor, Tensor]:
    """BERT's masked-LM corruption.

    Each token whose id is not in ``special_ids`` is selected with probability
    ``select_prob``; a selected token becomes ``mask_id`` with probability
    ``mask_prob``, a uniformly random non-special token with probability
    ``random_prob`` (which may by chance be the same token), and stays as it
    is otherwise.

    Returns:
        ``(corrupted_ids, labels)``: ``labels`` holds the original id at the
        selected positions and ``-100`` (ignored by the loss) elsewhere.
    """
    if not (0 <= mask_prob and 0 <= random_prob and mask_prob + random_prob <= 1):
        raise ValueError("mask_prob and random_prob must be non-negative and sum to at most 1")
    special = torch.tensor(sorted(set(special_ids)), dtype=torch.long)
    is_special = torch.isin(input_ids.cpu(), special)
    all_ids = torch.arange(vocab_size)
    candidates = all_ids[~torch.isin(all_ids, special)]  # what a random replacement may be

    dev = generator.device
    u_select = torch.rand(input_ids.shape, generator=generator, device=dev).cpu()
    u_action = torch.rand(input_ids.shape, generator=generator, device=dev).cpu()
    random_tok = torch.randint(len(candidates), input_ids.shape, generator=generator, device=dev).cpu()

    selected = (u_select < select_prob) & ~is_special
    to_mask = selected & (u_action < mask_prob)
    to_random = selected & (u_action >= mask_prob) & (u_action < mask_prob + random_prob)

    corrupted = input_ids.cpu().clone()
    corrupted[to_mask] = mask_id
    corrupted[to_random] = candidates[random_tok[to_random]]
    labels = torch.where(selected, input_ids.cpu(), torch.full_like(corrupted, IGNORE_INDEX))
    return corrupted.to(input_ids.device), labels.to(input_ids.device)


def pack_pair(a: Sequence[int], b: Sequence[int] | None, cls_id: int, sep_id: int) -> tuple[list[int], list[int]]:
    """``[CLS] a [SEP] b [SEP]`` and its segment ids (0 for the first part, 1 for ``b [SEP]``)."""
    ids = [cls_id, *a, sep_id]
    segments = [0] * len(ids)
    if b is not None:
        ids += [*b, sep_id]
        segments += [1] * (len(b) + 1)
    return ids, segments


# -------------------------------------------------------------------- model


class BertEncoder(nn.Module):
    """Embeddings and the bidirectional transformer stack.

    ``forward(input_ids, segment_ids=None, attention_mask=None)`` returns the
    contextual vectors ``(B, T, d)``. ``attention_mask`` ``(B, T)`` is
    ``True`` at real tokens; when ``None`` it is ``input_ids != pad_id``.
    """

    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.tok_emb = nn.Embedding(cfg.vocab_size, d)
        self.pos_emb = LearnedPositions(cfg.max_len, d)
        self.seg_emb = nn.Embedding(cfg.n_segments, d)
        self.emb_ln = nn.LayerNorm(d)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(
            TransformerBlock(d, cfg.n_head, cfg.ff_width, dropout=cfg.dropout, norm=cfg.norm, activation="gelu")
            for _ in range(cfg.n_layer)
        )
        self.ln_f = nn.LayerNorm(d) if cfg.norm == "pre" else nn.Identity()
        # BERT: N(0, 0.02^2) weights, zero biases
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)

    def forward(
        self, input_ids: Tensor, segment_ids: Tensor | None = None, attention_mask: Tensor | None = None
    ) -> Tensor:
        B, T = input_ids.shape
        if segment_ids is None:
            segment_ids = torch.zeros_like(input_ids)
        if attention_mask is None:
            attention_mask = input_ids != self.cfg.pad_id
        pos = torch.arange(T, device=input_ids.device)
        # $h_0 = \mathrm{LN}(E_{tok}[x_t] + E_{pos}[t] + E_{seg}[s_t])$           (B, T, d)
        h = self.drop(self.emb_ln(self.tok_emb(input_ids) + self.pos_emb(pos) + self.seg_emb(segment_ids)))
        key_mask = attention_mask.bool()[:, None, None, :]  # (B, 1, 1, T): keys each query may see
        for block in self.blocks:
            h = block(h, mask=key_mask)
        return self.ln_f(h)


@dataclass
class BertPretrainingOutput:
    mlm_logits: Tensor
    """``(B, T, V)`` masked-LM logits at every position."""
    nsp_logits: Tensor
    """``(B, 2)`` next-sentence logits (class 1 = B follows A)."""
    loss: Tensor | None
    """MLM loss (+ NSP loss when NSP labels are given), or ``None``."""
    mlm_loss: Tensor | None
    nsp_loss: Tensor | None


class BertForPretraining(nn.Module):
    """Encoder + masked-LM head (tied to the token embeddings) + NSP head on ``[CLS]``."""

    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.encoder = BertEncoder(cfg)
        # MLM head: $\mathrm{LN}(\mathrm{gelu}(h W + b)) E_{tok}^\top + b_V$
        self.mlm_transform = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.LayerNorm(d))
        self.mlm_bias = nn.Parameter(torch.zeros(cfg.vocab_size))
        # NSP head: pooler $\tanh(h_{CLS} W_p + b_p)$, then two logits
        self.pooler = nn.Sequential(nn.Linear(d, d), nn.Tanh())
        self.nsp_head = nn.Linear(d, 2)
        for m in (self.mlm_transform[0], self.pooler[0], self.nsp_head):
            nn.init.normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)

    def forward(
        self,
        input_ids: Tensor,
        segment_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
        mlm_labels: Tensor | None = None,
        nsp_labels: Tensor | None = None,
    ) -> BertPretrainingOutput:
        h = self.encoder(input_ids, segment_ids, attention_mask)  # (B, T, d)
        mlm_logits = self.mlm_transform(h) @ self.encoder.tok_emb.weight.T + self.mlm_bias  # (B, T, V)
        nsp_logits = self.nsp_head(self.pooler(h[:, 0]))  # (B, 2)
        mlm_loss = nsp_loss = None
        if mlm_labels is not None:
            mlm_loss = F.cross_entropy(
                mlm_logits.reshape(-1, mlm_logits.shape[-1]), mlm_labels.reshape(-1), ignore_index=IGNORE_INDEX
            )
        if nsp_labels is not None:
            nsp_loss = F.cross_entropy(nsp_logits, nsp_labels)
        losses = [x for x in (mlm_loss, nsp_loss) if x is not None]
        loss = torch.stack(losses).sum() if losses else None
        return BertPretrainingOutput(mlm_logits, nsp_logits, loss, mlm_loss, nsp_loss)


class BertClassifier(nn.Module):
    """Fine-tuning: a pretrained (or fresh) encoder and a linear head on ``[CLS]`` or the token mean.

    All weights, the encoder's included, are trained unless
    ``freeze_encoder=True`` (a linear probe, for comparison).

    Args:
        encoder: a :class:`BertEncoder` (e.g. ``pretrained.encoder``).
        n_classes: number of labels.
        dropout: dropout before the head.
        pooler: a pretrained pooler (``BertForPretraining.pooler``) to reuse;
            a fresh one when ``None``. Used with ``pooling="cls"`` only.
        pooling: ``"cls"``: the pooler on the ``[CLS]`` vector (BERT);
            ``"mean"``: the mean of the vectors of the real (non-pad) tokens,
            fed to the head directly (no pooler).
    """

    def __init__(
        self,
        encoder: BertEncoder,
        n_classes: int,
        dropout: float = 0.1,
        pooler: nn.Module | None = None,
        freeze_encoder: bool = False,
        pooling: Literal["cls", "mean"] = "cls",
    ) -> None:
        super().__init__()
        if pooling not in ("cls", "mean"):
            raise ValueError(f"pooling must be 'cls' or 'mean', not {pooling!r}")
        self.pooling = pooling
        d = encoder.cfg.d_model
        self.encoder = encoder
        self.pooler = pooler if pooler is not None else nn.Sequential(nn.Linear(d, d), nn.Tanh())
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(d, n_classes)
        # new layers start as BERT's do: N(0, 0.02^2) weights, zero biases (a reused pooler keeps its weights)
        for m in (self.head, *([] if pooler is not None else [self.pooler[0]])):
            nn.init.normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)
        self.encoder.requires_grad_(not freeze_encoder)

    def forward(
        self,
        input_ids: Tensor,
        segment_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
        labels: Tensor | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        """Class logits ``(B, n_classes)`` and, with ``labels``, the cross-entropy."""
        h = self.encoder(input_ids, segment_ids, attention_mask)  # (B, T, d)
        if self.pooling == "cls":
            pooled = self.pooler(h[:, 0])
        else:
            if attention_mask is None:
                attention_mask = input_ids != self.encoder.cfg.pad_id
            m = attention_mask.to(h.dtype)[:, :, None]  # (B, T, 1)
            pooled = (h * m).sum(1) / m.sum(1).clamp_min(1.0)  # $\frac{1}{|t: real|}\sum_t h_t$
        logits = self.head(self.drop(pooled))
        loss = None if labels is None else F.cross_entropy(logits, labels)
        return logits, loss
