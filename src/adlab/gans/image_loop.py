"""The alternating GAN training loop shared by the Fashion-MNIST experiments.

A GAN has no single loss, so the experiments do not use ``core.trainer``;
this loop gives them what it would: seeded batches, progress, metric logging
and atomic checkpoints that resume to the same numbers as an uninterrupted run.

The caller supplies ``step(next_batch, g) -> dict``: one generator update
(after however many discriminator updates it wants), drawing real batches with
``next_batch()`` and all its randomness (latents, labels, GP weights) from the
CPU generator ``g``. The loop saves every module, optimizer, the state of
``g`` and the number of batches drawn; batch ``k`` is a deterministic function
of the seed and ``k`` (epoch ``k // batches_per_epoch`` is a permutation
seeded by the epoch), so resuming replays the same batches.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from adlab.core import RunContext, checkpoint
from adlab.core.seeding import generator

__all__ = ["train_gan"]


def train_gan(
    ctx: RunContext,
    name: str,
    modules: dict[str, nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
    step: Callable[[Callable[[], tuple[Tensor, ...]], torch.Generator], dict[str, float]],
    data: tuple[Tensor, ...],
    steps: int,
    batch_size: int,
    seed: int,
    checkpoint_every: int = 200,
    log_every: int = 50,
) -> None:
    """Run ``steps`` calls of ``step`` with checkpoints in ``ctx.checkpoint_dir(name)``."""
    n = len(data[0])
    per_epoch = max(1, n // batch_size)
    g = generator(seed, 2)
    draws = 0
    start = 0
    ckpt = ctx.checkpoint_dir(name)
    if ctx.resume:
        loaded = checkpoint.load(ckpt)
        if loaded is not None:
            tensors, state = loaded
            for key, m in modules.items():
                checkpoint.load_module(m, tensors, key)
            for key, o in optimizers.items():
                checkpoint.load_optimizer(o, tensors, state["optim"][key], f"opt.{key}")
            g.set_state(tensors["rng.g"])
            draws, start = int(state["draws"]), int(state["step"])
            ctx.truncate_metrics(start, model=name)
    perm_cache: dict[int, Tensor] = {}

    def next_batch() -> tuple[Tensor, ...]:
        nonlocal draws
        epoch, k = divmod(draws, per_epoch)
        if epoch not in perm_cache:
            perm_cache.clear()
            perm_cache[epoch] = torch.randperm(n, generator=generator(seed, 3, epoch))
        idx = perm_cache[epoch][k * batch_size : (k + 1) * batch_size]
        draws += 1
        return tuple(t[idx].to(ctx.device) for t in data)

    def save(at: int) -> None:
        tensors: dict[str, Tensor] = {"rng.g": g.get_state()}
        plain = {}
        for key, m in modules.items():
            tensors.update(checkpoint.module_tensors(key, m))
        for key, o in optimizers.items():
            t, p = checkpoint.optimizer_state(f"opt.{key}", o)
            tensors.update(t)
            plain[key] = p
        if ctx.is_main:
            checkpoint.save(ckpt, at, tensors, {"draws": draws, "optim": plain})

    for m in modules.values():
        m.train()
    with ctx.progress(steps - start, name) as bar:
        for i in range(start, steps):
            stats = step(next_batch, g)
            if (i + 1) % log_every == 0 or i + 1 == steps:
                ctx.log(i + 1, "train", model=name, **stats)
            if checkpoint_every and ((i + 1) % checkpoint_every == 0 or i + 1 == steps):
                save(i + 1)
            bar.update(1, **stats)
    for m in modules.values():
        m.eval()
