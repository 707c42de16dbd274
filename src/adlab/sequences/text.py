r"""Text as sequences of integer ids: character and word vocabularies, and truncated-BPTT batches.

A vocabulary is a list ``itos`` (id -> token) and its inverse ``stoi``. Id 0 is always
``<unk>``; tokens not seen when the vocabulary was built (or cut by ``min_freq``) encode to it.
Further special tokens (``<pad>``, ``<bos>``, ``<eos>`` for seq2seq) follow, then the corpus
tokens in a fixed order (most frequent first, ties broken by the token), so that a vocabulary
built from the same text is always the same.

Truncated backpropagation through time (:func:`contiguous_batches`): the token stream
$x_1 \dots x_N$ is cut into ``batch_size`` contiguous tracks, one per batch row, and each track
is walked in windows of ``seq_len``; the target is the input shifted by one,
$y_t = x_{t+1}$. Batch $k+1$'s row $b$ continues where batch $k$'s row $b$ stopped, so a
language model can carry its hidden state from one batch to the next (detached).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence

import torch
from torch import Tensor

UNK = "<unk>"
PAD, BOS, EOS = "<pad>", "<bos>", "<eos>"

# words (with inner apostrophes: "don't", "o'er"), or single punctuation marks
_WORD_RE = re.compile(r"\w+(?:'\w+)*|[^\w\s]")
_NO_SPACE_BEFORE = re.compile(r" ([,.;:!?')\]}])")
_NO_SPACE_AFTER = re.compile(r"([(\[{]) ")


class Vocab(ABC):
    """Id <-> token maps with ``<unk>`` at id 0, then ``specials``, then ``tokens`` in the given order."""

    def __init__(self, tokens: Iterable[str], specials: Sequence[str] = ()) -> None:
        itos = [UNK]
        for t in list(specials) + list(tokens):
            if t not in itos:
                itos.append(t)
        self.itos: list[str] = itos
        self.stoi: dict[str, int] = {t: i for i, t in enumerate(itos)}
        self.unk_id = 0

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def __getitem__(self, token: str) -> int:
        """The id of ``token`` (``<unk>``'s id when unknown)."""
        return self.stoi.get(token, self.unk_id)

    @abstractmethod
    def tokenize(self, text: str) -> list[str]:
        """Text -> tokens (each vocabulary defines its own)."""

    def encode(self, text: str) -> list[int]:
        """Text -> ids; unknown tokens map to ``<unk>`` (id 0)."""
        return [self.stoi.get(t, self.unk_id) for t in self.tokenize(text)]

    def encode_tensor(self, text: str) -> Tensor:
        """Text -> LongTensor of ids (N,)."""
        return torch.tensor(self.encode(text), dtype=torch.long)

    def tokens(self, ids: Iterable[int] | Tensor) -> list[str]:
        """Ids -> tokens."""
        if isinstance(ids, Tensor):
            ids = ids.tolist()
        return [self.itos[i] for i in ids]

    @abstractmethod
    def decode(self, ids: Iterable[int] | Tensor) -> str:
        """Ids -> text (each vocabulary defines its own)."""

    def __repr__(self) -> str:
        head = ", ".join(repr(t) for t in self.itos[:8])
        return f"{type(self).__name__}(size={len(self)}, [{head}{', ...' if len(self) > 8 else ''}])"


def _by_frequency(counts: Counter, min_freq: int, max_size: int | None) -> list[str]:
    kept = sorted((t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t))
    return kept[:max_size] if max_size is not None else kept


class CharVocab(Vocab):
    """One token per character. ``decode(encode(s)) == s`` for any text made of known characters.

    ``CharVocab(text)`` keeps every character of ``text`` (``min_freq`` cuts rare ones).
    Unknown characters encode to ``<unk>``, which decodes to the literal ``"<unk>"`` unless
    ``unk_char`` names a replacement character.
    """

    def __init__(self, text: str, specials: Sequence[str] = (), min_freq: int = 1, unk_char: str | None = None) -> None:
        super().__init__(_by_frequency(Counter(text), min_freq, None), specials)
        self.unk_char = unk_char

    def tokenize(self, text: str) -> list[str]:
        return list(text)

    def decode(self, ids: Iterable[int] | Tensor) -> str:
        toks = self.tokens(ids)
        if self.unk_char is not None:
            toks = [self.unk_char if t == UNK else t for t in toks]
        return "".join(toks)


class WordVocab(Vocab):
    r"""Word-level vocabulary: tokens are words (``\w+`` with inner apostrophes) and single punctuation marks.

    Words seen fewer than ``min_freq`` times (and beyond the ``max_size`` most frequent) are
    cut and encode to ``<unk>``. ``lower=True`` lower-cases before tokenizing. ``decode`` joins
    tokens with spaces and re-attaches punctuation (``"Hello , world !"`` -> ``"Hello, world!"``).
    """

    def __init__(
        self,
        text: str,
        min_freq: int = 1,
        max_size: int | None = None,
        lower: bool = False,
        specials: Sequence[str] = (),
    ) -> None:
        if min_freq < 1:
            raise ValueError(f"min_freq must be >= 1, got {min_freq}")
        self.lower = lower
        super().__init__(_by_frequency(Counter(self.tokenize(text)), min_freq, max_size), specials)

    def tokenize(self, text: str) -> list[str]:
        return _WORD_RE.findall(text.lower() if self.lower else text)

    def decode(self, ids: Iterable[int] | Tensor) -> str:
        s = " ".join(self.tokens(ids))
        return _NO_SPACE_AFTER.sub(r"\1", _NO_SPACE_BEFORE.sub(r"\1", s))


def contiguous_batches(
    ids: Sequence[int] | Tensor, batch_size: int, seq_len: int, drop_last: bool = False
) -> Iterator[tuple[Tensor, Tensor]]:
    """Yield (x, y), each (batch_size, t) with t <= seq_len, for truncated BPTT over one token stream.

    The stream of N ids gives L = (N - 1) // batch_size input positions per track; track b
    holds inputs ``ids[b*L : (b+1)*L]`` and targets ``ids[b*L + 1 : (b+1)*L + 1]``. Batches
    walk the tracks left to right in windows of ``seq_len``, so row b of batch k+1 starts
    where row b of batch k ended, and each of ``ids[1 : batch_size*L + 1]`` is a target exactly
    once (the last window is shorter unless ``drop_last``; the last (N - 1) % batch_size ids are
    never targets).
    """
    if batch_size < 1 or seq_len < 1:
        raise ValueError(f"batch_size and seq_len must be >= 1, got {batch_size} and {seq_len}")
    ids = torch.as_tensor(ids, dtype=torch.long)
    if ids.dim() != 1:
        raise ValueError(f"ids must be one stream (1-D), got shape {tuple(ids.shape)}")
    L = (ids.numel() - 1) // batch_size
    if L < 1:
        raise ValueError(f"a stream of {ids.numel()} ids is too short for batch_size={batch_size}")
    x_tracks = ids[: batch_size * L].view(batch_size, L)  # (B, L)
    y_tracks = ids[1 : batch_size * L + 1].view(batch_size, L)  # (B, L)
    for start in range(0, L, seq_len):
        stop = min(start + seq_len, L)
        if drop_last and stop - start < seq_len:
            break
        yield x_tracks[:, start:stop], y_tracks[:, start:stop]


def num_contiguous_batches(n_ids: int, batch_size: int, seq_len: int, drop_last: bool = False) -> int:
    """How many batches :func:`contiguous_batches` yields for a stream of ``n_ids`` ids."""
    L = (n_ids - 1) // batch_size
    return L // seq_len if drop_last else -(-L // seq_len)
