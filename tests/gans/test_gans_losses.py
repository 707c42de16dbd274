import math

import pytest
import torch
from torch import nn

from adlab.gans import losses as L
from adlab.gans.models import MLPDiscriminator, MLPGenerator
from adlab.metrics.divergences import js_discrete, kl_discrete


def sig(x):
    return 1 / (1 + math.exp(-x))


R = [0.0, 2.0, -0.5]
FK = [-1.0, 1.0, 0.3]
r, f = torch.tensor(R, dtype=torch.float64), torch.tensor(FK, dtype=torch.float64)


def mean(xs):
    return sum(xs) / len(xs)


def test_minimax_and_nonsaturating_hand_values():
    d = -mean([math.log(sig(v)) for v in R]) - mean([math.log(1 - sig(v)) for v in FK])
    assert float(L.d_loss_minimax(r, f)) == pytest.approx(d, abs=1e-12)
    assert float(L.g_loss_saturating(f)) == pytest.approx(mean([math.log(1 - sig(v)) for v in FK]), abs=1e-12)
    assert float(L.g_loss_nonsaturating(f)) == pytest.approx(-mean([math.log(sig(v)) for v in FK]), abs=1e-12)
    # matches torch's BCE-with-logits
    bce = nn.functional.binary_cross_entropy_with_logits
    assert float(L.d_loss_minimax(r, f)) == pytest.approx(
        float(bce(r, torch.ones_like(r)) + bce(f, torch.zeros_like(f))), abs=1e-12
    )


def test_stable_for_extreme_logits():
    big = torch.tensor([80.0, -80.0], dtype=torch.float32)
    # closed forms at |z| = 80 in float64: softplus(80) = 80 (+1.8e-35), softplus(-80) = 1.8e-35
    sp = nn.functional.softplus(big.double())
    expected = {
        "d_loss_minimax": (nn.functional.softplus(-big.double()).mean() + sp.mean()).item(),
        "g_loss_saturating": (-sp.mean()).item(),
        "g_loss_nonsaturating": nn.functional.softplus(-big.double()).mean().item(),
    }
    got = {"d_loss_minimax": L.d_loss_minimax(big, big), "g_loss_saturating": L.g_loss_saturating(big), "g_loss_nonsaturating": L.g_loss_nonsaturating(big)}
    for name, v in got.items():
        assert torch.isfinite(v) and float(v) == pytest.approx(expected[name], rel=1e-6), name


@pytest.mark.parametrize("logit", [-10.0, -5.0, 0.0, 3.0])
def test_generator_gradients_closed_form(logit):
    lf = torch.tensor([logit], dtype=torch.float64, requires_grad=True)
    (g_sat,) = torch.autograd.grad(L.g_loss_saturating(lf), lf)
    lf2 = lf.detach().clone().requires_grad_(True)
    (g_ns,) = torch.autograd.grad(L.g_loss_nonsaturating(lf2), lf2)
    s = sig(logit)
    # $\partial_l \log(1-\sigma(l)) = -\sigma(l)$; $\partial_l [-\log\sigma(l)] = -(1-\sigma(l))$
    assert float(g_sat) == pytest.approx(-s, rel=1e-9, abs=1e-15)
    assert float(g_ns) == pytest.approx(-(1 - s), rel=1e-9, abs=1e-15)


def test_saturating_gradient_vanishes_when_d_rejects_fakes():
    lf = torch.tensor([-12.0], dtype=torch.float64, requires_grad=True)  # D(G(z)) ~ 6e-6
    (g_sat,) = torch.autograd.grad(L.g_loss_saturating(lf), lf)
    lf2 = lf.detach().clone().requires_grad_(True)
    (g_ns,) = torch.autograd.grad(L.g_loss_nonsaturating(lf2), lf2)
    assert abs(float(g_sat)) < 1e-5
    assert abs(float(g_ns)) > 0.99


