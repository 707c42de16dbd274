r"""Functional ops and fused losses of the engine.

The elementwise functions are thin aliases of the :class:`~.tensor.Tensor`
methods. The *fused* nodes are here: they have their own VJP instead of being
composed of smaller ops, because the composition would be numerically fragile:

- :func:`softmax_cross_entropy` from logits: the gradient of
  $-\log \mathrm{softmax}(z)_y$ is $p - \mathrm{onehot}(y)$; going through
  $\partial(-\log p)/\partial p = -1/p$ would divide by probabilities that
  underflow to 0.
- :func:`sigmoid_binary_cross_entropy` from logits: finite at logits of $\pm 1000$,
  where $\log\sigma(z)$ computed naively is $\log 0$.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .tensor import ArrayLike, Tensor, _stable_sigmoid, as_tensor


def relu(x: Tensor) -> Tensor:
    return x.relu()


def sigmoid(x: Tensor) -> Tensor:
    return x.sigmoid()


def tanh(x: Tensor) -> Tensor:
    return x.tanh()


def softplus(x: Tensor) -> Tensor:
    return x.softplus()


def exp(x: Tensor) -> Tensor:
    return x.exp()


def log(x: Tensor) -> Tensor:
    return x.log()


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    return x.softmax(axis)


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    return x.log_softmax(axis)


def affine(x: Tensor, W: Tensor, b: Tensor) -> Tensor:
    r"""The affine layer $y = xW + b$ as one node.

    Shapes: ``x`` (N, d_in), ``W`` (d_in, d_out), ``b`` (d_out,) -> ``y`` (N, d_out).
    (Rows are examples, so this is the lecture's $Wx + b$ transposed.)
    """
    x, W, b = as_tensor(x), as_tensor(W), as_tensor(b)
    if x.ndim != 2 or W.ndim != 2 or b.shape != (W.shape[1],) or x.shape[1] != W.shape[0]:
        raise ValueError(
            f"affine expects x (N, d_in), W (d_in, d_out), b (d_out,); "
            f"got {x.shape}, {W.shape}, {b.shape}"
        )
    xd, Wd = x.data, W.data

    def vjp(g: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # g (N, d_out):  $\bar x = g W^\top$ (N, d_in), $\bar W = x^\top g$ (d_in, d_out),
        # $\bar b = \sum_n g_n$ (d_out,) -- b was broadcast over the N rows.
        return g @ Wd.T, xd.T @ g, g.sum(axis=0)

    return Tensor.make(xd @ Wd + b.data, (x, W, b), vjp, "affine")


def _labels(labels: ArrayLike, n: int, c: int) -> np.ndarray:
    y = np.asarray(labels.data if isinstance(labels, Tensor) else labels)
    if y.shape != (n,):
        raise ValueError(f"labels must have shape ({n},), got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        if not np.all(y == np.round(y)):
            raise ValueError("labels must be integer class indices")
    y = y.astype(np.intp)
    if y.size and (y.min() < 0 or y.max() >= c):
        raise ValueError(f"labels must lie in [0, {c}), got range [{y.min()}, {y.max()}]")
    return y


def softmax_cross_entropy(logits: Tensor, labels: ArrayLike) -> Tensor:
    r"""Mean cross-entropy of softmax(logits) against integer labels, fused.

    $L = \frac1N \sum_n \big(\mathrm{logsumexp}(z_n) - z_{n,y_n}\big)$ with
    $\mathrm{logsumexp}(z) = m + \log\sum_j e^{z_j - m}$, $m = \max_j z_j$ (exact, stable).
    Gradient: $\partial L/\partial z = (\mathrm{softmax}(z) - \mathrm{onehot}(y)) / N$.

    ``logits`` (N, C), ``labels`` (N,) integers in [0, C). Returns a scalar.
    """
    z = as_tensor(logits)
    if z.ndim != 2:
        raise ValueError(f"logits must have shape (N, C), got {z.shape}")
    n, c = z.shape
    y = _labels(labels, n, c)
    zd = z.data
    m = zd.max(axis=1, keepdims=True)  # (N, 1)
    lse = m[:, 0] + np.log(np.exp(zd - m).sum(axis=1))  # (N,)
    loss = np.mean(lse - zd[np.arange(n), y])
    p = np.exp(zd - lse[:, None])  # (N, C) softmax

    def vjp(g: np.ndarray) -> tuple[np.ndarray]:
        grad = p.copy()
        grad[np.arange(n), y] -= 1.0  # p - onehot(y)
        return (g * grad / n,)

    return Tensor.make(np.asarray(loss), (z,), vjp, "softmax_cross_entropy")


def sigmoid_binary_cross_entropy(logits: Tensor, targets: ArrayLike) -> Tensor:
    r"""Mean binary cross-entropy of sigmoid(logits) against targets in [0, 1], fused.

    $\ell(z, t) = -t\log\sigma(z) - (1-t)\log(1-\sigma(z))
               = \max(z, 0) - z t + \log(1 + e^{-|z|})$,
    which never evaluates $\log 0$ or $e^{\text{large}}$.
    Gradient: $\partial \ell/\partial z = \sigma(z) - t$ (divided by the element count).
    Equals ``torch.nn.functional.binary_cross_entropy_with_logits`` (mean reduction).
    """
    z = as_tensor(logits)
    t = np.asarray(targets.data if isinstance(targets, Tensor) else targets, dtype=np.float64)
    if t.shape != z.shape:
        raise ValueError(f"targets shape {t.shape} must equal logits shape {z.shape}")
    zd = z.data
    n = zd.size
    loss = np.mean(np.maximum(zd, 0.0) - zd * t + np.log1p(np.exp(-np.abs(zd))))
    s = _stable_sigmoid(zd)
    return Tensor.make(
        np.asarray(loss), (z,), lambda g: (g * (s - t) / n,), "sigmoid_binary_cross_entropy"
    )


def lp_penalty(weights: Tensor | Iterable[Tensor], lam: float, p: float = 2.0) -> Tensor:
    r"""The $L_p$ weight penalty $\frac{\lambda}{p} \sum_i |w_i|^p$ over one or several tensors.

    Gradient: $\lambda\,\mathrm{sign}(w)\,|w|^{p-1}$. For p = 2 this is
    $\frac{\lambda}{2}\lVert w\rVert^2$ with gradient $\lambda w$ (what optimizers call
    ``weight_decay=lambda``); for p = 1 it is the lasso $\lambda \sum |w|$, using the
    subgradient 0 at w = 0. Needs p >= 1.
    """
    if p < 1:
        raise ValueError(f"p must be >= 1, got {p}")
    ws = [weights] if isinstance(weights, Tensor) else list(weights)
    total: Tensor | None = None
    for w in ws:
        wd = w.data
        val = lam / p * np.sum(np.abs(wd) ** p)
        node = Tensor.make(
            np.asarray(val),
            (w,),
            lambda g, wd=wd: (g * lam * np.sign(wd) * np.abs(wd) ** (p - 1.0),),
            f"l{p:g}_penalty",
        )
        total = node if total is None else total + node
    return total if total is not None else Tensor(0.0)


def l2_penalty(weights: Tensor | Iterable[Tensor], lam: float) -> Tensor:
    r"""$\frac{\lambda}{2} \sum \lVert w\rVert_2^2$; its gradient $\lambda w$ is weight decay."""
    return lp_penalty(weights, lam, p=2.0)


def l1_penalty(weights: Tensor | Iterable[Tensor], lam: float) -> Tensor:
    r"""$\lambda \sum \lvert w \rvert$ (sparsity-inducing)."""
    return lp_penalty(weights, lam, p=1.0)


def mse(prediction: Tensor, target: ArrayLike) -> Tensor:
    r"""Mean squared error $\frac1N\sum (\hat y - y)^2$; its VJP is $\frac2N(\hat y - y)$."""
    return ((prediction - as_tensor(target)) ** 2).mean()
