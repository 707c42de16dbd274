"""Lecture 9: generative adversarial networks.

Modules (import them directly; importing the package loads none of them):

- ``losses``: minimax, non-saturating, Wasserstein (clipping, gradient
  penalty), hinge, least squares, f-GAN, MMD-GAN; ``adversarial_step``
  (n_critic D steps per G step).
- ``models``: MLP GAN, DCGAN 28x28, conditional DCGAN (CBN, BigGAN shared
  embedding + skip-z, self-attention), SN-GAN / projection / AC-GAN discriminators.
- ``truncation``: BigGAN truncated latents (resampling) and the scaled-sigma variant.
- ``infogan``, ``bigan``, ``translation`` (pix2pix, CycleGAN), ``lapgan``,
  ``stylegan`` (mapping network, noise injection, AdaIN, modulated conv).
- ``modes``: ring / grid of Gaussians and the 3-sigma mode-coverage evaluation.

Shared blocks live in ``adlab.nn.spectral_norm``, ``adlab.nn.conditional``,
``adlab.metrics.divergences`` and ``adlab.metrics.fid``.
"""
