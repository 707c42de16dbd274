r"""Tokenisers: characters, whitespace words with a frequency cut, and byte-level BPE.

A language model's vocabulary decides what one input unit is.

- :class:`CharTokenizer`: one id per character seen in the training text. Tiny
  vocabulary, long sequences, nothing is ever out of vocabulary on the same
  alphabet.
- :class:`WordTokenizer`: split on whitespace (punctuation split off), keep the
  words seen at least ``min_freq`` times, map the rest to ``<unk>``. Short
  sequences, a large vocabulary, and rare words are lost.
- :class:`BPETokenizer`: byte-pair encoding (Sennrich et al., 2016) over UTF-8
  bytes (GPT-2). Start from the 256 byte values, so every string is
  representable, and repeatedly add the most frequent adjacent pair of
  symbols as a new symbol. Frequent words become one token, rare words
  several, and nothing is unknown.

All three have ``encode(text) -> list[int]``, ``decode(ids) -> str``,
``vocab_size`` and ``to_dict()`` / ``from_dict()`` (JSON-friendly) for saving.
"""

from __future__ import annotations

import heapq
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["CharTokenizer", "WordTokenizer", "BPETokenizer", "PRETOKENIZE_PATTERN"]


# ------------------------------------------------------------------ characters


class CharTokenizer:
    """One id per distinct character of the text it was built from (sorted order)."""

    def __init__(self, chars: Iterable[str]) -> None:
        self.itos: list[str] = sorted(set(chars))
        self.stoi: dict[str, int] = {c: i for i, c in enumerate(self.itos)}

    @classmethod
    def fit(cls, text: str) -> CharTokenizer:
        return cls(text)

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> list[int]:
        try:
            return [self.stoi[c] for c in text]
        except KeyError as e:
            raise ValueError(f"character {e.args[0]!r} is not in the tokenizer's alphabet") from None

    def decode(self, ids: Iterable[int]) -> str:
        return "".join(self.itos[i] for i in ids)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "char", "chars": self.itos}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CharTokenizer:
        return cls(d["chars"])


# ----------------------------------------------------------------------- words

_WORD_PATTERN = re.compile(r"\w+|[^\w\s]")


class WordTokenizer:
    """Whitespace words (punctuation marks as their own tokens) with a frequency cut.

    The vocabulary is ``specials`` first, then the words seen at least
    ``min_freq`` times, most frequent first (ties alphabetical), at most
    ``max_size`` entries in all. Other words encode to ``<unk>``. Decoding
    joins tokens with single spaces, so it does not restore the original
    spacing.
    """

    def __init__(self, vocab: Sequence[str], unk: str = "<unk>", lowercase: bool = False) -> None:
        if unk not in vocab:
            raise ValueError(f"the vocabulary must contain the unknown token {unk!r}")
        self.itos: list[str] = list(vocab)
        self.stoi: dict[str, int] = {w: i for i, w in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            raise ValueError("the vocabulary has duplicate entries")
        self.unk, self.unk_id, self.lowercase = unk, self.stoi[unk], lowercase

    @staticmethod
    def split(text: str, lowercase: bool = False) -> list[str]:
        """The word tokens of ``text``: runs of word characters, and single punctuation marks."""
        return _WORD_PATTERN.findall(text.lower() if lowercase else text)

    @classmethod
    def fit(
        cls,
        text: str,
        min_freq: int = 1,
        max_size: int | None = None,
        specials: Sequence[str] = ("<pad>", "<unk>"),
        unk: str = "<unk>",
        lowercase: bool = False,
    ) -> WordTokenizer:
        counts = Counter(cls.split(text, lowercase))
        kept = (w for w, c in counts.items() if c >= min_freq and w not in specials)
        words = sorted(kept, key=lambda w: (-counts[w], w))
        vocab = list(specials) + words
        if max_size is not None:
            vocab = vocab[:max_size]
        return cls(vocab, unk=unk, lowercase=lowercase)

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def token_id(self, token: str) -> int:
        return self.stoi[token]

    def encode(self, text: str) -> list[int]:
        return [self.stoi.get(w, self.unk_id) for w in self.split(text, self.lowercase)]

    def decode(self, ids: Iterable[int]) -> str:
        return " ".join(self.itos[i] for i in ids)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "word", "vocab": self.itos, "unk": self.unk, "lowercase": self.lowercase}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> WordTokenizer:
        return cls(d["vocab"], unk=d["unk"], lowercase=d["lowercase"])


# ------------------------------------------------------------------------- BPE

#: Pre-tokenisation (GPT-2's rule, in the standard ``re`` module): merges never
#: cross chunk boundaries, so a word keeps its leading space and letters,
#: digits and punctuation are merged separately. The last alternative catches
#: anything else, so the chunks always concatenate back to the text.
PRETOKENIZE_PATTERN = re.compile(
    r"""'(?:s|t|re|ve|m|ll|d)| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+|[\s\S]"""
)


