import pytest
import torch
from torch import nn

from adlab.nn.spectral_norm import (
    SpectralNorm,
    orthogonal_regularization,
    orthogonal_regularization_loss,
    remove_spectral_norm,
    spectral_norm,
    spectral_sigma,
)


def _top_singular(w):
    return torch.linalg.svd(w.detach().flatten(1), full_matrices=False).S[0]


def _run_power_iterations(module, steps, x):
    module.train()
    for _ in range(steps):
        module(x)


@pytest.mark.parametrize(
    "make, x",
    [
        (lambda: nn.Linear(32, 48), torch.randn(4, 32)),
        (lambda: nn.Conv2d(3, 16, 3, padding=1), torch.randn(2, 3, 8, 8)),
    ],
)
def test_sigma_matches_svd_and_normalised_weight_has_unit_norm(make, x):
    torch.manual_seed(0)
    layer = make()
    raw = layer.weight.detach().clone()
    spectral_norm(layer, n_power_iterations=500)
    assert torch.equal(layer.parametrizations.weight.original, raw)
    _run_power_iterations(layer, 1, x)
    sigma_true = _top_singular(raw)  # conv weight reshaped to (out, -1)
    torch.testing.assert_close(spectral_sigma(layer), sigma_true, rtol=1e-4, atol=0)
    layer.eval()
    assert float(_top_singular(layer.weight)) == pytest.approx(1.0, rel=1e-4)


def test_u_persists_across_steps_and_freezes_in_eval():
    torch.manual_seed(1)
    layer = spectral_norm(nn.Linear(10, 20))
    sn = layer.parametrizations.weight[0]
    assert isinstance(sn, SpectralNorm)
    with torch.no_grad():  # a new weight: u must move towards its top left singular vector
        layer.parametrizations.weight.original.copy_(torch.randn(20, 10))
    u0 = sn._u.clone()
    layer.train()
    layer(torch.randn(2, 10))
    u1 = sn._u.clone()
    assert not torch.allclose(u0, u1)  # updated in place by the training-mode forward
    layer.eval()
    layer(torch.randn(2, 10))
    assert torch.equal(sn._u, u1)  # no power iteration in eval mode
    assert "parametrizations.weight.0._u" in layer.state_dict()


def test_one_iteration_per_step_converges_over_steps():
    # weight with known singular values (sigma_2 / sigma_1 = 0.8): one iteration per step, u carried over
    g = torch.Generator().manual_seed(2)
    u, _ = torch.linalg.qr(torch.randn(30, 30, generator=g))
    v, _ = torch.linalg.qr(torch.randn(30, 30, generator=g))
    s = torch.cat([torch.tensor([4.0, 3.2]), torch.linspace(3.0, 0.1, 28)])
    layer = nn.Linear(30, 30)
    with torch.no_grad():
        layer.weight.copy_(u @ torch.diag(s) @ v.T)
    spectral_norm(layer, n_power_iterations=1)
    sn = layer.parametrizations.weight[0]
    with torch.no_grad():  # restart from a poor vector, so progress must come from the steps
        sn._u.copy_(torch.nn.functional.normalize(u[:, 1] + 1e-2 * u[:, 0], dim=0))
    errors = []
    for _ in range(80):
        _run_power_iterations(layer, 1, torch.randn(3, 30, generator=g))
        errors.append(abs(float(spectral_sigma(layer)) - 4.0))
    assert errors[-1] < 1e-4 * 4.0
    assert errors[0] > 0.1 and errors[-1] < errors[10] < errors[0]


def test_gradient_flows_to_raw_weight_and_matches_torch_reference():
    torch.manual_seed(3)
    ours = nn.Linear(12, 8)
    ref = nn.Linear(12, 8)
    ref.load_state_dict(ours.state_dict())
    spectral_norm(ours, n_power_iterations=200)
    torch.nn.utils.parametrizations.spectral_norm(ref, n_power_iterations=200)
    x = torch.randn(5, 12)
    ours.train(), ref.train()
    y_ours, y_ref = ours(x), ref(x)
    torch.testing.assert_close(y_ours, y_ref, rtol=1e-4, atol=1e-5)
    y_ours.pow(2).sum().backward()
    y_ref.pow(2).sum().backward()
    g_ours = ours.parametrizations.weight.original.grad
    g_ref = ref.parametrizations.weight.original.grad
    torch.testing.assert_close(g_ours, g_ref, rtol=1e-3, atol=1e-5)


def test_conv_transpose_uses_output_dim():
    torch.manual_seed(4)
    layer = spectral_norm(nn.ConvTranspose2d(6, 4, 3), n_power_iterations=300)
    layer.train()
    layer(torch.randn(1, 6, 5, 5))
    w = layer.parametrizations.weight.original.detach()  # (in, out, k, k)
    sigma_true = _top_singular(w.transpose(0, 1))
    torch.testing.assert_close(spectral_sigma(layer), sigma_true, rtol=1e-4, atol=0)


def test_remove_spectral_norm_bakes_weight():
    layer = spectral_norm(nn.Linear(4, 4), n_power_iterations=50)
    layer.eval()
    w = layer.weight.detach().clone()
    remove_spectral_norm(layer)
    assert not hasattr(layer, "parametrizations")
    assert torch.equal(layer.weight.detach(), w)


def test_orthogonal_regularization_closed_form():
    w = torch.tensor([[1.0, 2.0], [3.0, 4.0], [0.0, 1.0]])  # 3 filters (rows)
    # Gram off-diagonals: <r0,r1>=11, <r0,r2>=2, <r1,r2>=4 -> 2 * (121 + 4 + 16)
    assert float(orthogonal_regularization(w)) == pytest.approx(2 * (121 + 4 + 16))
    assert float(orthogonal_regularization(w, beta=0.5)) == pytest.approx(141)
    q, _ = torch.linalg.qr(torch.randn(6, 6))
    assert float(orthogonal_regularization(3.0 * q)) == pytest.approx(0.0, abs=1e-8)  # norms are free
    conv = torch.randn(4, 2, 3, 3)
    flat = conv.flatten(1)
    g = flat @ flat.T
    assert float(orthogonal_regularization(conv)) == pytest.approx(float((g - torch.diag(torch.diag(g))).pow(2).sum()), rel=1e-5)


def test_orthogonal_regularization_loss_over_model():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    expected = sum(float(orthogonal_regularization(m.weight.detach(), 1e-4)) for m in (model[0], model[2]))
    assert float(orthogonal_regularization_loss(model).detach()) == pytest.approx(expected, rel=1e-6)
    orthogonal_regularization_loss(model).backward()
    assert model[0].weight.grad is not None and model[0].bias.grad is None
