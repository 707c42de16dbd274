"""Lecture 3: convolutional networks for image recognition.

- :mod:`adlab.vision.arith`: output sizes, receptive fields, parameter and MAC counts;
- :mod:`adlab.vision.models`: LeNet-5, AlexNet, VGG, GoogLeNet, ResNet v1/v2, CIFAR
  ResNets and plain nets, Wide ResNets, SE blocks, DenseNet, MobileNetV2;
- :mod:`adlab.vision.registry`: build them by name (``create_model``, ``list_models``);
- :mod:`adlab.vision.augment`: tensor-only data augmentation.

Batch normalisation written from its definition lives in :mod:`adlab.nn.normalization`.
"""

from . import arith, augment, models, registry
from .registry import create_model, is_model, list_models, register_model

__all__ = ["arith", "augment", "models", "registry", "create_model", "list_models", "register_model", "is_model"]
