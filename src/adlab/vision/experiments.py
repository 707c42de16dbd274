"""Registered claims of lecture 3, CNNs for image recognition.

The experiments live in three modules, imported here so that the catalog sees them all:

- :mod:`adlab.vision.exp_zoo`: ``vision.fashion-leaderboard`` (every 28x28 architecture under one
  recipe) and ``vision.resnet-vs-plain`` (the degradation problem);
- :mod:`adlab.vision.exp_blocks`: ``vision.equivariance`` (the flagship), ``vision.stacked-3x3``,
  ``vision.batchnorm`` and ``vision.flops`` (asserted in CI);
- :mod:`adlab.vision.exp_features`: ``vision.activation-maximisation`` and ``vision.transfer``.

The shared training recipe is :mod:`adlab.vision.recipe`.
"""

from adlab.vision import exp_blocks, exp_features, exp_zoo  # noqa: F401  (registers the experiments)
