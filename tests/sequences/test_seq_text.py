"""Vocabularies and truncated-BPTT batching."""

import pytest
import torch

from adlab.sequences.text import UNK, CharVocab, WordVocab, contiguous_batches, num_contiguous_batches

TEXT = "To be, or not to be: that is the question.\nWhether 'tis nobler in the mind to suffer"


def test_char_round_trip_and_unknown():
    v = CharVocab(TEXT)
    assert v.itos[0] == UNK and len(v) == len(set(TEXT)) + 1
    assert v.decode(v.encode(TEXT)) == TEXT
    ids = v.encode("toZ")
    assert ids[2] == v.unk_id == 0 and ids[0] == v["t"]
    assert v.decode(ids) == "to<unk>"
    assert CharVocab(TEXT, unk_char="?").decode(ids) == "to?"
    # deterministic: most frequent first (space is the most common character here)
    assert v.itos[1] == " " and CharVocab(TEXT).itos == v.itos


def test_char_specials_come_first():
    v = CharVocab("abc", specials=("<pad>", "<bos>", "<eos>"))
    assert v.itos[:4] == ["<unk>", "<pad>", "<bos>", "<eos>"]
    assert v.decode(v.encode("cab")) == "cab"


def test_word_vocab_tokens_min_freq_and_decode():
    v = WordVocab(TEXT, min_freq=2)
    toks = v.tokenize("Whether 'tis nobler, don't.")
    assert toks == ["Whether", "'", "tis", "nobler", ",", "don't", "."]
    # only tokens seen at least twice survive
    assert set(v.itos) == {UNK, "be", "to", "the"}
    assert v.encode("to be or not") == [v["to"], v["be"], 0, 0]
    full = WordVocab(TEXT)
    assert full.decode(full.encode("To be, or not to be: that is the question.")) == "To be, or not to be: that is the question."
    lower = WordVocab(TEXT, lower=True)
    assert "To" not in lower and lower.encode("TO")[0] == lower["to"]
    with pytest.raises(ValueError):
        WordVocab(TEXT, min_freq=0)


def test_word_vocab_max_size():
    v = WordVocab("a a a b b c", max_size=2)
    assert v.itos == [UNK, "a", "b"] and v.encode("c")[0] == 0


@pytest.mark.parametrize("N,B,S", [(101, 4, 7), (100, 3, 5), (57, 1, 10), (33, 8, 3)])
def test_contiguous_batches_continue_tracks_and_cover_targets(N, B, S):
    ids = torch.arange(1000, 1000 + N)
    batches = list(contiguous_batches(ids, B, S))
    L = (N - 1) // B
    assert len(batches) == num_contiguous_batches(N, B, S) == -(-L // S)
    for x, y in batches:
        assert x.shape == y.shape and x.shape[0] == B and 1 <= x.shape[1] <= S
        # y is x shifted by one within the stream
        assert torch.equal(y, x + 1)
    # track b of batch k+1 starts where track b of batch k ended
    for (x0, _), (x1, _) in zip(batches, batches[1:]):
        assert torch.equal(x1[:, 0], x0[:, -1] + 1)
    # every target appears exactly once: ids[1 : B*L + 1]
    targets = torch.cat([y.reshape(-1) for _, y in batches]).sort().values
    assert torch.equal(targets, ids[1 : B * L + 1])
    if (N - 1) % B == 0:
        assert torch.equal(targets, ids[1:])


def test_contiguous_batches_drop_last_and_errors():
    ids = list(range(23))
    assert [x.shape[1] for x, _ in contiguous_batches(ids, 2, 5)] == [5, 5, 1]
    assert [x.shape[1] for x, _ in contiguous_batches(ids, 2, 5, drop_last=True)] == [5, 5]
    with pytest.raises(ValueError, match="too short"):
        list(contiguous_batches([1, 2, 3], 4, 2))
    with pytest.raises(ValueError):
        list(contiguous_batches(torch.zeros(2, 5, dtype=torch.long), 1, 2))
