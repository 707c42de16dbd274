import math

import numpy as np
import pytest
import torch

from adlab.metrics import fid as fm


def _random_spd(d, g, scale=1.0):
    a = torch.randn(d, d, generator=g, dtype=torch.float64)
    return scale * (a @ a.T / d + 0.1 * torch.eye(d, dtype=torch.float64))


def _closed_form(mu1, s1, mu2, s2):
    # independent reference: scipy's sqrtm when available, else eigen-decomposition of S1 S2
    try:
        import scipy.linalg

        covmean = np.real(scipy.linalg.sqrtm(s1.numpy() @ s2.numpy()))
        tr = float(np.trace(covmean))
    except ImportError:  # pragma: no cover
        evals = torch.linalg.eigvals(s1 @ s2)
        tr = float(evals.real.clamp_min(0).sqrt().sum())
    return float(((mu1 - mu2) ** 2).sum() + torch.trace(s1) + torch.trace(s2)) - 2 * tr


def test_fid_of_set_against_itself_is_zero():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(500, 16, generator=g) @ torch.randn(16, 16, generator=g)
    assert abs(fm.fid(x, x)) < 1e-6


def test_frechet_distance_diagonal_hand_value():
    mu1, mu2 = torch.tensor([0.0, 0.0]), torch.tensor([1.0, 2.0])
    s1, s2 = torch.diag(torch.tensor([1.0, 4.0])), torch.diag(torch.tensor([9.0, 1.0]))
    # commuting covariances: Tr(S1 + S2 - 2 sqrt(S1 S2)) = sum (sqrt(a) - sqrt(b))^2
    expected = 5.0 + (1 - 3) ** 2 + (2 - 1) ** 2
    assert fm.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, abs=1e-10)


def test_frechet_distance_matches_closed_form_general():
    g = torch.Generator().manual_seed(1)
    d = 6
    mu1, mu2 = torch.randn(d, generator=g, dtype=torch.float64), torch.randn(d, generator=g, dtype=torch.float64)
    s1, s2 = _random_spd(d, g), _random_spd(d, g, 2.0)
    ref = _closed_form(mu1, s1, mu2, s2)
    assert fm.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(ref, rel=1e-8)
    pytest.importorskip("scipy")
    assert fm.frechet_distance(mu1, s1, mu2, s2, method="scipy") == pytest.approx(ref, rel=1e-8)


def test_fid_from_samples_of_known_gaussians():
    g = torch.Generator().manual_seed(2)
    d, n = 4, 200_000
    mu1, mu2 = torch.zeros(d, dtype=torch.float64), torch.tensor([1.0, -0.5, 0.0, 0.25], dtype=torch.float64)
    s1, s2 = _random_spd(d, g), _random_spd(d, g, 0.5)
    x = mu1 + torch.randn(n, d, generator=g, dtype=torch.float64) @ torch.linalg.cholesky(s1).T
    y = mu2 + torch.randn(n, d, generator=g, dtype=torch.float64) @ torch.linalg.cholesky(s2).T
    ref = _closed_form(mu1, s1, mu2, s2)
    assert fm.fid(x, y) == pytest.approx(ref, rel=0.02, abs=0.01)


def test_feature_statistics_match_numpy():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(50, 5, generator=g, dtype=torch.float64)
    mu, s = fm.feature_statistics(x)
    assert torch.allclose(mu, x.mean(0))
    assert np.allclose(s.numpy(), np.cov(x.numpy(), rowvar=False))


