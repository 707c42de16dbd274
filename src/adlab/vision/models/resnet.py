r"""Residual networks: ResNet v1 and v2, CIFAR ResNets and their plain twins, Wide ResNets, SE blocks.

A residual block learns a correction $F$ to its input and adds it back,

    $y = \mathrm{ReLU}(x + F(x))$                  (v1, He et al., 2015)
    $y = x + F(x)$, $F$ starting with BN-ReLU      (v2 "pre-activation", He et al., 2016)

so the gradient reaches early layers through the identity path
$\partial y / \partial x = I + \partial F / \partial x$. When the block changes the
resolution or the width, the shortcut is a projection (1x1 convolution with
stride, "option B") or, in the CIFAR networks, a parameter-free subsampling
with zero-padded extra channels ("option A").

Blocks:

- ``BasicBlock``: 3x3 conv, BN, ReLU, 3x3 conv, BN, add, ReLU. (The lecture
  text, L763, describes the second convolution as 1x1; the original basic
  block uses two 3x3 convolutions, as here: $2 \cdot 9 C^2$ weights for $C$
  channels, e.g. 73,984 parameters with batch norm at $C = 64$.)
- ``Bottleneck``: 1x1 conv to $C/4$ ... 3x3 conv ... 1x1 conv back to $C$; the
  stride sits on the 3x3 convolution (torchvision's "v1.5").
- ``PreActBasicBlock`` / ``PreActBottleneck``: the same convolutions with
  BN-ReLU before each one and nothing after the addition.
- ``SqueezeExcitation`` (Hu et al., 2018): global average pool ("squeeze"),
  dense $C \to C/r \to C$ with ReLU and sigmoid ("excite"), channel-wise
  rescaling of the residual branch before the addition; ``se_reduction=r``
  switches it on in any block here.

Networks:

- ``resnet18/34/50/101/152`` (v1; 18/34 basic, 50+ bottleneck): torchvision's
  layout, 11,689,512 parameters for ResNet-18, 25,557,032 for ResNet-50,
  60,192,808 for ResNet-152 (3x224x224, 1000 classes).
- ``preact_resnet18 ... 152`` (v2): same convolutions; the stem is conv-BN-ReLU-pool
  and a final BN-ReLU precedes the pooling.
- ``resnet20/32/44/56/110`` (CIFAR style, He et al. 2015 sec. 4.2): 3x3 conv 16,
  three stages of $n = (d-2)/6$ basic blocks with 16, 32, 64 channels, option A
  shortcuts; 269,722 / 853,018 / 1,727,962 parameters for ResNet-20/56/110
  (3 channels, 10 classes). ``plain20 ... plain110``: the same layers without
  shortcuts, the "plain" networks that degrade with depth.
- ``wide_resnet(depth, k)`` (Zagoruyko & Komodakis, 2016), WRN-d-k: pre-activation
  basic blocks, $n = (d-4)/6$ per stage, widths $16k, 32k, 64k$, 1x1 projection
  shortcuts, optional dropout between the convolutions; registered as
  ``wrn16_4``, ``wrn28_10``, ``wrn40_4``, ...
- ``se_resnet18/34/50`` and ``se_resnet20/56/110``: the above with SE blocks ($r = 16$).

Small images (``image_size < 64``) for the ImageNet-style networks: the 7x7
stride-2 convolution and the max-pool of the stem are replaced by one 3x3
stride-1 convolution (the CIFAR convention), so 28x28 inputs go through the
four stages at 28, 14, 7 and 4 pixels. The CIFAR networks and WRNs are
small-image networks at every size.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..registry import register_model
from ._common import use_small_stem

__all__ = [
    "SqueezeExcitation",
    "BasicBlock",
    "Bottleneck",
    "PreActBasicBlock",
    "PreActBottleneck",
    "ResNet",
    "ZeroPadShortcut",
    "CifarBasicBlock",
    "CifarResNet",
    "WideResNet",
    "wide_resnet",
    "resnet",
    "cifar_resnet",
]

NormLayer = Callable[[int], nn.Module]


def conv3x3(c_in: int, c_out: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    """3x3 "same" convolution without bias (a batch norm follows or precedes)."""
    return nn.Conv2d(c_in, c_out, 3, stride, 1, groups=groups, bias=False)


def conv1x1(c_in: int, c_out: int, stride: int = 1) -> nn.Conv2d:
    """1x1 convolution without bias."""
    return nn.Conv2d(c_in, c_out, 1, stride, bias=False)


class SqueezeExcitation(nn.Module):
    r"""$x \cdot \sigma(W_2\,\mathrm{ReLU}(W_1 \bar x))$, $\bar x$ the channel means; $W_1: C \to C/r$."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Conv2d(channels, hidden, 1)  # a dense layer on the (B, C, 1, 1) means
        self.fc2 = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W)
        s = F.adaptive_avg_pool2d(x, 1)  # squeeze: (B, C, 1, 1)
        s = torch.sigmoid(self.fc2(F.relu(self.fc1(s))))  # excite: (B, C, 1, 1) in (0, 1)
        return x * s


