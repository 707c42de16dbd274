r"""One training recipe for the image classifiers of the lecture's experiments.

The recipe (used unchanged for every model of the Fashion-MNIST leaderboard):

- SGD with Nesterov momentum $\mu$,

      $v \leftarrow \mu v + g$,   $\theta \leftarrow \theta - \eta\,(g + \mu v)$

  with weight decay on weights only (biases and normalisation scales/shifts are
  not decayed: shrinking them does not regularise anything);
- a one-cycle learning rate (Smith & Topin, 2018): a cosine rise from
  $\eta_{max}/25$ to $\eta_{max}$ over the first ``warmup`` fraction of the steps,
  then a cosine fall to $\eta_{max}/(25 \cdot 10^4)$ (the curve of torch's ``OneCycleLR``,
  :func:`one_cycle_factor`),
  or a cosine decay from $\eta_{max}$ to 0 (or a constant rate, for experiments about the rate itself);
- label smoothing $\varepsilon$: the target is $(1-\varepsilon)\,\text{one-hot} + \varepsilon/K$;
- data augmentation drawn afresh for every minibatch from :mod:`adlab.vision.augment`
  (random crop with padding, horizontal flip, optionally random erasing), applied
  in :class:`AugmentedClassification`'s ``train_step`` and never at evaluation.

Augmentation draws from torch's global generator, whose state the shared
``Trainer`` checkpoints, so a resumed run sees the same augmented batches as an
uninterrupted one.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from adlab.core.context import RunContext, cudagraph_steps, synchronize
from adlab.core.trainer import ArrayLoader, Batch, Callback, Classification, Trainer
from adlab.vision import augment

__all__ = [
    "AugmentedClassification", "standard_augmentation", "sgd_nesterov", "lr_schedule", "one_cycle_factor", "param_groups",
    "Recipe", "FitResult", "fit", "predict", "StepLosses",
]


@dataclass
class AugmentedClassification(Classification):
    """Cross-entropy classification whose training batches pass through ``transform`` first.

    Attributes:
        label_smoothing: $\\varepsilon$ of the smoothed targets (training loss only).
        transform: a batch transform from :mod:`adlab.vision.augment` (None: no augmentation).
        amp: run the forward pass in bfloat16 autocast, on CUDA or on a CPU (where oneDNN's bf16
            kernels need AVX512-BF16 or AMX to be faster: 1.4-1.7x on this project's 2-core EPYC).
    """

    transform: augment.BatchTransform | None = None
    amp: bool = False
    mark_steps: bool = False
    """Mark each step's start for a CUDA-graph compile mode (the graphs may reuse the last step's output memory)."""

    def _autocast(self, x: torch.Tensor):
        if self.amp and x.device.type in ("cuda", "cpu"):
            return torch.autocast(x.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def train_step(self, model: nn.Module, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        x, y = batch
        if self.mark_steps:
            torch.compiler.cudagraph_mark_step_begin()
        if self.transform is not None:
            x = self.transform(x)  # a new draw per batch: (B, C, H, W)
        with self._autocast(x):
            logits = model(x)  # (B, K)
        loss = F.cross_entropy(logits.float(), y, label_smoothing=self.label_smoothing)
        return loss, {"loss": loss.item()}

    @torch.no_grad()
    def eval_step(self, model: nn.Module, batch: Batch) -> dict[str, torch.Tensor]:
        x, y = batch
        if self.mark_steps:
            torch.compiler.cudagraph_mark_step_begin()
        with self._autocast(x):
            logits = model(x).float()
        return {
            "loss": F.cross_entropy(logits, y, reduction="sum"),
            "correct": (logits.argmax(-1) == y).sum().float(),
            "count": torch.tensor(float(len(y))),
        }


def standard_augmentation(crop_padding: int = 2, flip: bool = True, erasing: float = 0.0) -> augment.BatchTransform | None:
    """Pad-and-crop (same size), horizontal flip with p = 0.5, random erasing with probability ``erasing``.

    Returns None when every part is switched off.
    """
    parts: list[augment.BatchTransform] = []
    if crop_padding > 0:
        parts.append(augment.RandomCrop(None, padding=crop_padding))
    if flip:
        parts.append(augment.RandomHorizontalFlip(0.5))
    if erasing > 0:
        parts.append(augment.RandomErasing(p=erasing, scale=(0.02, 0.25)))
    return augment.Compose(parts) if parts else None


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two groups: weights (matrices and kernels, decayed) and vectors (biases, norm parameters, not decayed)."""
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


def sgd_nesterov(model: nn.Module, lr: float, momentum: float = 0.9, weight_decay: float = 5e-4) -> torch.optim.SGD:
    """SGD with Nesterov momentum; weight decay on weights only."""
    return torch.optim.SGD(param_groups(model, weight_decay), lr=lr, momentum=momentum, nesterov=True)


def one_cycle_factor(t: int, total: int, warmup: float = 0.25, div: float = 25.0, final_div: float = 1e4) -> float:
    r"""The one-cycle multiplier of the peak rate at step ``t`` of ``total``.

    With $w = \max(1, \text{warmup} \cdot T - 1)$ and $e = \max(w + 1, T - 1)$:

        $t \le w$:  $f = \frac{1}{d} + (1 - \frac{1}{d}) \frac{1 - \cos(\pi t / w)}{2}$
        $t > w$:    $f = f_{min} + (1 - f_{min}) \frac{1 + \cos(\pi \min(1, (t - w)/(e - w)))}{2}$,  $f_{min} = \frac{1}{d\,d_f}$

    the same curve as ``torch.optim.lr_scheduler.OneCycleLR`` (cosine annealing), but
    defined for any number of steps, however small.
    """
    w = max(1.0, warmup * total - 1)
    end = max(w + 1, total - 1)
    if t <= w:
        return 1 / div + (1 - 1 / div) * (1 - math.cos(math.pi * t / w)) / 2
    f_min = 1 / (div * final_div)
    a = min(1.0, (t - w) / (end - w))
    return f_min + (1 - f_min) * (1 + math.cos(math.pi * a)) / 2


