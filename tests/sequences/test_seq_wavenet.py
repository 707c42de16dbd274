"""WaveNet pieces: mu-law companding, causality and the receptive field, by autograd."""

import math

import pytest
import torch

from adlab.sequences.wavenet import (
    CausalConv1d,
    WaveNet,
    generate,
    mu_law_compress,
    mu_law_decode,
    mu_law_encode,
    mu_law_expand,
    receptive_field,
    wavenet_dilations,
    wavenet_loss,
)


def test_mu_law_closed_form_values():
    mu = 255
    x = torch.tensor([-1.0, -0.5, 0.0, 0.01, 0.5, 1.0], dtype=torch.float64)
    expected = torch.tensor(
        [-1.0, -math.log(128.5) / math.log(256), 0.0, math.log(3.55) / math.log(256), math.log(128.5) / math.log(256), 1.0],
        dtype=torch.float64,
    )
    torch.testing.assert_close(mu_law_compress(x, mu), expected)
    torch.testing.assert_close(mu_law_expand(expected, mu), x)
    assert mu_law_encode(torch.tensor([-1.0, 0.0, 1.0])).tolist() == [0, 128, 255]
    # small amplitudes get many more levels than large ones
    codes = mu_law_encode(torch.linspace(-1, 1, 100_001))
    assert codes.unique().numel() == 256
    small = mu_law_encode(torch.linspace(-0.05, 0.05, 10_001)).unique().numel()
    assert small > 256 * 0.4  # 5% of the range uses over 40% of the codes


def test_mu_law_round_trip_error_is_bounded():
    mu = 255
    x = torch.linspace(-1, 1, 200_001, dtype=torch.float64)
    err = (mu_law_decode(mu_law_encode(x, mu), mu).double() - x).abs()
    # |y - y_hat| <= 1/mu; the expansion's slope at |y| + 1/mu bounds the error in x:
    # |x - x_hat| <= ln(1+mu) (1 + mu|x|) (1+mu)^(1/mu) / mu^2
    bound = math.log1p(mu) * (1 + mu * x.abs()) * (1 + mu) ** (1 / mu) / mu**2
    assert torch.all(err <= bound + 1e-12)
    assert err.max() < 0.023 and err[x.abs() < 0.01].max() < 5e-4
    # codes are stable: decode then encode gives the codes back
    q = torch.arange(256)
    assert torch.equal(mu_law_encode(mu_law_decode(q, mu), mu), q)


def test_receptive_field_formula():
    assert receptive_field(2, [1, 2, 4, 8]) == 16
    assert receptive_field(2, wavenet_dilations(10, 1)) == 1024
    assert receptive_field(3, [1, 1, 1]) == 7
    assert wavenet_dilations(3, 2) == [1, 2, 4, 1, 2, 4]


def _dependence(model, t, T):
    x = torch.randn(1, model.n_classes, T, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(model(x)[0, :, t].sum(), x)
    return g.abs().sum(0)[0] != 0  # (T,)


@pytest.mark.parametrize("k,dilations", [(2, [1, 2, 4, 8]), (3, [1, 2, 4]), (2, [1, 2, 4, 1, 2, 4])])
def test_causal_and_empirical_receptive_field_equals_formula(k, dilations):
    torch.manual_seed(0)
    model = WaveNet(n_classes=4, residual_channels=4, skip_channels=4, kernel_size=k, dilations=dilations).double()
    R = model.receptive_field
    assert R == receptive_field(k, [1] + dilations)
    T = R + 20
    for t in [0, 5, R - 1, T - 1]:
        dep = _dependence(model, t, T)
        assert not dep[t + 1 :].any(), "output depends on the future"
        # exactly the R most recent inputs (fewer at the start)
        assert dep[: t + 1].sum() == min(R, t + 1)
        assert dep[max(0, t - R + 1) : t + 1].all()


def test_causal_conv_alone():
    conv = CausalConv1d(1, 1, 3, dilation=2)
    assert conv(torch.randn(2, 1, 9)).shape == (2, 1, 9)
    x = torch.randn(1, 1, 9, requires_grad=True)
    (g,) = torch.autograd.grad(conv(x)[0, 0, 6], x)
    assert (g[0, 0] != 0).nonzero().flatten().tolist() == [2, 4, 6]


def test_codes_input_loss_and_generation():
    torch.manual_seed(0)
    model = WaveNet(n_classes=16, residual_channels=4, skip_channels=8, dilations=[1, 2])
    codes = torch.randint(0, 16, (2, 12))
    logits = model(codes)
    assert logits.shape == (2, 16, 12)
    one_hot = torch.nn.functional.one_hot(codes, 16).transpose(1, 2).float()
    torch.testing.assert_close(model(one_hot), logits)
    loss = wavenet_loss(logits, codes)
    assert loss.ndim == 0 and math.isfinite(loss.item())
    new = generate(model, 7, codes[:, :3], generator=torch.Generator().manual_seed(0))
    assert new.shape == (2, 7) and new.max() < 16
    assert torch.equal(new, generate(model, 7, codes[:, :3], generator=torch.Generator().manual_seed(0)))
    greedy = generate(model, 1, codes[:, :5], temperature=0)
    torch.testing.assert_close(greedy[:, 0], model(codes[:, :5])[:, :, -1].argmax(1))