def _se(channels: int, se_reduction: int | None) -> nn.Module:
    return SqueezeExcitation(channels, se_reduction) if se_reduction else nn.Identity()


# ---------------------------------------------------------------------------
# v1 blocks
# ---------------------------------------------------------------------------


class BasicBlock(nn.Module):
    """ResNet v1 basic block: two 3x3 convolutions (not a 3x3 and a 1x1, as the lecture text says)."""

    expansion = 1

    def __init__(
        self,
        c_in: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        norm_layer: NormLayer = nn.BatchNorm2d,
        se_reduction: int | None = None,
    ):
        super().__init__()
        self.conv1 = conv3x3(c_in, planes, stride)
        self.bn1 = norm_layer(planes)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = norm_layer(planes)
        self.se = _se(planes, se_reduction)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C_in, H, W) -> (B, planes, H/s, W/s)
        identity = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.se(self.bn2(self.conv2(out)))  # F(x)
        return F.relu(out + identity)  # $y = \mathrm{ReLU}(x + F(x))$


class Bottleneck(nn.Module):
    """ResNet v1 bottleneck: 1x1 reduce, 3x3 (with the stride), 1x1 expand by 4."""

    expansion = 4

    def __init__(
        self,
        c_in: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        norm_layer: NormLayer = nn.BatchNorm2d,
        se_reduction: int | None = None,
    ):
        super().__init__()
        width = planes
        self.conv1 = conv1x1(c_in, width)
        self.bn1 = norm_layer(width)
        self.conv2 = conv3x3(width, width, stride)
        self.bn2 = norm_layer(width)
        self.conv3 = conv1x1(width, planes * self.expansion)
        self.bn3 = norm_layer(planes * self.expansion)
        self.se = _se(planes * self.expansion, se_reduction)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.se(self.bn3(self.conv3(out)))
        return F.relu(out + identity)


# ---------------------------------------------------------------------------
# v2 (pre-activation) blocks
# ---------------------------------------------------------------------------


class PreActBasicBlock(nn.Module):
    """BN-ReLU-conv3x3-BN-ReLU-(dropout)-conv3x3, plus the shortcut; nothing after the addition.

    A projection shortcut reads the pre-activated input, as in the authors' code.
    """

    expansion = 1
    preact = True

    def __init__(
        self,
        c_in: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        norm_layer: NormLayer = nn.BatchNorm2d,
        se_reduction: int | None = None,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.bn1 = norm_layer(c_in)
        self.conv1 = conv3x3(c_in, planes, stride)
        self.bn2 = norm_layer(planes)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = conv3x3(planes, planes)
        self.se = _se(planes, se_reduction)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(x))
        shortcut = x if self.downsample is None else self.downsample(out)
        out = self.conv1(out)
        out = self.conv2(self.dropout(F.relu(self.bn2(out))))
        return self.se(out) + shortcut  # $y = x + F(x)$


