"""AlexNet (Krizhevsky, Sutskever & Hinton, 2012), in torchvision's one-tower variant.

ImageNet configuration (``image_size >= 64``), 61,100,840 parameters for 3x224x224
and 1000 classes:

    conv 11x11/4, 64, pad 2  -> 64 x 55 x 55,  max-pool 3/2 -> 27 x 27
    conv 5x5, 192, pad 2     -> 192 x 27 x 27, max-pool 3/2 -> 13 x 13
    conv 3x3, 384 / 256 / 256, pad 1           max-pool 3/2 -> 6 x 6
    adaptive average pool 6x6, dropout, linear 4096, ReLU, dropout, linear 4096, ReLU, linear

The 2012 paper's network had 96-256-384-384-256 channels split over two GPUs
and local response normalisation; torchvision's variant (Krizhevsky's "one
weird trick" single-tower model) is the common reference. The lecture quotes
a first layer of 96 maps of 56x56 followed by a 2x2 pool to 28x28; an 11x11
stride-4 convolution only gives 56 from 224 with padding 4 or 5
(``conv_output_size(224, 11, 4, 4) == 56``; padding 2 gives 55, the
2012 paper's 55x55 came from 227-pixel crops without padding).

Small images (``image_size < 64``, e.g. 28x28): the 11x11 stride-4 stem would
leave too little of the image, so it becomes a 3x3 stride-1 convolution
(64 maps, padding 1); the three overlapping 3/2 max-pools stay (28 -> 13 -> 6 -> 2);
the adaptive pool keeps the final map as it is (no up-sampling of a 2x2 map
to 6x6), so the first dense layer reads 256 x 2 x 2 values. Channel widths
and the 4096-4096 dropout classifier are unchanged.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ..arith import conv_output_size
from ..registry import register_model
from ._common import use_small_stem

__all__ = ["AlexNet", "alexnet"]


class AlexNet(nn.Module):
    """torchvision-style AlexNet; see the module docstring for the small-image variant."""

    def __init__(
        self,
        num_classes: int = 1000,
        in_channels: int = 3,
        image_size: int = 224,
        dropout: float = 0.5,
        hidden: int = 4096,
        small_input: bool | None = None,
    ):
        super().__init__()
        small = use_small_stem(image_size, small_input)
        stem = nn.Conv2d(in_channels, 64, 3, 1, 1) if small else nn.Conv2d(in_channels, 64, 11, 4, 2)
        self.features = nn.Sequential(
            stem,
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2),
            nn.Conv2d(64, 192, 5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2),
            nn.Conv2d(192, 384, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2),
        )
        if small:
            n = image_size  # stride-1 stem keeps the size; three 3/2 pools
            for _ in range(3):
                n = conv_output_size(n, 3, 2)
            pooled = n
        else:
            pooled = 6
        self.avgpool = nn.AdaptiveAvgPool2d((pooled, pooled))
        self.classifier = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(256 * pooled * pooled, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, num_classes)
        x = self.avgpool(self.features(x))  # (B, 256, p, p)
        return self.classifier(torch.flatten(x, 1))


@register_model
def alexnet(num_classes: int = 1000, in_channels: int = 3, image_size: int = 224, **kwargs) -> AlexNet:
    """AlexNet, torchvision variant (64-192-384-256-256 channels)."""
    return AlexNet(num_classes, in_channels, image_size, **kwargs)
