"""adlab.vision.activation_max: blur against scipy, total variation against numpy, the ascent itself."""

import numpy as np
import pytest
import torch
import torch.nn as nn
from scipy import ndimage

from adlab.vision.activation_max import gaussian_blur, gaussian_kernel1d, maximise_logits, total_variation


@pytest.mark.parametrize("sigma", [0.5, 0.6, 1.0, 1.7])
def test_gaussian_kernel_is_normalised_and_symmetric(sigma):
    k = gaussian_kernel1d(sigma)
    assert len(k) == 2 * int(np.ceil(3 * sigma)) + 1
    assert abs(float(k.sum()) - 1) < 1e-12
    assert torch.allclose(k, k.flip(0))


@pytest.mark.parametrize("sigma", [0.6, 1.0, 1.5])
def test_gaussian_blur_matches_scipy(sigma):
    x = torch.rand(2, 3, 17, 13, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    ours = gaussian_blur(x, sigma).numpy()
    # torch's "reflect" padding (d c b | a b c d) is scipy's "mirror"; the same radius ceil(3 sigma)
    ref = ndimage.gaussian_filter(x.numpy(), sigma=(0, 0, sigma, sigma), mode="mirror", truncate=3.0)
    np.testing.assert_allclose(ours, ref, atol=1e-12)


def test_total_variation_matches_numpy():
    x = torch.rand(3, 2, 5, 7, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    a = x.numpy()
    dv, dh = np.abs(np.diff(a, axis=2)), np.abs(np.diff(a, axis=3))
    ref = [(dv[i].sum() + dh[i].sum()) / (dv[i].size + dh[i].size) for i in range(3)]
    np.testing.assert_allclose(total_variation(x).numpy(), ref, rtol=1e-12)
    assert float(total_variation(torch.ones(1, 1, 4, 4))) == 0.0


def test_ascent_raises_each_target_logit_and_respects_bounds():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(16, 5))
    model.train()
    before = [p.detach().clone() for p in model.parameters()]
    classes = torch.arange(5)
    imgs, hist = maximise_logits(model, classes, (1, 12, 12), steps=60, lr=0.05, jitter=1, blur_every=3,
                                 bounds=(-1.0, 1.0), generator=torch.Generator().manual_seed(0))
    assert imgs.shape == (5, 1, 12, 12) and len(hist) == 60
    assert hist[-1] > hist[0]
    assert imgs.min() >= -1.0 and imgs.max() <= 1.0
    assert model.training  # restored
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    with torch.no_grad():
        z, z0 = model(imgs), model(torch.zeros_like(imgs))
    assert (z[classes, classes] > z0[classes, classes]).all()  # every class's own logit went up


def test_blur_lowers_total_variation():
    x = torch.rand(4, 1, 20, 20, generator=torch.Generator().manual_seed(2))
    assert (total_variation(gaussian_blur(x, 1.0)) < total_variation(x)).all()


@pytest.mark.parametrize("steps,lr,l2", [(1, 0.005, 1e-3), (3, 0.002, 0.5)])
def test_penalty_alone_gives_the_closed_form_normalised_step(steps, lr, l2):
    # zero weights: the logits are the bias, constant in x, so the objective's gradient is the
    # penalty's alone, -2 l2 x; normalised per image and scaled by lr sqrt(n) it gives
    # x <- x - lr sqrt(n) x / ||x||  (a step towards 0 along x, whatever l2 > 0)
    C, H, W = 1, 6, 5
    model = nn.Sequential(nn.Flatten(), nn.Linear(C * H * W, 4))
    with torch.no_grad():
        model[1].weight.zero_()
        model[1].bias.copy_(torch.tensor([0.5, -1.0, 2.0, 0.25]))
    classes = torch.tensor([2, 0, 3])
    imgs, hist = maximise_logits(model, classes, (C, H, W), steps=steps, lr=lr, l2=l2,
                                 generator=torch.Generator().manual_seed(4))
    n = C * H * W
    x = (0.01 * torch.randn((3, C, H, W), generator=torch.Generator().manual_seed(4))).double().numpy()
    for _ in range(steps):
        norms = np.sqrt((x.reshape(3, -1) ** 2).sum(1))[:, None, None, None]
        assert (lr * np.sqrt(n) < norms).all()  # no overshoot past 0 in this set-up
        x = x - lr * np.sqrt(n) * x / norms
    np.testing.assert_allclose(imgs.double().numpy(), x, rtol=1e-5, atol=1e-9)
    # each step shrinks every image's norm by exactly lr sqrt(n)
    x0 = 0.01 * torch.randn((3, C, H, W), generator=torch.Generator().manual_seed(4)).double()
    np.testing.assert_allclose(imgs.double().flatten(1).norm(dim=1).numpy(),
                               x0.flatten(1).norm(dim=1).numpy() - steps * lr * np.sqrt(n), rtol=1e-5)
    # the history is the mean target logit, here the mean of the targets' biases
    assert len(hist) == steps and all(h == pytest.approx((2.0 + 0.5 + 0.25) / 3, rel=1e-6) for h in hist)


def test_no_penalty_and_constant_logits_leave_the_start_unchanged():
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 3))
    with torch.no_grad():
        model[1].weight.zero_()
    imgs, _ = maximise_logits(model, torch.tensor([0, 1]), (1, 3, 4), steps=2, lr=0.1, l2=0.0,
                              generator=torch.Generator().manual_seed(5))
    x0 = 0.01 * torch.randn((2, 1, 3, 4), generator=torch.Generator().manual_seed(5))
    assert torch.equal(imgs, x0)  # zero gradient: the normalised step is zero, not NaN
