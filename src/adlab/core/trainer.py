"""The shared training loop for models trained by one loss.

    for epoch e, for minibatch (x, y):
        loss = task.train_step(model, (x, y))          # forward, mean loss over the batch
        theta <- optimizer(theta, d loss / d theta)      # backward + step
        every `checkpoint_every` steps: atomic checkpoint
    at the end of each epoch: evaluate, log, callbacks (early stopping), checkpoint

The loop is deterministic on CPU for a given seed: the minibatch order of epoch e comes from
a generator seeded with (seed, e), and the global RNG state (dropout, noise) is checkpointed,
so a run killed at any step and resumed ends with the same numbers as an uninterrupted run.
Under ``torchrun`` each rank takes its slice of every global batch and DistributedDataParallel
averages the gradients.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, Protocol, Sequence

import torch
import torch.nn.functional as F

from adlab.core import checkpoint as ckpt
from adlab.core import distributed
from adlab.core.context import COMPILE_MODES, RunContext
from adlab.core.seeding import generator, rng_state, set_rng_state

Batch = tuple[torch.Tensor, ...]


class ArrayLoader:
    """Minibatches of in-memory tensors, reshuffled per epoch from ``(seed, epoch)``.

    Under DDP, rank r of W takes rows ``[r*B/W, (r+1)*B/W)`` of every global batch of size B,
    so the union over ranks is exactly the single-process batch.
    """

    def __init__(
        self,
        tensors: Sequence[torch.Tensor],
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
        device: torch.device | str = "cpu",
    ) -> None:
        n = len(tensors[0])
        if any(len(t) != n for t in tensors):
            raise ValueError("all tensors of an ArrayLoader need the same first dimension")
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.tensors = tuple(tensors)
        self.n = n
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.device = torch.device(device)
        self.world = distributed.world_size()
        self.rank = distributed.rank()
        if self.world > 1 and batch_size % self.world:
            raise ValueError(f"batch_size {batch_size} is not divisible by the {self.world} processes")

    def __len__(self) -> int:
        return self.n // self.batch_size if self.drop_last else -(-self.n // self.batch_size)

    def batches(self, epoch: int = 0, start: int = 0) -> Iterator[Batch]:
        """The batches of ``epoch``, from batch index ``start`` on (for resuming mid-epoch)."""
        order = torch.randperm(self.n, generator=generator(self.seed, epoch)) if self.shuffle else torch.arange(self.n)
        for i in range(start, len(self)):
            idx = order[i * self.batch_size : (i + 1) * self.batch_size]
            if self.world > 1:
                per = -(-len(idx) // self.world)
                idx = idx[self.rank * per : (self.rank + 1) * per]
            yield tuple(t[idx].to(self.device, non_blocking=True) for t in self.tensors)

    def __iter__(self) -> Iterator[Batch]:
        return self.batches(0)


class Task(Protocol):
    """How a batch becomes a loss (training) and summed statistics (evaluation)."""

    def train_step(self, model: torch.nn.Module, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]: ...

    def eval_step(self, model: torch.nn.Module, batch: Batch) -> dict[str, torch.Tensor]: ...

    def finalize(self, sums: dict[str, float]) -> dict[str, float]: ...


@dataclass
class Classification:
    """Softmax classification: cross-entropy from logits (optionally label-smoothed) and accuracy."""

    label_smoothing: float = 0.0

    def train_step(self, model: torch.nn.Module, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        x, y = batch
        logits = model(x)  # (B, K)
        loss = F.cross_entropy(logits, y, label_smoothing=self.label_smoothing)
        return loss, {"loss": loss.item()}

    @torch.no_grad()
    def eval_step(self, model: torch.nn.Module, batch: Batch) -> dict[str, torch.Tensor]:
        x, y = batch
        logits = model(x)
        return {
            "loss": F.cross_entropy(logits, y, reduction="sum"),
            "correct": (logits.argmax(-1) == y).sum().float(),
            "count": torch.tensor(float(len(y))),
        }

    def finalize(self, sums: dict[str, float]) -> dict[str, float]:
        n = max(sums["count"], 1.0)
        return {"loss": sums["loss"] / n, "accuracy": sums["correct"] / n}


class Callback:
    """Hooks into the loop; state returned by :meth:`state_dict` is checkpointed (JSON)."""

    def on_step_end(self, trainer: "Trainer", step: int, metrics: dict[str, float]) -> None:
        pass

    def on_epoch_end(self, trainer: "Trainer", epoch: int, metrics: dict[str, float]) -> None:
        pass

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """Tensors to checkpoint with the callback (saved in safetensors)."""
        return {}

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        pass


@dataclass
class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved for ``patience`` epochs; keeps the best epoch's weights."""

    monitor: str = "loss"
    mode: str = "min"
    patience: int = 5
    restore_best: bool = True
    best: float | None = None
    best_epoch: int = -1
    _best_state: dict[str, torch.Tensor] | None = field(default=None, repr=False)

    def on_epoch_end(self, trainer: "Trainer", epoch: int, metrics: dict[str, float]) -> None:
        value = metrics[self.monitor]
        better = self.best is None or (value < self.best if self.mode == "min" else value > self.best)
        if better:
            self.best, self.best_epoch = value, epoch
            if self.restore_best:
                self._best_state = {k: v.detach().clone() for k, v in trainer.module.state_dict().items()}
        elif epoch - self.best_epoch >= self.patience:
            trainer.should_stop = True
            if self.restore_best and self._best_state is not None:
                trainer.module.load_state_dict(self._best_state)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.best_epoch = state["best"], state["best_epoch"]

    def state_tensors(self) -> dict[str, torch.Tensor]:
        return dict(self._best_state or {})

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        self._best_state = dict(tensors) or None


