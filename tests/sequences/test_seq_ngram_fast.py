"""The vectorised Kneser-Ney tables against the reference KneserNeyLM, on random streams and on text."""

import math

import numpy as np
import pytest
import torch

from adlab.sequences.ngram import KneserNeyLM
from adlab.sequences.ngram_fast import KneserNeyTables
from adlab.sequences.text import CharVocab


@pytest.mark.parametrize("seed", [0, 1])
def test_every_order_and_discount_equals_the_reference(seed):
    g = torch.Generator().manual_seed(seed)
    V = 6
    train = torch.randint(0, V - 1, (500,), generator=g).tolist()  # token V-1 never seen in training
    held_out = torch.randint(0, V, (150,), generator=g).tolist()
    tables = KneserNeyTables(5, V).fit(train)
    for n in range(1, 6):
        for d in (0.3, 0.75, 1.0, [0.2, 0.4, 0.6, 0.8, 0.9][:n]):
            ref = KneserNeyLM(n, V, d).fit(train)
            per_token = tables.log_probs(held_out, n, d)
            expected = [ref.log_prob(held_out[max(0, t - (n - 1)) : t], held_out[t]) for t in range(len(held_out))]
            np.testing.assert_allclose(per_token, expected, rtol=1e-12, atol=1e-12)
            assert math.isclose(tables.nll(held_out, n, d), ref.nll(held_out), rel_tol=1e-12)
            assert math.isclose(tables.nll(held_out, n, d, start=7), ref.nll(held_out, start=7), rel_tol=1e-12)


def test_text_bits_equal_the_reference_and_the_distribution_sums_to_one():
    text = "to be, or not to be, that is the question: whether 'tis nobler in the mind to suffer "
    vocab = CharVocab(text)
    ids = vocab.encode(text * 3)
    tables = KneserNeyTables(4, len(vocab)).fit(ids)
    probe = vocab.encode("to be or not, the mind")
    for n in (1, 2, 4):
        assert math.isclose(tables.bits_per_token(probe, n), KneserNeyLM(n, len(vocab)).fit(ids).bits_per_token(probe), rel_tol=1e-12)
    # every next token after a fixed context: probabilities sum to one
    context = vocab.encode("to ")
    total = sum(math.exp(tables.log_probs(context + [w], 4)[-1]) for w in range(len(vocab)))
    assert math.isclose(total, 1.0, rel_tol=1e-12)


def test_bad_input():
    with pytest.raises(ValueError, match="int64"):
        KneserNeyTables(10, 100)
    t = KneserNeyTables(3, 5)
    with pytest.raises(RuntimeError):
        t.nll([0, 1], 2)
    t.fit([0, 1, 2, 3, 4, 0, 1])
    with pytest.raises(ValueError):
        t.nll([0, 1], 4)
    with pytest.raises(ValueError):
        t.nll([0, 1], 2, discount=1.5)
    with pytest.raises(ValueError):
        KneserNeyTables(3, 5).fit([0, 7])
    with pytest.raises(ValueError):
        t.nll([], 2)