class PreActBottleneck(nn.Module):
    """BN-ReLU-conv1x1, BN-ReLU-conv3x3 (stride), BN-ReLU-conv1x1 (x4), plus the shortcut."""

    expansion = 4
    preact = True

    def __init__(
        self,
        c_in: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        norm_layer: NormLayer = nn.BatchNorm2d,
        se_reduction: int | None = None,
    ):
        super().__init__()
        self.bn1 = norm_layer(c_in)
        self.conv1 = conv1x1(c_in, planes)
        self.bn2 = norm_layer(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn3 = norm_layer(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.se = _se(planes * self.expansion, se_reduction)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(x))
        shortcut = x if self.downsample is None else self.downsample(out)
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        out = self.conv3(F.relu(self.bn3(out)))
        return self.se(out) + shortcut


# ---------------------------------------------------------------------------
# ImageNet-style ResNet (v1 and v2)
# ---------------------------------------------------------------------------


class ResNet(nn.Module):
    """ResNet with four stages (64, 128, 256, 512 planes); v1 or v2 according to ``block``."""

    def __init__(
        self,
        block: type[nn.Module],
        layers: list[int],
        num_classes: int = 1000,
        in_channels: int = 3,
        image_size: int = 224,
        zero_init_residual: bool = False,
        norm_layer: NormLayer | None = None,
        se_reduction: int | None = None,
        small_input: bool | None = None,
    ):
        super().__init__()
        norm_layer = norm_layer or nn.BatchNorm2d
        self.preact = getattr(block, "preact", False)
        self._norm_layer = norm_layer
        self._se_reduction = se_reduction
        self.inplanes = 64
        if use_small_stem(image_size, small_input):
            stem: list[nn.Module] = [conv3x3(in_channels, 64)]
            if not self.preact:  # a v2 network's first block starts with BN-ReLU itself
                stem += [norm_layer(64), nn.ReLU(inplace=True)]
        else:
            stem = [
                nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False),
                norm_layer(64),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(3, 2, 1),
            ]
        self.stem = nn.Sequential(*stem)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        c_out = 512 * block.expansion
        # v2: the last block ends in a convolution; normalise and rectify before pooling
        self.final_act = nn.Sequential(norm_layer(c_out), nn.ReLU(inplace=True)) if self.preact else nn.Identity()
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(c_out, num_classes)
        _init_resnet(self, zero_init_residual)

    def _make_layer(self, block, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        c_out = planes * block.expansion
        if stride != 1 or self.inplanes != c_out:
            if self.preact:
                downsample = conv1x1(self.inplanes, c_out, stride)
            else:
                downsample = nn.Sequential(conv1x1(self.inplanes, c_out, stride), self._norm_layer(c_out))
        kw = dict(norm_layer=self._norm_layer, se_reduction=self._se_reduction)
        layers = [block(self.inplanes, planes, stride, downsample, **kw)]
        self.inplanes = c_out
        layers += [block(self.inplanes, planes, **kw) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, num_classes)
        x = self.stem(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.avgpool(self.final_act(x))  # (B, 512 * expansion, 1, 1)
        return self.fc(torch.flatten(x, 1))


def _init_resnet(model: nn.Module, zero_init_residual: bool = False) -> None:
    """He (fan-out) initialisation for convolutions, normalisation layers to the identity.

    ``zero_init_residual`` zeroes the last BN scale of each v1 block, so that every
    block starts as the identity (Goyal et al., 2017).
    """
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.GroupNorm) or (hasattr(m, "running_mean") and getattr(m, "weight", None) is not None):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    if zero_init_residual:
        for m in model.modules():
            if isinstance(m, Bottleneck):
                nn.init.zeros_(m.bn3.weight)
            elif isinstance(m, (BasicBlock, CifarBasicBlock)):
                nn.init.zeros_(m.bn2.weight)


_DEPTHS = {
    18: (BasicBlock, [2, 2, 2, 2]),
    34: (BasicBlock, [3, 4, 6, 3]),
    50: (Bottleneck, [3, 4, 6, 3]),
    101: (Bottleneck, [3, 4, 23, 3]),
    152: (Bottleneck, [3, 8, 36, 3]),
}


def resnet(depth: int, preact: bool = False, **kwargs) -> ResNet:
    """ResNet-``depth`` (18, 34, 50, 101, 152), v1 or v2 (``preact=True``)."""
    if depth not in _DEPTHS:
        raise ValueError(f"ResNet depth must be one of {sorted(_DEPTHS)}, got {depth}")
    block, layers = _DEPTHS[depth]
    if preact:
        block = PreActBasicBlock if block is BasicBlock else PreActBottleneck
    return ResNet(block, layers, **kwargs)


@register_model
def resnet18(**kwargs) -> ResNet:
    """ResNet-18 v1 (basic blocks 2-2-2-2)."""
    return resnet(18, **kwargs)


@register_model
def resnet34(**kwargs) -> ResNet:
    """ResNet-34 v1 (basic blocks 3-4-6-3)."""
    return resnet(34, **kwargs)


@register_model
def resnet50(**kwargs) -> ResNet:
    """ResNet-50 v1 (bottlenecks 3-4-6-3)."""
    return resnet(50, **kwargs)


@register_model
def resnet101(**kwargs) -> ResNet:
    """ResNet-101 v1 (bottlenecks 3-4-23-3)."""
    return resnet(101, **kwargs)


@register_model
def resnet152(**kwargs) -> ResNet:
    """ResNet-152 v1 (bottlenecks 3-8-36-3)."""
    return resnet(152, **kwargs)


@register_model
def preact_resnet18(**kwargs) -> ResNet:
    """ResNet-18 v2 (pre-activation)."""
    return resnet(18, preact=True, **kwargs)


@register_model
def preact_resnet34(**kwargs) -> ResNet:
    """ResNet-34 v2 (pre-activation)."""
    return resnet(34, preact=True, **kwargs)


@register_model
def preact_resnet50(**kwargs) -> ResNet:
    """ResNet-50 v2 (pre-activation bottlenecks)."""
    return resnet(50, preact=True, **kwargs)


@register_model
def preact_resnet101(**kwargs) -> ResNet:
    """ResNet-101 v2 (pre-activation bottlenecks)."""
    return resnet(101, preact=True, **kwargs)


@register_model
def preact_resnet152(**kwargs) -> ResNet:
    """ResNet-152 v2 (pre-activation bottlenecks)."""
    return resnet(152, preact=True, **kwargs)


@register_model
def se_resnet18(**kwargs) -> ResNet:
    """SE-ResNet-18: ResNet-18 v1 with squeeze-excitation (r = 16) in every block."""
    kwargs.setdefault("se_reduction", 16)
    return resnet(18, **kwargs)


@register_model
def se_resnet34(**kwargs) -> ResNet:
    """SE-ResNet-34 (r = 16)."""
    kwargs.setdefault("se_reduction", 16)
    return resnet(34, **kwargs)


@register_model
def se_resnet50(**kwargs) -> ResNet:
    """SE-ResNet-50 (r = 16)."""
    kwargs.setdefault("se_reduction", 16)
    return resnet(50, **kwargs)


# ---------------------------------------------------------------------------
# CIFAR-style ResNet-20/32/44/56/110 and plain twins
# ---------------------------------------------------------------------------


class ZeroPadShortcut(nn.Module):
    """Option A shortcut: subsample by ``stride``, append zero channels up to ``c_out`` (no parameters)."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.extra, self.stride = c_out - c_in, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C_in, H, W) -> (B, C_out, H/s, W/s)
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.extra))


class CifarBasicBlock(nn.Module):
    """Basic block with an option-A/B shortcut, or no shortcut at all (``residual=False``: plain)."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        stride: int = 1,
        residual: bool = True,
        shortcut: str = "A",
        norm_layer: NormLayer = nn.BatchNorm2d,
        se_reduction: int | None = None,
    ):
        super().__init__()
        self.conv1 = conv3x3(c_in, c_out, stride)
        self.bn1 = norm_layer(c_out)
        self.conv2 = conv3x3(c_out, c_out)
        self.bn2 = norm_layer(c_out)
        self.se = _se(c_out, se_reduction)
        self.residual = residual
        self.shortcut: nn.Module = nn.Identity()
        if residual and (stride != 1 or c_in != c_out):
            if shortcut == "A":
                self.shortcut = ZeroPadShortcut(c_in, c_out, stride)
            elif shortcut == "B":
                self.shortcut = nn.Sequential(conv1x1(c_in, c_out, stride), norm_layer(c_out))
            else:
                raise ValueError(f"shortcut must be 'A' or 'B', got {shortcut!r}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.se(self.bn2(self.conv2(out)))
        if self.residual:
            out = out + self.shortcut(x)
        return F.relu(out)


class CifarResNet(nn.Module):
    """3x3 conv 16, three stages of $n = (d-2)/6$ blocks (16, 32, 64 channels), pool, linear."""

    def __init__(
        self,
        depth: int = 20,
        num_classes: int = 10,
        in_channels: int = 3,
        image_size: int = 32,
        residual: bool = True,
        shortcut: str = "A",
        se_reduction: int | None = None,
        norm_layer: NormLayer | None = None,
        widths: tuple[int, int, int] = (16, 32, 64),
        zero_init_residual: bool = False,
    ):
        super().__init__()
        if zero_init_residual and not residual:
            raise ValueError("zero_init_residual needs residual=True: a plain net with zeroed BN scales passes no signal")
        if (depth - 2) % 6 or depth < 8:
            raise ValueError(f"CIFAR ResNet depth must be 6n + 2 (20, 32, 44, 56, 110, ...), got {depth}")
        n = (depth - 2) // 6
        norm_layer = norm_layer or nn.BatchNorm2d
        self.stem = nn.Sequential(conv3x3(in_channels, widths[0]), norm_layer(widths[0]), nn.ReLU(inplace=True))
        stages, c = [], widths[0]
        for i, w in enumerate(widths):
            blocks = []
            for j in range(n):
                stride = 2 if (i > 0 and j == 0) else 1
                blocks.append(CifarBasicBlock(c, w, stride, residual, shortcut, norm_layer, se_reduction))
                c = w
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(c, num_classes)
        _init_resnet(self, zero_init_residual)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, num_classes)
        x = self.layer3(self.layer2(self.layer1(self.stem(x))))  # (B, 64, H/4, W/4)
        return self.fc(torch.flatten(self.avgpool(x), 1))