def test_wasserstein_hinge_least_squares_hand_values():
    assert float(L.d_loss_wasserstein(r, f)) == pytest.approx(mean(FK) - mean(R))
    assert float(L.g_loss_wasserstein(f)) == pytest.approx(-mean(FK))
    hinge = mean([max(0, 1 - v) for v in R]) + mean([max(0, 1 + v) for v in FK])
    assert float(L.d_loss_hinge(r, f)) == pytest.approx(hinge)
    assert float(L.g_loss_hinge(f)) == pytest.approx(-mean(FK))
    ls = 0.5 * mean([(v - 1) ** 2 for v in R]) + 0.5 * mean([v**2 for v in FK])
    assert float(L.d_loss_least_squares(r, f)) == pytest.approx(ls)
    assert float(L.g_loss_least_squares(f)) == pytest.approx(0.5 * mean([(v - 1) ** 2 for v in FK]))
    assert float(L.d_loss_least_squares(r, f, a=-1, b=1)) == pytest.approx(
        0.5 * mean([(v - 1) ** 2 for v in R]) + 0.5 * mean([(v + 1) ** 2 for v in FK])
    )


class LinearCritic(nn.Module):
    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(w.clone())

    def forward(self, x):
        return x.flatten(1) @ self.w + 0.3


@pytest.mark.parametrize("shape", [(16, 3), (8, 1, 2, 2)])
def test_gradient_penalty_linear_critic(shape):
    g = torch.Generator().manual_seed(0)
    d = math.prod(shape[1:])
    real, fake = torch.randn(shape, generator=g), torch.randn(shape, generator=g)
    w_unit = torch.nn.functional.normalize(torch.randn(d, generator=g), dim=0)
    assert float(L.gradient_penalty(LinearCritic(w_unit), real, fake, generator=g).detach()) == pytest.approx(0.0, abs=1e-10)
    w = 2.5 * w_unit
    critic = LinearCritic(w)
    gp = L.gradient_penalty(critic, real, fake, generator=g)
    assert float(gp.detach()) == pytest.approx((2.5 - 1) ** 2, rel=1e-5)
    # differentiable in the critic: d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||
    gp.backward()
    torch.testing.assert_close(critic.w.grad, 2 * (2.5 - 1) * w_unit, rtol=1e-5, atol=1e-6)


def test_gradient_penalty_interpolates_with_per_sample_eps_from_generator():
    g = torch.Generator().manual_seed(1)
    real, fake = torch.randn(10, 4, generator=g), torch.randn(10, 4, generator=g)
    critic = lambda x: 0.5 * x.pow(2).sum(1)  # noqa: E731  gradient = x_hat
    gp = L.gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(7))
    eps = torch.rand(10, generator=torch.Generator().manual_seed(7))[:, None]
    x_hat = eps * real + (1 - eps) * fake
    expected = ((x_hat.norm(dim=1) - 1) ** 2).mean()
    assert float(gp.detach()) == pytest.approx(float(expected), rel=1e-6)
    with pytest.raises(ValueError):
        L.gradient_penalty(critic, real, fake[:5])


def test_clip_weights():
    m = nn.Linear(5, 5)
    with torch.no_grad():
        m.weight.mul_(100)
    L.clip_weights_(m, 0.01)
    assert all(float(p.detach().abs().max()) <= 0.01 for p in m.parameters())


# f-GAN: inverse output activations, to place the critic at its optimum T* = f'(p/q)
INV_ACT = {
    "kl": lambda t: t,
    "reverse_kl": lambda t: -torch.log(-t),
    "pearson": lambda t: t,
    "hellinger": lambda t: -torch.log(1 - t),
    "js": lambda t: -torch.log(2 * torch.exp(-t) - 1),
    "gan": lambda t: -torch.log(torch.exp(-t) - 1),
}


