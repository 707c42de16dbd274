r"""A reverse-mode automatic differentiation engine over numpy arrays (lecture 2).

The engine is small enough to read in one sitting and is checked, op by op,
against central finite differences and ``torch.autograd``:

- :mod:`.tensor` -- the graph node :class:`Tensor` (forward value, parents,
  vector-Jacobian product), its operators and :meth:`Tensor.backward`
  (topological sort, gradients summed over all paths);
- :mod:`.ops` -- functional forms, the affine layer and the fused, numerically
  stable losses (softmax cross-entropy and sigmoid binary cross-entropy from
  logits) and $L_p$ penalties;
- :mod:`.nn` -- :class:`Module`, :class:`Linear`, :class:`MLP`, with all parameters
  views into one flat vector ``theta``;
- :mod:`.optim` -- gradient descent / SGD with momentum and Adam from their equations;
- :mod:`.check` -- finite-difference gradient checking.

Example::

    from adlab.foundations.autodiff import MLP, Adam, softmax_cross_entropy
    model = MLP([64, 64, 10], "relu", rng=0)
    opt = Adam(model, lr=1e-3)
    loss = softmax_cross_entropy(model(X), y)
    model.zero_grad(); loss.backward(); opt.step()
"""

from .check import engine_grad, gradcheck, numerical_grad
from .nn import ACTIVATIONS, MLP, Linear, Module, Parameter
from .ops import (
    affine,
    exp,
    l1_penalty,
    l2_penalty,
    log,
    log_softmax,
    lp_penalty,
    mse,
    relu,
    sigmoid,
    sigmoid_binary_cross_entropy,
    softmax,
    softmax_cross_entropy,
    softplus,
    tanh,
)
from .optim import SGD, Adam, minibatches
from .tensor import Tensor, as_tensor, unbroadcast

__all__ = [
    "ACTIVATIONS",
    "MLP",
    "SGD",
    "Adam",
    "Linear",
    "Module",
    "Parameter",
    "Tensor",
    "affine",
    "as_tensor",
    "engine_grad",
    "exp",
    "gradcheck",
    "l1_penalty",
    "l2_penalty",
    "log",
    "log_softmax",
    "lp_penalty",
    "minibatches",
    "mse",
    "numerical_grad",
    "relu",
    "sigmoid",
    "sigmoid_binary_cross_entropy",
    "softmax",
    "softmax_cross_entropy",
    "softplus",
    "tanh",
    "unbroadcast",
]