def cifar_resnet(depth: int, residual: bool = True, num_classes: int = 10, in_channels: int = 3, image_size: int = 32, **kwargs) -> CifarResNet:
    """CIFAR-style ResNet-``depth`` (``residual=False``: its plain twin)."""
    return CifarResNet(depth, num_classes, in_channels, image_size, residual=residual, **kwargs)


@register_model
def resnet20(**kwargs) -> CifarResNet:
    """CIFAR ResNet-20 (3 stages x 3 basic blocks, 16-32-64), 0.27M parameters."""
    return cifar_resnet(20, **kwargs)


@register_model
def resnet32(**kwargs) -> CifarResNet:
    """CIFAR ResNet-32 (5 blocks per stage)."""
    return cifar_resnet(32, **kwargs)


@register_model
def resnet44(**kwargs) -> CifarResNet:
    """CIFAR ResNet-44 (7 blocks per stage)."""
    return cifar_resnet(44, **kwargs)


@register_model
def resnet56(**kwargs) -> CifarResNet:
    """CIFAR ResNet-56 (9 blocks per stage), 0.85M parameters."""
    return cifar_resnet(56, **kwargs)


@register_model
def resnet110(**kwargs) -> CifarResNet:
    """CIFAR ResNet-110 (18 blocks per stage), 1.7M parameters."""
    return cifar_resnet(110, **kwargs)


