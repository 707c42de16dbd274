import math

import pytest
import torch
import torch.nn.functional as F

from adlab.gans import losses as L
from adlab.gans.infogan import (
    InfoCodes,
    InfoGANDiscriminator,
    InfoGANGenerator,
    info_loss,
    mutual_information_lower_bound,
    sample_codes,
)


def test_sample_codes_distribution_and_input_layout():
    codes = sample_codes(5000, z_dim=8, generator=torch.Generator().manual_seed(0))
    assert codes.z.shape == (5000, 8) and codes.cat.shape == (5000,) and codes.cont.shape == (5000, 2)
    assert int(codes.cat.min()) == 0 and int(codes.cat.max()) == 9
    assert float(codes.cont.min()) >= -1 and float(codes.cont.max()) <= 1
    assert float(codes.cont.var()) == pytest.approx(1 / 3, rel=0.05)  # U[-1, 1]
    inp = codes.as_input()
    assert inp.shape == (5000, 8 + 10 + 2)
    assert torch.equal(inp[:, 8:18].argmax(1), codes.cat) and torch.equal(inp[:, 18:], codes.cont)


def test_infogan_shapes_and_grads(assert_grads):
    torch.manual_seed(1)
    G, D = InfoGANGenerator(z_dim=8, ngf=8), InfoGANDiscriminator(ndf=8)
    codes = sample_codes(6, z_dim=8)
    x = G(codes)
    assert x.shape == (6, 1, 28, 28)
    logit, cat_logits, mu, log_std = D(x)
    assert logit.shape == (6,) and cat_logits.shape == (6, 10) and mu.shape == (6, 2) and log_std.shape == (6, 2)
    d_real = D(torch.rand(6, 1, 28, 28))[0]
    loss = L.d_loss_minimax(d_real, logit.detach()) + L.g_loss_nonsaturating(logit) + info_loss(cat_logits, mu, log_std, codes)
    loss.backward()
    assert_grads(G, D)


def test_generator_hidden_layer_is_the_papers_fc_block():
    # hidden H adds Linear(d_in -> H, no bias) + BN(H) and projects H (not d_in) to the 4ngf x 7 x 7 map
    z_dim, ngf, H = 8, 8, 32
    d_in, proj = z_dim + 10 + 2, 4 * ngf * 7 * 7
    n = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    plain, deep = InfoGANGenerator(z_dim=z_dim, ngf=ngf), InfoGANGenerator(z_dim=z_dim, ngf=ngf, hidden=H)
    assert n(deep) - n(plain) == d_in * H + 2 * H + (H - d_in) * proj
    codes = sample_codes(5, z_dim=z_dim, generator=torch.Generator().manual_seed(0))
    x = deep(codes)
    assert x.shape == (5, 1, 28, 28) and float(x.detach().abs().max()) <= 1.0
    x.sum().backward()
    assert deep.fc[0].weight.grad is not None and deep.fc[0].weight.grad.abs().sum() > 0


def test_info_loss_closed_form():
    codes = InfoCodes(torch.zeros(2, 1), torch.tensor([1, 0]), torch.tensor([[0.5, -0.5], [0.0, 1.0]]), 3)
    cat_logits = torch.tensor([[0.0, 1.0, 0.0], [2.0, 0.0, 0.0]])
    mu = torch.tensor([[0.0, 0.0], [0.0, 0.0]])
    log_std = torch.tensor([[0.0, math.log(2.0)], [0.0, 0.0]])
    ce = F.cross_entropy(cat_logits, codes.cat)

    def log_n(x, m, s):
        return -0.5 * ((x - m) / s) ** 2 - math.log(s) - 0.5 * math.log(2 * math.pi)

    log_q_cont = ((log_n(0.5, 0, 1) + log_n(-0.5, 0, 2)) + (log_n(0.0, 0, 1) + log_n(1.0, 0, 1))) / 2
    expected = float(ce) - 0.1 * log_q_cont
    assert float(info_loss(cat_logits, mu, log_std, codes)) == pytest.approx(expected, rel=1e-6)
    mi = mutual_information_lower_bound(cat_logits, mu, log_std, codes)
    assert float(mi["cat"]) == pytest.approx(math.log(3) - float(ce), rel=1e-6)
    assert float(mi["cont"]) == pytest.approx(2 * math.log(2) + log_q_cont, rel=1e-6)


def test_mi_bound_reaches_entropy_for_a_perfect_q_and_not_above():
    codes = sample_codes(64, z_dim=2, generator=torch.Generator().manual_seed(2))
    perfect = 50.0 * F.one_hot(codes.cat, 10).float()
    mi = mutual_information_lower_bound(perfect, codes.cont, torch.zeros(64, 2), codes)
    assert float(mi["cat"]) == pytest.approx(math.log(10), abs=1e-6)
    uninformative = torch.zeros(64, 10)
    assert float(mutual_information_lower_bound(uninformative, codes.cont, torch.zeros(64, 2), codes)["cat"]) == pytest.approx(0.0, abs=1e-6)
    g = torch.Generator().manual_seed(3)
    for _ in range(5):
        logits = 3 * torch.randn(64, 10, generator=g)
        assert float(mutual_information_lower_bound(logits, codes.cont, torch.zeros(64, 2), codes)["cat"]) <= math.log(10) + 1e-6
