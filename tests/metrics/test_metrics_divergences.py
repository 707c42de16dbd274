import math

import pytest
import torch

from adlab.metrics import divergences as dv


def test_kl_discrete_hand_value():
    p = torch.tensor([0.5, 0.5], dtype=torch.float64)
    q = torch.tensor([0.25, 0.75], dtype=torch.float64)
    expected = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    assert float(dv.kl_discrete(p, q)) == pytest.approx(expected, abs=1e-12)
    assert float(dv.reverse_kl_discrete(p, q)) == pytest.approx(
        0.25 * math.log(0.25 / 0.5) + 0.75 * math.log(0.75 / 0.5), abs=1e-12
    )
    assert float(dv.kl_discrete(p, p)) == 0.0


def test_kl_zero_probability_conventions():
    # $0 \log 0 = 0$: p has a zero where q does not
    assert math.isfinite(float(dv.kl_discrete([0.0, 1.0], [0.5, 0.5])))
    assert float(dv.kl_discrete([0.0, 1.0], [0.5, 0.5])) == pytest.approx(math.log(2))


def test_kl_infinite_and_js_log2_for_disjoint_supports():
    p = torch.tensor([0.3, 0.7, 0.0, 0.0], dtype=torch.float64)
    q = torch.tensor([0.0, 0.0, 0.6, 0.4], dtype=torch.float64)
    assert float(dv.kl_discrete(p, q)) == math.inf
    assert float(dv.reverse_kl_discrete(p, q)) == math.inf
    assert float(dv.js_discrete(p, q)) == pytest.approx(math.log(2), abs=1e-12)


def test_js_symmetric_and_bounded():
    g = torch.Generator().manual_seed(0)
    for _ in range(50):
        p = torch.softmax(3 * torch.randn(6, generator=g, dtype=torch.float64), 0)
        q = torch.softmax(3 * torch.randn(6, generator=g, dtype=torch.float64), 0)
        js_pq, js_qp = float(dv.js_discrete(p, q)), float(dv.js_discrete(q, p))
        assert js_pq == pytest.approx(js_qp, abs=1e-12)
        assert 0.0 <= js_pq <= math.log(2) + 1e-12
    assert float(dv.js_discrete(p, p)) == pytest.approx(0.0, abs=1e-12)


def test_kl_gaussian_closed_form_and_grid_agreement():
    mu1, s1, mu2, s2 = 0.3, 0.8, -0.5, 1.7
    closed = math.log(s2 / s1) + (s1**2 + (mu1 - mu2) ** 2) / (2 * s2**2) - 0.5
    assert float(dv.kl_gaussian(mu1, s1, mu2, s2)) == pytest.approx(closed, abs=1e-12)
    assert float(dv.reverse_kl_gaussian(mu1, s1, mu2, s2)) == pytest.approx(
        float(dv.kl_gaussian(mu2, s2, mu1, s1)), abs=1e-12
    )
    # numerical integration on a grid agrees with the closed form
    x = torch.linspace(-15, 15, 60001, dtype=torch.float64)
    dx = float(x[1] - x[0])
    p, q = dv.gaussian_pdf(x, mu1, s1), dv.gaussian_pdf(x, mu2, s2)
    assert float(dv.kl_density(p, q, dx)) == pytest.approx(closed, rel=1e-6)
    assert float(dv.reverse_kl_density(p, q, dx)) == pytest.approx(float(dv.kl_gaussian(mu2, s2, mu1, s1)), rel=1e-6)


def test_kl_gaussian_against_torch_distributions():
    n1, n2 = torch.distributions.Normal(1.0, 2.0), torch.distributions.Normal(-1.0, 0.5)
    ref = float(torch.distributions.kl_divergence(n1, n2))
    assert float(dv.kl_gaussian(1.0, 2.0, -1.0, 0.5)) == pytest.approx(ref, rel=1e-6)


