r"""DenseNet (Huang et al., 2017): every layer reads the concatenation of all earlier maps of its block.

Inside a dense block, layer $\ell$ computes

    $x_\ell = H_\ell([x_0, x_1, \dots, x_{\ell-1}])$

with $H_\ell$ = BN-ReLU-conv1x1 ($4k$ maps, the "B" bottleneck) - BN-ReLU-conv3x3
($k$ maps, the growth rate), so a block of $L$ layers on $c$ maps outputs
$c + L k$ maps. Transition layers between blocks (BN-ReLU-conv1x1-avgpool 2x2)
halve the resolution and compress the channels by $\theta = 0.5$ (the "C").
Every layer sees the features and the gradient of all the earlier ones
without residual additions.

- ``densenet121`` / ``densenet169`` / ``densenet201``: torchvision's ImageNet
  layout, $k = 32$, blocks (6, 12, 24, 16) for 121, 64 stem maps. DenseNet-121
  has 7,978,856 parameters (3x224x224, 1000 classes).
- ``densenet_bc`` (DenseNet-BC-100, $k = 12$, 0.8M parameters) and
  ``densenet_bc40`` (DenseNet-BC-40, $k = 12$, 0.18M): the CIFAR layout of the paper,
  a 3x3 stem of $2k$ maps and three blocks of $(d-4)/6$ bottleneck layers.
  ``densenet_bc_cifar(depth, k)`` builds any other.

Small images for the ImageNet layout (``image_size < 64``): the 7x7 stride-2
stem convolution and its max-pool become one 3x3 stride-1 convolution; the
transitions' pools then take 28x28 inputs to 14, 7 and 3 pixels.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..registry import register_model
from ._common import use_small_stem

__all__ = ["DenseLayer", "DenseBlock", "Transition", "DenseNet", "densenet_bc_cifar"]


class DenseLayer(nn.Module):
    """BN-ReLU-conv1x1 (bn_size * k) - BN-ReLU-conv3x3 (k); returns only the k new maps."""

    def __init__(self, c_in: int, growth_rate: int, bn_size: int = 4, drop_rate: float = 0.0):
        super().__init__()
        inner = bn_size * growth_rate
        self.norm1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, inner, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(inner)
        self.conv2 = nn.Conv2d(inner, growth_rate, 3, padding=1, bias=False)
        self.drop_rate = drop_rate

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        x = torch.cat(features, 1)  # $[x_0, \dots, x_{\ell-1}]$: (B, c_in, H, W)
        x = self.conv1(F.relu(self.norm1(x)))
        x = self.conv2(F.relu(self.norm2(x)))  # (B, k, H, W)
        if self.drop_rate > 0:
            x = F.dropout(x, self.drop_rate, self.training)
        return x


class DenseBlock(nn.ModuleDict):
    """``num_layers`` dense layers; output: the input and all new maps, concatenated."""

    def __init__(self, num_layers: int, c_in: int, growth_rate: int, bn_size: int = 4, drop_rate: float = 0.0):
        super().__init__()
        for i in range(num_layers):
            self[f"denselayer{i + 1}"] = DenseLayer(c_in + i * growth_rate, growth_rate, bn_size, drop_rate)
        self.out_channels = c_in + num_layers * growth_rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, c, H, W) -> (B, c + L k, H, W)
        features = [x]
        for layer in self.values():
            features.append(layer(features))
        return torch.cat(features, 1)


class Transition(nn.Sequential):
    """BN-ReLU-conv1x1 (compression) - 2x2 average pool."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__(
            nn.BatchNorm2d(c_in),
            nn.ReLU(inplace=True),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            nn.AvgPool2d(2, 2),
        )


