"""The fused losses: softmax cross-entropy and sigmoid binary cross-entropy from logits."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from adlab.foundations.autodiff import (
    Tensor,
    numerical_grad,
    sigmoid_binary_cross_entropy,
    softmax_cross_entropy,
)

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True)


@SETTINGS
@given(
    n=st.integers(1, 6),
    c=st.integers(2, 5),
    scale=st.sampled_from([0.1, 1.0, 10.0]),
    seed=st.integers(0, 2**32 - 1),
)
def test_softmax_cross_entropy_matches_torch_and_finite_differences(n, c, scale, seed):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, c)) * scale
    y = rng.integers(0, c, n)
    t = Tensor(z, requires_grad=True)
    loss = softmax_cross_entropy(t, y)
    loss.backward()

    tz = torch.tensor(z, requires_grad=True)
    t_loss = F.cross_entropy(tz, torch.tensor(y))
    t_loss.backward()
    np.testing.assert_allclose(loss.item(), t_loss.item(), rtol=1e-12)
    np.testing.assert_allclose(t.grad, tz.grad.numpy(), rtol=1e-10, atol=1e-14)

    # The gradient is (softmax(z) - onehot(y)) / N.
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    np.testing.assert_allclose(t.grad, (p - np.eye(c)[y]) / n, rtol=1e-10, atol=1e-14)

    num = numerical_grad(lambda a: softmax_cross_entropy(Tensor(a), y).item(), [z])[0]
    np.testing.assert_allclose(t.grad, num, rtol=1e-5, atol=1e-7)


def test_softmax_cross_entropy_is_finite_at_huge_logits():
    z = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 5e3]])
    y = np.array([1, 0])  # both badly wrong: loss ~ 2e4
    t = Tensor(z, requires_grad=True)
    loss = softmax_cross_entropy(t, y)
    loss.backward()
    assert np.isfinite(loss.item()) and np.isfinite(t.grad).all()
    np.testing.assert_allclose(
        loss.item(), F.cross_entropy(torch.tensor(z), torch.tensor(y)).item()
    )
    np.testing.assert_allclose(t.grad, [[0.5, -0.5, 0.0], [-0.5, 0.5, 0.0]], atol=1e-12)


def test_softmax_cross_entropy_checks_labels():
    z = Tensor(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="shape"):
        softmax_cross_entropy(z, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        softmax_cross_entropy(z, np.array([0, 3]))
    with pytest.raises(ValueError, match="integer"):
        softmax_cross_entropy(z, np.array([0.5, 1.0]))


@SETTINGS
@given(
    shape=st.sampled_from([(1,), (5,), (3, 2), (2, 3, 2)]),
    scale=st.sampled_from([0.5, 3.0, 30.0]),
    seed=st.integers(0, 2**32 - 1),
)
def test_sigmoid_bce_matches_torch_and_finite_differences(shape, scale, seed):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(shape) * scale
    targets = rng.uniform(0, 1, shape)  # soft targets are allowed
    t = Tensor(z, requires_grad=True)
    loss = sigmoid_binary_cross_entropy(t, targets)
    loss.backward()

    tz = torch.tensor(z, requires_grad=True)
    t_loss = F.binary_cross_entropy_with_logits(tz, torch.tensor(targets))
    t_loss.backward()
    np.testing.assert_allclose(loss.item(), t_loss.item(), rtol=1e-12)
    np.testing.assert_allclose(t.grad, tz.grad.numpy(), rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(
        t.grad, (1 / (1 + np.exp(-z)) - targets) / z.size, rtol=1e-10, atol=1e-15
    )

    num = numerical_grad(lambda a: sigmoid_binary_cross_entropy(Tensor(a), targets).item(), [z])[0]
    np.testing.assert_allclose(t.grad, num, rtol=1e-5, atol=1e-7)


def test_sigmoid_bce_is_finite_at_logits_of_plus_minus_1000():
    z = np.array([1000.0, -1000.0, 1000.0, -1000.0])
    targets = np.array([1.0, 0.0, 0.0, 1.0])  # right, right, wrong, wrong
    t = Tensor(z, requires_grad=True)
    loss = sigmoid_binary_cross_entropy(t, targets)
    loss.backward()
    assert np.isfinite(loss.item()) and np.isfinite(t.grad).all()
    np.testing.assert_allclose(loss.item(), 500.0)  # (0 + 0 + 1000 + 1000) / 4
    expected = F.binary_cross_entropy_with_logits(torch.tensor(z), torch.tensor(targets)).item()
    np.testing.assert_allclose(loss.item(), expected)
    np.testing.assert_allclose(t.grad, [0.0, 0.0, 0.25, -0.25])
    with np.errstate(
        over="ignore", divide="ignore", invalid="ignore"
    ):  # the naive composition fails here
        s = 1 / (1 + np.exp(-z))
        naive = -np.mean(targets * np.log(s) + (1 - targets) * np.log(1 - s))
    assert not np.isfinite(naive)


def test_sigmoid_bce_checks_target_shape():
    with pytest.raises(ValueError, match="targets shape"):
        sigmoid_binary_cross_entropy(Tensor(np.zeros(3)), np.zeros(2))
