"""Unigram and Kneser-Ney n-gram models: normalisation, hand-computed values, a known Markov source."""

import math
from collections import Counter

import numpy as np
import pytest
import torch

from adlab.sequences.ngram import KneserNeyLM, MarkovSource, UnigramLM
from adlab.sequences.text import CharVocab


@pytest.mark.parametrize("order", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("discount", [0.1, 0.75, 1.0])
def test_kn_sums_to_one_for_random_and_unseen_contexts(order, discount):
    g = torch.Generator().manual_seed(order)
    V = 7
    train = torch.randint(0, V - 1, (300,), generator=g).tolist()  # token V-1 never seen
    lm = KneserNeyLM(order, V, discount).fit(train)
    contexts = [torch.randint(0, V, (L,), generator=g).tolist() for L in range(0, order + 2) for _ in range(5)]
    contexts += [train[10 : 10 + order - 1], [V - 1] * (order - 1)]
    for ctx in contexts:
        p = lm.distribution(ctx)
        assert p.shape == (V,) and np.all(p > 0)
        assert abs(p.sum() - 1) < 1e-12
        # the scalar path agrees with the vector path
        for w in range(V):
            assert math.isclose(lm.prob(ctx, w), p[w], rel_tol=1e-12)
            assert math.isclose(lm.log_prob(ctx, w), math.log(p[w]), rel_tol=1e-12)


def test_kn_hand_computed_bigram_and_trigram():
    # corpus a b a b c over V = 4 symbols (d never seen), discount 0.5
    a, b, c, d = 0, 1, 2, 3
    corpus = [a, b, a, b, c]
    # unigram continuation counts from distinct bigrams {ab, ba, bc}: N1+(.a)=N1+(.b)=N1+(.c)=1, total 3, 3 types
    p1 = {a: 0.5 / 3 + 0.5 * 3 / 3 / 4, b: 0.5 / 3 + 0.125, c: 0.5 / 3 + 0.125, d: 0.125}
    bi = KneserNeyLM(2, 4, 0.5).fit(corpus)
    for w in (a, b, c, d):
        assert math.isclose(bi.prob([], w), p1[w], rel_tol=1e-12)
    # c(a.) = {b: 2}: total 2, 1 type
    assert math.isclose(bi.prob([a], b), (2 - 0.5) / 2 + 0.5 * 1 / 2 * p1[b], rel_tol=1e-12)  # 0.822916...
    assert math.isclose(bi.prob([a], b), 0.8229166666666666, rel_tol=1e-12)
    assert math.isclose(bi.prob([a], a), 0.5 * 1 / 2 * p1[a], rel_tol=1e-12)
    # c(b.) = {a: 1, c: 1}: total 2, 2 types
    assert math.isclose(bi.prob([b], c), 0.5 / 2 + 0.5 * 2 / 2 * p1[c], rel_tol=1e-12)  # 0.395833...
    assert math.isclose(bi.prob([b], d), 0.5 * p1[d], rel_tol=1e-12)
    # c never starts a bigram: all mass to the unigram level
    assert math.isclose(bi.prob([c], a), p1[a], rel_tol=1e-12)

    tri = KneserNeyLM(3, 4, 0.5).fit(corpus)
    # middle level, continuation counts from distinct trigrams {aba, bab, abc}: b -> {a: 1, c: 1}
    p2_c_b = 0.5 / 2 + 0.5 * 2 / 2 * p1[c]
    # top level raw counts: c(ab.) = {a: 1, c: 1}
    assert math.isclose(tri.prob([a, b], c), 0.5 / 2 + 0.5 * 2 / 2 * p2_c_b, rel_tol=1e-12)  # 0.447916...
    assert math.isclose(tri.prob([a, b], c), 0.4479166666666667, rel_tol=1e-12)
    # middle level for context a: {b: 1} (from bab); top-level context (b, b) unseen
    assert math.isclose(tri.prob([b, a], b), 0.5 / 1 + 0.5 * 1 / 1 * (0.5 / 1 + 0.5 * p1[b]), rel_tol=1e-12)
    assert math.isclose(tri.prob([b, b], a), 0.5 / 2 + 0.5 * p1[a], rel_tol=1e-12)


def test_unigram_matches_empirical_frequencies_and_add_k():
    text = "the cat sat on the mat with the hat"
    v = CharVocab(text)
    ids = v.encode(text)
    lm = UnigramLM(len(v), k=0).fit(ids)
    counts = Counter(text)
    for ch, cnt in counts.items():
        assert math.isclose(lm.prob([], v[ch]), cnt / len(text), rel_tol=1e-12)
    assert lm.prob([], v.unk_id) == 0 and lm.log_prob([], v.unk_id) == -math.inf
    lm1 = UnigramLM(len(v), k=1).fit(ids)
    assert math.isclose(lm1.prob([], v["t"]), (counts["t"] + 1) / (len(text) + len(v)), rel_tol=1e-12)
    assert abs(lm1.distribution().sum() - 1) < 1e-12
    # context is ignored
    assert lm1.prob([1, 2, 3], 4) == lm1.prob([], 4)


def test_nll_perplexity_bits_are_consistent():
    ids = [0, 1, 2, 1, 0, 1, 2, 2, 1]
    lm = KneserNeyLM(2, 3).fit(ids)
    nll = lm.nll(ids)
    expected = -sum(lm.log_prob(ids[max(0, t - 1) : t], ids[t]) for t in range(len(ids))) / len(ids)
    assert math.isclose(nll, expected, rel_tol=1e-12)
    assert math.isclose(lm.perplexity(ids), math.exp(nll))
    assert math.isclose(lm.bits_per_token(ids), nll / math.log(2))
    assert math.isclose(UnigramLM(3, k=0).fit([0, 1, 2]).bits_per_token([0, 1, 2]), math.log2(3))


def test_markov_source_entropy_rate_and_order():
    src = MarkovSource(vocab_size=4, order=2, concentration=0.3, generator=torch.Generator().manual_seed(0))
    pi = src.stationary()
    assert abs(pi.sum() - 1) < 1e-12 and np.all(pi > -1e-12)
    H = src.entropy_rate()
    g = torch.Generator().manual_seed(1)
    train, test = src.sample(100_000, g), src.sample(20_000, g)
    bits = {n: KneserNeyLM(n, 4, 0.75).fit(train).bits_per_token(test) for n in (1, 2, 3, 4)}
    uni = UnigramLM(4, k=1).fit(train).bits_per_token(test)
    assert bits[1] > bits[2] + 0.05 > bits[3] + 0.1  # context helps, up to the true order
    assert abs(uni - bits[1]) < 0.02
    # an order-2 source is an exact trigram model: held-out bits come close to its entropy rate
    # (to within the sampling noise of 20k test symbols, about 0.01 bit) ...
    assert abs(bits[3] - H) < 0.03 and abs(bits[4] - H) < 0.03
    # ... and to the true model's own log-loss on the same test symbols, much more closely
    true_bits = -np.mean([np.log2(src.table[test[t - 2], test[t - 1], test[t]]) for t in range(2, len(test))])
    assert abs(true_bits - H) < 0.03
    assert abs(KneserNeyLM(3, 4, 0.75).fit(train).bits_per_token(test, start=2) - true_bits) < 0.005
    assert bits[1] < math.log2(4) + 1e-9


def test_markov_source_is_deterministic():
    a = MarkovSource(5, 1, generator=torch.Generator().manual_seed(3))
    b = MarkovSource(5, 1, generator=torch.Generator().manual_seed(3))
    assert np.array_equal(a.table, b.table)
    assert a.sample(50, torch.Generator().manual_seed(4)) == b.sample(50, torch.Generator().manual_seed(4))


def test_sampling_temperature_and_determinism():
    ids = [0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 3]
    lm = KneserNeyLM(2, 4, 0.75).fit(ids)
    s1 = lm.sample(30, [0], generator=torch.Generator().manual_seed(0))
    s2 = lm.sample(30, [0], generator=torch.Generator().manual_seed(0))
    assert s1 == s2 and all(0 <= t < 4 for t in s1)
    # temperature 0: always the most probable next token: 0 -> 1 -> 2 -> 0 ...
    assert lm.sample(6, [0], temperature=0) == [1, 2, 0, 1, 2, 0]
    # unigram "the the the": greedy generation repeats the most frequent token
    uni = UnigramLM(4).fit(ids)
    assert uni.sample(5, temperature=0) == [0, 0, 0, 0, 0]


def test_errors():
    with pytest.raises(ValueError):
        KneserNeyLM(2, 3, discount=0.0)
    with pytest.raises(ValueError):
        KneserNeyLM(2, 3, discount=[0.5])
    with pytest.raises(ValueError):
        KneserNeyLM(2, 3).fit([0, 5])
    with pytest.raises(RuntimeError):
        KneserNeyLM(2, 3).prob([], 0)
