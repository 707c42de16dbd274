r"""MobileNetV2 (Sandler et al., 2018): inverted residual blocks built on depth-wise convolutions.

A depth-wise convolution ($g = C$ groups) filters each channel on its own:
$C k^2$ weights instead of $C^2 k^2$. Followed by a 1x1 convolution it is a
depth-wise separable convolution. The inverted bottleneck widens before the
spatial filtering instead of narrowing:

    1x1 conv C -> tC, BN, ReLU6      (expand by t; skipped when t = 1)
    3x3 depth-wise conv (stride s), BN, ReLU6
    1x1 conv tC -> C', BN             (linear bottleneck: no nonlinearity)
    + x  when s = 1 and C' = C

Network (torchvision's, width multiplier 1.0): 3x3/2 conv 32, then
(t, c, n, s) = (1,16,1,1), (6,24,2,2), (6,32,3,2), (6,64,4,2), (6,96,3,1),
(6,160,3,2), (6,320,1,1), 1x1 conv 1280, pool, dropout 0.2, linear.
3,504,872 parameters for 3x224x224 and 1000 classes. ``width_mult`` scales
every width (rounded to multiples of 8).

Small images (``image_size < 64``): the stem convolution and the first
stride-2 stage (24 channels) use stride 1, as in common CIFAR versions, so a
28x28 input is downsampled 8x (to 4x4) instead of 32x.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ..registry import register_model
from ._common import make_divisible, use_small_stem

__all__ = ["ConvBNReLU6", "InvertedResidual", "MobileNetV2", "MOBILENET_V2_SETTINGS"]

# (expansion t, output channels c, repeats n, first stride s)
MOBILENET_V2_SETTINGS: list[tuple[int, int, int, int]] = [
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
]


class ConvBNReLU6(nn.Sequential):
    """conv (no bias) - BN - ReLU6; ``groups = c_in`` makes it depth-wise."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int = 3, stride: int = 1, groups: int = 1):
        super().__init__(
            nn.Conv2d(c_in, c_out, kernel_size, stride, (kernel_size - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU6(inplace=True),
        )


class InvertedResidual(nn.Module):
    """Expand (1x1), filter (3x3 depth-wise), project (1x1, linear); residual when shapes allow."""

    def __init__(self, c_in: int, c_out: int, stride: int, expand_ratio: int):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride}")
        hidden = int(round(c_in * expand_ratio))
        self.use_res_connect = stride == 1 and c_in == c_out
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(ConvBNReLU6(c_in, hidden, 1))  # expand
        layers += [
            ConvBNReLU6(hidden, hidden, 3, stride, groups=hidden),  # depth-wise
            nn.Conv2d(hidden, c_out, 1, bias=False),  # project, linear
            nn.BatchNorm2d(c_out),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    """MobileNetV2; see the module docstring for the small-image strides."""

    def __init__(
        self,
        num_classes: int = 1000,
        in_channels: int = 3,
        image_size: int = 224,
        width_mult: float = 1.0,
        dropout: float = 0.2,
        round_nearest: int = 8,
        small_input: bool | None = None,
    ):
        super().__init__()
        small = use_small_stem(image_size, small_input)
        c = make_divisible(32 * width_mult, round_nearest)
        last = make_divisible(1280 * max(1.0, width_mult), round_nearest)
        features: list[nn.Module] = [ConvBNReLU6(in_channels, c, 3, 1 if small else 2)]
        for stage, (t, ch, n, s) in enumerate(MOBILENET_V2_SETTINGS):
            if small and stage == 1:
                s = 1  # keep resolution on small inputs
            c_out = make_divisible(ch * width_mult, round_nearest)
            for i in range(n):
                features.append(InvertedResidual(c, c_out, s if i == 0 else 1, t))
                c = c_out
        features.append(ConvBNReLU6(c, last, 1))
        self.features = nn.Sequential(*features)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(last, num_classes))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, num_classes)
        x = self.avgpool(self.features(x))  # (B, 1280, 1, 1)
        return self.classifier(torch.flatten(x, 1))


@register_model
def mobilenet_v2(num_classes: int = 1000, in_channels: int = 3, image_size: int = 224, **kwargs) -> MobileNetV2:
    """MobileNetV2 (width multiplier 1.0 unless ``width_mult`` is given)."""
    return MobileNetV2(num_classes, in_channels, image_size, **kwargs)
