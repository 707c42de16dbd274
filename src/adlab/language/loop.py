r"""A step-counted training loop with atomic checkpoints, for the lecture's language models.

The shared :class:`adlab.core.trainer.Trainer` walks epochs of a fixed data set. Language
models here train for a fixed number of *steps* on batches drawn at random from a corpus
(random windows of text, random sentence pairs, fresh BERT masks), and may stop early at a
wall-clock budget. The loop is::

    for step s = 1 .. n_steps (or until the budget is spent):
        batch = batch_fn(s)                 # drawn from a generator seeded with (seed, s)
        loss  = loss_fn(model, batch)
        theta <- optimizer(theta, d loss / d theta), scheduler step
        every `checkpoint_every` steps: atomic checkpoint (weights, optimizer, RNG, losses)

Because the batch of step ``s`` depends only on ``(seed, s)`` and the global RNG state (dropout)
is checkpointed, a run killed at any step and resumed ends with the same weights as an
uninterrupted one (unless the wall-clock budget, which is not reproducible, stops it).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from adlab.core import checkpoint as ckpt
from adlab.core.context import COMPILE_MODES, RunContext, cudagraph_steps
from adlab.core.seeding import rng_state, set_rng_state

__all__ = ["LoopResult", "train_steps", "warmup_cosine"]


@dataclass
class LoopResult:
    """What :func:`train_steps` did."""

    steps: int
    """Optimizer steps taken (fewer than asked when the time budget ran out)."""
    seconds: float
    """Wall-clock seconds spent in training steps (summed over resumed segments; evaluation excluded)."""
    losses: list[float] = field(default_factory=list)
    """Training loss of every step."""
    stopped_by_budget: bool = False


def train_steps(
    name: str,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    batch_fn: Callable[[int], Any],
    loss_fn: Callable[[torch.nn.Module, Any], torch.Tensor],
    n_steps: int,
    ctx: RunContext,
    scheduler: Any = None,
    grad_clip: float | None = 1.0,
    checkpoint_every: int = 0,
    max_seconds: float | None = None,
    log_every: int = 50,
    eval_fn: Callable[[int], dict[str, float]] | None = None,
    eval_every: int = 0,
    compile: str | None = None,
    read_every: int | None = None,
    amp: bool = False,
) -> LoopResult:
    """Train ``model`` for ``n_steps`` steps (or until ``max_seconds`` of training time).

    Args:
        name: the model's name (checkpoint folder, ``model`` field of the metric records).
        batch_fn: ``step -> batch``; must depend only on the step (and fixed data), for resuming.
        loss_fn: ``(model, batch) -> scalar loss``.
        checkpoint_every: steps between checkpoints (0: only the final one).
        max_seconds: stop when this much wall-clock time has been spent training (None: never).
        eval_fn: ``step -> metrics``, logged under split ``"val"`` every ``eval_every`` steps.
        compile: a ``torch.compile`` mode for the training steps (None: eager); ``loss_fn`` then
            receives the compiled wrapper, while checkpoints and ``eval_fn`` use ``model`` itself.
        read_every: steps between copies of the losses to the host, each a device synchronisation
            (None: every step on a CPU, where it is free, and every ``log_every`` steps on a GPU, so
            the host can queue the next steps while the card works; 1 under a time budget).
            The losses, logs and checkpoints are the same for any value.
        amp: compute ``loss_fn`` (forward and loss) under bf16 autocast, on a GPU or a CPU with
            bf16 kernels; the backward pass and the optimizer step stay outside it.
    """
    if compile is not None and compile not in COMPILE_MODES:
        raise ValueError(f"compile must be None or one of {', '.join(COMPILE_MODES)}, got {compile!r}")
    step_model = torch.compile(model, mode=compile) if compile is not None else model
    device = next(model.parameters()).device
    graphs = cudagraph_steps(compile, device)
    if read_every is None:
        read_every = log_every if device.type == "cuda" and max_seconds is None else 1
    if read_every < 1:
        raise ValueError(f"read_every must be >= 1, got {read_every}")
    folder = ctx.checkpoint_dir(name)
    step, seconds, losses, by_budget, done = 0, 0.0, [], False, False
    if ctx.resume:
        loaded = ckpt.load(folder)
        if loaded is not None:
            tensors, state = loaded
            ckpt.load_module(model, tensors, "model")
            ckpt.load_optimizer(optimizer, tensors, state["optimizer"], "optimizer")
            if scheduler is not None and state["scheduler"] is not None:
                scheduler.load_state_dict(state["scheduler"])
            set_rng_state({k[4:]: v for k, v in tensors.items() if k.startswith("rng.")})
            step, seconds, losses = state["step"], state["seconds"], list(state["losses"])
            by_budget, done = state["stopped_by_budget"], state["done"]
            ctx.truncate_metrics(step, model=name)

    def save() -> None:
        if not ctx.is_main:
            return
        tensors = ckpt.module_tensors("model", model)
        opt_t, opt_j = ckpt.optimizer_state("optimizer", optimizer)
        tensors.update(opt_t)
        tensors.update({f"rng.{k}": v for k, v in rng_state().items()})
        state = {
            "seconds": seconds, "losses": losses, "done": done, "stopped_by_budget": by_budget,
            "optimizer": opt_j, "scheduler": scheduler.state_dict() if scheduler is not None else None,
        }
        ckpt.save(folder, step, tensors, state)

    if done:
        return LoopResult(step, seconds, losses, by_budget)
    window: list[float] = []
    pending: list[torch.Tensor] = []  # losses of the steps since the last read-back, still on the device
    last = float("nan")

    def read_back() -> None:
        """Copy the pending losses to the host in one transfer: one device synchronisation per
        ``read_every`` steps instead of one per step, so a GPU can run ahead of the Python loop."""
        nonlocal last
        if pending:
            values = torch.stack(pending).float().tolist()
            pending.clear()
            losses.extend(values)
            window.extend(values)
            last = values[-1]

    with ctx.progress(n_steps, f"{ctx.experiment}:{name}") as bar:
        bar.update(step)
        while step < n_steps:
            if max_seconds is not None and seconds >= max_seconds:
                by_budget = True
                break
            model.train()
            t0 = time.perf_counter()
            if graphs:  # a new step: the CUDA graphs may reuse the last step's output memory
                torch.compiler.cudagraph_mark_step_begin()
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                loss = loss_fn(step_model, batch_fn(step))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            pending.append(loss.detach().clone() if graphs else loss.detach())  # a graph's output is overwritten next step
            step += 1
            evaluate = eval_fn is not None and eval_every and step % eval_every == 0 and step < n_steps
            checkpoint = checkpoint_every and step % checkpoint_every == 0 and step < n_steps
            if step % read_every == 0 or step % log_every == 0 or evaluate or checkpoint or step == n_steps:
                read_back()  # inside the timed part: it waits for the device to finish the steps
            seconds += time.perf_counter() - t0
            bar.update(1, loss=last)
            if step % log_every == 0:
                ctx.log(step, "train", model=name, loss=sum(window) / len(window), lr=optimizer.param_groups[0]["lr"])
                window.clear()
            if evaluate:
                ctx.log(step, "val", model=name, **eval_fn(step))
            if checkpoint:
                save()
    done = True
    save()
    return LoopResult(step, seconds, losses, by_budget)


def warmup_cosine(optimizer: torch.optim.Optimizer, warmup: int, total: int, floor: float = 0.1) -> torch.optim.lr_scheduler.LambdaLR:
    r"""Linear warm-up over ``warmup`` steps, then cosine decay to ``floor`` times the peak at ``total``.

    $\eta_s = \eta\,s/w$ for $s < w$, then
    $\eta_s = \eta\,[f + (1-f)\tfrac12(1 + \cos(\pi \min(1, \tfrac{s-w}{T-w})))]$.
    """
    def factor(s: int) -> float:
        if s < warmup:
            return (s + 1) / warmup
        progress = min(1.0, (s - warmup) / max(1, total - warmup))
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)

