"""Every op of the autodiff engine against central finite differences and torch.autograd.

Shapes are drawn with hypothesis (broadcasting pairs included); values come from a
numpy generator seeded by hypothesis, moved away from kinks (relu at 0, ties of max)
and singularities (log and division near 0) so that finite differences are valid.
For each case a random cotangent R turns the output into the scalar sum(f(x) * R),
so the whole vector-Jacobian product is checked, not only column sums.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import (
    BroadcastableShapes,
    array_shapes,
    basic_indices,
    mutually_broadcastable_shapes,
)

from adlab.foundations.autodiff import (
    Tensor,
    affine,
    engine_grad,
    gradcheck,
    l1_penalty,
    l2_penalty,
    lp_penalty,
    mse,
    numerical_grad,
)

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True)
FD_RTOL, FD_ATOL = 1e-5, 1e-6
shapes = array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)
seeds = st.integers(0, 2**32 - 1)


def check(f, tf, arrays, seed=0):
    """Value and gradients of ``f`` (engine) against ``tf`` (torch) and finite differences."""
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    R = np.random.default_rng(seed + 1).standard_normal(f(*map(Tensor, arrays)).shape)
    out, grads = engine_grad(f, arrays, R)

    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    t_out = tf(*ts)
    np.testing.assert_allclose(out, t_out.detach().numpy(), rtol=1e-10, atol=1e-12)
    t_grads = torch.autograd.grad(t_out, ts, grad_outputs=torch.tensor(R), allow_unused=True)
    for i, (g, tg) in enumerate(zip(grads, t_grads, strict=True)):
        assert g.shape == arrays[i].shape
        tg = np.zeros_like(g) if tg is None else tg.numpy()
        np.testing.assert_allclose(g, tg, rtol=1e-9, atol=1e-12, err_msg=f"torch, input {i}")

    num = numerical_grad(lambda *a: np.sum(f(*map(Tensor, a)).data * R), arrays, eps=1e-6)
    for i, (g, gn) in enumerate(zip(grads, num, strict=True)):
        np.testing.assert_allclose(g, gn, rtol=FD_RTOL, atol=FD_ATOL, err_msg=f"FD, input {i}")


def values(rng, shape, domain="any"):
    x = rng.standard_normal(shape)
    if domain == "positive":  # log, fractional powers
        return np.abs(x) + 0.5
    if domain == "nonzero":  # relu kink, division, negative powers
        return np.where(x >= 0, 1.0, -1.0) * (np.abs(x) + 0.2)
    return x


def distinct(rng, shape):
    """Values with gaps >= 0.1 between any two entries: no ties for max (gated backward)."""
    n = int(np.prod(shape))
    return (rng.permutation(n) * 0.1 + rng.uniform(0, 0.01, n) - 0.05 * n).reshape(shape)


UNARY = {
    # name: (engine, torch, input domain)
    "neg": (lambda x: -x, lambda t: -t, "any"),
    "exp": (Tensor.exp, torch.exp, "any"),
    "log": (Tensor.log, torch.log, "positive"),
    "relu": (Tensor.relu, torch.relu, "nonzero"),
    "sigmoid": (Tensor.sigmoid, torch.sigmoid, "any"),
    "tanh": (Tensor.tanh, torch.tanh, "any"),
    "softplus": (Tensor.softplus, F.softplus, "any"),
    "pow2": (lambda x: x**2, lambda t: t**2, "any"),
    "pow3": (lambda x: x**3, lambda t: t**3, "any"),
    "pow_half": (lambda x: x**0.5, lambda t: t**0.5, "positive"),
    "pow_1.5": (lambda x: x**1.5, lambda t: t**1.5, "positive"),
    "pow_minus1": (lambda x: x**-1, lambda t: t**-1, "nonzero"),
    "rsub_scalar": (lambda x: 2.0 - x, lambda t: 2.0 - t, "any"),
    "rmul_scalar": (lambda x: 3.0 * x, lambda t: 3.0 * t, "any"),
    "rdiv_scalar": (lambda x: 1.5 / x, lambda t: 1.5 / t, "nonzero"),
    "radd_ndarray": (lambda x: np.full(x.shape, 2.0) + x, lambda t: 2.0 + t, "any"),
    "sub_self_scaled": (lambda x: x - x * 0.5, lambda t: t - t * 0.5, "any"),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@SETTINGS
@given(shape=shapes, seed=seeds)
def test_unary_ops(name, shape, seed):
    f, tf, domain = UNARY[name]
    check(f, tf, [values(np.random.default_rng(seed), shape, domain)], seed)


def test_ndarray_on_the_left_gives_a_tensor():
    x = Tensor(np.ones(3), requires_grad=True)
    for y in (np.ones(3) + x, np.ones(3) * x, np.ones(3) - x, np.ones(3) / x, np.eye(3) @ x):
        assert isinstance(y, Tensor)


BINARY = {
    "add": (lambda a, b: a + b, lambda a, b: a + b, "any"),
    "sub": (lambda a, b: a - b, lambda a, b: a - b, "any"),
    "mul": (lambda a, b: a * b, lambda a, b: a * b, "any"),
    "div": (lambda a, b: a / b, lambda a, b: a / b, "nonzero"),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@SETTINGS
@given(
    shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=4),
    seed=seeds,
)
@example(shapes=BroadcastableShapes(((3, 1), (1, 4)), (3, 4)), seed=0)
@example(shapes=BroadcastableShapes(((5,), (2, 5)), (2, 5)), seed=1)
@example(shapes=BroadcastableShapes(((2, 5), (5,)), (2, 5)), seed=2)
@example(shapes=BroadcastableShapes(((), (2, 3)), (2, 3)), seed=3)
def test_broadcasting_binary_ops(name, shapes, seed):
    f, tf, domain = BINARY[name]
    rng = np.random.default_rng(seed)
    a_shape, b_shape = shapes.input_shapes
    check(f, tf, [values(rng, a_shape), values(rng, b_shape, domain)], seed)


@SETTINGS
@given(data=st.data(), seed=seeds)
def test_matmul(data, seed):
    n, k, m, b = (data.draw(st.integers(1, 4)) for _ in range(4))
    pairs = [
        ((n, k), (k, m)),
        ((k,), (k, m)),
        ((n, k), (k,)),
        ((k,), (k,)),
        ((b, n, k), (k, m)),
        ((b, n, k), (b, k, m)),
        ((n, k), (b, k, m)),
        ((1, n, k), (b, k, m)),
        ((k,), (b, k, m)),
    ]
    a_shape, b_shape = data.draw(st.sampled_from(pairs))
    rng = np.random.default_rng(seed)
    check(
        lambda x, y: x @ y, lambda x, y: x @ y, [values(rng, a_shape), values(rng, b_shape)], seed
    )


def test_matmul_with_ndarray_on_the_left():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((3, 4))
    check(lambda x: A @ x, lambda t: torch.tensor(A) @ t, [rng.standard_normal((4, 2))])


@SETTINGS
@given(n=st.integers(1, 5), d_in=st.integers(1, 4), d_out=st.integers(1, 4), seed=seeds)
def test_affine(n, d_in, d_out, seed):
    rng = np.random.default_rng(seed)
    arrays = [values(rng, (n, d_in)), values(rng, (d_in, d_out)), values(rng, (d_out,))]
    check(affine, lambda x, W, b: x @ W + b, arrays, seed)


def test_affine_rejects_transposed_weights():
    with pytest.raises(ValueError, match="affine expects"):
        affine(Tensor(np.ones((2, 3))), Tensor(np.ones((4, 3))), Tensor(np.ones(4)))


@st.composite
def shape_and_axis(draw, min_dims=1):
    shape = draw(array_shapes(min_dims=min_dims, max_dims=3, min_side=1, max_side=4))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    return shape, axis


@SETTINGS
@given(
    sa=shape_and_axis(),
    keepdims=st.booleans(),
    seed=seeds,
    kind=st.sampled_from(["int", "none", "tuple"]),
)
def test_sum_and_mean(sa, keepdims, seed, kind):
    shape, axis = sa
    if kind == "none":
        axis = None
    elif kind == "tuple":
        axis = tuple(sorted({axis % len(shape), 0}))
    x = values(np.random.default_rng(seed), shape)
    t_axis = tuple(range(len(shape))) if axis is None else axis
    check(
        lambda a: a.sum(axis, keepdims=keepdims),
        lambda t: t.sum(t_axis, keepdim=keepdims),
        [x],
        seed,
    )
    check(
        lambda a: a.mean(axis, keepdims=keepdims),
        lambda t: t.mean(t_axis, keepdim=keepdims),
        [x],
        seed,
    )


def test_sum_of_scalar():
    check(lambda a: a.sum() * 2.0, lambda t: t.sum() * 2.0, [np.array(1.5)])


@SETTINGS
@given(sa=shape_and_axis(), keepdims=st.booleans(), seed=seeds)
def test_max_over_axis_is_gated(sa, keepdims, seed):
    shape, axis = sa
    x = distinct(np.random.default_rng(seed), shape)
    check(
        lambda a: a.max(axis, keepdims=keepdims),
        lambda t: t.max(axis, keepdim=keepdims).values,
        [x],
        seed,
    )
    # Gating: along the axis, exactly the argmax gets the upstream gradient, the rest 0.
    t = Tensor(x, requires_grad=True)
    t.max(axis).sum().backward()
    expected = (x == x.max(axis=axis, keepdims=True)).astype(float)
    np.testing.assert_array_equal(t.grad, expected)


@SETTINGS
@given(shape=shapes, keepdims=st.booleans(), seed=seeds)
def test_max_over_all(shape, keepdims, seed):
    x = distinct(np.random.default_rng(seed), shape)
    tf = (lambda t: t.amax(dim=tuple(range(t.ndim)), keepdim=True)) if keepdims else torch.max
    check(lambda a: a.max(keepdims=keepdims), tf, [x], seed)


def test_max_with_ties_routes_the_gradient_to_one_entry():
    x = Tensor(np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]]), requires_grad=True)
    x.max(axis=1).backward(np.array([5.0, 7.0]))
    np.testing.assert_array_equal(x.grad, [[0.0, 5.0, 0.0], [7.0, 0.0, 0.0]])


@SETTINGS
@given(sa=shape_and_axis(), seed=seeds)
def test_softmax_and_log_softmax(sa, seed):
    shape, axis = sa
    x = values(np.random.default_rng(seed), shape) * 3
    check(lambda a: a.softmax(axis), lambda t: torch.softmax(t, axis), [x], seed)
    check(lambda a: a.log_softmax(axis), lambda t: torch.log_softmax(t, axis), [x], seed)


def test_softmax_is_stable_where_the_naive_formula_overflows():
    z = np.array([[1000.0, 999.0, -1000.0], [-1e4, 0.0, 1e4]])
    with np.errstate(over="ignore", invalid="ignore"):
        naive = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    assert np.isnan(naive).any()  # inf / inf
    s = Tensor(z).softmax(axis=1).data
    assert np.isfinite(s).all()
    np.testing.assert_allclose(
        s, torch.softmax(torch.tensor(z), 1).numpy(), rtol=1e-12, atol=1e-300
    )
    np.testing.assert_allclose(s.sum(axis=1), 1.0)


@SETTINGS
@given(shape=array_shapes(min_dims=1, max_dims=3, max_side=4), seed=seeds, data=st.data())
def test_reshape_and_transpose(shape, seed, data):
    x = values(np.random.default_rng(seed), shape)
    new_shape = data.draw(
        st.sampled_from([(-1,), tuple(reversed(shape)), (1, *shape), (int(np.prod(shape)), 1)])
    )
    check(lambda a: a.reshape(new_shape), lambda t: t.reshape(new_shape), [x], seed)
    perm = tuple(data.draw(st.permutations(range(len(shape)))))
    check(lambda a: a.transpose(perm), lambda t: t.permute(perm), [x], seed)
    check(lambda a: a.T, lambda t: t.permute(tuple(reversed(range(t.ndim)))), [x], seed)


def _via_flat_index(shape, index):
    """The same selection as ``x[index]``, expressed as torch fancy indexing of x.flatten()."""
    flat_ids = torch.tensor(np.arange(int(np.prod(shape))).reshape(shape)[index].copy())
    return lambda t: t.reshape(-1)[flat_ids]


@SETTINGS
@given(shape=array_shapes(min_dims=1, max_dims=3, max_side=5), seed=seeds, data=st.data())
def test_getitem_basic_indices(shape, seed, data):
    index = data.draw(basic_indices(shape, allow_newaxis=True))
    x = values(np.random.default_rng(seed), shape)
    check(lambda a: a[index], _via_flat_index(shape, index), [x], seed)


X453 = np.arange(60.0).reshape(4, 5, 3) / 7.0
GETITEM_CASES = {
    "int": 2,
    "negative": (-1, slice(None), 0),
    "slices": (slice(1, None), slice(None, None, 2)),
    "reversed": (slice(None, None, -1), 1),
    "repeated_fancy": [0, 0, 3, 0],  # scatter-add: row 0 gets three gradients
    "pairs": (np.array([0, 1, 1, 3]), np.array([4, 2, 2, 0])),  # like logits[arange, labels]
    "mask": X453 > 4.0,
    "ellipsis": (Ellipsis, 1),
    "tensor_index": Tensor(np.array([3, 1, 1])),
}


@pytest.mark.parametrize("name", sorted(GETITEM_CASES))
def test_getitem_cases(name):
    index = GETITEM_CASES[name]
    np_index = index.data.astype(int) if isinstance(index, Tensor) else index
    check(lambda a: a[index], _via_flat_index(X453.shape, np_index), [X453])


def test_getitem_repeated_index_accumulates():
    x = Tensor(np.zeros(3), requires_grad=True)
    x[np.array([0, 0, 2, 0])].sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 0.0, 1.0])


@SETTINGS
@given(shape=array_shapes(min_dims=1, max_dims=2, max_side=4), seed=seeds)
def test_penalties_and_mse(shape, seed):
    rng = np.random.default_rng(seed)
    w, v = values(rng, shape, "nonzero"), values(rng, shape)  # |w| >= 0.2: |.| is smooth there
    check(lambda a: l2_penalty(a, 0.3), lambda t: 0.3 / 2 * (t**2).sum(), [w], seed)
    check(lambda a: l1_penalty(a, 0.3), lambda t: 0.3 * t.abs().sum(), [w], seed)
    for p in (1.5, 3.0):
        check(
            lambda a, p=p: lp_penalty(a, 0.7, p),
            lambda t, p=p: 0.7 / p * (t.abs() ** p).sum(),
            [w],
            seed,
        )
    check(
        lambda a, b: l2_penalty([a, b], 0.5),
        lambda s, t: 0.25 * ((s**2).sum() + (t**2).sum()),
        [w, v],
        seed,
    )
    check(lambda a, b: mse(a, b), lambda s, t: F.mse_loss(s, t), [w, v], seed)


def test_lp_penalty_rejects_p_below_one():
    with pytest.raises(ValueError, match="p must be"):
        lp_penalty(Tensor(np.ones(2)), 1.0, p=0.5)


def test_pow_by_a_tensor_is_refused():
    with pytest.raises(TypeError, match="constant"):
        Tensor(np.ones(2)) ** Tensor(np.ones(2))


def test_gradcheck_helper_catches_a_wrong_vjp():
    def wrong_square(x):  # forward x^2, backward claims 3x
        return Tensor.make(x.data**2, (x,), lambda g: (3 * x.data * g,), "wrong")

    x = np.array([0.5, -1.0, 2.0])
    assert gradcheck(lambda a: a**2, [x])
    with pytest.raises(AssertionError):
        gradcheck(wrong_square, [x])
