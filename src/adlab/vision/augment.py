r"""Data augmentation on tensor batches, without torchvision.

Every transform works on a batch ``x`` of shape ``(B, C, H, W)`` (a single
``(C, H, W)`` image is treated as a batch of one), draws independent random
parameters for each example from an optional ``torch.Generator`` (CPU; the
same seed gives the same output), and splits into two steps so that tests and
plots can see what was drawn:

    params = t.sample_params(x, generator)   # a dict of (B, ...) tensors
    y = t.apply(x, params)                   # deterministic given params
    y = t(x, generator)                      # both

Transforms:

- :class:`RandomCrop`: pad by ``padding`` on every side, cut a random
  ``size`` window (pad 4 then crop 32 is the CIFAR recipe; pad 0 and full size
  is the identity).
- :class:`RandomHorizontalFlip`: mirror left-right with probability ``p``.
- :class:`RandomErasing` (Zhong et al., 2017): with probability ``p`` fill a
  random rectangle with ``value``; its area fraction lies in ``scale`` and its
  aspect ratio $h/w$ near ``ratio`` (log-uniform).
- :class:`RandomAffine`: rotation by $\theta \sim U(-\text{degrees}, \text{degrees})$
  (counter-clockwise as displayed) and translation by up to ``translate``
  times the image size, by inverse warping with ``affine_grid`` /
  ``grid_sample``: output pixel $p$ reads input pixel $R^{-1}(p - t)$ (pixel
  coordinates about the image centre, $R$ the rotation, $t$ the shift).
- :class:`RandomLighting`: brightness and contrast jitter,
  $x' = \bar x + c\,(x - \bar x) + b$ per image.
- :class:`Compose`: apply several in turn.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

__all__ = [
    "BatchTransform",
    "RandomCrop",
    "RandomHorizontalFlip",
    "RandomErasing",
    "RandomAffine",
    "RandomLighting",
    "Compose",
    "affine_matrix",
]


def _uniform(shape, low, high, generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(shape, generator=generator)


class BatchTransform(abc.ABC):
    """Base class: ``__call__`` = ``apply(x, sample_params(x, generator))``."""

    @abc.abstractmethod
    def sample_params(self, x: torch.Tensor, generator: torch.Generator | None = None) -> dict:
        """Draw this transform's random parameters for each example of ``x``."""

    @abc.abstractmethod
    def apply(self, x: torch.Tensor, params: dict) -> torch.Tensor:
        """Transform ``x`` with the given parameters (no randomness)."""

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        single = x.dim() == 3
        if single:
            x = x.unsqueeze(0)
        if x.dim() != 4:
            raise ValueError(f"{type(self).__name__} expects (B, C, H, W) or (C, H, W), got shape {tuple(x.shape)}")
        y = self.apply(x, self.sample_params(x, generator))
        return y.squeeze(0) if single else y

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


class RandomCrop(BatchTransform):
    """Pad every side by ``padding``, then cut a random ``size`` window per example.

    Args:
        size: output ``(h, w)`` or a side; ``None`` keeps the input size.
        padding: pixels added on each side before cropping.
        fill: value of constant padding.
        padding_mode: ``"constant"``, ``"reflect"`` or ``"replicate"``.
    """

    def __init__(self, size: int | Sequence[int] | None = None, padding: int = 0, fill: float = 0.0, padding_mode: str = "constant"):
        if padding < 0:
            raise ValueError(f"padding must be >= 0, got {padding}")
        if padding_mode not in ("constant", "reflect", "replicate"):
            raise ValueError(f"padding_mode must be constant, reflect or replicate, got {padding_mode!r}")
        self.size = (size, size) if isinstance(size, int) else (tuple(size) if size is not None else None)
        self.padding, self.fill, self.padding_mode = padding, fill, padding_mode

    def _out_size(self, x: torch.Tensor) -> tuple[int, int]:
        h, w = self.size or x.shape[-2:]
        H, W = x.shape[-2] + 2 * self.padding, x.shape[-1] + 2 * self.padding
        if h > H or w > W:
            raise ValueError(f"crop {h}x{w} larger than the padded input {H}x{W}")
        return h, w

    def sample_params(self, x, generator=None):
        B = x.shape[0]
        h, w = self._out_size(x)
        H, W = x.shape[-2] + 2 * self.padding, x.shape[-1] + 2 * self.padding
        top = torch.randint(0, H - h + 1, (B,), generator=generator)
        left = torch.randint(0, W - w + 1, (B,), generator=generator)
        return {"top": top, "left": left}

    def apply(self, x, params):
        h, w = self._out_size(x)
        p = self.padding
        if p:
            kw = {"value": self.fill} if self.padding_mode == "constant" else {}
            x = F.pad(x, (p, p, p, p), mode=self.padding_mode, **kw)  # (B, C, H + 2p, W + 2p)
        top, left = params["top"].to(x.device), params["left"].to(x.device)
        rows = top[:, None] + torch.arange(h, device=x.device)  # (B, h)
        cols = left[:, None] + torch.arange(w, device=x.device)  # (B, w)
        b = torch.arange(x.shape[0], device=x.device)[:, None, None]
        out = x[b, :, rows[:, :, None], cols[:, None, :]]  # (B, h, w, C)
        return out.permute(0, 3, 1, 2).contiguous()


