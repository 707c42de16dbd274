r"""Batch normalisation written from its definition (Ioffe & Szegedy, 2015).

Training mode, for each channel $c$ over the $m$ values of the batch (and, for
images, of all positions):

    $\mu_B = \frac{1}{m} \sum_i x_i$,   $\sigma_B^2 = \frac{1}{m} \sum_i (x_i - \mu_B)^2$   (biased)
    $\hat x_i = (x_i - \mu_B) / \sqrt{\sigma_B^2 + \epsilon}$
    $y_i = \gamma \hat x_i + \beta$

and the running statistics used at test time move towards the batch ones,

    $\mu \leftarrow (1 - m_t)\,\mu + m_t\,\mu_B$
    $\sigma^2 \leftarrow (1 - m_t)\,\sigma^2 + m_t\,\frac{m}{m - 1}\sigma_B^2$   (unbiased, as torch)

with $m_t$ = ``momentum`` (0.1), or $1/t$ after $t$ batches when
``momentum=None`` (a plain average). Eval mode normalises with the running
$\mu, \sigma^2$, so an example's output no longer depends on the rest of its
batch. The backward pass (left to autograd in the modules; written out in
:func:`batch_norm_backward`) is

    $\partial L/\partial \beta = \sum_i g_i$,  $\partial L/\partial \gamma = \sum_i g_i \hat x_i$
    $\partial L/\partial x_i = \frac{\gamma}{\sqrt{\sigma_B^2 + \epsilon}}
        \big(g_i - \overline{g} - \hat x_i\, \overline{g \hat x}\big)$

with $g_i = \partial L/\partial y_i$ and bars for channel means.

The modules have torch's parameter and buffer names (``weight``, ``bias``,
``running_mean``, ``running_var``, ``num_batches_tracked``), so state dicts load
both ways; they agree with ``torch.nn.BatchNorm1d/2d`` to float precision
(tests/nn/test_nn_batchnorm.py). For real training torch's fused kernels are
faster; :func:`replace_batchnorm` swaps them for these in a model.
"""

from __future__ import annotations

import torch
import torch.nn as nn

__all__ = ["batch_norm", "batch_norm_backward", "BatchNorm1d", "BatchNorm2d", "replace_batchnorm"]


