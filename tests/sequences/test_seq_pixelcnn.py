"""Masked convolutions and PixelCNNs: the causal property by autograd, the blind spot, NLL units, sampling."""

import math

import pytest
import torch

from adlab.sequences.pixelcnn import (
    GatedPixelCNN,
    MaskedConv2d,
    PixelCNN,
    bernoulli_nll,
    bits_per_dim,
    raster_mask,
    sample,
)

H = W = 10


def test_raster_masks():
    assert raster_mask(3, "A").tolist() == [[1, 1, 1], [1, 0, 0], [0, 0, 0]]
    assert raster_mask(3, "B").tolist() == [[1, 1, 1], [1, 1, 0], [0, 0, 0]]
    assert raster_mask(5, "A").sum() == 12
    with pytest.raises(ValueError):
        raster_mask(3, "C")
    with pytest.raises(ValueError):
        raster_mask(4, "A")


def _dependence(model, i):
    """Which input pixels output pixel i (raster index) depends on, by autograd on a random input."""
    x = torch.rand(1, 1, H, W, dtype=torch.float64, requires_grad=True)
    out = model(x)
    (g,) = torch.autograd.grad(out.flatten()[i], x)
    return g.flatten() != 0  # (H*W,)


def _nets():
    torch.manual_seed(0)
    stack = torch.nn.Sequential(
        MaskedConv2d(1, 6, 5, "A"), torch.nn.ReLU(), MaskedConv2d(6, 6, 3, "B"), torch.nn.ReLU(), MaskedConv2d(6, 1, 3, "B")
    )
    return {
        "masked-stack": stack.double(),
        "pixelcnn": PixelCNN(c_hidden=8, n_layers=3).double(),
        "gated": GatedPixelCNN(c_hidden=8, n_layers=3).double(),
        "gated-dilated": GatedPixelCNN(c_hidden=8, n_layers=3, dilations=[1, 2, 4]).double(),
    }


@pytest.mark.parametrize("name", ["masked-stack", "pixelcnn", "gated", "gated-dilated"])
def test_output_never_depends_on_current_or_later_pixels(name):
    model = _nets()[name]
    for i in [0, 1, W - 1, W, 37, 55, H * W - 1]:
        dep = _dependence(model, i)
        assert not dep[i:].any(), f"pixel {i} sees pixels at or after itself"
        if i % W > 0:
            assert dep[i - 1], f"pixel {i} does not see its left neighbour"
        if i >= W:
            assert dep[i - W], f"pixel {i} does not see the pixel above"


def test_gated_pixelcnn_has_no_blind_spot_and_plain_pixelcnn_has_one():
    i, j = 7, 4
    idx = i * W + j
    L = 3  # gated layers after the input layer: the field grows by one row/column per layer
    seen = _dependence(_nets()["gated"], idx).view(H, W)
    expected = torch.zeros(H, W, dtype=torch.bool)
    expected[i - (L + 1) : i, max(0, j - (L + 1)) : j + L + 2] = True  # a full rectangle above
    expected[i, j - (L + 1) : j] = True  # and the row to the left
    assert torch.equal(seen, expected)
    plain = _dependence(PixelCNN(c_hidden=8, n_layers=3).double(), idx).view(H, W)
    # the plain stack sees (i-1, j+3) but not (i-1, j+4), though it sees further right two rows up
    assert plain[i - 1, j + 3] and not plain[i - 1, j + 4] and plain[i - 3, j + 5]


def test_masked_weights_get_no_gradient():
    conv = MaskedConv2d(2, 3, 3, "A")
    conv(torch.randn(1, 2, 5, 5)).sum().backward()
    assert (conv.weight.grad * (1 - conv.mask)).abs().max() == 0


def test_nll_units():
    x = torch.randint(0, 2, (4, 1, 28, 28)).float()
    nll = bernoulli_nll(torch.zeros_like(x), x)  # p = 1/2 everywhere
    torch.testing.assert_close(nll, torch.full((4,), 784 * math.log(2)))
    torch.testing.assert_close(bits_per_dim(nll, 784), torch.ones(4))
    # confident and right costs ~0
    assert bernoulli_nll(20 * (2 * x - 1), x).max() < 784 * 1e-8


def test_sampling_is_deterministic_and_uses_the_conditionals():
    torch.manual_seed(0)
    model = GatedPixelCNN(c_hidden=8, n_layers=2).eval()
    x, probs = sample(model, 3, (1, 6, 6), generator=torch.Generator().manual_seed(1), return_probs=True)
    x2 = sample(model, 3, (1, 6, 6), generator=torch.Generator().manual_seed(1))
    assert torch.equal(x, x2) and set(x.unique().tolist()) <= {0.0, 1.0}
    # by causality, the probability used at pixel i is what one pass over the finished image gives
    torch.testing.assert_close(probs, torch.sigmoid(model(x)), rtol=1e-5, atol=1e-6)
    # completion keeps the given pixels before `start`
    given = torch.ones(2, 1, 6, 6)
    done = sample(model, shape=(1, 6, 6), x=given, start=14, generator=torch.Generator().manual_seed(2))
    assert done.flatten(1)[:, :14].eq(1).all()


@pytest.mark.parametrize("build", [lambda: GatedPixelCNN(c_hidden=8, n_layers=3), lambda: PixelCNN(c_hidden=8, n_layers=2)])
def test_row_cropped_sampling_equals_full_image_sampling(build):
    # the row crop is exact: a forward on rows 0..r gives the full forward's logits in row r
    torch.manual_seed(0)
    model = build().eval()
    x = (torch.rand(4, 1, 7, 7) < 0.5).float()
    with torch.no_grad():
        full = model(x)
        for r in range(7):
            torch.testing.assert_close(model(x[:, :, : r + 1])[:, :, r], full[:, :, r], rtol=1e-5, atol=1e-6)
    a, pa = sample(model, 4, (1, 7, 7), generator=torch.Generator().manual_seed(3), return_probs=True)
    b, pb = sample(model, 4, (1, 7, 7), generator=torch.Generator().manual_seed(3), return_probs=True, crop_rows=False)
    assert torch.equal(a, b)
    torch.testing.assert_close(pa, pb, rtol=1e-5, atol=1e-6)