@pytest.mark.parametrize("name", sorted(L.F_DIVERGENCES))
def test_fgan_bound_is_tight_at_optimal_critic(name):
    fd = L.F_DIVERGENCES[name]
    # P = (1/2, 1/4, 1/4), Q = (1/4, 1/4, 1/2) as equally weighted samples on points 0, 1, 2
    p = torch.tensor([0.5, 0.25, 0.25], dtype=torch.float64)
    q = torch.tensor([0.25, 0.25, 0.5], dtype=torch.float64)
    real_pts, fake_pts = torch.tensor([0, 0, 1, 2]), torch.tensor([0, 1, 2, 2])
    u = (p / q).requires_grad_(True)
    (t_star,) = torch.autograd.grad(fd.f(u).sum(), u)  # $T^* = f'(p/q)$
    u = u.detach()
    # Fenchel equality at the optimum: $f^*(f'(u)) = u f'(u) - f(u)$
    torch.testing.assert_close(fd.conjugate(t_star), u * t_star - fd.f(u))
    v = INV_ACT[name](t_star)
    torch.testing.assert_close(fd.activation(v), t_star)
    d_f = float((q * fd.f(u)).sum())
    closed = {
        "kl": float(kl_discrete(p, q)),
        "reverse_kl": float(kl_discrete(q, p)),
        "pearson": float(((p - q) ** 2 / q).sum()),
        "hellinger": float(((p.sqrt() - q.sqrt()) ** 2).sum()),
        "js": 2 * float(js_discrete(p, q)),
        "gan": 2 * float(js_discrete(p, q)) - math.log(4),
    }[name]
    assert d_f == pytest.approx(closed, abs=1e-12)
    bound = L.fgan_bound(v[real_pts], v[fake_pts], name)
    assert float(bound) == pytest.approx(d_f, abs=1e-10)
    assert float(L.d_loss_fgan(v[real_pts], v[fake_pts], name)) == pytest.approx(-d_f, abs=1e-10)
    # any other critic gives a smaller bound
    worse = L.fgan_bound(v[real_pts] + 0.3, v[fake_pts] + 0.3, name)
    assert float(worse) < d_f
    # the generator term is the part of the bound that depends on Q's samples
    assert float(L.g_loss_fgan(v[fake_pts], name)) == pytest.approx(float(bound - fd.activation(v[real_pts]).mean()), abs=1e-10)


def test_mmd_losses():
    g = torch.Generator().manual_seed(2)
    x, y = torch.randn(20, 3, generator=g), torch.randn(20, 3, generator=g) + 2
    assert float(L.g_loss_mmd(x, y)) > 0
    assert float(L.d_loss_mmd(x, y)) == pytest.approx(-float(L.g_loss_mmd(x, y)))


def test_registry():
    assert set(L.LOSSES) == {"minimax", "nonsaturating", "wasserstein", "hinge", "least_squares"}
    assert L.LOSSES["nonsaturating"].d is L.d_loss_minimax


def _setup(seed=0):
    torch.manual_seed(seed)
    G, D = MLPGenerator(2, 2, 16, 2), MLPDiscriminator(2, 16, 2)
    opt_g = torch.optim.SGD(G.parameters(), lr=0.1)
    opt_d = torch.optim.SGD(D.parameters(), lr=0.1)
    return G, D, opt_g, opt_d


class CountingIterator:
    def __init__(self):
        self.n = 0
        self.g = torch.Generator().manual_seed(0)

    def __next__(self):
        self.n += 1
        return torch.randn(8, 2, generator=self.g)


class CountingSGD(torch.optim.SGD):
    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.steps = 0

    def step(self, closure=None):
        self.steps += 1
        return super().step(closure)


@pytest.mark.parametrize("n_critic", [1, 5])
def test_adversarial_step_n_critic(n_critic):
    G, D, _, _ = _setup()
    opt_g, opt_d = CountingSGD(G.parameters(), lr=0.1), CountingSGD(D.parameters(), lr=0.1)
    it = CountingIterator()
    g_before = [p.detach().clone() for p in G.parameters()]
    zg = torch.Generator().manual_seed(1)
    stats = L.adversarial_step(G, D, opt_g, opt_d, it, lambda b: torch.randn(b, 2, generator=zg), "wasserstein", n_critic=n_critic, gp_weight=10.0, generator=zg)
    assert it.n == n_critic and opt_d.steps == n_critic and opt_g.steps == 1
    assert set(stats) == {"d_loss", "g_loss", "gp"}
    assert any(not torch.equal(a, b) for a, b in zip(g_before, G.parameters()))


def test_adversarial_step_clipping_and_determinism():
    results = []
    for _ in range(2):
        G, D, opt_g, opt_d = _setup(3)
        zg = torch.Generator().manual_seed(1)
        for _ in range(3):
            stats = L.adversarial_step(G, D, opt_g, opt_d, CountingIterator(), lambda b: torch.randn(b, 2, generator=zg), "wasserstein", n_critic=2, clip=0.01)
        assert all(float(p.detach().abs().max()) <= 0.01 for p in D.parameters())
        results.append(stats)
    assert results[0] == results[1]
    with pytest.raises(ValueError):
        L.adversarial_step(G, D, opt_g, opt_d, CountingIterator(), lambda b: torch.randn(b, 2), n_critic=0)
