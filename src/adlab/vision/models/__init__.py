"""Model families of lecture 3, one module each; importing this package registers them all.

The family modules keep their names here (``models.resnet`` is the module; its
``resnet(depth)`` constructor is ``models.resnet.resnet``).

Build any of them by name with :func:`adlab.vision.create_model`; list them with
:func:`adlab.vision.list_models`.
"""

from . import alexnet, densenet, googlenet, lenet, mobilenet, resnet, vgg
from .alexnet import AlexNet
from .densenet import DenseNet, densenet_bc_cifar
from .googlenet import GoogLeNet, Inception
from .lenet import LeNet5
from .mobilenet import InvertedResidual, MobileNetV2
from .resnet import (
    BasicBlock,
    Bottleneck,
    CifarResNet,
    PreActBasicBlock,
    PreActBottleneck,
    ResNet,
    SqueezeExcitation,
    WideResNet,
    cifar_resnet,
    wide_resnet,
)
from .vgg import VGG

__all__ = [
    "alexnet", "densenet", "googlenet", "lenet", "mobilenet", "resnet", "vgg",
    "AlexNet", "DenseNet", "densenet_bc_cifar", "GoogLeNet", "Inception", "LeNet5",
    "InvertedResidual", "MobileNetV2", "BasicBlock", "Bottleneck", "CifarResNet",
    "PreActBasicBlock", "PreActBottleneck", "ResNet", "SqueezeExcitation", "WideResNet",
    "cifar_resnet", "wide_resnet", "VGG",
]
