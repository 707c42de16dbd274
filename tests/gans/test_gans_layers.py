"""Conditioning blocks (adlab.nn.conditional) and truncated latents (adlab.gans.truncation)."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from adlab.gans.truncation import truncated_normal, truncated_normal_variance
from adlab.nn.conditional import ConditionalBatchNorm, ProjectionHead, SelfAttention2d


def test_cbn_starts_as_plain_batch_norm_and_conditions_on_class():
    torch.manual_seed(0)
    x = torch.randn(6, 4, 5, 5)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    cbn = ConditionalBatchNorm(4, num_classes=3)
    ref = nn.BatchNorm2d(4, affine=False)
    torch.testing.assert_close(cbn(x, y), ref(x))
    torch.testing.assert_close(cbn.running_mean, ref.running_mean)
    with torch.no_grad():
        cbn.gamma_embed.weight[1] = 2.0
        cbn.beta_embed.weight[1] = -1.0
    out = cbn(x, y)
    normed = ref(x)
    torch.testing.assert_close(out[y == 1], 2.0 * normed[y == 1] - 1.0)
    torch.testing.assert_close(out[y == 0], normed[y == 0])
    cbn.eval(), ref.eval()
    torch.testing.assert_close(cbn(x, torch.zeros(6, dtype=torch.long)), ref(x))


def test_cbn_vector_condition_and_2d_inputs():
    torch.manual_seed(1)
    cbn = ConditionalBatchNorm(8, cond_dim=5)
    h, c = torch.randn(10, 8), torch.randn(10, 5)
    gamma, beta = 1.0 + cbn.gamma_linear(c), cbn.beta_linear(c)
    assert float((gamma - 1).detach().abs().max()) < 0.5 and float(beta.detach().abs().max()) < 0.5  # near identity
    out = cbn(h, c)
    torch.testing.assert_close(out, gamma * nn.BatchNorm1d(8, affine=False)(h) + beta)
    out.sum().backward()
    assert cbn.gamma_linear.weight.grad is not None and cbn.beta_linear.weight.grad is not None
    with pytest.raises(ValueError):
        ConditionalBatchNorm(8)
    with pytest.raises(ValueError):
        ConditionalBatchNorm(8, num_classes=3, cond_dim=4)


def test_projection_head_formula():
    torch.manual_seed(2)
    head = ProjectionHead(7, 4)
    phi, y = torch.randn(5, 7), torch.tensor([0, 3, 1, 1, 2])
    expected = head.psi(phi).squeeze(1) + (head.embed.weight[y] * phi).sum(1)
    torch.testing.assert_close(head(phi, y), expected)
    torch.testing.assert_close(head(phi), head.psi(phi).squeeze(1))
    assert head(phi, y).shape == (5,)


def test_self_attention_identity_at_gamma_zero_and_shapes():
    torch.manual_seed(3)
    block = SelfAttention2d(16)
    x = torch.randn(2, 16, 5, 6)
    assert float(block.gamma.detach()) == 0.0
    torch.testing.assert_close(block(x), x)
    with torch.no_grad():
        block.gamma.fill_(0.7)
    y = block(x)
    assert y.shape == x.shape and not torch.allclose(y, x)
    beta = block.attention(x)
    assert beta.shape == (2, 30, 30)
    torch.testing.assert_close(beta.sum(-1), torch.ones(2, 30))


def test_self_attention_matches_sdpa():
    torch.manual_seed(4)
    block = SelfAttention2d(16, reduction=4)
    with torch.no_grad():
        block.gamma.fill_(1.0)
    x = torch.randn(3, 16, 4, 4)
    q = block.g(x).flatten(2).transpose(1, 2)  # (B, N, C̄)
    k = block.f(x).flatten(2).transpose(1, 2)
    v = block.h(x).flatten(2).transpose(1, 2)
    o = F.scaled_dot_product_attention(q, k, v, scale=1.0)  # (B, N, C̄), no 1/sqrt(d) in SAGAN
    expected = block.v(o.transpose(1, 2).reshape(3, -1, 4, 4)) + x
    torch.testing.assert_close(block(x), expected, rtol=1e-5, atol=1e-5)


def test_self_attention_gradients_reach_every_parameter():
    block = SelfAttention2d(8)
    with torch.no_grad():
        block.gamma.fill_(0.5)
    block(torch.randn(2, 8, 3, 3)).pow(2).sum().backward()
    for name, p in block.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_truncated_resampling_bounds_and_variance():
    g = torch.Generator().manual_seed(5)
    for tau in (0.5, 1.0, 2.0):
        z = truncated_normal((200_000,), tau, generator=g)
        assert float(z.abs().max()) <= tau
        assert float(z.var()) == pytest.approx(truncated_normal_variance(tau), rel=0.02)
        assert abs(float(z.mean())) < 0.01
    # resampling, not clamping: no pile-up at the threshold
    z = truncated_normal((100_000,), 1.0, generator=g)
    assert float((z.abs() > 0.999).double().mean()) < 0.001


def test_truncated_scale_mode_and_reproducibility():
    z = truncated_normal((100_000, 4), 0.5, generator=torch.Generator().manual_seed(6), mode="scale")
    assert float(z.std()) == pytest.approx(0.5, rel=0.02)
    assert float(z.abs().max()) > 0.5 * 3  # unbounded: the lecture's variant is not a truncation
    a = truncated_normal((8, 3), 1.0, generator=torch.Generator().manual_seed(7))
    b = truncated_normal((8, 3), 1.0, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b) and a.shape == (8, 3)
    with pytest.raises(ValueError):
        truncated_normal((3,), 1.0, mode="clip")
    with pytest.raises(ValueError):
        truncated_normal((3,), 0.0)


def test_truncated_normal_variance_limits():
    assert truncated_normal_variance(10.0) == pytest.approx(1.0, abs=1e-12)
    assert truncated_normal_variance(0.01) == pytest.approx(0.01**2 / 3, rel=1e-3)  # ~uniform on [-t, t]
    assert 0 < truncated_normal_variance(1.0) < 1 and math.isfinite(truncated_normal_variance(1.0))
