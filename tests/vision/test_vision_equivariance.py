"""adlab.vision.equivariance: shifts, equivariance and invariance errors, against numpy references."""

import numpy as np
import pytest
import torch
import torch.nn as nn
from hypothesis import given, settings
from hypothesis import strategies as st

from adlab.vision import arith
from adlab.vision.equivariance import ConvStack, PixelMLP, equivariance_error, interior, invariance_error, shift


def numpy_shift(a: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Reference: pad with zeros on every side, then read the window that moves the content."""
    H, W = a.shape[-2:]
    p = max(abs(dy), abs(dx), 1)
    padded = np.pad(a, [(0, 0)] * (a.ndim - 2) + [(p, p), (p, p)])
    return padded[..., p - dy : p - dy + H, p - dx : p - dx + W]


@given(st.integers(-5, 5), st.integers(-5, 5), st.integers(4, 12), st.integers(4, 12))
@settings(max_examples=60, deadline=None)
def test_shift_matches_numpy_reference(dy, dx, H, W):
    x = torch.randn(2, 3, H, W, generator=torch.Generator().manual_seed(H * 31 + W))
    np.testing.assert_array_equal(shift(x, dy, dx).numpy(), numpy_shift(x.numpy(), dy, dx))


def test_shift_moves_a_pixel_and_circular_is_roll():
    x = torch.zeros(1, 1, 6, 6)
    x[0, 0, 2, 3] = 1.0
    y = shift(x, 1, -2)
    assert y[0, 0, 3, 1] == 1.0 and y.sum() == 1.0
    assert torch.equal(shift(x, 10, 0), torch.zeros_like(x))
    assert torch.equal(shift(x, -3, 4, circular=True), torch.roll(x, (-3, 4), (-2, -1)))


def test_interior_and_bad_margin():
    x = torch.arange(36.0).view(1, 1, 6, 6)
    assert torch.equal(interior(x, 2), x[..., 2:4, 2:4])
    with pytest.raises(ValueError):
        interior(x, 3)


@given(st.integers(-3, 3), st.integers(-3, 3), st.integers(1, 3), st.sampled_from([3, 5]))
@settings(max_examples=25, deadline=None)
def test_conv_stack_is_exactly_equivariant_away_from_borders(dy, dx, layers, k):
    torch.manual_seed(layers * 7 + k)
    mods = []
    for i in range(layers):
        mods += [nn.Conv2d(1 if i == 0 else 4, 4, k, padding=k // 2), nn.ReLU()]
    f = nn.Sequential(*mods).double()
    radius = (arith.receptive_field(f)[-1].size - 1) // 2
    assert radius == layers * (k // 2)
    x = torch.randn(2, 1, 24, 24, dtype=torch.float64)
    assert equivariance_error(f, x, dy, dx, margin=radius + max(abs(dy), abs(dx))) < 1e-12


def test_conv_is_not_equivariant_at_the_border_and_not_invariant():
    torch.manual_seed(0)
    f = ConvStack(1, 4, 2).double()
    x = torch.randn(1, 1, 16, 16, dtype=torch.float64)
    assert equivariance_error(f, x, 2, 1, margin=0) > 1e-3  # the border band differs
    assert invariance_error(f, x, 2, 1, margin=4) > 0.1  # the map moves with the input


def test_pixel_mlp_is_not_equivariant():
    torch.manual_seed(0)
    mlp = PixelMLP(1, 16, hidden=64, out_channels=2).double()
    x = torch.randn(3, 1, 16, 16, dtype=torch.float64)
    assert mlp(x).shape == (3, 2, 16, 16)
    assert equivariance_error(mlp, x, 1, 2, margin=4) > 0.1


def test_global_pool_of_circular_conv_is_shift_invariant():
    torch.manual_seed(0)
    f = ConvStack(1, 4, 2, padding_mode="circular").double()
    x = torch.randn(2, 1, 12, 12, dtype=torch.float64)
    gap = lambda z: f(z).mean(dim=(-2, -1))  # noqa: E731
    assert invariance_error(gap, x, 3, -5, circular=True) < 1e-12
    # and the circular stack is equivariant everywhere, borders included
    a, b = f(shift(x, 3, -5, circular=True)), shift(f(x), 3, -5, circular=True)
    assert torch.allclose(a, b, atol=1e-12)