class DenseNet(nn.Module):
    """DenseNet-BC: a stem, dense blocks joined by compressing transitions, BN-ReLU, pool, linear.

    Args:
        growth_rate: $k$, maps added by each layer.
        block_config: number of layers in each dense block.
        num_init_features: stem output maps.
        bn_size: bottleneck width as a multiple of $k$.
        compression: $\\theta$, fraction of maps a transition keeps.
        stem: ``"imagenet"`` (7x7/2 conv, 3x3/2 max-pool), ``"small"`` (3x3/1 conv) or
            ``"auto"`` (small below 64 pixels).
    """

    def __init__(
        self,
        growth_rate: int = 32,
        block_config: tuple[int, ...] = (6, 12, 24, 16),
        num_init_features: int = 64,
        bn_size: int = 4,
        compression: float = 0.5,
        drop_rate: float = 0.0,
        num_classes: int = 1000,
        in_channels: int = 3,
        image_size: int = 224,
        stem: str = "auto",
        small_input: bool | None = None,
    ):
        super().__init__()
        if stem not in ("auto", "imagenet", "small"):
            raise ValueError(f"stem must be 'auto', 'imagenet' or 'small', got {stem!r}")
        small = stem == "small" or (stem == "auto" and use_small_stem(image_size, small_input))
        c = num_init_features
        if small:
            layers: list[nn.Module] = [nn.Conv2d(in_channels, c, 3, 1, 1, bias=False)]
        else:
            layers = [
                nn.Conv2d(in_channels, c, 7, 2, 3, bias=False),
                nn.BatchNorm2d(c),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(3, 2, 1),
            ]
        for i, num_layers in enumerate(block_config):
            block = DenseBlock(num_layers, c, growth_rate, bn_size, drop_rate)
            layers.append(block)
            c = block.out_channels
            if i != len(block_config) - 1:
                c_out = int(c * compression)
                layers.append(Transition(c, c_out))
                c = c_out
        layers += [nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.classifier = nn.Linear(c, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, num_classes)
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def _imagenet_densenet(k: int, blocks: tuple[int, ...], init: int, num_classes=1000, in_channels=3, image_size=224, **kwargs) -> DenseNet:
    return DenseNet(k, blocks, init, num_classes=num_classes, in_channels=in_channels, image_size=image_size, **kwargs)


def densenet_bc_cifar(depth: int = 100, growth_rate: int = 12, num_classes: int = 10, in_channels: int = 3, image_size: int = 32, **kwargs) -> DenseNet:
    """DenseNet-BC-``depth`` with growth rate $k$ in the paper's CIFAR layout (3 blocks of $(d-4)/6$ layers)."""
    if (depth - 4) % 6 or depth < 10:
        raise ValueError(f"DenseNet-BC depth must be 6n + 4 (40, 100, 190, ...), got {depth}")
    n = (depth - 4) // 6
    return DenseNet(
        growth_rate, (n, n, n), 2 * growth_rate, num_classes=num_classes, in_channels=in_channels,
        image_size=image_size, stem="small", **kwargs,
    )


@register_model
def densenet121(**kwargs) -> DenseNet:
    """DenseNet-121 (k = 32, blocks 6-12-24-16)."""
    return _imagenet_densenet(32, (6, 12, 24, 16), 64, **kwargs)


@register_model
def densenet169(**kwargs) -> DenseNet:
    """DenseNet-169 (k = 32, blocks 6-12-32-32)."""
    return _imagenet_densenet(32, (6, 12, 32, 32), 64, **kwargs)


@register_model
def densenet201(**kwargs) -> DenseNet:
    """DenseNet-201 (k = 32, blocks 6-12-48-32)."""
    return _imagenet_densenet(32, (6, 12, 48, 32), 64, **kwargs)


@register_model
def densenet_bc(**kwargs) -> DenseNet:
    """DenseNet-BC-100 with k = 12 (CIFAR layout, 0.8M parameters)."""
    return densenet_bc_cifar(100, 12, **kwargs)


@register_model
def densenet_bc40(**kwargs) -> DenseNet:
    """DenseNet-BC-40 with k = 12 (CIFAR layout, a small one for CPU runs)."""
    return densenet_bc_cifar(40, 12, **kwargs)
