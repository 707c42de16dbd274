"""The math and the loop behind the gans experiments: Gaussian fits, code matching, rank
correlation, resumable GAN training."""

import math

import pytest
import torch

from adlab.core import RunContext
from adlab.gans.experiments import fit_gaussian
from adlab.gans.image_experiments import _spearman, matched_accuracy
from adlab.gans.image_loop import train_gan
from adlab.gans.losses import adversarial_step
from adlab.gans.models import MLPDiscriminator, MLPGenerator
from adlab.metrics.divergences import kl_gaussian


def test_forward_kl_fit_is_moment_matching():
    # KL(p||q) over Gaussians q is minimised by q's mean and variance equal to p's: 0 and s^2 + a^2
    mu, sigma, val = fit_gaussian("forward", torch.tensor([-2.0, 1.0, 3.5]), 1.0, separation=2.0, std=0.5, steps=2000, n_grid=1201)
    torch.testing.assert_close(mu, torch.zeros(3, dtype=torch.float64), atol=1e-3, rtol=0)
    torch.testing.assert_close(sigma, torch.full((3,), math.sqrt(0.25 + 4.0), dtype=torch.float64), atol=1e-3, rtol=0)
    assert torch.allclose(val, val[0].expand(3), atol=1e-6)


def test_reverse_kl_fit_seeks_the_nearest_mode():
    mu, sigma, _ = fit_gaussian("reverse", torch.tensor([-2.5, 2.5]), 1.0, separation=3.0, std=1.0, steps=1500, n_grid=1201)
    assert mu[0] == pytest.approx(-3.0, abs=0.05) and mu[1] == pytest.approx(3.0, abs=0.05)
    assert sigma.max() < 1.1


def test_fit_of_a_gaussian_target_recovers_it_under_every_divergence():
    # separation 0: the target is N(0, 1), which every divergence fits exactly
    for div in ("forward", "reverse", "js"):
        mu, sigma, val = fit_gaussian(div, torch.tensor([1.5]), 2.0, separation=0.0, std=1.0, steps=2000, n_grid=1201)
        assert float(mu) == pytest.approx(0.0, abs=1e-3) and float(sigma) == pytest.approx(1.0, abs=1e-3)
        assert float(val) == pytest.approx(0.0, abs=1e-6)


def test_quadrature_objective_matches_the_closed_form_kl():
    # with one fixed step the returned value is the objective at the (almost) initial point: compare with KL formula
    mu, sigma, val = fit_gaussian("forward", torch.tensor([0.7]), 1.3, separation=0.0, std=1.0, steps=1, lr=1e-9)
    expected = float(kl_gaussian(0.0, 1.0, float(mu), float(sigma)))
    assert float(val) == pytest.approx(expected, abs=1e-8)


def test_matched_accuracy_undoes_a_relabelling():
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 10, (500,), generator=g)
    perm = torch.randperm(10, generator=g)
    acc, mapping = matched_accuracy(perm[labels], labels)
    assert acc == 1.0
    assert [mapping[int(perm[c])] for c in range(10)] == list(range(10))
    noisy = perm[labels].clone()
    noisy[:100] = (noisy[:100] + 1) % 10
    assert matched_accuracy(noisy, labels)[0] == pytest.approx(0.8, abs=0.01)
    # a constant prediction can match one class only
    const_acc, _ = matched_accuracy(torch.zeros(500, dtype=torch.long), labels)
    assert const_acc == pytest.approx(float((labels == labels.mode().values).double().mean()))


def test_spearman():
    x = torch.arange(6, dtype=torch.float64)
    assert _spearman(x, x**3) == pytest.approx(1.0)
    assert _spearman(x, -x) == pytest.approx(-1.0)
    assert abs(_spearman(x, torch.tensor([2.0, 0.0, 5.0, 1.0, 4.0, 3.0], dtype=torch.float64))) < 0.5


def _toy_run(tmp_path, steps, resume, seed=0):
    tmp_path.mkdir(parents=True, exist_ok=True)
    ctx = RunContext(out=tmp_path, experiment="test", preset="smoke", seed=0, device=torch.device("cpu"), resume=resume)
    torch.manual_seed(seed)
    G, D = MLPGenerator(2, 2, 8, 1), MLPDiscriminator(2, 8, 1)
    opt_g, opt_d = torch.optim.Adam(G.parameters(), 1e-2), torch.optim.Adam(D.parameters(), 1e-2)
    data = (torch.randn(40, 2, generator=torch.Generator().manual_seed(5)) + 3,)

    def step(next_batch, g):
        batches = iter(lambda: next_batch()[0], None)
        return adversarial_step(G, D, opt_g, opt_d, batches, lambda n: torch.randn(n, 2, generator=g), loss="wasserstein", gp_weight=1.0, generator=g)

    train_gan(ctx, "toy", {"G": G, "D": D}, {"G": opt_g, "D": opt_d}, step, data, steps, 8, seed=1, checkpoint_every=2, log_every=1)
    return G, D


def test_gan_loop_resumes_to_the_same_weights(tmp_path):
    G_full, D_full = _toy_run(tmp_path / "a", 7, resume=False)
    _toy_run(tmp_path / "b", 4, resume=False)  # "killed" after its step-4 checkpoint
    G_res, D_res = _toy_run(tmp_path / "b", 7, resume=True)
    for a, b in zip(list(G_full.parameters()) + list(D_full.parameters()), list(G_res.parameters()) + list(D_res.parameters())):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    steps = [r["step"] for r in RunContext(out=tmp_path / "b", experiment="t", preset="smoke", seed=0, device=torch.device("cpu")).read_metrics()]
    assert steps == list(range(1, 8))  # the log matches an uninterrupted run
