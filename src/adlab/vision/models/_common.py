"""Small helpers shared by the model families (no model lives here)."""

from __future__ import annotations

SMALL_IMAGE_THRESHOLD = 64
"""Inputs narrower than this many pixels get a family's small-image variant."""


def use_small_stem(image_size: int, small_input: bool | None) -> bool:
    """Whether to build the small-image variant: ``small_input`` if given, else ``image_size < 64``."""
    if image_size < 1:
        raise ValueError(f"image_size must be >= 1, got {image_size}")
    return image_size < SMALL_IMAGE_THRESHOLD if small_input is None else bool(small_input)


def make_divisible(v: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round a channel count to a multiple of ``divisor``, never more than 10% down.

    The rounding MobileNetV2 (and torchvision) apply to width-multiplied channel counts.
    """
    min_value = min_value or divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v
