"""The lecture's math modules against closed forms and trusted implementations."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from adlab.foundations import double_descent as dd
from adlab.foundations import linear_regions as lr
from adlab.foundations import stable
from adlab.foundations import universal as ua


def _one_layer_net(W: torch.Tensor, b: torch.Tensor) -> nn.Sequential:
    lin = nn.Linear(W.shape[1], W.shape[0]).double()
    with torch.no_grad():
        lin.weight.copy_(W)
        lin.bias.copy_(b)
    return nn.Sequential(lin, nn.ReLU(), nn.Linear(W.shape[0], 1).double())


def test_regions_of_a_1d_relu_layer_equal_its_breakpoints_plus_one():
    # unit j switches at x = -b_j / w_j: -0.5, 0.1, 0.2, -0.4, -0.7 inside (-1, 1), -5 outside -> 6 pieces
    w = torch.tensor([[1.0], [-2.0], [0.5], [3.0], [-1.0], [1.0]], dtype=torch.float64)
    b = torch.tensor([0.5, 0.2, -0.1, 1.2, -0.7, 5.0], dtype=torch.float64)
    breaks = -b / w[:, 0]
    inside = int(((breaks > -1) & (breaks < 1)).sum())
    assert inside == 5
    assert lr.count_regions_1d(_one_layer_net(w, b), -1.0, 1.0) == inside + 1


@pytest.mark.parametrize("n", [1, 2, 5, 8])
def test_regions_of_lines_in_general_position_match_the_arrangement_formula(n):
    # n tangent lines to the circle of radius 0.3 at distinct angles: every pair crosses, no three meet,
    # and all crossings (at radius 0.3 / cos(angle / 2)) lie well inside the box [-4, 4]^2
    angles = torch.linspace(0, np.pi, n + 1, dtype=torch.float64)[:-1] + 0.1
    W = torch.stack([torch.cos(angles), torch.sin(angles)], 1)  # (n, 2) unit normals
    b = torch.full((n,), -0.3, dtype=torch.float64)
    net = _one_layer_net(W, b)
    assert lr.count_regions(net, -4.0, 4.0, 600) == lr.arrangement_regions(n) == 1 + n + n * (n - 1) // 2


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_the_folding_net_has_4_to_the_depth_regions(depth):
    assert lr.count_regions(lr.sawtooth_net(depth), 0.0, 1.0, 256) == 4**depth
    assert lr.count_regions_1d(lr.sawtooth_net(depth, d_in=1), 0.0, 1.0) == 2**depth


def test_sawtooth_net_computes_the_composed_tent_map():
    x = torch.rand(200, 1, dtype=torch.float64)
    u = x[:, 0].clone()
    for _ in range(3):
        u = torch.where(u < 0.5, 2 * u, 2 - 2 * u)  # tent map
    with torch.no_grad():
        out = lr.sawtooth_net(3, d_in=1)(x)[:, 0]
    # the last layer reads the tent of the deepest layer's units
    assert torch.allclose(out, u, atol=1e-12)


@pytest.mark.parametrize("shape", [(30, 80), (80, 30), (50, 50)])
def test_min_norm_lstsq_equals_numpy_pinv(shape):
    rng = np.random.default_rng(0)
    Phi = rng.standard_normal(shape)
    y = rng.standard_normal(shape[0])
    ours = dd.min_norm_lstsq(torch.from_numpy(Phi), torch.from_numpy(y)).numpy()
    ref = np.linalg.pinv(Phi) @ y
    np.testing.assert_allclose(ours, ref, rtol=1e-8, atol=1e-8)


def test_min_norm_lstsq_handles_rank_deficient_features():
    rng = np.random.default_rng(1)
    A = rng.standard_normal((20, 5))
    Phi = np.concatenate([A, A], 1)  # rank 5, 10 columns
    y = rng.standard_normal(20)
    ours = dd.min_norm_lstsq(torch.from_numpy(Phi), torch.from_numpy(y)).numpy()
    np.testing.assert_allclose(ours, np.linalg.pinv(Phi) @ y, rtol=1e-7, atol=1e-9)
    # and it agrees with torch.linalg.lstsq's minimum-norm driver
    ref = torch.linalg.lstsq(torch.from_numpy(Phi), torch.from_numpy(y)[:, None], driver="gelsd").solution[:, 0]
    np.testing.assert_allclose(ours, ref.numpy(), rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("offset", [0.0, 1000.0, -1000.0, 1e5])
def test_stable_softmax_and_logsumexp_match_torch_at_huge_logits(offset):
    z = offset + 3 * torch.randn(64, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    y = torch.randint(0, 10, (64,), generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(stable.stable_softmax(z), torch.softmax(z, -1), rtol=0, atol=1e-12)
    torch.testing.assert_close(stable.logsumexp(z), torch.logsumexp(z, -1), rtol=1e-14, atol=0)
    torch.testing.assert_close(stable.stable_cross_entropy(z, y), F.cross_entropy(z, y, reduction="none"), rtol=0, atol=1e-9)


def test_naive_forms_overflow_at_1000_and_capping_is_wrong():
    z = torch.tensor([[1000.0, 1001.0, 998.0]], dtype=torch.float64)
    assert torch.isnan(stable.naive_softmax(z)).all()
    assert torch.isinf(stable.naive_logsumexp(z)).all()
    assert not torch.isfinite(stable.naive_cross_entropy(z, torch.tensor([1]))).any()
    torch.testing.assert_close(stable.capped_softmax(z), torch.full((1, 3), 1 / 3, dtype=torch.float64))
    # float32 overflows already at ~89
    assert torch.isnan(stable.naive_softmax(torch.tensor([[100.0, 90.0]]))).all()


def test_logsumexp_of_all_minus_infinity_is_minus_infinity():
    z = torch.full((2, 3), -float("inf"), dtype=torch.float64)
    assert torch.equal(stable.logsumexp(z), torch.full((2,), -float("inf"), dtype=torch.float64))


def test_bump_net_matches_its_closed_form_and_the_staircase():
    net = ua.BumpNet(ua.LECTURE_EDGES, ua.LECTURE_HEIGHTS, k=200.0)
    x = torch.linspace(0, 1, 1001, dtype=torch.float64)[:, None]
    with torch.no_grad():
        out = net(x)
    # closed form written independently: sum_j h_j (sigma(k(x - a_j)) - sigma(k(x - b_j)))
    s = lambda v: 1 / (1 + torch.exp(-v))  # noqa: E731
    ref = sum(h * (s(200 * (x - a)) - s(200 * (x - b))) for (a, b), h in zip([(0.1, 0.3), (0.4, 0.6), (0.7, 0.9)], [0.5, 0.33, 1.5]))
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-12)
    assert list(net.out.weight[0].detach()) == pytest.approx([0.5, -0.5, 0.33, -0.33, 1.5, -1.5])
    # centre of each bump: its height; far from all bumps: 0
    for (a, b), h in zip(ua.LECTURE_EDGES, ua.LECTURE_HEIGHTS):
        with torch.no_grad():
            assert float(net(torch.tensor([[(a + b) / 2]], dtype=torch.float64))) == pytest.approx(h, abs=1e-6)
    with torch.no_grad():
        assert float(net(torch.tensor([[0.0]], dtype=torch.float64))) == pytest.approx(0.0, abs=1e-6)