def lr_schedule(opt: torch.optim.Optimizer, total_steps: int, kind: str = "onecycle", warmup: float = 0.25):
    """The per-step schedule: ``"onecycle"`` (:func:`one_cycle_factor`), ``"cosine"`` (to 0 over the run),
    or ``"constant"`` (returns None: the optimizer's rate throughout)."""
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}")
    if kind == "onecycle":
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda t: one_cycle_factor(t, total_steps, warmup))
    if kind == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total_steps)
    if kind == "constant":
        return None
    raise ValueError(f"schedule must be 'onecycle', 'cosine' or 'constant', got {kind!r}")


@dataclass
class Recipe:
    """Every setting of :func:`fit` besides the model and the data.

    ``channels_last`` stores the model's kernels (and hence its activations) in NHWC order, which
    changes speed only, not the arithmetic. ``compile`` runs the trainer's steps through
    ``torch.compile`` in that mode (None: eager; one of ``adlab.core.context.COMPILE_MODES``); the
    model itself is not changed, so its parameter names and checkpoints stay those of the eager
    model. ``"reduce-overhead"`` replays CUDA graphs, for the small, launch-bound 28x28 models on
    a GPU.
    """

    epochs: int = 3
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "onecycle"
    warmup: float = 0.25
    label_smoothing: float = 0.1
    crop_padding: int = 2
    flip: bool = True
    erasing: float = 0.0
    amp: bool = False
    channels_last: bool = False
    compile: str | None = None

    def describe(self) -> dict[str, Any]:
        """The settings as a flat dict (model cards, tables)."""
        return dict(vars(self))


@dataclass
class FitResult:
    """What :func:`fit` returns: per-epoch evaluations, training seconds and the trainer."""

    history: list[dict[str, Any]]
    seconds: float
    trainer: Trainer
    steps: int = 0

    def final(self, split: str, key: str = "accuracy") -> float:
        return float(self.history[-1][split][key])


class StepLosses(Callback):
    """Records the training loss of every step (checkpointed with the trainer, so resume keeps it)."""

    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_step_end(self, trainer: Trainer, step: int, metrics: dict[str, float]) -> None:
        self.losses.append(float(metrics["loss"]))

    def state_dict(self) -> dict[str, Any]:
        return {"losses": self.losses}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.losses = list(state["losses"])


def fit(
    name: str,
    model: nn.Module,
    recipe: Recipe,
    train: tuple[torch.Tensor, torch.Tensor],
    ctx: RunContext,
    evals: dict[str, tuple[torch.Tensor, torch.Tensor]] | None = None,
    checkpoint_every: int = 0,
    callbacks: tuple[Callback, ...] = (),
    optimizer: torch.optim.Optimizer | None = None,
) -> FitResult:
    """Train ``model`` on ``train`` with ``recipe`` through the shared :class:`Trainer`.

    Minibatches are reshuffled each epoch from ``ctx.seed``; ``evals`` are evaluated after
    every epoch (no augmentation, no label smoothing). ``optimizer`` replaces the recipe's
    SGD (e.g. to train only some parameters). Returns the history and the wall-clock
    seconds of training (of this process; a resumed run counts only the part it ran).
    """
    model.to(ctx.device)
    if recipe.channels_last:  # NHWC activations: faster convolutions on CPU (oneDNN) and on tensor cores
        model.to(memory_format=torch.channels_last)
    loader = ArrayLoader(train, recipe.batch_size, shuffle=True, seed=ctx.seed, drop_last=len(train[0]) >= recipe.batch_size, device=ctx.device)
    eval_loaders = {k: ArrayLoader(v, 1000, shuffle=False, device=ctx.device) for k, v in (evals or {}).items()}
    opt = optimizer or sgd_nesterov(model, recipe.lr, recipe.momentum, recipe.weight_decay)
    total = recipe.epochs * len(loader)
    sched = lr_schedule(opt, total, recipe.schedule, recipe.warmup)
    task = AugmentedClassification(
        label_smoothing=recipe.label_smoothing,
        transform=standard_augmentation(recipe.crop_padding, recipe.flip, recipe.erasing),
        amp=recipe.amp,
        mark_steps=cudagraph_steps(recipe.compile, ctx.device),
    )
    trainer = Trainer(
        name, model, opt, task, loader, recipe.epochs, ctx, evals=eval_loaders, scheduler=sched,
        checkpoint_every=checkpoint_every, callbacks=callbacks, log_every=max(1, min(50, len(loader))),
        compile=recipe.compile,
    )
    start = time.perf_counter()
    history = trainer.fit()
    synchronize(ctx.device)
    return FitResult(history, time.perf_counter() - start, trainer, total)


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, device: torch.device | str = "cpu", batch_size: int = 1000) -> torch.Tensor:
    """Logits of ``model`` (eval mode) for ``x``, in batches, on the CPU: (N, K)."""
    was = model.training
    model.eval()
    out = torch.cat([model(x[i : i + batch_size].to(device)).float().cpu() for i in range(0, len(x), batch_size)])
    model.train(was)
    return out
