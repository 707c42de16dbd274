r"""A small module API whose parameters are views into one flat vector $\theta$.

The lecture writes all parameters of a network as one vector $\theta$, with each
weight matrix $W$ and bias $b$ a *slice* of it. Here that is literal:
:meth:`Module.flatten` allocates one float64 array ``theta`` and one ``grad``
array of the same length, and rebinds every :class:`Parameter` so that

- ``param.data`` is a numpy view ``theta[a:b].reshape(shape)`` -- writing
  ``model.theta[:] = v`` changes every ``W`` and ``b``;
- ``param.grad`` is the view ``grad[a:b].reshape(shape)`` -- ``backward()``
  accumulates into it in place, so :math:`\nabla_\theta L` appears in
  ``model.grad`` with no copying.

The optimizers of :mod:`.optim` then work on two flat vectors, exactly as the
update equations are written. A submodule's own ``theta``/``grad`` are views of
its parent's (its parameters are contiguous in the parent's vector).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from .ops import affine
from .tensor import Tensor


class Parameter(Tensor):
    """A leaf tensor that is trained (``requires_grad=True``)."""

    def __init__(self, data: np.ndarray) -> None:
        super().__init__(np.array(data, dtype=np.float64), requires_grad=True)


class Module(ABC):
    """Base class: parameters and submodules are found among the attributes.

    Attribute order is the order in ``theta``. Subclasses call
    :meth:`flatten` at the end of ``__init__`` (reading ``theta`` or ``grad``
    flattens on demand as well).
    """

    _theta: np.ndarray | None = None
    _grad: np.ndarray | None = None

    def __setattr__(self, name: str, value: object) -> None:
        if isinstance(value, (Parameter, Module)) or (
            isinstance(value, (list, tuple)) and any(isinstance(v, Module) for v in value)
        ):
            # A new parameter invalidates the flat vectors; they are rebuilt on demand.
            object.__setattr__(self, "_theta", None)
            object.__setattr__(self, "_grad", None)
        object.__setattr__(self, name, value)

    def children(self) -> Iterator[tuple[str, Parameter | Module]]:
        for name, value in vars(self).items():
            if name.startswith("_"):
                continue
            if isinstance(value, (Parameter, Module)):
                yield name, value
            elif isinstance(value, (list, tuple)):
                for i, v in enumerate(value):
                    if isinstance(v, (Parameter, Module)):
                        yield f"{name}.{i}", v

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        for name, value in self.children():
            if isinstance(value, Parameter):
                yield prefix + name, value
            else:
                yield from value.named_parameters(prefix + name + ".")

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self.named_parameters()]

    def flatten(self) -> None:
        """Put all parameters into one ``theta`` vector (and gradients into one ``grad``)."""
        params = self.parameters()
        n = sum(p.size for p in params)
        theta = np.empty(n, dtype=np.float64)
        grad = np.zeros(n, dtype=np.float64)
        end = self._bind(theta, grad, 0)
        assert end == n

    def _bind(self, theta: np.ndarray, grad: np.ndarray, start: int) -> int:
        offset = start
        for _, value in self.children():
            if isinstance(value, Module):
                offset = value._bind(theta, grad, offset)
                continue
            k, shape = value.size, value.shape
            theta[offset : offset + k] = value.data.reshape(-1)
            # Views, not copies: reshape of a contiguous slice shares memory.
            value.data = theta[offset : offset + k].reshape(shape)
            value.grad = grad[offset : offset + k].reshape(shape)
            offset += k
        object.__setattr__(self, "_theta", theta[start:offset])
        object.__setattr__(self, "_grad", grad[start:offset])
        return offset

    @property
    def theta(self) -> np.ndarray:
        """All parameters as one flat float64 vector (each parameter is a view into it)."""
        if self._theta is None:
            self.flatten()
        return self._theta

    @property
    def grad(self) -> np.ndarray:
        """The flat gradient vector, aligned with :attr:`theta`."""
        if self._grad is None:
            self.flatten()
        return self._grad

    def zero_grad(self) -> None:
        self.grad[:] = 0.0

    @abstractmethod
    def forward(self, x: Tensor) -> Tensor:
        """The computation; subclasses define it."""

    def __call__(self, x: Tensor | np.ndarray) -> Tensor:
        return self.forward(x if isinstance(x, Tensor) else Tensor(x))


class Linear(Module):
    r"""$y = xW + b$ with ``W`` (d_in, d_out) and ``b`` (d_out,).

    Initialisation: $W_{ij} \sim U(-a, a)$ with $a = \sqrt{6/d_{in}}$ for ReLU
    (He et al., 2015) or $a = \sqrt{6/(d_{in}+d_{out})}$ otherwise (Glorot & Bengio,
    2010); ``b = 0``.
    """

    def __init__(
        self,
        d_in: int,
        d_out: int,
        rng: np.random.Generator | int | None = None,
        init: str = "he",
    ) -> None:
        rng = np.random.default_rng(rng)
        if init == "he":
            a = np.sqrt(6.0 / d_in)
        elif init == "glorot":
            a = np.sqrt(6.0 / (d_in + d_out))
        else:
            raise ValueError(f"init must be 'he' or 'glorot', got {init!r}")
        self.W = Parameter(rng.uniform(-a, a, size=(d_in, d_out)))
        self.b = Parameter(np.zeros(d_out))
        self.flatten()

    def forward(self, x: Tensor) -> Tensor:
        return affine(x, self.W, self.b)  # (N, d_in) -> (N, d_out)


ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "relu": Tensor.relu,
    "tanh": Tensor.tanh,
    "sigmoid": Tensor.sigmoid,
    "softplus": Tensor.softplus,
}


class MLP(Module):
    """A multilayer perceptron ``sizes[0] -> sizes[1] -> ... -> sizes[-1]``.

    The activation follows every layer but the last, which returns logits.
    ``activation`` is a name from :data:`ACTIVATIONS` or a function Tensor -> Tensor.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        activation: str | Callable[[Tensor], Tensor] = "relu",
        rng: np.random.Generator | int | None = None,
    ) -> None:
        if len(sizes) < 2:
            raise ValueError(f"an MLP needs at least an input and an output size, got {sizes}")
        if isinstance(activation, str):
            if activation not in ACTIVATIONS:
                raise ValueError(f"unknown activation {activation!r}; one of {sorted(ACTIVATIONS)}")
            init = "he" if activation == "relu" else "glorot"
            activation = ACTIVATIONS[activation]
        else:
            init = "glorot"
        rng = np.random.default_rng(rng)
        self.activation = activation
        self.layers = [
            Linear(a, b, rng=rng, init=init) for a, b in zip(sizes[:-1], sizes[1:], strict=True)
        ]
        self.flatten()

    def forward(self, x: Tensor) -> Tensor:
        h = x
        for i, layer in enumerate(self.layers):
            h = layer(h)
            if i < len(self.layers) - 1:
                h = self.activation(h)
        return h