def test_js_gaussian_symmetric_bounded_and_limits():
    a = dv.js_gaussian(0.0, 1.0, 1.5, 0.7)
    b = dv.js_gaussian(1.5, 0.7, 0.0, 1.0)
    assert a == pytest.approx(b, abs=1e-10)
    assert 0 < a < math.log(2)
    assert dv.js_gaussian(0.0, 1.0, 0.0, 1.0) == pytest.approx(0.0, abs=1e-10)
    # far-apart narrow Gaussians: supports nearly disjoint, JS -> log 2
    assert dv.js_gaussian(0.0, 0.1, 10.0, 0.1) == pytest.approx(math.log(2), abs=1e-6)
    # small shift: JS ~ (1/8) * (dmu/sigma)^2 (quarter of the symmetric KL / 2)
    d = 0.01
    assert dv.js_gaussian(0.0, 1.0, d, 1.0) == pytest.approx(d * d / 8, rel=1e-3)


@pytest.mark.parametrize("mu", [0.0, 0.5, 2.0, -3.0])
def test_w1_gaussian_shift(mu):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(20000, generator=g, dtype=torch.float64)
    y = mu + torch.randn(20000, generator=g, dtype=torch.float64)
    assert float(dv.wasserstein1_1d(x, y)) == pytest.approx(abs(mu), abs=0.03)


def test_w1_hand_values_and_unequal_sizes():
    assert float(dv.wasserstein1_1d([0.0, 1.0, 3.0], [1.0, 2.0, 4.0])) == pytest.approx(1.0)
    # unequal sizes: {0} vs {0, 2}: F differ by 1/2 on [0, 2) -> 1
    assert float(dv.wasserstein1_1d([0.0], [0.0, 2.0])) == pytest.approx(1.0)


def test_w1_matches_scipy():
    scipy_stats = pytest.importorskip("scipy.stats")
    g = torch.Generator().manual_seed(2)
    x = torch.randn(500, generator=g, dtype=torch.float64)
    y = 0.7 + 1.3 * torch.randn(500, generator=g, dtype=torch.float64)
    z = torch.rand(333, generator=g, dtype=torch.float64) * 4
    assert float(dv.wasserstein1_1d(x, y)) == pytest.approx(scipy_stats.wasserstein_distance(x, y), rel=1e-10)
    assert float(dv.wasserstein1_1d(x, z)) == pytest.approx(scipy_stats.wasserstein_distance(x, z), rel=1e-10)


def test_mmd_unbiased_zero_in_expectation_and_positive_when_shifted():
    g = torch.Generator().manual_seed(3)
    same, shifted, biased_same = [], [], []
    for _ in range(200):
        x = torch.randn(40, 2, generator=g, dtype=torch.float64)
        y = torch.randn(40, 2, generator=g, dtype=torch.float64)
        same.append(float(dv.mmd2_rbf(x, y, sigmas=1.0)))
        biased_same.append(float(dv.mmd2_rbf(x, y, sigmas=1.0, unbiased=False)))
        shifted.append(float(dv.mmd2_rbf(x, y + 1.0, sigmas=1.0)))
    same_t = torch.tensor(same)
    stderr = float(same_t.std() / math.sqrt(len(same)))
    assert abs(float(same_t.mean())) < 3 * stderr + 1e-4
    assert min(same) < 0  # the U-statistic can be negative
    assert float(torch.tensor(biased_same).mean()) > 10 * stderr  # the V-statistic is biased upward
    assert min(biased_same) >= 0
    assert float(torch.tensor(shifted).mean()) > 0.1


def test_mmd_closed_form_hand_value():
    x = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
    y = torch.tensor([[0.0], [2.0]], dtype=torch.float64)
    k = lambda a, b: math.exp(-((a - b) ** 2) / 2)  # noqa: E731
    biased = (2 + 2 * k(0, 1)) / 4 + (2 + 2 * k(0, 2)) / 4 - 2 * (k(0, 0) + k(0, 2) + k(1, 0) + k(1, 2)) / 4
    unbiased = k(0, 1) + k(0, 2) - 2 * (k(0, 0) + k(0, 2) + k(1, 0) + k(1, 2)) / 4
    assert float(dv.mmd2_rbf(x, y, 1.0, unbiased=False)) == pytest.approx(biased, abs=1e-12)
    assert float(dv.mmd2_rbf(x, y, 1.0, unbiased=True)) == pytest.approx(unbiased, abs=1e-12)


def test_median_bandwidth_positive():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(30, 3, generator=g), torch.randn(20, 3, generator=g)
    assert dv.median_bandwidth(x, y) > 0
