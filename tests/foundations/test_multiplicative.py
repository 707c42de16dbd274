"""The multiplicative interaction unit: exact products, einsum reference, gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from adlab.foundations.multiplicative import MultiplicativeInteraction


def einsum_reference(
    unit: MultiplicativeInteraction, x: torch.Tensor, z: torch.Tensor
) -> torch.Tensor:
    # $y_k = \sum_{ij} x_i W_{kij} z_j + \sum_i U_{ki} x_i + \sum_j V_{kj} z_j + b_k$
    y = torch.einsum("bi,kij,bj->bk", x, unit.W, z)
    y = y + torch.einsum("ki,bi->bk", unit.U, x) + torch.einsum("kj,bj->bk", unit.V, z)
    return y + unit.b if unit.b is not None else y


@pytest.mark.parametrize("d_x,d_z,d_out,bias", [(3, 5, 4, True), (1, 1, 1, True), (6, 2, 3, False)])
def test_output_equals_einsum_and_bilinear_references(d_x, d_z, d_out, bias):
    torch.manual_seed(0)
    unit = MultiplicativeInteraction(d_x, d_z, d_out, bias=bias).double()
    x, z = torch.randn(7, d_x, dtype=torch.float64), torch.randn(7, d_z, dtype=torch.float64)
    y = unit(x, z)
    assert y.shape == (7, d_out)
    torch.testing.assert_close(y, einsum_reference(unit, x, z), rtol=1e-12, atol=1e-12)
    # torch's bilinear computes x^T W z + b with W (d_out, d_x, d_z): the same first term.
    bil = F.bilinear(x, z, unit.W, unit.b) + x @ unit.U.T + z @ unit.V.T
    torch.testing.assert_close(y, bil, rtol=1e-12, atol=1e-12)


def test_represents_the_product_x_times_z_exactly():
    unit = MultiplicativeInteraction.dot_product(1)
    # Far outside any training range: a ReLU MLP is piecewise linear there, this is exact.
    x = torch.tensor([[0.0], [1.5], [-3.0], [1e3], [-7.25e5], [3.0e-8]], dtype=torch.float64)
    z = torch.tensor([[2.0], [-4.0], [-3.0], [1e3], [2.0], [-1.0e8]], dtype=torch.float64)
    assert torch.equal(unit(x, z), x * z)


def test_represents_the_dot_product():
    unit = MultiplicativeInteraction.dot_product(4)
    x, z = (
        torch.randn(5, 4, dtype=torch.float64) * 100,
        torch.randn(5, 4, dtype=torch.float64) * 100,
    )
    torch.testing.assert_close(unit(x, z), (x * z).sum(1, keepdim=True), rtol=1e-12, atol=1e-9)
    assert unit.W.shape == (1, 4, 4) and unit.U.abs().sum() == 0 and unit.V.abs().sum() == 0


def test_gradients_pass_torch_gradcheck():
    torch.manual_seed(1)
    unit = MultiplicativeInteraction(3, 2, 2).double()
    x = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    z = torch.randn(4, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(unit, (x, z))
    names = [name for name, _ in unit.named_parameters()]

    def as_function_of_parameters(*params):
        return torch.func.functional_call(unit, dict(zip(names, params, strict=True)), (x, z))

    assert torch.autograd.gradcheck(
        as_function_of_parameters, tuple(p.detach().requires_grad_() for p in unit.parameters())
    )


def test_learns_the_product_from_data_and_extrapolates():
    """Trained on [-1, 1]^2 it finds x*z, so it is right on [5, 10]^2 too."""
    torch.manual_seed(2)
    unit = MultiplicativeInteraction(1, 1, 1).double()
    opt = torch.optim.Adam(unit.parameters(), lr=0.05)
    x, z = (
        torch.rand(256, 1, dtype=torch.float64) * 2 - 1,
        torch.rand(256, 1, dtype=torch.float64) * 2 - 1,
    )
    for _ in range(400):
        opt.zero_grad()
        loss = ((unit(x, z) - x * z) ** 2).mean()
        loss.backward()
        opt.step()
    x_far, z_far = (
        torch.rand(64, 1, dtype=torch.float64) * 5 + 5,
        torch.rand(64, 1, dtype=torch.float64) * 5 + 5,
    )
    rel_err = ((unit(x_far, z_far) - x_far * z_far).abs() / (x_far * z_far)).max()
    assert rel_err < 1e-3, f"relative error {rel_err:.2e} outside the training range"


def test_rejects_wrong_shapes():
    unit = MultiplicativeInteraction(3, 2, 1)
    with pytest.raises(ValueError, match="expected x"):
        unit(torch.randn(4, 2), torch.randn(4, 3))
    with pytest.raises(ValueError, match="expected x"):
        unit(torch.randn(4, 3), torch.randn(5, 2))