def _merge_pair(symbols: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """Replace each non-overlapping occurrence of ``pair``, left to right, by ``new_id``."""
    out, i, n = [], 0, len(symbols)
    while i < n:
        if i + 1 < n and symbols[i] == pair[0] and symbols[i + 1] == pair[1]:
            out.append(new_id)
            i += 2
        else:
            out.append(symbols[i])
            i += 1
    return out


def _pair_counts(symbols: list[int]) -> Counter[tuple[int, int]]:
    return Counter(zip(symbols, symbols[1:]))


class BPETokenizer:
    r"""Byte-level byte-pair encoding.

    ``merges[r] = (a, b)`` is the rank-``r`` merge; it creates the symbol
    ``256 + r`` whose bytes are ``vocab[a] + vocab[b]``.

    Training (:meth:`train`): split the text into chunks
    (:data:`PRETOKENIZE_PATTERN`), write each chunk as its UTF-8 bytes, and
    repeat: count adjacent symbol pairs over all chunks (weighted by how often
    each chunk occurs), merge the most frequent pair everywhere. Ties go to the
    pair whose byte strings ``(vocab[a], vocab[b])`` sort first, then to the
    smaller ids, so training is deterministic. Pair counts are updated
    incrementally (only chunks containing the merged pair are revisited) and
    the best pair is found with a heap.

    Encoding applies the learned merges to each chunk in rank order: while
    some adjacent pair has a merge rule, merge the pair of lowest rank.
    Decoding concatenates the symbols' bytes and decodes UTF-8, so
    ``decode(encode(s)) == s`` for every string.
    """

    def __init__(self, merges: Sequence[tuple[int, int]] = ()) -> None:
        self.merges: list[tuple[int, int]] = [tuple(m) for m in merges]  # type: ignore[misc]
        self.vocab: list[bytes] = [bytes([b]) for b in range(256)]
        self.ranks: dict[tuple[int, int], int] = {}
        for r, (a, b) in enumerate(self.merges):
            if not (a < 256 + r and b < 256 + r):
                raise ValueError(f"merge {r} = {(a, b)} refers to a symbol not yet created")
            self.vocab.append(self.vocab[a] + self.vocab[b])
            self.ranks[(a, b)] = r
        self._chunk_cache: dict[str, list[int]] = {}

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    # -------------------------------------------------------------- training

    @classmethod
    def train(cls, text: str, vocab_size: int, min_pair_count: int = 2) -> BPETokenizer:
        """Learn ``vocab_size - 256`` merges from ``text`` (fewer if no pair
        occurs at least ``min_pair_count`` times)."""
        if vocab_size < 256:
            raise ValueError(f"a byte-level vocabulary has at least 256 symbols, got vocab_size={vocab_size}")
        chunk_freq = Counter(PRETOKENIZE_PATTERN.findall(text))
        words: list[list[int]] = [list(chunk.encode("utf-8")) for chunk in chunk_freq]
        freqs: list[int] = list(chunk_freq.values())
        vocab: list[bytes] = [bytes([b]) for b in range(256)]

        # pair -> weighted count, and pair -> the chunks that contain it
        counts: Counter[tuple[int, int]] = Counter()
        where: dict[tuple[int, int], set[int]] = {}
        for w, (symbols, f) in enumerate(zip(words, freqs)):
            for pair, c in _pair_counts(symbols).items():
                counts[pair] += c * f
                where.setdefault(pair, set()).add(w)

        def entry(pair: tuple[int, int]) -> tuple:
            return (-counts[pair], vocab[pair[0]], vocab[pair[1]], pair)

        heap = [entry(p) for p in counts]
        heapq.heapify(heap)
        merges: list[tuple[int, int]] = []
        while len(vocab) < vocab_size and heap:
            neg_count, _, _, pair = heapq.heappop(heap)
            if counts.get(pair, 0) != -neg_count:
                continue  # stale entry: the count changed since it was pushed
            if -neg_count < min_pair_count:
                break
            new_id = len(vocab)
            merges.append(pair)
            vocab.append(vocab[pair[0]] + vocab[pair[1]])

            changed: set[tuple[int, int]] = set()
            for w in where.pop(pair):
                old, f = words[w], freqs[w]
                new = _merge_pair(old, pair, new_id)
                words[w] = new
                old_c, new_c = _pair_counts(old), _pair_counts(new)
                for p in old_c.keys() | new_c.keys():
                    delta = new_c.get(p, 0) - old_c.get(p, 0)
                    if delta:
                        counts[p] += delta * f
                        changed.add(p)
                    if p in new_c:
                        where.setdefault(p, set()).add(w)
                    elif p in where:
                        where[p].discard(w)
            for p in changed:
                if counts[p] > 0:
                    heapq.heappush(heap, entry(p))
                else:
                    del counts[p]
                    where.pop(p, None)
        return cls(merges)

    # -------------------------------------------------------------- encoding

    def _encode_chunk(self, chunk: str) -> list[int]:
        cached = self._chunk_cache.get(chunk)
        if cached is not None:
            return cached
        symbols = list(chunk.encode("utf-8"))
        while len(symbols) >= 2:
            # the adjacent pair with the lowest merge rank
            pair = min(zip(symbols, symbols[1:]), key=lambda p: self.ranks.get(p, len(self.ranks)))
            if pair not in self.ranks:
                break
            symbols = _merge_pair(symbols, pair, 256 + self.ranks[pair])
        self._chunk_cache[chunk] = symbols
        return symbols

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        for chunk in PRETOKENIZE_PATTERN.findall(text):
            ids.extend(self._encode_chunk(chunk))
        return ids

    def decode(self, ids: Iterable[int], errors: str = "replace") -> str:
        """Bytes of the symbols, decoded as UTF-8 (an arbitrary id sequence can
        cut a character in half; ``errors`` says what to do then)."""
        return b"".join(self.vocab[i] for i in ids).decode("utf-8", errors=errors)

    def token_bytes(self, i: int) -> bytes:
        return self.vocab[i]

    def compression_ratio(self, text: str) -> float:
        """UTF-8 bytes per token on ``text`` (1.0 with no merges; higher is shorter)."""
        n = len(self.encode(text))
        return len(text.encode("utf-8")) / max(n, 1)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "bpe", "merges": [list(m) for m in self.merges]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BPETokenizer:
        return cls([tuple(m) for m in d["merges"]])
