r"""Optimizers written from their update equations, acting on the flat vector $\theta$.

Each optimizer holds a reference to ``theta`` and ``grad`` (the flat vectors of a
:class:`~.nn.Module`, or any pair of equal-length float64 arrays) and updates
``theta`` *in place*, so the module's ``W``/``b`` views see the new values.

- Gradient descent (L453): $\theta_{t+1} = \theta_t - \eta\,\nabla L(\theta_t)$.
  With the gradient of a random minibatch instead of the full sum it is SGD.
- Momentum, in the form torch uses (so the two can be compared number for number):
  $v_{t+1} = \mu v_t + g_t$, $\theta_{t+1} = \theta_t - \eta v_{t+1}$
  (the classical $v \leftarrow \mu v - \eta g$, $\theta \leftarrow \theta + v$ is the
  same trajectory for a constant $\eta$, with $v$ scaled by $-\eta$).
- Adam (Kingma & Ba, 2015; L458-465):
  $m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t$, $v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2$,
  $\hat m_t = m_t/(1-\beta_1^t)$, $\hat v_t = v_t/(1-\beta_2^t)$,
  $\theta_t = \theta_{t-1} - \eta\,\hat m_t/(\sqrt{\hat v_t} + \epsilon)$
  ($\epsilon$ outside the square root, as in the paper and torch).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .nn import Module


def _flat_pair(
    params: Module | np.ndarray, grad: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(params, Module):
        if grad is not None:
            raise ValueError("pass either a Module or a (theta, grad) pair, not both")
        return params.theta, params.grad
    if grad is None:
        raise ValueError("with a theta array, also pass its grad array")
    if not (isinstance(params, np.ndarray) and isinstance(grad, np.ndarray)):
        raise TypeError("theta and grad must be numpy arrays")
    if params.shape != grad.shape or params.dtype != np.float64:
        raise ValueError(
            f"theta and grad must be float64 arrays of one shape, got "
            f"{params.dtype}{params.shape} and {grad.dtype}{grad.shape}"
        )
    return params, grad


class SGD:
    r"""(Stochastic) gradient descent, optionally with momentum, Nesterov and weight decay.

    With ``momentum=0`` this is plain gradient descent $\theta \leftarrow \theta - \eta g$.
    Matches ``torch.optim.SGD(lr, momentum, nesterov=..., weight_decay=...)`` (dampening 0).
    """

    def __init__(
        self,
        params: Module | np.ndarray,
        grad: np.ndarray | None = None,
        *,
        lr: float,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        if lr <= 0 or momentum < 0 or weight_decay < 0:
            raise ValueError("need lr > 0, momentum >= 0 and weight_decay >= 0")
        if nesterov and momentum == 0:
            raise ValueError("Nesterov momentum needs momentum > 0")
        self.theta, self.grad = _flat_pair(params, grad)
        self.lr, self.mu, self.nesterov, self.weight_decay = lr, momentum, nesterov, weight_decay
        self.v: np.ndarray | None = None  # momentum buffer, created at the first step

    def step(self) -> None:
        g = self.grad + self.weight_decay * self.theta if self.weight_decay else self.grad.copy()
        if self.mu:
            if self.v is None:
                self.v = g.copy()  # $v_1 = g_1$ (equals $\mu \cdot 0 + g_1$)
            else:
                self.v *= self.mu  # $v_{t+1} = \mu v_t + g_t$
                self.v += g
            g = g + self.mu * self.v if self.nesterov else self.v
        self.theta -= self.lr * g  # $\theta \leftarrow \theta - \eta\, v$

    def zero_grad(self) -> None:
        self.grad[:] = 0.0


class Adam:
    r"""Adam with bias-corrected moment estimates.

    The default learning rate is ``lr=1e-3`` (the paper's and torch's). The source's
    L557 quotes "3e-5" as the rule of thumb; the usual rule of thumb is 3e-4 -- 3e-5
    is a typo there. ``weight_decay`` adds $\lambda\theta$ to the gradient (L2, as in
    ``torch.optim.Adam``, not the decoupled AdamW).
    """

    def __init__(
        self,
        params: Module | np.ndarray,
        grad: np.ndarray | None = None,
        *,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        beta1, beta2 = betas
        if lr <= 0 or not (0 <= beta1 < 1 and 0 <= beta2 < 1) or eps < 0 or weight_decay < 0:
            raise ValueError("need lr > 0, betas in [0, 1), eps >= 0 and weight_decay >= 0")
        self.theta, self.grad = _flat_pair(params, grad)
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.weight_decay = weight_decay
        self.m_t = np.zeros_like(self.theta)  # first moment estimate
        self.v_t = np.zeros_like(self.theta)  # second (uncentred) moment estimate
        self.t = 0

    def step(self) -> None:
        self.t += 1
        g = self.grad + self.weight_decay * self.theta if self.weight_decay else self.grad
        # $m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t$
        self.m_t *= self.beta1
        self.m_t += (1.0 - self.beta1) * g
        # $v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2$
        self.v_t *= self.beta2
        self.v_t += (1.0 - self.beta2) * g * g
        # $\hat m_t = m_t/(1-\beta_1^t)$, $\hat v_t = v_t/(1-\beta_2^t)$
        m_hat = self.m_t / (1.0 - self.beta1**self.t)
        v_hat = self.v_t / (1.0 - self.beta2**self.t)
        # $\theta_t = \theta_{t-1} - \eta\, \hat m_t / (\sqrt{\hat v_t} + \epsilon)$
        self.theta -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)

    def zero_grad(self) -> None:
        self.grad[:] = 0.0


def minibatches(
    n: int, batch_size: int, rng: np.random.Generator | int | None = None
) -> Iterator[np.ndarray]:
    """Yield index arrays covering ``range(n)`` once, in a random order (one epoch of SGD)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    order = np.random.default_rng(rng).permutation(n)
    for start in range(0, n, batch_size):
        yield order[start : start + batch_size]
