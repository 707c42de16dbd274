r"""Training hygiene: cheap checks that catch the bugs which do not crash.

- :func:`overfit_one_batch`: a model, loss and optimizer wired correctly drive the loss on one
  small batch to about 0 (a net with more parameters than the batch has labels can memorise it).
  If they cannot, something is broken -- a frozen or zero learning rate, a detached graph,
  labels misaligned with inputs, a wrong loss -- and no amount of full training will help.
- :class:`WeightNormMonitor`: $\lVert W_l\rVert_F$ per layer (and the gradient norm) logged through
  the run context; weights that blow up or shrink to 0 show there first.
- :class:`DeadUnitMonitor` and :func:`dead_fraction`: the fraction of ReLU units that output 0 for
  *every* example of a probe batch. Such a unit gets no gradient ($\partial\,\mathrm{relu}(a)/\partial a = 0$
  for $a < 0$) and is unlikely ever to recover.
- :func:`assert_elementwise` and :func:`assert_shape`: the silent broadcast. A column $(N, 1)$ minus
  a row $(N,)$ is not an error in numpy or torch: both operands are stretched into an $(N, N)$ matrix,
  and a loss averaged over it is a plausible-looking, wrong number.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from adlab.core.trainer import Callback

# --- the silent broadcast -----------------------------------------------------------------


class ShapeError(ValueError):
    """Two operands would broadcast in a way that is almost always a bug, or a shape is not the expected one."""


def assert_elementwise(a: torch.Tensor, b: torch.Tensor, what: str = "operands") -> torch.Size:
    """Raise :class:`ShapeError` if ``a op b`` would stretch *both* operands.

    Broadcasting one operand onto the other (a bias (D,) onto a batch (N, D), a scalar onto
    anything) keeps the larger operand's shape and is allowed. When the result is larger than
    either operand -- a column (N, 1) against a row (N,) giving (N, N) -- the operation became an
    outer product by accident. Returns the result shape otherwise.
    """
    out = torch.broadcast_shapes(a.shape, b.shape)
    n_out = out.numel()
    if n_out > a.numel() and n_out > b.numel():
        raise ShapeError(
            f"{what}: shapes {tuple(a.shape)} and {tuple(b.shape)} broadcast to {tuple(out)}, larger than "
            "both; a column against a row? reshape one (e.g. y.view(-1) or y[:, None]) so the shapes agree"
        )
    return out


def assert_shape(t: torch.Tensor, expected: Sequence[int | None], name: str = "tensor") -> None:
    """Raise :class:`ShapeError` unless ``t.shape`` matches ``expected`` (``None`` matches any size)."""
    ok = t.ndim == len(expected) and all(e is None or e == s for e, s in zip(expected, t.shape))
    if not ok:
        want = "(" + ", ".join("*" if e is None else str(e) for e in expected) + ")"
        raise ShapeError(f"{name} has shape {tuple(t.shape)}, expected {want}")


# --- overfit one batch ---------------------------------------------------------------------


@dataclass
class OverfitReport:
    """The outcome of :func:`overfit_one_batch`."""

    passed: bool
    initial_loss: float
    final_loss: float
    steps: int
    losses: list[float] = field(default_factory=list)

    def describe(self) -> str:
        verb = "memorised" if self.passed else "could NOT memorise"
        return f"the model {verb} one batch: loss {self.initial_loss:.4g} -> {self.final_loss:.4g} in {self.steps} steps"


def overfit_one_batch(
    model: nn.Module,
    batch: tuple[torch.Tensor, ...],
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    optimizer: torch.optim.Optimizer,
    steps: int = 200,
    tol: float = 1e-2,
) -> OverfitReport:
    """Train ``model`` on the single ``batch`` = (x, y) for ``steps`` steps; passes when the loss
    ends below ``tol`` (and below 1% of where it started, so an already-small loss is no pass).

    The model is put in eval mode (no dropout noise) while it trains, then restored."""
    x, y = batch
    was_training = model.training
    model.eval()
    losses = []
    for _ in range(steps):
        loss = loss_fn(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    with torch.no_grad():
        final = float(loss_fn(model(x), y))
    model.train(was_training)
    initial = losses[0]
    passed = final < tol and final < 0.01 * initial
    return OverfitReport(passed, initial, final, steps, losses)


# --- monitors ------------------------------------------------------------------------------


def weight_norms(model: nn.Module) -> dict[str, float]:
    r"""$\lVert W\rVert_F$ of every parameter with 2 or more dimensions (the weight matrices and kernels)."""
    return {name: float(p.detach().norm()) for name, p in model.named_parameters() if p.ndim >= 2}


@torch.no_grad()
def dead_fraction(model: nn.Module, x: torch.Tensor) -> dict[str, float]:
    """Per ``nn.ReLU`` module: the fraction of its units that output 0 for every row of ``x``.

    A unit is one feature (column) of the ReLU's output flattened past the batch dimension."""
    outputs: dict[str, torch.Tensor] = {}
    hooks = []
    for name, mod in model.named_modules():
        if isinstance(mod, nn.ReLU):
            hooks.append(mod.register_forward_hook(lambda m, i, o, name=name: outputs.__setitem__(name, o.detach())))
    was_training = model.training
    model.eval()
    try:
        model(x)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    fractions = {}
    for name, out in outputs.items():
        alive = (out.flatten(1) > 0).any(dim=0)  # (units,) active for at least one example
        fractions[name] = 1.0 - float(alive.float().mean())
    return fractions


class WeightNormMonitor(Callback):
    r"""Log $\lVert W_l\rVert_F$ of every weight matrix and the global gradient norm, every ``every`` steps
    (split ``"weights"``) and at each epoch end; keeps the records in :attr:`history`."""

    def __init__(self, every: int = 100) -> None:
        self.every = max(1, every)
        self.history: list[dict[str, Any]] = []

    def _record(self, trainer: Any, step: int) -> None:
        model = trainer.module
        stats = {f"norm/{k}": v for k, v in weight_norms(model).items()}
        grads = [p.grad.detach().norm() ** 2 for p in model.parameters() if p.grad is not None]
        if grads:
            stats["grad_norm"] = float(torch.stack(grads).sum().sqrt())
        self.history.append({"step": step, **stats})
        trainer.ctx.log(step, "weights", model=trainer.name, **stats)

    def on_step_end(self, trainer: Any, step: int, metrics: dict[str, float]) -> None:
        if step % self.every == 0:
            self._record(trainer, step)

    def on_epoch_end(self, trainer: Any, epoch: int, metrics: dict[str, float]) -> None:
        self._record(trainer, trainer.step)


class DeadUnitMonitor(Callback):
    """Log the dead-ReLU fraction of every ``nn.ReLU`` on a fixed probe batch at each epoch end
    (split ``"dead_units"``); keeps the records in :attr:`history`."""

    def __init__(self, probe: torch.Tensor) -> None:
        self.probe = probe
        self.history: list[dict[str, Any]] = []

    def on_epoch_end(self, trainer: Any, epoch: int, metrics: dict[str, float]) -> None:
        fractions = dead_fraction(trainer.module, self.probe.to(trainer.ctx.device))
        stats = {f"dead/{k}": v for k, v in fractions.items()}
        self.history.append({"epoch": epoch + 1, **stats})
        trainer.ctx.log(trainer.step, "dead_units", model=trainer.name, epoch=epoch + 1, **stats)
