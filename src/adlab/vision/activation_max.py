r"""Activation maximisation: the input a trained classifier finds most typical of a class.

Gradient ascent on the input image $x$ for the logit $z_k(x)$ of class $k$,
with an L2 penalty that keeps the pixels in a plausible range. Each step moves
along the gradient normalised per image, so every class climbs at the same
pace whatever its logit's scale ($n$ pixels per image):

    $g = \nabla_x \big( z_k(\tau(x)) - \lambda \|x\|^2 \big), \qquad
     x \leftarrow x + \eta \sqrt{n}\, g / \|g\|$

Without a prior the ascent finds high-frequency patterns that excite the
logit but look like noise (the classifier is a function of every pixel, not
only of natural images). Two image priors (Mordvintsev et al., 2015; Yosinski
et al., 2015) steer it towards smooth, object-like images:

- jitter: $\tau$ shifts the image by a random offset of up to ``jitter`` pixels
  (circularly) before each forward pass, so only patterns that excite the
  logit wherever they sit survive;
- blur: every ``blur_every`` steps the image is smoothed with a Gaussian of
  standard deviation ``blur_sigma``, which damps the high spatial frequencies.

:func:`total_variation` measures what the priors remove: the mean absolute
difference between neighbouring pixels.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["gaussian_kernel1d", "gaussian_blur", "total_variation", "maximise_logits"]


def gaussian_kernel1d(sigma: float, radius: int | None = None) -> torch.Tensor:
    r"""Normalised samples of $\exp(-u^2 / 2\sigma^2)$ at $u = -r \dots r$ (default $r = \lceil 3\sigma \rceil$)."""
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    r = int(math.ceil(3 * sigma)) if radius is None else int(radius)
    u = torch.arange(-r, r + 1, dtype=torch.float64)
    k = torch.exp(-(u**2) / (2 * sigma**2))
    return k / k.sum()


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of ``x`` (B, C, H, W), reflecting at the borders; the output has x's shape."""
    k = gaussian_kernel1d(sigma).to(x.dtype).to(x.device)
    r, C = len(k) // 2, x.shape[1]
    kh = k.view(1, 1, 1, -1).expand(C, 1, 1, -1)  # (C, 1, 1, 2r+1): along W
    kv = k.view(1, 1, -1, 1).expand(C, 1, -1, 1)  # (C, 1, 2r+1, 1): along H
    y = F.conv2d(F.pad(x, (r, r, 0, 0), mode="reflect"), kh, groups=C)
    return F.conv2d(F.pad(y, (0, 0, r, r), mode="reflect"), kv, groups=C)


def total_variation(x: torch.Tensor) -> torch.Tensor:
    r"""Mean over each image of $|x_{i+1,j} - x_{i,j}|$ and $|x_{i,j+1} - x_{i,j}|$: (B, C, H, W) -> (B,)."""
    dv = (x[..., 1:, :] - x[..., :-1, :]).abs().flatten(1)
    dh = (x[..., :, 1:] - x[..., :, :-1]).abs().flatten(1)
    return torch.cat([dv, dh], 1).mean(1)


def maximise_logits(
    model: nn.Module,
    classes: torch.Tensor,
    shape: tuple[int, int, int],
    steps: int = 200,
    lr: float = 0.1,
    l2: float = 1e-3,
    jitter: int = 0,
    blur_every: int = 0,
    blur_sigma: float = 0.5,
    bounds: tuple[float, float] | None = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, list[float]]:
    """One image per entry of ``classes`` that maximises that class's logit.

    Args:
        model: a classifier (put in eval mode here; its weights are not changed).
        classes: (B,) target class of each image.
        shape: (C, H, W) of one input.
        steps, lr: number of normalised-gradient ascent steps and their size.
        l2: weight $\\lambda$ of the $\\|x\\|^2$ penalty.
        jitter: largest random circular shift before each forward pass (0: none).
        blur_every: blur the images every this many steps (0: never).
        blur_sigma: standard deviation of the blur in pixels.
        bounds: clamp the pixels to this range after each step (None: no clamp).
        generator: randomness of the start images and of the jitter.
    Returns:
        the images (B, C, H, W), detached, and the mean target logit after each step.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    B = len(classes)
    x = (0.01 * torch.randn((B, *shape), generator=generator)).to(device).requires_grad_(True)
    idx = classes.to(device)
    history: list[float] = []
    try:
        for t in range(steps):
            xin = x
            if jitter > 0:
                dy, dx = (int(v) for v in torch.randint(-jitter, jitter + 1, (2,), generator=generator))
                xin = torch.roll(x, shifts=(dy, dx), dims=(-2, -1))  # $\tau(x)$
            z = model(xin).gather(1, idx[:, None]).squeeze(1)  # (B,) target logits
            objective = z.sum() - l2 * (x**2).sum()
            (grad,) = torch.autograd.grad(objective, x)
            with torch.no_grad():
                # normalise per image so every class climbs at the same pace
                g = grad / grad.flatten(1).norm(dim=1).clamp_min(1e-12).view(B, 1, 1, 1)
                x += lr * g * math.sqrt(x[0].numel())
                if blur_every and (t + 1) % blur_every == 0:
                    x.copy_(gaussian_blur(x, blur_sigma))
                if bounds is not None:
                    x.clamp_(*bounds)
            history.append(float(z.detach().mean()))
    finally:
        model.train(was_training)
    return x.detach(), history
