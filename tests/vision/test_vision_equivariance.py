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


def _np_rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


@pytest.mark.parametrize("dy,dx,margin", [(1, 2, 4), (-2, 1, 3), (0, -3, 5)])
def test_equivariance_error_value_matches_numpy_reference(dy, dx, margin):
    torch.manual_seed(1)
    mlp = PixelMLP(1, 16, hidden=64, out_channels=2).double()
    x = torch.randn(3, 1, 16, 16, dtype=torch.float64)
    f = lambda a: mlp(torch.from_numpy(np.ascontiguousarray(a))).detach().numpy()  # noqa: E731
    xn = x.numpy()
    inner = (Ellipsis, slice(margin, 16 - margin), slice(margin, 16 - margin))
    moved_out = f(numpy_shift(xn, dy, dx))[inner]  # f(Sx)
    out_moved = numpy_shift(f(xn), dy, dx)[inner]  # S f(x)
    ref = _np_rel(moved_out, out_moved)
    assert ref > 0.1 and abs(np.linalg.norm(moved_out) / np.linalg.norm(out_moved) - 1) > 1e-3  # the two normalisers differ
    assert equivariance_error(mlp, x, dy, dx, margin=margin) == pytest.approx(ref, rel=1e-12, abs=0)


@pytest.mark.parametrize("dy,dx,circular,margin", [(1, 2, False, 0), (-2, 3, True, 0), (2, -1, False, 3)])
def test_invariance_error_value_matches_numpy_reference(dy, dx, circular, margin):
    torch.manual_seed(2)
    mlp = PixelMLP(1, 12, hidden=32, out_channels=2).double()
    x = torch.randn(2, 1, 12, 12, dtype=torch.float64)
    f = lambda a: mlp(torch.from_numpy(np.ascontiguousarray(a))).detach().numpy()  # noqa: E731
    xn = x.numpy()
    sx = np.roll(xn, (dy, dx), axis=(-2, -1)) if circular else numpy_shift(xn, dy, dx)
    a, b = f(sx), f(xn)  # f(Sx), f(x)
    if margin:
        inner = (Ellipsis, slice(margin, 12 - margin), slice(margin, 12 - margin))
        a, b = a[inner], b[inner]
    ref = _np_rel(a, b)
    assert ref > 0.05 and abs(np.linalg.norm(a) / np.linalg.norm(b) - 1) > 1e-3
    assert invariance_error(mlp, x, dy, dx, circular=circular, margin=margin) == pytest.approx(ref, rel=1e-12, abs=0)
    # a vector-valued f (no maps): margin does not apply
    g = lambda z: mlp(z).sum(dim=(-2, -1))  # noqa: E731  (B, C_out)
    va, vb = f(sx).sum(axis=(-2, -1)), f(xn).sum(axis=(-2, -1))
    assert invariance_error(g, x, dy, dx, circular=circular) == pytest.approx(_np_rel(va, vb), rel=1e-12, abs=0)


def test_invariance_margin_on_a_vector_output_is_refused():
    """A margin crops map borders; on a (B, K) output it would silently drop samples and classes."""
    x = torch.randn(3, 1, 8, 8, dtype=torch.float64)

    def logits(t):
        return t.flatten(1)[:, :6]  # (B, 6)

    with pytest.raises(ValueError, match=r"\(B, C, H, W\) maps; f returned shape \(3, 6\)"):
        invariance_error(logits, x, 1, 0, margin=1)
    assert invariance_error(logits, x, 1, 0) > 0  # without a margin it is the plain relative change