def batch_norm(
    x: torch.Tensor,
    running_mean: torch.Tensor | None,
    running_var: torch.Tensor | None,
    weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> torch.Tensor:
    """Batch norm over dimension 1 of ``x`` (shape ``(N, C, ...)``), from the definition.

    In training mode (or without running statistics) it normalises with the batch
    mean and biased variance and, if running buffers are given, updates them in
    place with ``momentum`` and the unbiased variance. Otherwise it uses the
    running statistics.
    """
    C = x.shape[1]
    dims = [d for d in range(x.dim()) if d != 1]  # every dimension but the channels
    shape = [1, C] + [1] * (x.dim() - 2)  # broadcast (C,) over (N, C, ...)
    if training or running_mean is None:
        m = x.numel() // C
        if training and m <= 1:
            raise ValueError(f"expected more than 1 value per channel when training, got input of shape {tuple(x.shape)}")
        mu = x.mean(dim=dims)  # $\mu_B$: (C,)
        var = ((x - mu.view(shape)) ** 2).mean(dim=dims)  # $\sigma_B^2$ (biased): (C,)
        if training and running_mean is not None:
            with torch.no_grad():
                running_mean.mul_(1 - momentum).add_(momentum * mu.detach())
                running_var.mul_(1 - momentum).add_(momentum * var.detach() * m / (m - 1))
    else:
        mu, var = running_mean, running_var
    x_hat = (x - mu.view(shape)) / torch.sqrt(var.view(shape) + eps)  # $\hat x$
    if weight is not None:
        x_hat = x_hat * weight.view(shape)  # $\gamma \hat x$
    if bias is not None:
        x_hat = x_hat + bias.view(shape)  # $+ \beta$
    return x_hat


def batch_norm_backward(
    grad_out: torch.Tensor, x: torch.Tensor, weight: torch.Tensor | None = None, eps: float = 1e-5
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients ``(dx, dgamma, dbeta)`` of training-mode batch norm, in closed form.

    ``grad_out`` is $\\partial L / \\partial y$ with the shape of ``x``; ``weight`` is $\\gamma$
    (ones when ``None``).
    """
    C = x.shape[1]
    dims = [d for d in range(x.dim()) if d != 1]
    shape = [1, C] + [1] * (x.dim() - 2)
    mu = x.mean(dim=dims)
    var = ((x - mu.view(shape)) ** 2).mean(dim=dims)
    inv_std = torch.rsqrt(var + eps)  # $1/\sqrt{\sigma_B^2 + \epsilon}$
    x_hat = (x - mu.view(shape)) * inv_std.view(shape)
    gamma = weight if weight is not None else torch.ones(C, dtype=x.dtype, device=x.device)
    dbeta = grad_out.sum(dim=dims)  # $\sum_i g_i$
    dgamma = (grad_out * x_hat).sum(dim=dims)  # $\sum_i g_i \hat x_i$
    g_mean = grad_out.mean(dim=dims).view(shape)
    gx_mean = (grad_out * x_hat).mean(dim=dims).view(shape)
    dx = (gamma * inv_std).view(shape) * (grad_out - g_mean - x_hat * gx_mean)
    return dx, dgamma, dbeta


class _BatchNorm(nn.Module):
    """Shared code of :class:`BatchNorm1d` and :class:`BatchNorm2d`."""

    _ndims: tuple[int, ...] = ()

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device=None,
        dtype=None,
    ):
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = nn.Parameter(torch.ones(num_features, **factory))  # $\gamma$
            self.bias = nn.Parameter(torch.zeros(num_features, **factory))  # $\beta$
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", torch.zeros(num_features, **factory))
            self.register_buffer("running_var", torch.ones(num_features, **factory))
            self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long, device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, no batches seen."""
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1.0)
            self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        """Reset the running statistics, $\\gamma = 1$, $\\beta = 0$."""
        self.reset_running_stats()
        if self.affine:
            nn.init.ones_(self.weight)
            nn.init.zeros_(self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() not in self._ndims:
            raise ValueError(f"{type(self).__name__} expects {' or '.join(f'{d}D' for d in self._ndims)} input, got {x.dim()}D")
        if x.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}({self.num_features}) got {x.shape[1]} channels")
        momentum = self.momentum if self.momentum is not None else 0.0
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:  # cumulative average: $m_t = 1/t$
                momentum = 1.0 / float(self.num_batches_tracked)
        # batch statistics in training, and always when no running statistics are kept
        use_batch_stats = self.training or not self.track_running_stats
        return batch_norm(
            x, self.running_mean, self.running_var, self.weight, self.bias, use_batch_stats, momentum, self.eps
        )

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
            f"track_running_stats={self.track_running_stats}"
        )


class BatchNorm1d(_BatchNorm):
    """Batch norm over ``(N, C)`` or ``(N, C, L)`` inputs (statistics over N, or N and L)."""

    _ndims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch norm over ``(N, C, H, W)`` inputs (statistics over N, H and W for each channel)."""

    _ndims = (4,)


def replace_batchnorm(module: nn.Module) -> nn.Module:
    """Swap every ``torch.nn.BatchNorm1d/2d`` inside ``module`` for this module's, keeping the state.

    Returns ``module`` (changed in place), or the replacement when ``module`` itself is one.
    """
    swaps = {nn.BatchNorm1d: BatchNorm1d, nn.BatchNorm2d: BatchNorm2d}
    if type(module) in swaps:
        m = module
        new = swaps[type(m)](m.num_features, m.eps, m.momentum, m.affine, m.track_running_stats)
        new.load_state_dict(m.state_dict())
        new.train(m.training)
        p = next(m.parameters(), None) if m.affine else None
        ref = p if p is not None else m.running_mean
        return new.to(ref.device, ref.dtype) if ref is not None else new
    for name, child in module.named_children():
        setattr(module, name, replace_batchnorm(child))
    return module
