"""Character, word and byte-level BPE tokenisers."""

import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adlab.language.tokenizers import PRETOKENIZE_PATTERN, BPETokenizer, CharTokenizer, WordTokenizer


def _corpus(n_words=30_000, seed=0):
    """A deterministic text with a Zipf-like word distribution, punctuation, digits and some non-ASCII."""
    rng = random.Random(seed)
    stems = ["the", "of", "and", "to", "king", "queen", "lord", "castle", "sword", "night", "day",
             "love", "death", "crown", "speak", "noble", "café", "naïve", "straße", "東京", "ωmega"]
    words = []
    for i in range(n_words):
        w = stems[min(int(rng.paretovariate(1.2)) - 1, len(stems) - 1)]
        if rng.random() < 0.2:
            w += rng.choice(["s", "ed", "ing", "ly"])
        words.append(w)
        if rng.random() < 0.08:
            words.append(rng.choice([",", ".", "!", "?", ";"]) + ("\n" if rng.random() < 0.3 else ""))
        if rng.random() < 0.02:
            words.append(str(rng.randint(0, 2000)))
    return " ".join(words)


TEXT = _corpus()


def test_char_round_trip_and_unknown_character():
    tok = CharTokenizer.fit("hello world")
    assert tok.vocab_size == len(set("hello world"))
    assert tok.decode(tok.encode("low doll")) == "low doll"
    with pytest.raises(ValueError, match="'z'"):
        tok.encode("zoo")
    assert CharTokenizer.from_dict(json.loads(json.dumps(tok.to_dict()))).itos == tok.itos


def test_word_tokenizer_frequency_cut_and_unk():
    text = "the cat sat on the mat . the dog sat ."
    tok = WordTokenizer.fit(text, min_freq=2)
    # specials, then by frequency (ties alphabetical)
    assert tok.itos == ["<pad>", "<unk>", "the", ".", "sat"]
    ids = tok.encode("the bird sat .")
    assert ids == [2, tok.unk_id, 4, 3]
    assert tok.decode(ids) == "the <unk> sat ."
    capped = WordTokenizer.fit(text, max_size=4)
    assert capped.vocab_size == 4
    lower = WordTokenizer.fit("The the THE", lowercase=True)
    assert lower.encode("tHe") == [lower.token_id("the")]
    again = WordTokenizer.from_dict(json.loads(json.dumps(tok.to_dict())))
    assert again.encode("the bird sat .") == ids


def test_pretokenizer_chunks_cover_the_text():
    s = "Hello,  world! It's 2024_x\t\n  naïve—東京 ½²\u0301 "
    chunks = PRETOKENIZE_PATTERN.findall(s)
    assert "".join(chunks) == s
    assert " world" in chunks and "'s" in chunks


def test_bpe_merges_on_a_tiny_corpus_equal_the_hand_computed_list():
    # "aaabdaaabac": pairs aa:4 ab:2 ... -> merge (a,a); then (aa,a) and (a,b) tie at 2 and
    # (b"a", b"b") sorts before (b"aa", b"a") -> merge (a,b); then (aa,ab) occurs twice;
    # afterwards every pair occurs once, below min_pair_count=2.
    tok = BPETokenizer.train("aaabdaaabac", vocab_size=300)
    merged = [(tok.vocab[a], tok.vocab[b]) for a, b in tok.merges]
    assert merged == [(b"a", b"a"), (b"a", b"b"), (b"aa", b"ab")]
    assert tok.merges == [(97, 97), (97, 98), (256, 257)]
    assert tok.encode("aaabdaaabac") == [258, ord("d"), 258, ord("a"), ord("c")]
    # with min_pair_count=1 the count-1 ties resolve by bytes: (a, c) < (aaab, a) < (aaab, d) < (d, aaab)
    tok1 = BPETokenizer.train("aaabdaaabac", vocab_size=260, min_pair_count=1)
    assert [(tok1.vocab[a], tok1.vocab[b]) for a, b in tok1.merges][3] == (b"a", b"c")