@register_model
def plain20(**kwargs) -> CifarResNet:
    """Plain-20: ResNet-20's layers without shortcuts."""
    return cifar_resnet(20, residual=False, **kwargs)


@register_model
def plain32(**kwargs) -> CifarResNet:
    """Plain-32: ResNet-32's layers without shortcuts."""
    return cifar_resnet(32, residual=False, **kwargs)


@register_model
def plain44(**kwargs) -> CifarResNet:
    """Plain-44: ResNet-44's layers without shortcuts."""
    return cifar_resnet(44, residual=False, **kwargs)


@register_model
def plain56(**kwargs) -> CifarResNet:
    """Plain-56: ResNet-56's layers without shortcuts."""
    return cifar_resnet(56, residual=False, **kwargs)


@register_model
def plain110(**kwargs) -> CifarResNet:
    """Plain-110: ResNet-110's layers without shortcuts."""
    return cifar_resnet(110, residual=False, **kwargs)


@register_model
def se_resnet20(**kwargs) -> CifarResNet:
    """CIFAR ResNet-20 with squeeze-excitation (r = 16) in every block."""
    kwargs.setdefault("se_reduction", 16)
    return cifar_resnet(20, **kwargs)


@register_model
def se_resnet56(**kwargs) -> CifarResNet:
    """CIFAR ResNet-56 with squeeze-excitation (r = 16)."""
    kwargs.setdefault("se_reduction", 16)
    return cifar_resnet(56, **kwargs)


