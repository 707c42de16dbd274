r"""The graph node of the engine: a float64 numpy array that remembers how it was made.

Every operation returns a new :class:`Tensor` holding

- ``data``: the forward value, a float64 ``numpy.ndarray``;
- ``parents``: the tensors it was computed from;
- a vector-Jacobian product (VJP): given the gradient of a scalar loss
  :math:`L` with respect to this node, :math:`\bar y = \partial L / \partial y`,
  it returns :math:`\bar x_i = \bar y \, \partial y / \partial x_i` for every parent.

The full Jacobian is never formed: the VJP of ``y = x @ W`` is ``g @ W.T`` and
``x.T @ g``, whatever the sizes.

:meth:`Tensor.backward` sorts the graph topologically and visits every node after
all the nodes that consume it, so that when a node's VJP runs, its gradient already
holds the sum over *all* paths to the loss (the multivariate chain rule,
$\partial L/\partial x = \sum_{\text{paths}} \prod \partial(\text{child})/\partial(\text{parent})$).
A node used twice (``x * x``, or a hidden layer feeding two heads) receives both
contributions.

Broadcasting: numpy stretches size-1 and missing leading axes in the forward pass;
the VJP must undo it by *summing* the gradient over the stretched axes
(:func:`unbroadcast`), because one input element fed many output elements.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

ArrayLike = Any
VJP = Callable[[np.ndarray], Sequence[np.ndarray | None]]


def unbroadcast(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``g`` over the axes that broadcasting added or stretched, giving ``shape``."""
    # Leading axes that the operand did not have: sum them away.
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    # Axes where the operand had size 1 but the result did not: sum, keep the axis.
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g