class Trainer:
    """Train ``model`` on ``train`` batches with ``task``'s loss; evaluate on ``evals`` each epoch.

    Args:
        name: the model's name (checkpoint folder, metric records, model card).
        model: the module to train (wrapped in DDP automatically under torchrun).
        optimizer: a torch optimizer over ``model``'s parameters.
        task: turns batches into a loss and evaluation statistics (e.g. :class:`Classification`).
        train: loader of training batches.
        evals: named loaders evaluated at the end of each epoch (e.g. ``{"test": loader}``).
        epochs: passes over the training set.
        ctx: the run context (logging, checkpoints, resume, progress).
        scheduler: optional learning-rate scheduler, stepped per ``scheduler_interval``.
        checkpoint_every: steps between mid-epoch checkpoints (0: only at epoch ends).
        grad_clip: clip the global gradient norm to this value (None: no clipping).
    """

    def __init__(
        self,
        name: str,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        task: Task,
        train: ArrayLoader,
        epochs: int,
        ctx: RunContext,
        evals: dict[str, ArrayLoader] | None = None,
        scheduler: Any = None,
        scheduler_interval: str = "step",
        checkpoint_every: int = 0,
        grad_clip: float | None = None,
        callbacks: Sequence[Callback] = (),
        log_every: int = 50,
        compile: str | None = None,
    ) -> None:
        self.name = name
        self.module = model  # what checkpoints save and load: the plain module, whatever wraps it for the steps
        self.model = distributed.wrap(model, ctx.device)
        if compile is not None:  # a torch.compile mode; compiling the DDP wrapper is the supported order
            if compile not in COMPILE_MODES:
                raise ValueError(f"compile must be None or one of {', '.join(COMPILE_MODES)}, got {compile!r}")
            self.model = torch.compile(self.model, mode=compile)
        self.optimizer = optimizer
        self.task = task
        self.train_loader = train
        self.evals = evals or {}
        self.epochs = epochs
        self.ctx = ctx
        self.scheduler = scheduler
        self.scheduler_interval = scheduler_interval
        self.checkpoint_every = checkpoint_every
        self.grad_clip = grad_clip
        self.callbacks = list(callbacks)
        self.log_every = max(1, log_every)
        self.step = 0
        self.epoch = 0
        self.batch_in_epoch = 0
        self.should_stop = False
        self.done = False
        self.history: list[dict[str, Any]] = []

    # --- checkpointing ----------------------------------------------------------------------

    def _save(self) -> None:
        if not self.ctx.is_main:
            return
        tensors = ckpt.module_tensors("model", self.module)
        opt_t, opt_j = ckpt.optimizer_state("optimizer", self.optimizer)
        tensors.update(opt_t)
        tensors.update({f"rng.{k}": v for k, v in rng_state().items()})
        for i, cb in enumerate(self.callbacks):
            tensors.update({f"callback.{i}.{k}": v for k, v in cb.state_tensors().items()})
        state = {
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "done": self.done,
            "should_stop": self.should_stop,
            "optimizer": opt_j,
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "callbacks": [cb.state_dict() for cb in self.callbacks],
            "history": self.history,
        }
        ckpt.save(self.ctx.checkpoint_dir(self.name), self.step, tensors, state)

    def _restore(self) -> bool:
        loaded = ckpt.load(self.ctx.checkpoint_dir(self.name))
        if loaded is None:
            return False
        tensors, state = loaded
        ckpt.load_module(self.module, tensors, "model")
        ckpt.load_optimizer(self.optimizer, tensors, state["optimizer"], "optimizer")
        if self.scheduler is not None and state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        for i, (cb, st) in enumerate(zip(self.callbacks, state["callbacks"])):
            cb.load_state_dict(st)
            p = f"callback.{i}."
            cb.load_state_tensors({k[len(p):]: v for k, v in tensors.items() if k.startswith(p)})
        set_rng_state({k[4:]: v for k, v in tensors.items() if k.startswith("rng.")})
        self.step, self.epoch, self.batch_in_epoch = state["step"], state["epoch"], state["batch_in_epoch"]
        self.done, self.should_stop, self.history = state["done"], state["should_stop"], state["history"]
        self.ctx.truncate_metrics(self.step, model=self.name)
        return True

    # --- evaluation -------------------------------------------------------------------------

    @torch.no_grad()
    def evaluate(self, loader: ArrayLoader) -> dict[str, float]:
        """``task``'s statistics summed over ``loader`` (and over ranks), then finalized."""
        self.model.eval()
        sums: dict[str, torch.Tensor] = {}
        for batch in loader.batches(0):
            for k, v in self.task.eval_step(self.module, batch).items():
                sums[k] = sums.get(k, torch.zeros((), dtype=torch.float64)) + v.detach().double().cpu()
        sums = {k: distributed.all_reduce_sum(v) for k, v in sums.items()}
        return self.task.finalize({k: float(v) for k, v in sums.items()})

    # --- the loop ---------------------------------------------------------------------------

    def fit(self) -> list[dict[str, Any]]:
        """Train (or resume, or skip if a finished checkpoint exists); returns per-epoch evaluations."""
        if self.ctx.resume:
            self._restore()
        if self.done:
            return self.history
        steps_per_epoch = len(self.train_loader)
        total = self.epochs * steps_per_epoch
        window: list[float] = []
        with self.ctx.progress(total, f"{self.ctx.experiment}:{self.name}") as bar:
            bar.update(self.step)
            while self.epoch < self.epochs and not self.should_stop:
                self.model.train()
                for batch in self.train_loader.batches(self.epoch, start=self.batch_in_epoch):
                    loss, metrics = self.task.train_step(self.model, batch)
                    self.optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    if self.grad_clip is not None:
                        torch.nn.utils.clip_grad_norm_(self.module.parameters(), self.grad_clip)
                    self.optimizer.step()
                    if self.scheduler is not None and self.scheduler_interval == "step":
                        self.scheduler.step()
                    self.step += 1
                    self.batch_in_epoch += 1
                    window.append(metrics.get("loss", float(loss.detach())))
                    for cb in self.callbacks:
                        cb.on_step_end(self, self.step, metrics)
                    if self.step % self.log_every == 0:
                        mean = sum(window) / len(window)
                        self.ctx.log(self.step, "train", model=self.name, loss=mean, lr=self.optimizer.param_groups[0]["lr"])
                        window.clear()
                    bar.update(1, loss=metrics.get("loss", float(loss.detach())))
                    if self.checkpoint_every and self.step % self.checkpoint_every == 0:
                        self._save()
                if self.scheduler is not None and self.scheduler_interval == "epoch":
                    self.scheduler.step()
                record: dict[str, Any] = {"epoch": self.epoch + 1, "step": self.step}
                for split, loader in self.evals.items():
                    result = self.evaluate(loader)
                    record[split] = result
                    self.ctx.log(self.step, split, model=self.name, epoch=self.epoch + 1, **result)
                for cb in self.callbacks:
                    cb.on_epoch_end(self, self.epoch, {k: v for s in self.evals for k, v in record[s].items()} if len(self.evals) == 1 else record)
                self.history.append(record)
                self.epoch += 1
                self.batch_in_epoch = 0
                self._save()
        self.done = True
        self._save()
        return self.history
