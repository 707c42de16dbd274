"""GoogLeNet / Inception v1 (Szegedy et al., 2014).

An Inception block runs four branches in parallel on the same input and
concatenates their maps along channels:

    1x1 conv                 (n1x1)
    1x1 conv -> 3x3 conv     (n3x3red -> n3x3)
    1x1 conv -> 5x5 conv     (n5x5red -> n5x5)
    3x3 max-pool -> 1x1 conv (pool_proj)

The 1x1 "reduce" convolutions keep the 3x3 and 5x5 convolutions cheap.
Nine blocks (3a, 3b, 4a-4e, 5a, 5b) with the paper's Table 1 widths, max-pools
between stages, global average pooling, dropout 0.4 and one linear layer.

Differences from the 2014 network:

- ``batch_norm=True`` (default) puts batch norm after every convolution, as
  Inception v2 and torchvision do; the original had none (and local response
  normalisation in the stem, left out here). ``batch_norm=False`` gives
  convolutions with biases and no normalisation.
- the 5x5 branch really is 5x5 (torchvision's GoogLeNet uses 3x3 there, a
  known slip kept for its weights), so parameter counts differ from torchvision's.
- the auxiliary classifiers (after 4a and 4d) are off by default
  (``aux_logits=True`` builds them; the model then returns
  ``(logits, aux1, aux2)`` in training mode and the logits in eval mode).

Small images (``image_size < 64``): the stem is 3x3 stride-1, 1x1, 3x3
convolutions without the stem's two max-pools (28x28 inputs reach block 3a at
28x28, then 14x14 for 4a-4e and 7x7 for 5a-5b).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ..registry import register_model
from ._common import use_small_stem

__all__ = ["BasicConv2d", "Inception", "InceptionAux", "GoogLeNet", "googlenet", "INCEPTION_V1_CONFIG"]

# name: (in, n1x1, n3x3red, n3x3, n5x5red, n5x5, pool_proj)  -- Table 1 of the paper
INCEPTION_V1_CONFIG: dict[str, tuple[int, int, int, int, int, int, int]] = {
    "3a": (192, 64, 96, 128, 16, 32, 32),
    "3b": (256, 128, 128, 192, 32, 96, 64),
    "4a": (480, 192, 96, 208, 16, 48, 64),
    "4b": (512, 160, 112, 224, 24, 64, 64),
    "4c": (512, 128, 128, 256, 24, 64, 64),
    "4d": (512, 112, 144, 288, 32, 64, 64),
    "4e": (528, 256, 160, 320, 32, 128, 128),
    "5a": (832, 256, 160, 320, 32, 128, 128),
    "5b": (832, 384, 192, 384, 48, 128, 128),
}


class BasicConv2d(nn.Sequential):
    """conv -> (batch norm) -> ReLU; the convolution has a bias only without batch norm."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int, stride: int = 1, padding: int = 0, batch_norm: bool = True):
        layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, kernel_size, stride, padding, bias=not batch_norm)]
        if batch_norm:
            layers.append(nn.BatchNorm2d(c_out, eps=0.001))
        layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class Inception(nn.Module):
    """Four parallel branches concatenated: output channels n1x1 + n3x3 + n5x5 + pool_proj."""

    def __init__(self, c_in, n1x1, n3x3red, n3x3, n5x5red, n5x5, pool_proj, batch_norm: bool = True):
        super().__init__()
        bn = batch_norm
        self.branch1 = BasicConv2d(c_in, n1x1, 1, batch_norm=bn)
        self.branch2 = nn.Sequential(BasicConv2d(c_in, n3x3red, 1, batch_norm=bn), BasicConv2d(n3x3red, n3x3, 3, padding=1, batch_norm=bn))
        self.branch3 = nn.Sequential(BasicConv2d(c_in, n5x5red, 1, batch_norm=bn), BasicConv2d(n5x5red, n5x5, 5, padding=2, batch_norm=bn))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, 1, 1, ceil_mode=True), BasicConv2d(c_in, pool_proj, 1, batch_norm=bn))
        self.out_channels = n1x1 + n3x3 + n5x5 + pool_proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C_in, H, W) -> (B, C_out, H, W)
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], dim=1)


class InceptionAux(nn.Module):
    """Auxiliary classifier: 4x4 average pool, 1x1 conv 128, dense 1024, dropout 0.7, dense."""

    def __init__(self, c_in: int, num_classes: int, batch_norm: bool = True, dropout: float = 0.7):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d((4, 4))
        self.conv = BasicConv2d(c_in, 128, 1, batch_norm=batch_norm)
        self.fc1 = nn.Linear(128 * 4 * 4, 1024)
        self.drop = nn.Dropout(dropout)
        self.fc2 = nn.Linear(1024, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.conv(self.pool(x)), 1)  # (B, 2048)
        return self.fc2(self.drop(torch.relu(self.fc1(x))))


class GoogLeNet(nn.Module):
    """Inception v1; see the module docstring for the options and the small-image stem."""

    def __init__(
        self,
        num_classes: int = 1000,
        in_channels: int = 3,
        image_size: int = 224,
        batch_norm: bool = True,
        aux_logits: bool = False,
        dropout: float = 0.4,
        small_input: bool | None = None,
    ):
        super().__init__()
        bn = batch_norm
        if use_small_stem(image_size, small_input):
            self.stem = nn.Sequential(
                BasicConv2d(in_channels, 64, 3, 1, 1, batch_norm=bn),
                BasicConv2d(64, 64, 1, batch_norm=bn),
                BasicConv2d(64, 192, 3, padding=1, batch_norm=bn),
            )
        else:
            self.stem = nn.Sequential(
                BasicConv2d(in_channels, 64, 7, 2, 3, batch_norm=bn),
                nn.MaxPool2d(3, 2, ceil_mode=True),
                BasicConv2d(64, 64, 1, batch_norm=bn),
                BasicConv2d(64, 192, 3, padding=1, batch_norm=bn),
                nn.MaxPool2d(3, 2, ceil_mode=True),
            )
        blocks = {k: Inception(*v, batch_norm=bn) for k, v in INCEPTION_V1_CONFIG.items()}
        self.inception3a, self.inception3b = blocks["3a"], blocks["3b"]
        self.maxpool3 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.inception4a, self.inception4b, self.inception4c = blocks["4a"], blocks["4b"], blocks["4c"]
        self.inception4d, self.inception4e = blocks["4d"], blocks["4e"]
        self.maxpool4 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.inception5a, self.inception5b = blocks["5a"], blocks["5b"]
        self.aux1 = InceptionAux(512, num_classes, bn) if aux_logits else None
        self.aux2 = InceptionAux(528, num_classes, bn) if aux_logits else None
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(1024, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor):  # (B, C, H, W) -> (B, num_classes)
        x = self.stem(x)  # (B, 192, H/8, W/8) at ImageNet scale
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        x = self.inception4a(x)
        aux1 = self.aux1(x) if self.aux1 is not None and self.training else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        aux2 = self.aux2(x) if self.aux2 is not None and self.training else None
        x = self.maxpool4(self.inception4e(x))
        x = self.inception5b(self.inception5a(x))  # (B, 1024, h, w)
        logits = self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))
        if aux1 is not None:
            return logits, aux1, aux2
        return logits


@register_model
def googlenet(num_classes: int = 1000, in_channels: int = 3, image_size: int = 224, **kwargs) -> GoogLeNet:
    """GoogLeNet / Inception v1 (batch norm on, no auxiliary heads by default)."""
    return GoogLeNet(num_classes, in_channels, image_size, **kwargs)