@register_model
def se_resnet110(**kwargs) -> CifarResNet:
    """CIFAR ResNet-110 with squeeze-excitation (r = 16)."""
    kwargs.setdefault("se_reduction", 16)
    return cifar_resnet(110, **kwargs)


# ---------------------------------------------------------------------------
# Wide ResNet WRN-d-k
# ---------------------------------------------------------------------------


class WideResNet(nn.Module):
    """WRN-d-k: conv 16, stages of $(d-4)/6$ pre-activation blocks of width 16k, 32k, 64k, BN-ReLU, pool, linear."""

    def __init__(
        self,
        depth: int = 28,
        k: int = 10,
        num_classes: int = 10,
        in_channels: int = 3,
        image_size: int = 32,
        dropout: float = 0.0,
        se_reduction: int | None = None,
        norm_layer: NormLayer | None = None,
    ):
        super().__init__()
        if (depth - 4) % 6 or depth < 10:
            raise ValueError(f"WRN depth must be 6n + 4 (10, 16, 22, 28, 40, ...), got {depth}")
        if k < 1:
            raise ValueError(f"widening factor k must be >= 1, got {k}")
        n = (depth - 4) // 6
        norm_layer = norm_layer or nn.BatchNorm2d
        self.depth, self.k = depth, k
        self.stem = conv3x3(in_channels, 16)
        stages, c = [], 16
        for i, w in enumerate((16 * k, 32 * k, 64 * k)):
            stride = 1 if i == 0 else 2
            blocks = []
            for j in range(n):
                s = stride if j == 0 else 1
                down = conv1x1(c, w, s) if (s != 1 or c != w) else None
                blocks.append(PreActBasicBlock(c, w, s, down, norm_layer, se_reduction, dropout))
                c = w
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.final_act = nn.Sequential(norm_layer(c), nn.ReLU(inplace=True))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(c, num_classes)
        _init_resnet(self)
        nn.init.zeros_(self.fc.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, num_classes)
        x = self.layer3(self.layer2(self.layer1(self.stem(x))))
        x = self.avgpool(self.final_act(x))  # (B, 64k, 1, 1)
        return self.fc(torch.flatten(x, 1))


def wide_resnet(depth: int, k: int, num_classes: int = 10, in_channels: int = 3, image_size: int = 32, **kwargs) -> WideResNet:
    """WRN-``depth``-``k`` (e.g. ``wide_resnet(28, 10)``: 36.5M parameters for CIFAR-10)."""
    return WideResNet(depth, k, num_classes, in_channels, image_size, **kwargs)


@register_model
def wrn16_4(**kwargs) -> WideResNet:
    """WRN-16-4 (2.7M parameters for 10 classes)."""
    return wide_resnet(16, 4, **kwargs)


@register_model
def wrn16_8(**kwargs) -> WideResNet:
    """WRN-16-8 (11M parameters for 10 classes)."""
    return wide_resnet(16, 8, **kwargs)


@register_model
def wrn28_2(**kwargs) -> WideResNet:
    """WRN-28-2 (1.5M parameters for 10 classes)."""
    return wide_resnet(28, 2, **kwargs)


@register_model
def wrn28_10(**kwargs) -> WideResNet:
    """WRN-28-10 (36.5M parameters for 10 classes)."""
    return wide_resnet(28, 10, **kwargs)


@register_model
def wrn40_2(**kwargs) -> WideResNet:
    """WRN-40-2 (2.2M parameters for 10 classes)."""
    return wide_resnet(40, 2, **kwargs)


@register_model
def wrn40_4(**kwargs) -> WideResNet:
    """WRN-40-4 (8.9M parameters for 10 classes)."""
    return wide_resnet(40, 4, **kwargs)