class RandomHorizontalFlip(BatchTransform):
    """Mirror each example left-right with probability ``p``."""

    def __init__(self, p: float = 0.5):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be in [0, 1], got {p}")
        self.p = p

    def sample_params(self, x, generator=None):
        return {"flip": torch.rand(x.shape[0], generator=generator) < self.p}

    def apply(self, x, params):
        flip = params["flip"].to(x.device)[:, None, None, None]
        return torch.where(flip, x.flip(-1), x)


class RandomErasing(BatchTransform):
    """With probability ``p`` fill one random rectangle of each example with ``value``.

    The rectangle's area fraction $hw/(HW)$ is drawn from ``scale`` and its aspect
    ratio $h/w$ log-uniformly from ``ratio``; after rounding to whole pixels a draw
    is kept only if the rectangle fits and its fraction is still within ``scale``,
    up to ``max_attempts`` draws (an example with no valid draw is left as it is).
    """

    def __init__(
        self,
        p: float = 0.5,
        scale: tuple[float, float] = (0.02, 0.33),
        ratio: tuple[float, float] = (0.3, 3.3),
        value: float = 0.0,
        max_attempts: int = 10,
    ):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be in [0, 1], got {p}")
        if not 0.0 < scale[0] <= scale[1] <= 1.0 or not 0.0 < ratio[0] <= ratio[1]:
            raise ValueError(f"need 0 < scale[0] <= scale[1] <= 1 and 0 < ratio[0] <= ratio[1], got {scale}, {ratio}")
        self.p, self.scale, self.ratio, self.value, self.max_attempts = p, tuple(scale), tuple(ratio), value, max_attempts

    def sample_params(self, x, generator=None):
        B, A = x.shape[0], self.max_attempts
        H, W = x.shape[-2:]
        erase = torch.rand(B, generator=generator) < self.p
        frac = _uniform((B, A), self.scale[0], self.scale[1], generator)
        log_r = _uniform((B, A), math.log(self.ratio[0]), math.log(self.ratio[1]), generator)
        area, r = frac * H * W, log_r.exp()
        h = torch.sqrt(area * r).round().long()  # $h/w = r$, $hw = $ area
        w = torch.sqrt(area / r).round().long()
        real = (h * w).double() / (H * W)
        ok = (h >= 1) & (h <= H) & (w >= 1) & (w <= W) & (real >= self.scale[0]) & (real <= self.scale[1])
        first = torch.where(ok.any(1), ok.long().argmax(1), torch.zeros(B, dtype=torch.long))
        erase = erase & ok.any(1)
        pick = lambda t: t.gather(1, first[:, None]).squeeze(1)  # noqa: E731
        h, w = torch.where(erase, pick(h), 0), torch.where(erase, pick(w), 0)
        u_top, u_left = torch.rand(B, generator=generator), torch.rand(B, generator=generator)
        top = (u_top * (H - h + 1)).floor().long().clamp(max=H - h)
        left = (u_left * (W - w + 1)).floor().long().clamp(max=W - w)
        return {"erase": erase, "top": top, "left": left, "h": h, "w": w}

    def apply(self, x, params):
        H, W = x.shape[-2:]
        dev = x.device
        top, left, h, w = (params[k].to(dev)[:, None] for k in ("top", "left", "h", "w"))
        rows = torch.arange(H, device=dev)[None]  # (1, H)
        cols = torch.arange(W, device=dev)[None]
        in_r = (rows >= top) & (rows < top + h)  # (B, H)
        in_c = (cols >= left) & (cols < left + w)  # (B, W)
        mask = (in_r[:, :, None] & in_c[:, None, :])[:, None]  # (B, 1, H, W)
        return x.masked_fill(mask, self.value)


