r"""Sequence-to-sequence: an LSTM encoder-decoder, teacher forcing, greedy and beam decoding, and tasks.

The encoder reads the source $x_1 \dots x_S$ and its final state is the context that starts
the decoder (the lecture's pseudocode, source L1605-1619):

    $(h_0^{dec}, c_0^{dec}) = \mathrm{LSTM}_{enc}(x_1 \dots x_S)$,
    $P(y_t \mid y_{<t}, x) = \mathrm{softmax}(W_{hy} h_t^{dec})$, $h_t^{dec} = \mathrm{LSTM}_{dec}(h_{t-1}^{dec}, E y_{t-1})$

Teacher forcing: during training the decoder reads the true previous token $y_{t-1}$
(``<bos>`` first), not its own guess; the loss is the cross-entropy of $y_1 \dots y_T, $``<eos>``.

Decoding: greedy takes the argmax at each step. Beam search keeps the ``beam_width`` most
probable prefixes; a prefix that emits ``<eos>`` is finished and leaves the beam (which then
shrinks), and the finished hypotheses are ranked by the length-normalised log-probability
$\frac{1}{|y|^\alpha} \sum_t \ln P(y_t \mid y_{<t}, x)$ ($|y|$ counts ``<eos>``; $\alpha = 1$
by default, $\alpha = 0$ is the plain log-probability). With width 1 it is greedy decoding.

Tasks (generated deterministically from a ``torch.Generator``): date normalisation from
varied formats (``"3 March 2021"``, ``"03/03/21"``, ``"March 3, 2021"``, ... -> ``"2021-03-03"``;
numeric dates are day/month/year), string reversal and sorting.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from adlab.nn.recurrent import RNN, State
from adlab.sequences.text import BOS, EOS, PAD, CharVocab, Vocab

SPECIALS = (PAD, BOS, EOS)
# ids of the specials in any Vocab built with specials=SPECIALS (<unk> is 0)
PAD_ID, BOS_ID, EOS_ID = 1, 2, 3

StepFn = Callable[[Tensor, State], tuple[Tensor, State]]


class Seq2Seq(nn.Module):
    """LSTM encoder-decoder; the encoder's final (h, c) of every layer is the decoder's initial state."""

    def __init__(
        self,
        src_vocab_size: int,
        tgt_vocab_size: int,
        d_embed: int = 64,
        d_hidden: int = 128,
        num_layers: int = 1,
        fast: bool = True,
        dropout: float = 0.0,
        pad_id: int = PAD_ID,
        bos_id: int = BOS_ID,
        eos_id: int = EOS_ID,
    ) -> None:
        super().__init__()
        self.pad_id, self.bos_id, self.eos_id = pad_id, bos_id, eos_id
        self.src_embed = nn.Embedding(src_vocab_size, d_embed, padding_idx=pad_id)
        self.tgt_embed = nn.Embedding(tgt_vocab_size, d_embed, padding_idx=pad_id)
        self.encoder = RNN("lstm", d_embed, d_hidden, num_layers, fast=fast, dropout=dropout)
        self.decoder = RNN("lstm", d_embed, d_hidden, num_layers, fast=fast, dropout=dropout)
        self.W_hy = nn.Linear(d_hidden, tgt_vocab_size)

    def encode(self, src: Tensor, src_lengths: Tensor | None = None) -> State:
        """src (B, S) -> context: the final (h, c), each (L, B, H), at each source's true end."""
        _, state = self.encoder(self.src_embed(src), None, src_lengths)
        return state

    def forward(self, src: Tensor, tgt_in: Tensor, src_lengths: Tensor | None = None) -> Tensor:
        """Teacher forcing: tgt_in (B, T) = <bos> y_1 .. y_{T-1} -> logits (B, T, V) for y_1 .. y_T."""
        state = self.encode(src, src_lengths)
        h, _ = self.decoder(self.tgt_embed(tgt_in), state)  # (B, T, H)
        return self.W_hy(h)

    def decode_step(self, tokens: Tensor, state: State) -> tuple[Tensor, State]:
        """One decoder step: tokens (N,) -> log-probabilities (N, V) of the next token, new state."""
        h, state = self.decoder(self.tgt_embed(tokens[:, None]), state)  # (N, 1, H)
        return F.log_softmax(self.W_hy(h[:, 0]), dim=-1), state


