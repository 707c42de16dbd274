"""Probes: Jacobian norms against autograd's full Jacobian, the log-linear fit, attention weights, purity."""

import math

import pytest
import torch

from adlab.language.gpt import GPT, GPTConfig
from adlab.language.probes import cluster_purity, gpt_attention_weights, jacobian_norms, log_slope
from adlab.nn.attention import scaled_dot_product_attention
from adlab.nn.recurrent import RNN


@pytest.mark.parametrize("kind", ["lstm", "transformer"])
def test_jacobian_norms_match_the_full_jacobian(kind):
    torch.manual_seed(0)
    B, T, d = 3, 6, 4
    if kind == "lstm":
        rnn = RNN("lstm", d, 5, 2, fast=True).double()

        def f(x):
            return rnn(x)[0]
    else:
        gpt = GPT(GPTConfig(vocab_size=2, block_size=T, n_layer=2, n_head=2, d_model=d)).double()

        def f(x):
            for block in gpt.blocks:
                x = block(x)
            return gpt.ln_f(x)

    x = torch.randn(B, T, d, dtype=torch.float64)
    t = T - 2
    got = jacobian_norms(f, x, t)
    ref = torch.zeros(T, dtype=torch.float64)
    for b in range(B):
        J = torch.autograd.functional.jacobian(lambda z: f(z[None])[0, t], x[b])  # (d_out, T, d)
        ref += J.pow(2).sum(dim=(0, 2))
    torch.testing.assert_close(got, (ref / B).sqrt())
    assert torch.all(got[t + 1 :] == 0)  # causal: later inputs cannot reach y_t


def test_log_slope_recovers_an_exponential():
    d = torch.arange(1, 50, dtype=torch.float64)
    slope, intercept = log_slope(d, 3.0 * 0.8**d)
    assert slope == pytest.approx(math.log10(0.8))
    assert intercept == pytest.approx(math.log10(3.0))


def test_attention_weights_are_the_heads_softmax():
    torch.manual_seed(1)
    gpt = GPT(GPTConfig(vocab_size=7, block_size=10, n_layer=2, n_head=2, d_model=8)).train()
    idx = torch.randint(0, 7, (2, 10))
    maps = gpt_attention_weights(gpt, idx)
    assert gpt.training  # restored
    assert len(maps) == 2 and maps[0].shape == (2, 2, 10, 10)
    for w in maps:
        torch.testing.assert_close(w.sum(-1), torch.ones(2, 2, 10))
        assert torch.all(w.triu(1) == 0)
    # layer 0 by hand
    block = gpt.blocks[0]
    x = block.ln_1(gpt.tok_emb(idx) + gpt.pos_emb(torch.arange(10)))
    q = block.attn._split_heads(block.attn.W_Q(x))
    k = block.attn._split_heads(block.attn.W_K(x))
    v = block.attn._split_heads(block.attn.W_V(x))
    _, ref = scaled_dot_product_attention(q, k, v, causal=True, return_weights=True)
    torch.testing.assert_close(maps[0], ref.detach())


def test_cluster_purity():
    g = torch.Generator().manual_seed(0)
    labels = torch.tensor([0] * 30 + [1] * 10)
    separated = torch.randn(40, 3, generator=g) * 0.1 + labels[:, None] * 5.0
    assert cluster_purity(separated, labels) == 1.0
    # clusters that ignore the labels: purity falls to the majority share
    noise = torch.cat([torch.zeros(20, 2), torch.ones(20, 2) * 10]) + torch.randn(40, 2, generator=g) * 0.01
    mixed = torch.tensor([0, 0, 0, 1] * 5 + [0, 0, 0, 1] * 5)
    assert cluster_purity(noise, mixed) == pytest.approx(0.75)
