r"""Gradient checking by central finite differences.

$\partial L/\partial x_i \approx (L(x + \epsilon e_i) - L(x - \epsilon e_i)) / (2\epsilon)$,
with error $O(\epsilon^2)$ from the Taylor expansion plus $O(\delta/\epsilon)$ from
rounding ($\delta \approx 10^{-16}$ in float64), so $\epsilon \approx 10^{-6}$ balances them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .tensor import Tensor


def numerical_grad(
    f: Callable[..., float], arrays: Sequence[np.ndarray], eps: float = 1e-6
) -> list[np.ndarray]:
    """Central-difference gradient of the scalar ``f(*arrays)`` with respect to each array."""
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    grads = []
    for a in arrays:
        g = np.zeros_like(a)
        flat, gflat = a.reshape(-1), g.reshape(-1)  # views: perturb a in place
        for i in range(flat.size):
            orig = flat[i]
            flat[i] = orig + eps
            f_plus = float(f(*arrays))
            flat[i] = orig - eps
            f_minus = float(f(*arrays))
            flat[i] = orig
            gflat[i] = (f_plus - f_minus) / (2.0 * eps)
        grads.append(g)
    return grads


def engine_grad(
    f: Callable[..., Tensor], arrays: Sequence[np.ndarray], cotangent: np.ndarray | None = None
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Forward value of ``f`` and the engine's gradients of ``sum(f(*x) * cotangent)``."""
    xs = [Tensor(np.array(a, dtype=np.float64), requires_grad=True) for a in arrays]
    out = f(*xs)
    out.backward(np.ones(out.shape) if cotangent is None else cotangent)
    return out.data, [x.grad if x.grad is not None else np.zeros(x.shape) for x in xs]


def gradcheck(
    f: Callable[..., Tensor],
    arrays: Sequence[np.ndarray],
    eps: float = 1e-6,
    rtol: float = 1e-5,
    atol: float = 1e-7,
    seed: int = 0,
) -> bool:
    """Check the engine's VJP of ``f`` against finite differences.

    A random cotangent ``R`` turns any output into the scalar ``sum(f(*x) * R)``,
    which tests the whole Jacobian (not only its column sums). Raises
    ``AssertionError`` with the worst mismatch, returns True otherwise.
    """
    out = f(*[Tensor(a) for a in arrays])
    R = np.random.default_rng(seed).standard_normal(out.shape)
    _, analytic = engine_grad(f, arrays, R)
    numeric = numerical_grad(lambda *a: np.sum(f(*[Tensor(x) for x in a]).data * R), arrays, eps)
    for i, (ga, gn) in enumerate(zip(analytic, numeric, strict=True)):
        np.testing.assert_allclose(ga, gn, rtol=rtol, atol=atol, err_msg=f"input {i}")
    return True
