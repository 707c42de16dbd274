"""Modules of the engine: parameters are views into one flat theta, gradients into one flat grad."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from adlab.foundations.autodiff import MLP, Linear, Module, Parameter, Tensor, softmax_cross_entropy


def torch_mlp_like(model: MLP) -> torch.nn.Sequential:
    """A float64 torch MLP holding the same weights (torch's Linear stores W transposed)."""
    act = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid}
    name = next(k for k, v in act.items() if model.activation is getattr(Tensor, k))
    layers: list[torch.nn.Module] = []
    for i, lin in enumerate(model.layers):
        t = torch.nn.Linear(*lin.W.shape).double()
        with torch.no_grad():
            t.weight.copy_(torch.tensor(lin.W.data.T))
            t.bias.copy_(torch.tensor(lin.b.data))
        layers.append(t)
        if i < len(model.layers) - 1:
            layers.append(act[name]())
    return torch.nn.Sequential(*layers)


def test_parameters_are_views_into_theta():
    model = MLP([3, 4, 2], "tanh", rng=0)
    W0, b0, W1, b1 = model.parameters()
    assert model.theta.shape == (3 * 4 + 4 + 4 * 2 + 2,)
    for p in (W0, b0, W1, b1):
        assert np.shares_memory(p.data, model.theta)
        assert np.shares_memory(p.grad, model.grad)
    # Layout: W0 then b0 then W1 then b1, each row-major.
    np.testing.assert_array_equal(model.theta[:12], W0.data.ravel())
    np.testing.assert_array_equal(model.theta[12:16], b0.data)

    model.theta[:] = np.arange(model.theta.size, dtype=float)  # writing theta writes W and b
    np.testing.assert_array_equal(W0.data, np.arange(12.0).reshape(3, 4))
    np.testing.assert_array_equal(b1.data, [24.0, 25.0])
    W1.data[0, 0] = -7.0  # and writing W writes theta
    assert model.theta[16] == -7.0


def test_submodule_theta_is_a_view_of_the_parent_theta():
    model = MLP([2, 3, 3, 1], rng=1)
    offset = 0
    for layer in model.layers:
        n = layer.theta.size
        assert np.shares_memory(layer.theta, model.theta)
        np.testing.assert_array_equal(layer.theta, model.theta[offset : offset + n])
        offset += n
    assert offset == model.theta.size


def test_gradient_of_W_lands_in_the_flat_grad_vector():
    rng = np.random.default_rng(2)
    model = MLP([4, 5, 3], "relu", rng=rng)
    X, y = rng.standard_normal((6, 4)), rng.integers(0, 3, 6)
    model.zero_grad()
    softmax_cross_entropy(model(X), y).backward()
    flat = np.concatenate([p.grad.ravel() for p in model.parameters()])
    np.testing.assert_array_equal(model.grad, flat)
    assert np.abs(model.grad).sum() > 0

    # ... and equals torch's gradient for the same network.
    net = torch_mlp_like(model)
    torch.nn.functional.cross_entropy(net(torch.tensor(X)), torch.tensor(y)).backward()
    lin0 = net[0]
    np.testing.assert_allclose(
        model.layers[0].W.grad, lin0.weight.grad.numpy().T, rtol=1e-10, atol=1e-14
    )
    np.testing.assert_allclose(
        model.layers[0].b.grad, lin0.bias.grad.numpy(), rtol=1e-10, atol=1e-14
    )

    # backward accumulates into the flat vector; zero_grad clears it in place.
    grad_before = model.grad.copy()
    softmax_cross_entropy(model(X), y).backward()
    np.testing.assert_allclose(model.grad, 2 * grad_before)
    g = model.grad
    model.zero_grad()
    assert g is model.grad and not model.grad.any()


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_mlp_forward_matches_torch(activation):
    rng = np.random.default_rng(3)
    model = MLP([5, 7, 6, 3], activation, rng=rng)
    X = rng.standard_normal((4, 5))
    np.testing.assert_allclose(
        model(X).data, torch_mlp_like(model)(torch.tensor(X)).detach().numpy(), rtol=1e-12
    )


def test_linear_and_custom_module():
    class Bilinear(Module):
        def __init__(self):
            self.scale = Parameter(np.array([2.0]))
            self.inner = Linear(2, 2, rng=0, init="glorot")

        def forward(self, x):
            return self.inner(x) * self.scale

    m = Bilinear()
    names = [name for name, _ in m.named_parameters()]
    assert names == ["scale", "inner.W", "inner.b"]
    assert m.theta.size == 1 + 4 + 2  # flattened on first access
    assert np.shares_memory(m.inner.W.data, m.theta)
    m.theta[0] = 3.0
    np.testing.assert_allclose(m(np.ones((1, 2))).data, 3.0 * (np.ones((1, 2)) @ m.inner.W.data))

    # Adding a parameter later re-flattens and keeps the values.
    values = m.theta.copy()
    m.shift = Parameter(np.zeros(2))
    assert m.theta.size == values.size + 2
    np.testing.assert_array_equal(m.theta[: values.size], values)


def test_bad_arguments():
    with pytest.raises(ValueError, match="activation"):
        MLP([2, 2], "swish")
    with pytest.raises(ValueError, match="at least"):
        MLP([3])
    with pytest.raises(ValueError, match="init"):
        Linear(2, 2, init="orthogonal")
    with pytest.raises(TypeError):
        Module()  # forward is abstract
