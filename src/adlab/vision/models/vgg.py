"""VGG-11/13/16/19 (Simonyan & Zisserman, 2014), with and without batch norm.

Only 3x3 "same" convolutions (stride 1, padding 1), in five stages separated
by 2x2 max-pools; two stacked 3x3 convolutions see 5x5, three see 7x7, with
fewer weights than one large kernel. Configurations (numbers are channels,
``M`` a max-pool), the columns A, B, D, E of the paper:

    vgg11: 64 M 128 M 256 256 M 512 512 M 512 512 M
    vgg13: 64 64 M 128 128 M 256 256 M 512 512 M 512 512 M
    vgg16: 64 64 M 128 128 M 256 256 256 M 512 512 512 M 512 512 512 M
    vgg19: 64 64 M 128 128 M 256 256 256 256 M 512 512 512 512 M 512 512 512 512 M

ImageNet configuration (``image_size >= 64``), as torchvision: adaptive
average pool to 7x7, classifier linear 25088-4096, ReLU, dropout,
4096-4096, ReLU, dropout, 4096-num_classes. VGG-16 has 138,357,544 parameters,
VGG-19 143,667,240 (3x224x224, 1000 classes). ``vgg*_bn`` put batch norm
after every convolution (the convolutions keep their biases, as torchvision).

Small images (``image_size < 64``): a max-pool is skipped when its input is
already smaller than 2x2 (28x28 inputs: 28 -> 14 -> 7 -> 3 -> 1, the fifth pool
is skipped), and the adaptive pool reduces the last map to 1x1, so the
classifier reads 512 values instead of 512x7x7; its 4096-4096 widths and
dropout are unchanged.

``hidden=0`` replaces the three-layer classifier by one linear layer.
``vgg_small`` is a VGG-style network sized for 28x28 grey images (not from the
paper): 3x3 convolutions with batch norm, 32-64-128 channels, a max-pool after
each (28 -> 14 -> 7 -> 3), global average pool and one linear layer (a deep
classifier initialised with N(0, 0.01) learns too slowly for a CPU budget);
94,410 parameters and 7.5M MACs per 28x28 image, the leaderboard's CPU-sized VGG.
``vgg_small_flat`` keeps the whole 3x3 map for its classifier; ``vgg_small_fast``
(``pool_first=True``) orders each stage conv -> max-pool -> BN -> ReLU, the model
of the fast CPU recipe in ``benchmarks/vision_speed.py``.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ..arith import conv_output_size
from ..registry import register_model
from ._common import use_small_stem

__all__ = ["VGG", "VGG_CONFIGS", "vgg"]

VGG_CONFIGS: dict[int, list[int | str]] = {
    11: [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    13: [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    19: [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}


class VGG(nn.Module):
    """VGG from a configuration list (channels and ``"M"`` for max-pool)."""

    def __init__(
        self,
        cfg: list[int | str],
        num_classes: int = 1000,
        in_channels: int = 3,
        image_size: int = 224,
        batch_norm: bool = False,
        dropout: float = 0.5,
        hidden: int = 4096,
        small_input: bool | None = None,
        pooled: int | None = None,
        pool_first: bool = False,
    ):
        super().__init__()
        small = use_small_stem(image_size, small_input)
        if pooled is not None and pooled < 1:
            raise ValueError(f"pooled must be >= 1, got {pooled}")
        if pool_first and not batch_norm:
            raise ValueError("pool_first reorders conv, batch norm, ReLU and max-pool; it needs batch_norm=True")
        layers: list[nn.Module] = []
        c, n = in_channels, image_size
        i = 0
        while i < len(cfg):
            v = cfg[i]
            skip_pool = small and n < 2  # nothing left to pool on a small image
            if v == "M":
                if not skip_pool:
                    layers.append(nn.MaxPool2d(2, 2))
                    n = conv_output_size(n, 2, 2)
            elif pool_first and cfg[i + 1 : i + 2] == ["M"] and not skip_pool:
                # conv -> max-pool -> BN -> ReLU: the pool commutes with the ReLU, and BN and ReLU then
                # see a quarter of the values; no conv bias, since BN removes any per-channel shift
                layers += [nn.Conv2d(c, int(v), 3, padding=1, bias=False), nn.MaxPool2d(2, 2), nn.BatchNorm2d(int(v)), nn.ReLU(inplace=True)]
                c, n = int(v), conv_output_size(n, 2, 2)
                i += 1  # this stage's "M" is placed
            else:
                layers.append(nn.Conv2d(c, int(v), 3, padding=1))  # same convolution
                if batch_norm:
                    layers.append(nn.BatchNorm2d(int(v)))
                layers.append(nn.ReLU(inplace=True))
                c = int(v)
            i += 1
        self.features = nn.Sequential(*layers)
        pooled = pooled or (1 if small else 7)  # side of the pooled map the classifier sees
        self.avgpool = nn.AdaptiveAvgPool2d((pooled, pooled))
        if hidden > 0:
            self.classifier = nn.Sequential(
                nn.Linear(c * pooled * pooled, hidden),
                nn.ReLU(inplace=True),
                nn.Dropout(dropout),
                nn.Linear(hidden, hidden),
                nn.ReLU(inplace=True),
                nn.Dropout(dropout),
                nn.Linear(hidden, num_classes),
            )
        else:  # hidden=0: a single linear layer on the pooled features
            self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(c * pooled * pooled, num_classes))
        self._init_weights()

    def _init_weights(self) -> None:
        # torchvision's initialisation: He (fan-out) for convolutions, N(0, 0.01) for dense layers
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, num_classes)
        x = self.features(x)  # (B, C, h, w)
        if x.shape[-2:] != self.avgpool.output_size:  # an identity when the map is already p x p
            x = self.avgpool(x)  # (B, C, p, p)
        return self.classifier(torch.flatten(x, 1))


def vgg(depth: int, batch_norm: bool = False, **kwargs) -> VGG:
    """VGG-``depth`` (11, 13, 16 or 19)."""
    if depth not in VGG_CONFIGS:
        raise ValueError(f"VGG depth must be one of {sorted(VGG_CONFIGS)}, got {depth}")
    return VGG(VGG_CONFIGS[depth], batch_norm=batch_norm, **kwargs)


SMALL_CONFIG: list[int | str] = [32, "M", 64, "M", 128, "M"]


@register_model
def vgg_small(num_classes: int = 10, in_channels: int = 1, image_size: int = 28, **kwargs) -> VGG:
    """A CPU-sized VGG for 28x28 images: 3x3 convolutions 32-64-128 with batch norm, one linear classifier."""
    kwargs.setdefault("batch_norm", True)
    kwargs.setdefault("hidden", 0)
    kwargs.setdefault("dropout", 0.0)
    kwargs.setdefault("small_input", True)
    return VGG(SMALL_CONFIG, num_classes=num_classes, in_channels=in_channels, image_size=image_size, **kwargs)


@register_model
def vgg_small_flat(num_classes: int = 10, in_channels: int = 1, image_size: int = 28, **kwargs) -> VGG:
    """``vgg_small`` whose classifier sees the whole 3x3 map (128 x 3 x 3 = 1,152 features) instead of its
    global average: where each part of the garment is, is kept. The model of the fast CPU recipe."""
    kwargs.setdefault("pooled", 3)
    return vgg_small(num_classes=num_classes, in_channels=in_channels, image_size=image_size, **kwargs)


@register_model
def vgg_small_fast(num_classes: int = 10, in_channels: int = 1, image_size: int = 28, **kwargs) -> VGG:
    """``vgg_small_flat`` with each stage ordered conv -> max-pool -> BN -> ReLU (as in fast CIFAR-10
    training records) instead of conv -> BN -> ReLU -> max-pool. Max-pooling commutes with the ReLU,
    so the change is where BN takes its statistics (on the pooled map), while BN and ReLU, forward
    and backward, touch a quarter of the values: 1.3x the images/s of ``vgg_small_flat`` on a CPU."""
    kwargs.setdefault("pool_first", True)
    return vgg_small_flat(num_classes=num_classes, in_channels=in_channels, image_size=image_size, **kwargs)


@register_model
def vgg11(**kwargs) -> VGG:
    """VGG-11 (configuration A)."""
    return vgg(11, **kwargs)


@register_model
def vgg13(**kwargs) -> VGG:
    """VGG-13 (configuration B)."""
    return vgg(13, **kwargs)


@register_model
def vgg16(**kwargs) -> VGG:
    """VGG-16 (configuration D)."""
    return vgg(16, **kwargs)


@register_model
def vgg19(**kwargs) -> VGG:
    """VGG-19 (configuration E)."""
    return vgg(19, **kwargs)


@register_model
def vgg11_bn(**kwargs) -> VGG:
    """VGG-11 with batch norm."""
    return vgg(11, batch_norm=True, **kwargs)


@register_model
def vgg13_bn(**kwargs) -> VGG:
    """VGG-13 with batch norm."""
    return vgg(13, batch_norm=True, **kwargs)


@register_model
def vgg16_bn(**kwargs) -> VGG:
    """VGG-16 with batch norm."""
    return vgg(16, batch_norm=True, **kwargs)


@register_model
def vgg19_bn(**kwargs) -> VGG:
    """VGG-19 with batch norm."""
    return vgg(19, batch_norm=True, **kwargs)
