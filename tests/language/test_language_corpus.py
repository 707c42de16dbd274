"""Corpus views for BERT and word2vec: spoken lines, next-sentence pairs, passages, senses of 'will'."""

import torch

from adlab.language.corpus import LinePairs, fit_word_tokenizer, pad_batch, play_passages, spoken_lines, will_sense

PLAY = """THE TRAGEDY OF NOBODY

ACT I.

SCENE 1. A room.

[Enter ANNA and BEN.]

ANNA.
I will not go, for it is my will to stay.
Stay then.

BEN.
Then all is lost, and the night is long.
[Exit.]
"""


def test_spoken_lines_drop_names_directions_and_headings():
    assert spoken_lines(PLAY) == ["I will not go, for it is my will to stay.", "Then all is lost, and the night is long."]
    assert spoken_lines(PLAY, min_words=1)[1] == "Stay then."


def test_passages_do_not_overlap():
    assert play_passages(["a", "b", "c", "d", "e"], 2) == ["a b", "c d"]


def test_line_pairs_follow_the_play_or_are_random():
    plays = [[[10 + i] * 3 for i in range(6)], [[50 + i] * 3 for i in range(6)]]
    pairs = LinePairs(plays)
    ids, segs, labels = pairs.batch(200, 2, cls_id=1, sep_id=2, generator=torch.Generator().manual_seed(0))
    assert ids.shape == (200, 7) and segs.shape == (200, 7)
    assert 60 < int(labels.sum()) < 140
    assert torch.all(ids[:, 0] == 1) and torch.all(ids[:, 3] == 2) and torch.all(ids[:, 6] == 2)
    torch.testing.assert_close(segs[0], torch.tensor([0, 0, 0, 0, 1, 1, 1]))
    a, b = ids[:, 1], ids[:, 4]
    follows = labels == 1
    torch.testing.assert_close(b[follows], a[follows] + 1)  # the next line of the same play


def test_pad_batch():
    torch.testing.assert_close(pad_batch([[1, 2, 3], [4]]), torch.tensor([[1, 2, 3], [4, 0, 0]]))


def test_will_sense_from_the_word_before():
    words = "i will not go for it is my will to stay".split()
    assert will_sense(words, 1) == 1
    assert will_sense(words, 8) == 0
    assert will_sense(words, 0) is None and will_sense(words, 2) is None
    assert will_sense("so will i".split(), 1) is None


def test_word_tokenizer_has_bert_specials_first():
    tok = fit_word_tokenizer(["the cat the dog", "a cat"], 8)
    assert tok.itos[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert tok.vocab_size == 8 and tok.itos[5] in ("the", "cat")
