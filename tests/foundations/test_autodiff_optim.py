"""Optimizers of the engine against torch.optim, step by step, and an MLP trained on digits."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from adlab.foundations.autodiff import (
    MLP,
    SGD,
    Adam,
    Module,
    Parameter,
    Tensor,
    minibatches,
    softmax_cross_entropy,
)

STEPS = 100

OPTIMIZERS = {
    # name: (engine factory, torch factory)
    "adam": (lambda m: Adam(m, lr=0.05), lambda ps: torch.optim.Adam(ps, lr=0.05)),
    "adam_wd": (
        lambda m: Adam(m, lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
        lambda ps: torch.optim.Adam(ps, lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
    ),
    "sgd": (lambda m: SGD(m, lr=0.05), lambda ps: torch.optim.SGD(ps, lr=0.05)),
    "momentum": (
        lambda m: SGD(m, lr=0.02, momentum=0.9),
        lambda ps: torch.optim.SGD(ps, lr=0.02, momentum=0.9),
    ),
    "nesterov_wd": (
        lambda m: SGD(m, lr=0.02, momentum=0.9, nesterov=True, weight_decay=0.01),
        lambda ps: torch.optim.SGD(ps, lr=0.02, momentum=0.9, nesterov=True, weight_decay=0.01),
    ),
}


class Quadratic(Module):
    """L(theta) = 1/2 theta^T A theta - b^T theta, an ill-conditioned bowl."""

    def __init__(self, theta0, A, b):
        self.x = Parameter(theta0)
        self.A, self.b = A, b
        self.flatten()

    def forward(self, _=None):
        return (self.x @ (self.A @ self.x)) * 0.5 - self.b @ self.x


def quadratic_problem():
    rng = np.random.default_rng(0)
    Q, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    A = Q @ np.diag(np.linspace(0.5, 10.0, 6)) @ Q.T  # condition number 20
    return rng.standard_normal(6) * 3, A, rng.standard_normal(6)


def run_engine(model, make_opt, loss_fn):
    opt = make_opt(model)
    path = [model.theta.copy()]
    for _ in range(STEPS):
        model.zero_grad()
        loss_fn(model).backward()
        opt.step()
        path.append(model.theta.copy())
    return np.array(path)


def run_torch(params, make_opt, loss_fn, flatten):
    opt = make_opt(params)
    path = [flatten()]
    for _ in range(STEPS):
        opt.zero_grad()
        loss_fn().backward()
        opt.step()
        path.append(flatten())
    return np.array(path)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_trajectory_equals_torch_on_a_quadratic(name):
    make_engine, make_torch = OPTIMIZERS[name]
    theta0, A, b = quadratic_problem()
    engine_path = run_engine(Quadratic(theta0, A, b), make_engine, lambda m: m.forward())

    x = torch.tensor(theta0, requires_grad=True)
    tA, tb = torch.tensor(A), torch.tensor(b)
    torch_path = run_torch(
        [x], make_torch, lambda: 0.5 * x @ tA @ x - tb @ x, lambda: x.detach().numpy().copy()
    )

    np.testing.assert_allclose(engine_path, torch_path, rtol=0, atol=1e-6)
    # The problem is not trivial: the optimizer moved theta by a lot.
    assert np.linalg.norm(engine_path[-1] - engine_path[0]) > 1.0


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_trajectory_equals_torch_on_an_mlp(name):
    make_engine, make_torch = OPTIMIZERS[name]
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((32, 4)), rng.integers(0, 3, 32)
    model = MLP([4, 8, 3], "tanh", rng=rng)

    layers = [torch.nn.Linear(4, 8).double(), torch.nn.Linear(8, 3).double()]
    with torch.no_grad():
        for lin, t in zip(model.layers, layers, strict=True):
            t.weight.copy_(torch.tensor(lin.W.data.T))
            t.bias.copy_(torch.tensor(lin.b.data))
    params = [p for t in layers for p in (t.weight, t.bias)]

    def flatten():  # torch parameters in the engine's theta layout
        return np.concatenate(
            [
                v
                for t in layers
                for v in (t.weight.detach().numpy().T.ravel(), t.bias.detach().numpy())
            ]
        )

    tX, ty = torch.tensor(X), torch.tensor(y)
    np.testing.assert_array_equal(flatten(), model.theta)
    engine_path = run_engine(model, make_engine, lambda m: softmax_cross_entropy(m(X), y))
    torch_path = run_torch(
        params,
        make_torch,
        lambda: torch.nn.functional.cross_entropy(layers[1](torch.tanh(layers[0](tX))), ty),
        flatten,
    )
    np.testing.assert_allclose(engine_path, torch_path, rtol=0, atol=1e-6)
    assert np.linalg.norm(engine_path[-1] - engine_path[0]) > 0.1


def test_plain_gradient_descent_step():
    theta, grad = np.array([1.0, -2.0]), np.array([0.5, 4.0])
    SGD(theta, grad, lr=0.1).step()
    np.testing.assert_array_equal(theta, [0.95, -2.4])


def test_adam_first_step_is_lr_times_sign():
    # With bias correction, m_hat = g and v_hat = g^2 at t = 1: the step is lr * g/(|g| + eps).
    theta, grad = np.zeros(3), np.array([1e-3, -5.0, 2.0])
    opt = Adam(theta, grad)
    assert opt.lr == 1e-3  # the default (the source's "3e-5" is a typo for the 3e-4 rule of thumb)
    opt.step()
    np.testing.assert_allclose(theta, -1e-3 * np.sign(grad), rtol=1e-4)


def test_optimizers_update_the_model_in_place():
    model = MLP([2, 2], rng=0)
    W = model.layers[0].W
    before = W.data.copy()
    model.grad[:] = 1.0
    Adam(model, lr=0.1).step()
    np.testing.assert_allclose(W.data, before - 0.1, rtol=1e-6)


def test_bad_optimizer_arguments():
    theta = np.zeros(3)
    with pytest.raises(ValueError, match="grad"):
        SGD(theta, lr=0.1)
    with pytest.raises(ValueError, match="shape"):
        Adam(theta, np.zeros(2))
    with pytest.raises(ValueError, match="lr"):
        SGD(theta, np.zeros(3), lr=-1.0)
    with pytest.raises(ValueError, match="Nesterov"):
        SGD(theta, np.zeros(3), lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="betas"):
        Adam(theta, np.zeros(3), betas=(1.0, 0.999))


def test_minibatches_cover_every_index_once():
    batches = list(minibatches(10, 4, rng=0))
    assert [len(b) for b in batches] == [4, 4, 2]
    np.testing.assert_array_equal(np.sort(np.concatenate(batches)), np.arange(10))


def test_mlp_trained_with_the_engine_classifies_digits():
    """An MLP trained by this engine and its own Adam: >= 95% test accuracy on digits."""
    start = time.perf_counter()
    digits = load_digits()
    X, y = digits.data / 16.0, digits.target  # pixels 0..16 -> [0, 1]
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)

    model = MLP([64, 64, 10], "relu", rng=0)
    opt = Adam(model, lr=3e-3)
    rng = np.random.default_rng(0)
    for _ in range(30):
        for idx in minibatches(len(X_tr), 32, rng):
            model.zero_grad()
            softmax_cross_entropy(model(X_tr[idx]), y_tr[idx]).backward()
            opt.step()

    accuracy = np.mean(model(Tensor(X_te)).data.argmax(axis=1) == y_te)
    elapsed = time.perf_counter() - start
    assert accuracy >= 0.95, f"test accuracy {accuracy:.3f}"
    assert elapsed < 20.0, f"took {elapsed:.1f} s"
