"""LeNet-5 (LeCun et al., 1998): convolution, nonlinearity, subsampling, twice; then dense layers.

Layers for a 32x32 input (the original size):

    C1 conv 5x5, 6 maps      -> 6 x 28 x 28
    S2 2x2 average pool      -> 6 x 14 x 14
    C3 conv 5x5, 16 maps     -> 16 x 10 x 10
    S4 2x2 average pool      -> 16 x 5 x 5
    C5 conv 5x5, 120 maps    -> 120 x 1 x 1   (a dense layer on S4)
    F6 linear 84, output linear num_classes

61,706 parameters for 1x32x32 inputs and 10 classes.

Changes from the 1998 paper, as in most modern re-implementations: C3 connects
to all six S2 maps (the paper used a hand-made partial connection table), the
subsampling layers are plain average pools (no trainable coefficient and
bias), and the output is a linear layer read by softmax cross-entropy instead
of Euclidean RBF units. Nonlinearity: tanh (``act="relu"`` is offered).

Other image sizes: below 32 pixels C1 gets zero padding so that the maps have
the sizes of a 32x32 input (28x28 MNIST-like images get padding 2, the usual
choice); above, C5's kernel covers the whole S4 map, so C5 stays a dense
layer on S4.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ..arith import conv_output_size
from ..registry import register_model

__all__ = ["LeNet5", "lenet5"]


class LeNet5(nn.Module):
    """LeNet-5 for ``in_channels`` x ``image_size`` x ``image_size`` inputs."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, image_size: int = 32, act: str = "tanh"):
        super().__init__()
        acts = {"tanh": nn.Tanh, "relu": nn.ReLU}
        if act not in acts:
            raise ValueError(f"act must be one of {sorted(acts)}, got {act!r}")
        Act = acts[act]
        pad = max(0, (32 - image_size + 1) // 2)  # 28 -> padding 2, as if the input were 32x32
        n = conv_output_size(image_size, 5, 1, pad)  # C1
        n = conv_output_size(n, 2, 2)  # S2
        n = conv_output_size(n, 5)  # C3
        s4 = conv_output_size(n, 2, 2)  # S4
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5, padding=pad),  # C1
            Act(),
            nn.AvgPool2d(2),  # S2
            nn.Conv2d(6, 16, 5),  # C3
            Act(),
            nn.AvgPool2d(2),  # S4
            nn.Conv2d(16, 120, s4),  # C5: kernel covers S4, i.e. a dense layer
            Act(),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(120, 84),  # F6
            Act(),
            nn.Linear(84, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, num_classes)
        return self.classifier(self.features(x))


@register_model
def lenet5(num_classes: int = 10, in_channels: int = 1, image_size: int = 32, **kwargs) -> LeNet5:
    """LeNet-5 (tanh, average pooling, full C3 connectivity)."""
    return LeNet5(num_classes, in_channels, image_size, **kwargs)
