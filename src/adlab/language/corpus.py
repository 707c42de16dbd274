"""Word-level views of the Shakespeare corpus for BERT and word2vec: spoken lines, sentence
pairs for next-sentence prediction, a few-label "which play is this from" task, and the two
senses of *will*.

A *spoken line* is a line of verse or prose: not a speaker's name (written in capitals), not a
stage direction (in brackets), not an act or scene heading, and at least ``min_words`` words.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from adlab.language.bert import pack_pair
from adlab.language.tokenizers import WordTokenizer

__all__ = [
    "SPECIALS",
    "spoken_lines",
    "fit_word_tokenizer",
    "pad_batch",
    "LinePairs",
    "play_passages",
    "WILL_NOUN_BEFORE",
    "WILL_VERB_BEFORE",
    "will_sense",
]

#: BERT's special tokens; ``[PAD]`` is id 0.
SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def spoken_lines(text: str, min_words: int = 3) -> list[str]:
    """The spoken lines of a play, in order (see the module docstring)."""
    out = []
    for raw in text.split("\n"):
        line = raw.strip()
        if not line or line.startswith("[") or line.endswith("]"):
            continue
        letters = [c for c in line if c.isalpha()]
        if not letters or all(c.isupper() for c in letters):  # speaker names, titles, "ACT II."
            continue
        if line.startswith(("ACT ", "SCENE ", "Scene ")):
            continue
        if sum(w[0].isalnum() for w in WordTokenizer.split(line)) >= min_words:  # words, not punctuation
            out.append(line)
    return out


def fit_word_tokenizer(lines: Sequence[str], vocab_size: int, specials: Sequence[str] = SPECIALS) -> WordTokenizer:
    """Lower-cased words (punctuation marks as tokens), the ``vocab_size - len(specials)`` most frequent."""
    return WordTokenizer.fit("\n".join(lines), max_size=vocab_size, specials=specials, unk=specials[1], lowercase=True)


def pad_batch(seqs: Sequence[Sequence[int]], pad: int = 0) -> torch.Tensor:
    """Right-pad integer sequences into a ``(B, max_len)`` tensor."""
    n = max(len(s) for s in seqs)
    out = torch.full((len(seqs), n), pad, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = torch.tensor(s, dtype=torch.long)
    return out


class LinePairs:
    """Next-sentence-prediction batches from the encoded lines of several plays.

    ``plays`` holds each play's encoded lines in order. :meth:`batch` builds
    ``[CLS] A [SEP] B [SEP]`` where B is the line after A (label 1) or, with probability 1/2,
    a line drawn from anywhere in the corpus (label 0); lines are cut to ``max_line`` tokens.
    """

    def __init__(self, plays: Sequence[Sequence[list[int]]]) -> None:
        self.plays = plays
        self.starts = [(p, i) for p, lines in enumerate(plays) for i in range(len(lines) - 1)]
        self.flat = [line for lines in plays for line in lines]

    def batch(
        self, batch_size: int, max_line: int, cls_id: int, sep_id: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(ids, segment_ids, nsp_labels)``, ids padded with 0."""
        pick = torch.randint(len(self.starts), (batch_size,), generator=generator).tolist()
        follows = (torch.rand(batch_size, generator=generator) < 0.5).tolist()
        other = torch.randint(len(self.flat), (batch_size,), generator=generator).tolist()
        ids, segs, labels = [], [], []
        for k, f, o in zip(pick, follows, other):
            p, i = self.starts[k]
            a = self.plays[p][i][:max_line]
            b = (self.plays[p][i + 1] if f else self.flat[o])[:max_line]
            x, s = pack_pair(a, b, cls_id, sep_id)
            ids.append(x)
            segs.append(s)
            labels.append(int(f))
        return pad_batch(ids), pad_batch(segs), torch.tensor(labels, dtype=torch.long)


def play_passages(lines: Sequence[str], lines_per_passage: int = 2) -> list[str]:
    """Non-overlapping runs of ``lines_per_passage`` consecutive spoken lines, joined by spaces."""
    n = len(lines) // lines_per_passage
    return [" ".join(lines[i * lines_per_passage : (i + 1) * lines_per_passage]) for i in range(n)]


#: Words after which *will* is the noun (wish, resolve, testament): possessives, articles, adjectives.
WILL_NOUN_BEFORE = frozenset("my thy his her your our their the thine mine a good free own ill".split())
#: Words after which *will* is the auxiliary verb (future, intention): subject pronouns.
WILL_VERB_BEFORE = frozenset("i you he she we they it who there".split())


def will_sense(words: Sequence[str], i: int) -> int | None:
    """The sense of ``words[i] == "will"`` from the word before it: 0 noun, 1 verb, None when unclear."""
    if i == 0 or words[i] != "will":
        return None
    before = words[i - 1]
    if before in WILL_NOUN_BEFORE:
        return 0
    if before in WILL_VERB_BEFORE:
        return 1
    return None
