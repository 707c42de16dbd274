"""The backward pass over a DAG: sums over paths, reuse, gating, accumulation, edge cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from adlab.foundations.autodiff import Tensor, gradcheck, softmax_cross_entropy


def test_node_used_twice_gets_both_contributions():
    x = Tensor(np.array([1.5, -2.0]), requires_grad=True)
    (x * x).sum().backward()  # d(x^2)/dx = x + x
    np.testing.assert_array_equal(x.grad, 2 * x.data)


def test_diamond_sums_over_paths_like_torch():
    rng = np.random.default_rng(0)
    x0 = rng.standard_normal((3, 4))

    def f(x):
        h = x.tanh()  # h feeds three paths
        return (h + h * h + (h.exp() * 0.5)).sum()

    def tf(x):
        h = torch.tanh(x)
        return (h + h * h + h.exp() * 0.5).sum()

    x = Tensor(x0, requires_grad=True)
    f(x).backward()
    tx = torch.tensor(x0, requires_grad=True)
    tf(tx).backward()
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-12)
    h = np.tanh(x0)  # closed form: (1 + 2h + 0.5 e^h)(1 - h^2)
    np.testing.assert_allclose(x.grad, (1 + 2 * h + 0.5 * np.exp(h)) * (1 - h * h), rtol=1e-12)
    assert gradcheck(f, [x0])


def test_losses_on_an_intermediate_node_and_two_heads():
    rng = np.random.default_rng(1)
    X, W1, W2, W3 = (rng.standard_normal(s) for s in [(5, 3), (3, 4), (4, 2), (4, 1)])
    y = np.array([0, 1, 1, 0, 1])

    def f(W1, W2, W3):
        h = (Tensor(X) @ W1).relu()  # shared hidden layer
        head_a = softmax_cross_entropy(h @ W2, y)
        head_b = ((h @ W3) ** 2).mean()
        aux = (h**2).mean() * 0.1  # a loss directly on the hidden node
        return head_a + head_b + aux

    ws = [Tensor(w, requires_grad=True) for w in (W1, W2, W3)]
    f(*ws).backward()
    tws = [torch.tensor(w, requires_grad=True) for w in (W1, W2, W3)]
    th = torch.relu(torch.tensor(X) @ tws[0])
    tl = (
        torch.nn.functional.cross_entropy(th @ tws[1], torch.tensor(y))
        + ((th @ tws[2]) ** 2).mean()
        + (th**2).mean() * 0.1
    )
    tl.backward()
    for w, tw in zip(ws, tws, strict=True):
        np.testing.assert_allclose(w.grad, tw.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_deep_chain_does_not_hit_the_recursion_limit():
    x = Tensor(np.array(0.3), requires_grad=True)
    y = x
    for _ in range(5000):
        y = y * 1.0001 + 0.0
    y.backward()
    np.testing.assert_allclose(x.grad, 1.0001**5000, rtol=1e-9)


def test_leaf_gradients_accumulate_until_zeroed():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    (x * 3.0).sum().backward()
    (x * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad, [6.0, 6.0])
    x.zero_grad()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0])


def test_constants_get_no_gradient_and_build_no_graph():
    c = Tensor(np.ones(2))
    x = Tensor(np.ones(2), requires_grad=True)
    (c * x).sum().backward()
    assert c.grad is None
    assert not (c * c).requires_grad and (c * c).parents == ()


def test_non_scalar_backward_needs_a_gradient():
    x = Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(ValueError, match="scalar"):
        (x * 2).backward()
    with pytest.raises(ValueError, match="shape"):
        (x * 2).backward(np.ones(2))
    (x * 2).backward(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(x.grad, [2.0, 4.0, 6.0])


def test_one_hot_gate_blocks_the_unselected_branch():
    """Conditional execution: a one-hot gate is a multiplication, its backward is gated."""
    x = Tensor(np.array([0.5, -1.0]), requires_grad=True)
    w_a = Tensor(np.array([2.0, 1.0]), requires_grad=True)
    w_b = Tensor(np.array([-1.0, 3.0]), requires_grad=True)
    branches = [(x * w_a).sum(), (x * w_b).tanh().sum()]
    gate = np.array([1.0, 0.0])  # choose branch a
    out = branches[0] * gate[0] + branches[1] * gate[1]
    out.backward()
    np.testing.assert_array_equal(w_b.grad, [0.0, 0.0])
    np.testing.assert_array_equal(w_a.grad, x.data)


def test_softmax_gate_learns_which_branch_to_take():
    """Toy attention: with a softmax gate the gate logits get a gradient (unlike a one-hot gate)."""
    branch_values = np.array([1.0, -2.0, 0.5])
    s = Tensor(np.array([0.1, 0.2, -0.3]), requires_grad=True)
    out = (s.softmax() * branch_values).sum()
    out.backward()
    ts = torch.tensor(s.data, requires_grad=True)
    (torch.softmax(ts, 0) * torch.tensor(branch_values)).sum().backward()
    np.testing.assert_allclose(s.grad, ts.grad.numpy(), rtol=1e-12)
    # Gradient ascent on the gate moves weight towards the branch with the largest value.
    assert np.argmax(s.grad) == np.argmax(branch_values)


def test_intermediate_nodes_expose_their_gradient():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    h = x * 2.0
    (h * h).sum().backward()
    np.testing.assert_array_equal(h.grad, 2 * h.data)