def seq2seq_loss(logits: Tensor, tgt_out: Tensor, pad_id: int = PAD_ID) -> Tensor:
    """Mean cross-entropy (nats) over the non-pad target positions. logits (B, T, V), tgt_out (B, T)."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1), ignore_index=pad_id)


# ----------------------------------------------------------------------------------------------
# Decoding, written against a step function so that any decoder (or a hand-built table) fits.


def _index_state(state, idx: Tensor, dim: int = 1):
    """Select beams ``idx`` along the batch dimension of a tensor or a tuple of tensors (torch's (L, N, H))."""
    if isinstance(state, tuple):
        return tuple(s.index_select(dim, idx) for s in state)
    return state.index_select(dim, idx)


def greedy_steps(step: StepFn, state: State, bos_id: int, eos_id: int, max_len: int, batch_size: int = 1) -> list[list[int]]:
    """Argmax decoding of a batch; each output stops before its first <eos> (or at max_len)."""
    device = (state[0] if isinstance(state, tuple) else state).device
    tokens = torch.full((batch_size,), bos_id, dtype=torch.long, device=device)
    outs: list[list[int]] = [[] for _ in range(batch_size)]
    done = [False] * batch_size
    for _ in range(max_len):
        logp, state = step(tokens, state)
        tokens = logp.argmax(-1)
        for b, tok in enumerate(tokens.tolist()):
            if not done[b]:
                if tok == eos_id:
                    done[b] = True
                else:
                    outs[b].append(tok)
        if all(done):
            break
    return outs


@dataclass
class Hypothesis:
    """A decoded sequence (without <bos>/<eos>), its total log-probability and its normalised score."""

    tokens: list[int]
    log_prob: float
    score: float
    finished: bool


def beam_search_steps(
    step: StepFn,
    state: State,
    bos_id: int,
    eos_id: int,
    beam_width: int,
    max_len: int,
    alpha: float = 1.0,
) -> list[Hypothesis]:
    """Beam search for one source (``state`` with batch size 1); hypotheses best first.

    Returns up to ``beam_width`` hypotheses: those that emitted <eos>, plus (marked
    ``finished=False``) those still alive after ``max_len`` steps.
    """
    if beam_width < 1:
        raise ValueError(f"beam_width must be >= 1, got {beam_width}")
    device = (state[0] if isinstance(state, tuple) else state).device
    alive: list[list[int]] = [[]]
    alive_logp = torch.zeros(1, dtype=torch.float64, device=device)  # (N,)
    last = torch.tensor([bos_id], device=device)
    finished: list[Hypothesis] = []

    def score(n_tokens: int, lp: float) -> float:
        return lp / max(n_tokens, 1) ** alpha

    for t in range(max_len):
        logp, state = step(last, state)  # (N, V)
        V = logp.shape[-1]
        cand = (alive_logp[:, None] + logp.double()).reshape(-1)  # (N*V,)
        # all candidates have length t + 1, so their normalised order is their log-prob order
        k = min(beam_width - len(finished), cand.numel())
        top_lp, top_i = cand.topk(k)
        keep_beam, keep_tok, keep_lp = [], [], []
        for lp, i in zip(top_lp.tolist(), top_i.tolist()):
            beam, tok = divmod(i, V)
            if tok == eos_id:
                finished.append(Hypothesis(alive[beam], lp, score(t + 1, lp), True))
            else:
                keep_beam.append(beam)
                keep_tok.append(tok)
                keep_lp.append(lp)
        if not keep_beam:
            alive = []
            break
        alive = [alive[b] + [tok] for b, tok in zip(keep_beam, keep_tok)]
        alive_logp = torch.tensor(keep_lp, dtype=torch.float64, device=device)
        idx = torch.tensor(keep_beam, device=device)
        state = _index_state(state, idx)
        last = torch.tensor(keep_tok, device=device)
    finished += [Hypothesis(seq, lp, score(len(seq), lp), False) for seq, lp in zip(alive, alive_logp.tolist())]
    return sorted(finished, key=lambda h: h.score, reverse=True)


@torch.no_grad()
def greedy_decode(model: Seq2Seq, src: Tensor, src_lengths: Tensor | None = None, max_len: int = 32) -> list[list[int]]:
    """Greedy decoding of a batch of sources (B, S) -> B token lists (without <bos>/<eos>)."""
    state = model.encode(src, src_lengths)
    return greedy_steps(model.decode_step, state, model.bos_id, model.eos_id, max_len, batch_size=src.shape[0])


@torch.no_grad()
def beam_search(model: Seq2Seq, src: Tensor, beam_width: int = 4, max_len: int = 32, alpha: float = 1.0) -> list[Hypothesis]:
    """Beam search for one source ``src`` (S,) -> hypotheses, best first (see :func:`beam_search_steps`)."""
    state = model.encode(src[None])
    return beam_search_steps(model.decode_step, state, model.bos_id, model.eos_id, beam_width, max_len, alpha)


# ----------------------------------------------------------------------------------------------
# Tasks and batching.

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December")

# every source format, as a function of (day, month, year); numeric forms are day/month/year
DATE_FORMATS: dict[str, Callable[[int, int, int], str]] = {
    "d Month yyyy": lambda d, m, y: f"{d} {MONTHS[m - 1]} {y}",
    "dd/mm/yy": lambda d, m, y: f"{d:02d}/{m:02d}/{y % 100:02d}",
    "Month d, yyyy": lambda d, m, y: f"{MONTHS[m - 1]} {d}, {y}",
    "d Mon yyyy": lambda d, m, y: f"{d} {MONTHS[m - 1][:3]} {y}",
    "dd.mm.yyyy": lambda d, m, y: f"{d:02d}.{m:02d}.{y}",
    "d/m/yyyy": lambda d, m, y: f"{d}/{m}/{y}",
}
DATE_ALPHABET = "".join(sorted(set("0123456789 ,./-" + "".join(MONTHS))))


def date_pairs(
    n: int, generator: torch.Generator, first: dt.date = dt.date(1970, 1, 1), last: dt.date = dt.date(2049, 12, 31)
) -> list[tuple[str, str]]:
    """``n`` (source, target) pairs: a uniform random date in [first, last] in a random format, and its ISO form.

    The default range keeps two-digit years unambiguous (70-99 -> 19xx, 00-49 -> 20xx).
    """
    if last < first:
        raise ValueError(f"last ({last}) is before first ({first})")
    span = last.toordinal() - first.toordinal() + 1
    days = torch.randint(span, (n,), generator=generator).tolist()
    fmts = torch.randint(len(DATE_FORMATS), (n,), generator=generator).tolist()
    formats = list(DATE_FORMATS.values())
    pairs = []
    for k, f in zip(days, fmts):
        d = dt.date.fromordinal(first.toordinal() + k)
        pairs.append((formats[f](d.day, d.month, d.year), d.isoformat()))
    return pairs


def _random_strings(n: int, generator: torch.Generator, alphabet: str, min_len: int, max_len: int) -> list[str]:
    if not 1 <= min_len <= max_len:
        raise ValueError(f"need 1 <= min_len <= max_len, got {min_len}, {max_len}")
    lengths = torch.randint(min_len, max_len + 1, (n,), generator=generator).tolist()
    return ["".join(alphabet[i] for i in torch.randint(len(alphabet), (L,), generator=generator).tolist()) for L in lengths]


def reverse_pairs(n: int, generator: torch.Generator, alphabet: str = "abcdefghij", min_len: int = 3, max_len: int = 10) -> list[tuple[str, str]]:
    """(s, s reversed) for random strings s over ``alphabet``."""
    return [(s, s[::-1]) for s in _random_strings(n, generator, alphabet, min_len, max_len)]


def sort_pairs(n: int, generator: torch.Generator, alphabet: str = "abcdefghij", min_len: int = 3, max_len: int = 10) -> list[tuple[str, str]]:
    """(s, s sorted) for random strings s over ``alphabet``."""
    return [(s, "".join(sorted(s))) for s in _random_strings(n, generator, alphabet, min_len, max_len)]


def task_vocab(alphabet: str) -> CharVocab:
    """A character vocabulary with <unk>, <pad>, <bos>, <eos> at ids 0-3 (PAD_ID, BOS_ID, EOS_ID)."""
    return CharVocab(alphabet, specials=SPECIALS)


@dataclass
class Seq2SeqBatch:
    src: Tensor  # (B, S) padded with <pad>
    src_lengths: Tensor  # (B,)
    tgt_in: Tensor  # (B, T): <bos> y_1 .. y_n, padded
    tgt_out: Tensor  # (B, T): y_1 .. y_n <eos>, padded


def make_batch(pairs: Sequence[tuple[str, str]], src_vocab: Vocab, tgt_vocab: Vocab) -> Seq2SeqBatch:
    """Encode and pad (source, target) string pairs for teacher forcing."""
    for v in (src_vocab, tgt_vocab):
        if [v.stoi.get(s) for s in SPECIALS] != [PAD_ID, BOS_ID, EOS_ID]:
            raise ValueError("vocabularies must be built with specials=SPECIALS (see task_vocab)")
    srcs = [src_vocab.encode(s) for s, _ in pairs]
    tgts = [tgt_vocab.encode(t) for _, t in pairs]
    B, S, T = len(pairs), max(map(len, srcs)), max(map(len, tgts)) + 1
    src = torch.full((B, S), PAD_ID, dtype=torch.long)
    tgt_in = torch.full((B, T), PAD_ID, dtype=torch.long)
    tgt_out = torch.full((B, T), PAD_ID, dtype=torch.long)
    for b, (s, t) in enumerate(zip(srcs, tgts)):
        src[b, : len(s)] = torch.tensor(s, dtype=torch.long)
        tgt_in[b, : len(t) + 1] = torch.tensor([BOS_ID] + t, dtype=torch.long)
        tgt_out[b, : len(t) + 1] = torch.tensor(t + [EOS_ID], dtype=torch.long)
    return Seq2SeqBatch(src, torch.tensor([len(s) for s in srcs]), tgt_in, tgt_out)