def test_kid_unbiased_while_fid_is_biased_at_small_n():
    g = torch.Generator().manual_seed(4)
    d, n, draws = 8, 50, 200
    kids, fids = [], []
    for _ in range(draws):
        x = torch.randn(n, d, generator=g, dtype=torch.float64)
        y = torch.randn(n, d, generator=g, dtype=torch.float64)
        kids.append(fm.kid(x, y, n_subsets=1, subset_size=n, generator=g)[0])
        fids.append(fm.fid(x, y))
    kids_t, fids_t = torch.tensor(kids), torch.tensor(fids)
    stderr = float(kids_t.std() / math.sqrt(draws))
    assert abs(float(kids_t.mean())) < 3 * stderr
    assert float(fids_t.min()) > 0  # every FID draw is positive
    assert float(fids_t.mean()) > 1.0  # and the bias is large at n=50, d=8 (true value 0)
    # a real shift is detected by KID
    x = torch.randn(200, d, generator=g, dtype=torch.float64)
    y = torch.randn(200, d, generator=g, dtype=torch.float64) + 1.0
    mean, std = fm.kid(x, y, n_subsets=10, subset_size=100, generator=g)
    assert mean > 10 * std / math.sqrt(10) and mean > 0.1


def test_kid_hand_value_single_subset():
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    y = torch.tensor([[1.0, 1.0], [0.0, 0.0]], dtype=torch.float64)
    k = lambda a, b: (float(a @ b) / 2 + 1) ** 3  # noqa: E731
    expected = k(x[0], x[1]) + k(y[0], y[1]) - 2 * sum(k(a, b) for a in x for b in y) / 4
    mean, std = fm.kid(x, y, n_subsets=3, subset_size=2, generator=torch.Generator().manual_seed(0))
    assert mean == pytest.approx(expected, abs=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_inception_score_extremes():
    k = 10
    const = torch.full((100, k), 1.0 / k)
    assert fm.inception_score(const) == pytest.approx(1.0, abs=1e-9)
    same_class = torch.nn.functional.one_hot(torch.full((50,), 3), k).double()
    assert fm.inception_score(same_class) == pytest.approx(1.0, abs=1e-9)
    confident_uniform = torch.nn.functional.one_hot(torch.arange(100) % k, k).double()
    assert fm.inception_score(confident_uniform) == pytest.approx(float(k), rel=1e-9)
    mean, std = fm.inception_score_splits(confident_uniform, splits=5)
    assert mean == pytest.approx(float(k)) and std == pytest.approx(0.0, abs=1e-9)


def test_inception_score_between_bounds_and_from_logits():
    g = torch.Generator().manual_seed(5)
    logits = 3 * torch.randn(400, 7, generator=g, dtype=torch.float64)
    s = fm.inception_score(logits, from_logits=True)
    assert 1.0 < s < 7.0
    assert s == pytest.approx(fm.inception_score(torch.softmax(logits, 1)), rel=1e-12)
    with pytest.raises(ValueError):
        fm.inception_score(logits)  # logits are not probabilities


def test_memorisation_copies_flagged_fresh_samples_not():
    g = torch.Generator().manual_seed(6)
    train = torch.randn(300, 10, generator=g)
    copies = train[:50] + 1e-4 * torch.randn(50, 10, generator=g)
    fresh = torch.randn(50, 10, generator=g)
    rep_copies = fm.nearest_neighbour_memorisation(copies, train, threshold=0.01)
    assert rep_copies.fraction_ratio == 1.0
    assert rep_copies.fraction_below_threshold == 1.0
    assert torch.equal(rep_copies.nn_index, torch.arange(50))
    rep_fresh = fm.nearest_neighbour_memorisation(fresh, train, threshold=0.01)
    assert rep_fresh.fraction_ratio < 0.1
    assert rep_fresh.fraction_below_threshold == 0.0
    # images are flattened
    rep_img = fm.nearest_neighbour_memorisation(copies.view(50, 1, 2, 5), train.view(300, 1, 2, 5))
    assert rep_img.fraction_ratio == 1.0 and rep_img.fraction_below_threshold is None
    # chunking does not change anything
    rep_chunked = fm.nearest_neighbour_memorisation(fresh, train, chunk_size=7)
    assert torch.allclose(rep_chunked.nn_distance, rep_fresh.nn_distance)


def test_bad_inputs():
    with pytest.raises(ValueError):
        fm.fid(torch.randn(10), torch.randn(10))
    with pytest.raises(ValueError):
        fm.fid(torch.randn(10, 3), torch.randn(10, 4))
    with pytest.raises(ValueError):
        fm.kid(torch.randn(10, 3), torch.randn(10, 4))