def test_bpe_merges_respect_chunks():
    # chunks "low", " low" x2, " lower": lo and ow tie at 4 (b"l" < b"o"), then (lo, w) at 4,
    # then (" ", low) at 3; "r" never joins across the chunk boundary, e-r occurs once
    tok = BPETokenizer.train("low low low lower", vocab_size=300)
    merged = [tok.vocab[a] + tok.vocab[b] for a, b in tok.merges]
    assert merged == [b"lo", b"low", b" low"]
    assert tok.encode("low lower") == [257, 258, ord("e"), ord("r")]


def _naive_bpe_merges(text, n_merges, min_pair_count=2):
    """Reference: recount every pair from scratch before each merge."""
    from collections import Counter

    chunks = Counter(PRETOKENIZE_PATTERN.findall(text))
    words = {c: [bytes([b]) for b in c.encode()] for c in chunks}
    merges = []
    for _ in range(n_merges):
        counts = Counter()
        for c, syms in words.items():
            for p in zip(syms, syms[1:]):
                counts[p] += chunks[c]
        if not counts:
            break
        best = min(counts, key=lambda p: (-counts[p], p))
        if counts[best] < min_pair_count:
            break
        merges.append(best)
        for c, syms in words.items():
            out, i = [], 0
            while i < len(syms):
                if i + 1 < len(syms) and (syms[i], syms[i + 1]) == best:
                    out.append(syms[i] + syms[i + 1])
                    i += 2
                else:
                    out.append(syms[i])
                    i += 1
            words[c] = out
    return merges


@pytest.mark.parametrize("seed", range(5))
def test_bpe_incremental_training_equals_naive_recount(seed):
    rng = random.Random(seed)
    text = "".join(rng.choice("ab c\nabé") for _ in range(3000))
    tok = BPETokenizer.train(text, vocab_size=256 + 60)
    ours = [(tok.vocab[a], tok.vocab[b]) for a, b in tok.merges]
    assert ours == _naive_bpe_merges(text, 60)


def test_bpe_round_trip_on_a_large_text():
    tok = BPETokenizer.train(TEXT, vocab_size=400)
    assert tok.vocab_size == 400
    held_out = _corpus(5000, seed=1) + " unseen wörds ✓ 🙂 \r\n\t end"
    for s in (TEXT, held_out):
        assert tok.decode(tok.encode(s)) == s
    assert all(0 <= i < tok.vocab_size for i in tok.encode(held_out))
    again = BPETokenizer.from_dict(json.loads(json.dumps(tok.to_dict())))
    assert again.encode(held_out) == tok.encode(held_out)


_BPE_FOR_PROPERTY = BPETokenizer.train(TEXT[:40_000], vocab_size=320)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_bpe_round_trip_on_arbitrary_unicode(s):
    assert _BPE_FOR_PROPERTY.decode(_BPE_FOR_PROPERTY.encode(s)) == s


@settings(max_examples=100, deadline=None)
@given(st.text(min_size=1, max_size=200))
def test_bpe_training_on_arbitrary_text_round_trips(s):
    tok = BPETokenizer.train(s, vocab_size=280, min_pair_count=1)
    assert tok.decode(tok.encode(s)) == s


def test_bpe_compression_improves_with_more_merges():
    held_out = _corpus(5000, seed=2)
    ratios = [BPETokenizer.train(TEXT, vocab_size=v).compression_ratio(held_out) for v in (256, 280, 350, 500)]
    assert ratios[0] == 1.0
    assert all(a < b for a, b in zip(ratios, ratios[1:])), ratios


def test_bpe_training_is_deterministic():
    a = BPETokenizer.train(TEXT[:20_000], vocab_size=350)
    b = BPETokenizer.train(TEXT[:20_000], vocab_size=350)
    assert a.merges == b.merges


def test_bpe_rejects_small_vocab_and_bad_merges():
    with pytest.raises(ValueError, match="at least 256"):
        BPETokenizer.train("abc", vocab_size=100)
    with pytest.raises(ValueError, match="not yet created"):
        BPETokenizer([(300, 1)])
