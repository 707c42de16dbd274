"""Recurrent language models and sampling."""

import math

import pytest
import torch
from torch import nn

from adlab.nn.recurrent import copy_weights
from adlab.sequences.lm import (
    RNNLM,
    bits_per_token,
    detach_state,
    evaluate_nll,
    lm_loss,
    perplexity,
    sample,
    sample_from_logits,
)
from adlab.sequences.text import CharVocab, contiguous_batches


class FixedLogits(nn.Module):
    """A 'model' whose next-token logits never change."""

    def __init__(self, logits):
        super().__init__()
        self.register_buffer("logits", logits)

    def forward(self, ids, state=None):
        B, T = ids.shape
        return self.logits.expand(B, T, -1), state


LOGITS = torch.tensor([2.0, 1.0, 0.5, 0.0, -1.0, 1.5])


def _chi2(counts, probs):
    n = counts.sum()
    expected = n * probs
    return float(((counts - expected) ** 2 / expected).sum())


@pytest.mark.parametrize("T", [0.5, 1.0, 2.0])
def test_sample_distribution_matches_softmax_over_temperature(T):
    model = FixedLogits(LOGITS)
    n = 40_000
    out = sample(model, torch.zeros(n, 1, dtype=torch.long), 1, temperature=T, generator=torch.Generator().manual_seed(0))
    counts = torch.bincount(out[:, 0], minlength=6).double()
    probs = torch.softmax(LOGITS.double() / T, 0)
    # chi-square with 5 degrees of freedom: 20.5 is its 0.999 quantile
    assert _chi2(counts, probs) < 20.5
    # and a wrong temperature is clearly rejected
    wrong = torch.softmax(LOGITS.double() / (T * 1.3), 0)
    assert _chi2(counts, wrong) > 50


def test_top_k_samples_from_the_renormalised_top_k():
    model = FixedLogits(LOGITS)
    out = sample(model, torch.zeros(30_000, 1, dtype=torch.long), 1, top_k=3, generator=torch.Generator().manual_seed(1))
    counts = torch.bincount(out[:, 0], minlength=6).double()
    top = [0, 5, 1]
    assert counts[[2, 3, 4]].sum() == 0
    probs = torch.softmax(LOGITS[top].double(), 0)
    assert _chi2(counts[top], probs) < 13.8  # 2 dof, 0.999 quantile


def test_greedy_limits():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(50, 9, generator=g)
    argmax = logits.argmax(-1)
    assert torch.equal(sample_from_logits(logits, temperature=0), argmax)
    assert torch.equal(sample_from_logits(logits, temperature=1.0, top_k=1, generator=g), argmax)
    # temperature -> 0 approaches the argmax
    assert torch.equal(sample_from_logits(logits, temperature=1e-4, generator=g), argmax)
    with pytest.raises(ValueError):
        sample_from_logits(logits, temperature=-1)
    with pytest.raises(ValueError):
        sample_from_logits(logits, top_k=0)


def test_units():
    assert math.isclose(bits_per_token(math.log(2)), 1.0)
    assert math.isclose(bits_per_token(math.log(256)), 8.0)
    assert math.isclose(perplexity(math.log(5.0)), 5.0)
    assert torch.isclose(perplexity(torch.tensor(0.0)), torch.tensor(1.0))


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_rnnlm_fast_and_slow_agree_and_state_continues(cell):
    torch.manual_seed(0)
    fast = RNNLM(11, 8, 16, num_layers=2, cell=cell, fast=True)
    slow = RNNLM(11, 8, 16, num_layers=2, cell=cell, fast=False)
    slow.load_state_dict({k: v for k, v in fast.state_dict().items() if not k.startswith("rnn.")}, strict=False)
    copy_weights(fast.rnn, slow.rnn)
    ids = torch.randint(0, 11, (3, 10))
    logits, state = fast(ids)
    assert logits.shape == (3, 10, 11)
    torch.testing.assert_close(slow(ids)[0], logits, rtol=1e-5, atol=1e-5)
    # running the two halves with the carried state gives the same logits as the whole
    l1, s1 = fast(ids[:, :4])
    l2, _ = fast(ids[:, 4:], detach_state(s1))
    torch.testing.assert_close(torch.cat([l1, l2], 1), logits, rtol=1e-5, atol=1e-5)


def test_sample_shapes_and_determinism():
    torch.manual_seed(0)
    model = RNNLM(7, 4, 8).eval()
    a = sample(model, [1, 2, 3], 12, generator=torch.Generator().manual_seed(5))
    b = sample(model, [1, 2, 3], 12, generator=torch.Generator().manual_seed(5))
    assert a.shape == (12,) and torch.equal(a, b)
    assert sample(model, torch.tensor([[1], [2]]), 4, top_k=2).shape == (2, 4)
    with pytest.raises(ValueError):
        sample(model, [], 3)


def test_rnnlm_learns_a_periodic_text():
    torch.manual_seed(0)
    text = "abcde" * 200
    v = CharVocab(text)
    ids = v.encode_tensor(text)
    model = RNNLM(len(v), 8, 32, cell="lstm")
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(3):
        state = None
        for x, y in contiguous_batches(ids, 4, 25):
            logits, state = model(x, detach_state(state))
            loss = lm_loss(logits, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
    nll = evaluate_nll(model, contiguous_batches(ids, 4, 25))
    assert bits_per_token(nll) < 0.1  # a deterministic cycle costs ~0 bits once learnt
    assert v.decode(sample(model, v.encode("ab"), 8, temperature=0)) == "cdeabcde"