def _normalize_axes(axis: int | Sequence[int] | None, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    return tuple(sorted(int(a) % ndim for a in axes)) if ndim else ()


def _stable_sigmoid(x: np.ndarray) -> np.ndarray:
    # $\sigma(x) = 1/(1+e^{-x})$ for x >= 0 and $e^{x}/(1+e^{x})$ for x < 0: exp never overflows.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


class Tensor:
    """A node of the computational graph: a float64 array, its parents and its VJP.

    ``Tensor(data, requires_grad=True)`` makes a leaf whose gradient is wanted;
    after ``loss.backward()`` its ``grad`` holds :math:`\\partial L/\\partial x`,
    an array of the same shape. Leaves accumulate gradients across calls of
    ``backward`` (in place, so a ``grad`` that is a view into a flat vector keeps
    being one); intermediate nodes get the gradient of the latest call.

    The data is wrapped without a copy when it already is a float64 array, so a
    parameter can be a *view* into a flat parameter vector (see :mod:`.nn`).
    """

    # numpy must not broadcast its ufuncs over a Tensor: `ndarray + Tensor`
    # returns NotImplemented and Python calls Tensor.__radd__ instead.
    __array_ufunc__ = None

    def __init__(
        self,
        data: ArrayLike,
        requires_grad: bool = False,
        parents: tuple[Tensor, ...] = (),
        vjp: VJP | None = None,
        op: str = "",
    ) -> None:
        if isinstance(data, Tensor):
            data = data.data
        self.data: np.ndarray = np.asarray(data, dtype=np.float64)
        self.grad: np.ndarray | None = None
        self.requires_grad = bool(requires_grad)
        self.parents = parents
        self._vjp = vjp
        self.op = op

    # ------------------------------------------------------------------ basics
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    def __len__(self) -> int:
        return len(self.data)

    @property
    def is_leaf(self) -> bool:
        return self._vjp is None

    def numpy(self) -> np.ndarray:
        return self.data

    def item(self) -> float:
        return float(self.data.item())

    def detach(self) -> Tensor:
        """The same values as a new leaf without history (shares memory)."""
        return Tensor(self.data)

    def __repr__(self) -> str:
        tag = f", op={self.op}" if self.op else ""
        rg = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({self.data!r}{rg}{tag})"

    @staticmethod
    def make(data: np.ndarray, parents: tuple[Tensor, ...], vjp: VJP, op: str) -> Tensor:
        """Create the result of an op; it keeps its history only if a parent needs a gradient."""
        if any(p.requires_grad for p in parents):
            return Tensor(data, requires_grad=True, parents=parents, vjp=vjp, op=op)
        return Tensor(data, op=op)

    # ---------------------------------------------------------------- backward
    def backward(self, grad: ArrayLike | None = None) -> None:
        """Reverse-mode sweep: fill ``.grad`` of every node this one depends on.

        ``grad`` is :math:`\\partial L/\\partial \\text{self}`; it defaults to 1 for a
        scalar (one-element) node and is required otherwise.
        """
        if grad is None:
            if self.data.size != 1:
                raise ValueError(
                    f"backward() without a gradient needs a scalar, got shape {self.shape}; "
                    "reduce it (e.g. .sum()) or pass grad="
                )
            grad = np.ones_like(self.data)
        grad = np.asarray(grad, dtype=np.float64)
        if grad.shape != self.shape:
            raise ValueError(f"grad shape {grad.shape} does not match tensor shape {self.shape}")

        # Topological order by an iterative depth-first search (no recursion limit):
        # a node is appended after all of its parents.
        order: list[Tensor] = []
        seen: set[int] = set()
        stack: list[tuple[Tensor, bool]] = [(self, False)]
        while stack:
            node, parents_done = stack.pop()
            if parents_done:
                order.append(node)
                continue
            if id(node) in seen:
                continue
            seen.add(id(node))
            stack.append((node, True))
            for p in node.parents:
                if p.requires_grad and id(p) not in seen:
                    stack.append((p, False))

        # Walk from the output towards the inputs; every consumer of a node is
        # visited before the node, so grads[id(node)] is complete when it is read.
        grads: dict[int, np.ndarray] = {id(self): grad}
        for node in reversed(order):
            g = grads.pop(id(node), None)
            if g is None:
                continue
            if node.is_leaf:
                if node.grad is None:
                    node.grad = g.copy()
                else:
                    node.grad += g  # in place: a view stays a view
                continue
            node.grad = g
            for p, gp in zip(node.parents, node._vjp(g), strict=True):
                if gp is None or not p.requires_grad:
                    continue
                # $\bar x \mathrel{+}= \bar y\, \partial y/\partial x$: sum over paths.
                if id(p) in grads:
                    grads[id(p)] = grads[id(p)] + gp
                else:
                    grads[id(p)] = gp

    def zero_grad(self) -> None:
        if self.grad is not None:
            self.grad[...] = 0.0

    # ------------------------------------------------------- elementwise, binary
    def __add__(self, other: ArrayLike) -> Tensor:
        o = as_tensor(other)
        a, b = self.data, o.data
        return Tensor.make(
            a + b,
            (self, o),
            lambda g: (unbroadcast(g, a.shape), unbroadcast(g, b.shape)),
            "add",
        )

    def __radd__(self, other: ArrayLike) -> Tensor:
        return as_tensor(other) + self

    def __sub__(self, other: ArrayLike) -> Tensor:
        o = as_tensor(other)
        a, b = self.data, o.data
        return Tensor.make(
            a - b,
            (self, o),
            lambda g: (unbroadcast(g, a.shape), unbroadcast(-g, b.shape)),
            "sub",
        )

    def __rsub__(self, other: ArrayLike) -> Tensor:
        return as_tensor(other) - self

    def __mul__(self, other: ArrayLike) -> Tensor:
        o = as_tensor(other)
        a, b = self.data, o.data
        # $\partial(ab)/\partial a = b$, $\partial(ab)/\partial b = a$
        return Tensor.make(
            a * b,
            (self, o),
            lambda g: (unbroadcast(g * b, a.shape), unbroadcast(g * a, b.shape)),
            "mul",
        )

    def __rmul__(self, other: ArrayLike) -> Tensor:
        return as_tensor(other) * self

    def __truediv__(self, other: ArrayLike) -> Tensor:
        o = as_tensor(other)
        a, b = self.data, o.data
        # $\partial(a/b)/\partial a = 1/b$, $\partial(a/b)/\partial b = -a/b^2$
        return Tensor.make(
            a / b,
            (self, o),
            lambda g: (unbroadcast(g / b, a.shape), unbroadcast(-g * a / (b * b), b.shape)),
            "div",
        )

    def __rtruediv__(self, other: ArrayLike) -> Tensor:
        return as_tensor(other) / self

    def __neg__(self) -> Tensor:
        return Tensor.make(-self.data, (self,), lambda g: (-g,), "neg")

    def __pow__(self, p: float) -> Tensor:
        if isinstance(p, Tensor):
            raise TypeError("Tensor ** Tensor is not supported: the exponent must be a constant")
        p = float(p)
        x = self.data
        # $\partial x^p/\partial x = p\,x^{p-1}$
        return Tensor.make(x**p, (self,), lambda g: (g * p * x ** (p - 1.0),), "pow")

    # ------------------------------------------------------------------ matmul
    def __matmul__(self, other: ArrayLike) -> Tensor:
        o = as_tensor(other)
        a, b = self.data, o.data

        def vjp(g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            # Promote vectors to matrices as numpy's matmul does: a (k,) is a row
            # (1, k) on the left and a column (k, 1) on the right.
            a2 = a[None, :] if a.ndim == 1 else a
            b2 = b[:, None] if b.ndim == 1 else b
            g2 = np.expand_dims(g, -1) if b.ndim == 1 else g
            if a.ndim == 1:
                g2 = np.expand_dims(g2, -2)
            # $\bar A = \bar Y B^\top$, $\bar B = A^\top \bar Y$
            ga = g2 @ np.swapaxes(b2, -1, -2)
            gb = np.swapaxes(a2, -1, -2) @ g2
            if a.ndim == 1:
                ga = ga[..., 0, :]
            if b.ndim == 1:
                gb = gb[..., :, 0]
            return unbroadcast(ga, a.shape), unbroadcast(gb, b.shape)

        return Tensor.make(a @ b, (self, o), vjp, "matmul")

    def __rmatmul__(self, other: ArrayLike) -> Tensor:
        return as_tensor(other) @ self

    # -------------------------------------------------------------- reductions
    def sum(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
        x = self.data
        axes = _normalize_axes(axis, x.ndim)

        def vjp(g: np.ndarray) -> tuple[np.ndarray]:
            # Every summed element gets the gradient of the sum: copy it back.
            if not keepdims:
                g = np.expand_dims(g, axes)
            return (np.broadcast_to(g, x.shape).copy(),)

        return Tensor.make(x.sum(axis=axes, keepdims=keepdims), (self,), vjp, "sum")

    def mean(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
        axes = _normalize_axes(axis, self.ndim)
        count = int(np.prod([self.shape[a] for a in axes])) if axes else 1
        return self.sum(axis=axes, keepdims=keepdims) * (1.0 / count)

    def max(self, axis: int | None = None, keepdims: bool = False) -> Tensor:
        """Maximum with a *gated* backward: only the argmax gets the gradient.

        This is the max-pooling rule. On ties numpy's first argmax wins (as with
        ``torch.max(x, dim)``); the other tied entries get zero.
        """
        x = self.data
        if axis is None:
            flat = int(np.argmax(x))
            out = x.reshape(-1)[flat].reshape((1,) * x.ndim if keepdims else ())

            def vjp_all(g: np.ndarray) -> tuple[np.ndarray]:
                gx = np.zeros(x.size)
                gx[flat] = g.reshape(-1)[0]
                return (gx.reshape(x.shape),)

            return Tensor.make(out, (self,), vjp_all, "max")

        ax = int(axis) % x.ndim
        idx = np.expand_dims(np.argmax(x, axis=ax), ax)
        out = np.take_along_axis(x, idx, axis=ax)
        if not keepdims:
            out = np.squeeze(out, axis=ax)

        def vjp(g: np.ndarray) -> tuple[np.ndarray]:
            gx = np.zeros_like(x)
            np.put_along_axis(gx, idx, g if keepdims else np.expand_dims(g, ax), axis=ax)
            return (gx,)

        return Tensor.make(out, (self,), vjp, "max")

    # ------------------------------------------------------------ shape moving
    def reshape(self, *shape: int | Sequence[int]) -> Tensor:
        if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)):
            shape = tuple(shape[0])
        x_shape = self.shape
        return Tensor.make(
            self.data.reshape(shape), (self,), lambda g: (g.reshape(x_shape),), "reshape"
        )

    def transpose(self, *axes: int) -> Tensor:
        if len(axes) == 1 and not isinstance(axes[0], (int, np.integer)):
            axes = tuple(axes[0])
        perm = tuple(axes) if axes else tuple(reversed(range(self.ndim)))
        inverse = tuple(np.argsort(perm))
        return Tensor.make(
            self.data.transpose(perm), (self,), lambda g: (g.transpose(inverse),), "transpose"
        )

    @property
    def T(self) -> Tensor:
        return self.transpose()

    def __getitem__(self, index: Any) -> Tensor:
        if isinstance(index, Tensor):
            index = index.data.astype(np.intp)
        x_shape = self.shape

        def vjp(g: np.ndarray) -> tuple[np.ndarray]:
            # Scatter-add: an element picked k times (repeated fancy indices)
            # receives the sum of its k gradients.
            gx = np.zeros(x_shape)
            np.add.at(gx, index, g)
            return (gx,)

        return Tensor.make(self.data[index], (self,), vjp, "getitem")

    # ------------------------------------------------------------ elementwise
    def exp(self) -> Tensor:
        y = np.exp(self.data)
        return Tensor.make(y, (self,), lambda g: (g * y,), "exp")

    def log(self) -> Tensor:
        x = self.data
        return Tensor.make(np.log(x), (self,), lambda g: (g / x,), "log")

    def relu(self) -> Tensor:
        # Backward is a mask: the gradient passes where the unit was active (x > 0).
        mask = self.data > 0
        return Tensor.make(self.data * mask, (self,), lambda g: (g * mask,), "relu")

    def sigmoid(self) -> Tensor:
        s = _stable_sigmoid(self.data)
        # $\sigma'(x) = \sigma(x)(1-\sigma(x))$
        return Tensor.make(s, (self,), lambda g: (g * s * (1.0 - s),), "sigmoid")

    def tanh(self) -> Tensor:
        t = np.tanh(self.data)
        # $\tanh'(x) = 1 - \tanh^2(x)$
        return Tensor.make(t, (self,), lambda g: (g * (1.0 - t * t),), "tanh")

    def softplus(self) -> Tensor:
        x = self.data
        # $\log(1+e^x)$ computed as logaddexp(0, x): no overflow; derivative $\sigma(x)$.
        return Tensor.make(
            np.logaddexp(0.0, x), (self,), lambda g: (g * _stable_sigmoid(x),), "softplus"
        )

    def softmax(self, axis: int = -1) -> Tensor:
        x = self.data
        # $\mathrm{softmax}(x)_i = e^{x_i - m} / \sum_j e^{x_j - m}$, $m = \max_j x_j$:
        # subtracting the max is exact and keeps exp() from overflowing.
        e = np.exp(x - x.max(axis=axis, keepdims=True))
        s = e / e.sum(axis=axis, keepdims=True)
        # VJP: $\bar x = s \odot (\bar s - \langle \bar s, s\rangle)$
        return Tensor.make(
            s, (self,), lambda g: (s * (g - (g * s).sum(axis=axis, keepdims=True)),), "softmax"
        )

    def log_softmax(self, axis: int = -1) -> Tensor:
        x = self.data
        # $\log \mathrm{softmax}(x) = x - \mathrm{logsumexp}(x)$
        m = x.max(axis=axis, keepdims=True)
        lse = m + np.log(np.exp(x - m).sum(axis=axis, keepdims=True))
        s = np.exp(x - lse)
        return Tensor.make(
            x - lse, (self,), lambda g: (g - s * g.sum(axis=axis, keepdims=True),), "log_softmax"
        )


def as_tensor(x: ArrayLike) -> Tensor:
    """Return ``x`` if it is a Tensor, else wrap it as a constant (no gradient)."""
    return x if isinstance(x, Tensor) else Tensor(x)