def affine_matrix(angle_deg: torch.Tensor, shift: torch.Tensor, height: int, width: int) -> torch.Tensor:
    r"""``theta`` for ``affine_grid`` (``align_corners=False``): rotate by ``angle_deg``, shift by ``shift`` pixels.

    With $S = \mathrm{diag}(W/2, H/2)$ mapping normalised to pixel coordinates and
    $R = \begin{pmatrix} \cos\theta & \sin\theta \\ -\sin\theta & \cos\theta \end{pmatrix}$
    (counter-clockwise as displayed, $y$ pointing down), output pixel $p$ reads input
    pixel $R^{-1}(p - t)$, so $\theta_{grid} = [S^{-1} R^{-1} S \mid -S^{-1} R^{-1} t]$.

    Args:
        angle_deg: (B,) angles in degrees.
        shift: (B, 2) shifts ``(tx, ty)`` in pixels (right, down).
    Returns:
        (B, 2, 3) matrices.
    """
    a = torch.deg2rad(angle_deg.double())
    c, s = torch.cos(a), torch.sin(a)
    R_inv = torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)  # (B, 2, 2)
    S = torch.tensor([width / 2.0, height / 2.0], dtype=torch.float64)
    A = R_inv * S[None, None, :] / S[None, :, None]  # $S^{-1} R^{-1} S$
    b = -(R_inv @ shift.double()[..., None]).squeeze(-1) / S  # $-S^{-1} R^{-1} t$
    return torch.cat([A, b[..., None]], -1)


class RandomAffine(BatchTransform):
    """Small random rotation and translation by inverse warping.

    Args:
        degrees: angles are drawn from $U(-\\text{degrees}, \\text{degrees})$.
        translate: ``(fx, fy)``: shifts drawn from $U(-f W, f W)$ and $U(-f H, f H)$ pixels.
        mode: ``grid_sample`` interpolation, ``"bilinear"`` or ``"nearest"``.
        padding_mode: what enters from outside, ``"zeros"``, ``"border"`` or ``"reflection"``.
    """

    def __init__(self, degrees: float = 10.0, translate: tuple[float, float] = (0.1, 0.1), mode: str = "bilinear", padding_mode: str = "zeros"):
        if degrees < 0 or min(translate) < 0:
            raise ValueError(f"degrees and translate must be >= 0, got {degrees}, {translate}")
        self.degrees, self.translate, self.mode, self.padding_mode = degrees, tuple(translate), mode, padding_mode

    def sample_params(self, x, generator=None):
        B = x.shape[0]
        H, W = x.shape[-2:]
        angle = _uniform((B,), -self.degrees, self.degrees, generator)
        tx = _uniform((B,), -self.translate[0] * W, self.translate[0] * W, generator)
        ty = _uniform((B,), -self.translate[1] * H, self.translate[1] * H, generator)
        return {"angle": angle, "shift": torch.stack([tx, ty], -1)}

    def apply(self, x, params):
        H, W = x.shape[-2:]
        theta = affine_matrix(params["angle"], params["shift"], H, W).to(x.device, x.dtype)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)  # (B, H, W, 2)
        return F.grid_sample(x, grid, mode=self.mode, padding_mode=self.padding_mode, align_corners=False)


class RandomLighting(BatchTransform):
    r"""Brightness and contrast jitter per image: $x' = \bar x + c (x - \bar x) + b$.

    $c \sim U(1 - \text{contrast}, 1 + \text{contrast})$, $b \sim U(-\text{brightness}, \text{brightness})$,
    $\bar x$ the image mean over channels and pixels; ``clamp`` bounds the result
    (e.g. ``(0, 1)`` for images in [0, 1]).
    """

    def __init__(self, brightness: float = 0.2, contrast: float = 0.2, clamp: tuple[float, float] | None = None):
        self.brightness, self.contrast, self.clamp = brightness, contrast, clamp

    def sample_params(self, x, generator=None):
        B = x.shape[0]
        return {
            "contrast": _uniform((B,), 1 - self.contrast, 1 + self.contrast, generator),
            "brightness": _uniform((B,), -self.brightness, self.brightness, generator),
        }

    def apply(self, x, params):
        c = params["contrast"].to(x.device, x.dtype)[:, None, None, None]
        b = params["brightness"].to(x.device, x.dtype)[:, None, None, None]
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        y = mean + c * (x - mean) + b
        return y.clamp(*self.clamp) if self.clamp is not None else y


class Compose(BatchTransform):
    """Apply ``transforms`` in order, all drawing from the same generator."""

    def __init__(self, transforms: Sequence[BatchTransform]):
        self.transforms = list(transforms)

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        for t in self.transforms:
            x = t(x, generator)
        return x

    def sample_params(self, x, generator=None):
        raise TypeError("Compose draws each transform's parameters on the output of the previous one; call it directly")

    def apply(self, x, params):
        raise TypeError("Compose draws each transform's parameters on the output of the previous one; call it directly")
