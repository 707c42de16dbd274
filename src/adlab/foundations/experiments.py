"""Registered claims of lecture 2, neural network foundations.

``foundations.linear-softmax`` (the flagship) lives here; the other experiments live in
:mod:`adlab.foundations.exp_toy` (small synthetic problems) and :mod:`adlab.foundations.exp_training`
(training real networks) and are registered by importing those modules below.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from adlab.core import Experiment, ModelCard, Results, RunContext, check, experiment, param, verdict
from adlab.core.trainer import ArrayLoader, Classification, Trainer
from adlab.data import fashion_mnist
from adlab.data.fashion_mnist import tensors as fashion_tensors
from adlab.foundations import exp_toy, exp_training  # noqa: F401  (register the other experiments)
from adlab.foundations.models import SoftmaxRegression
from adlab.metrics.classification import confusion_matrix, per_class_accuracy
from adlab.core.plotting import pyplot

@dataclass
class LinearSoftmaxConfig:
    n_train: int | None = param(None, "training images (None: all 60,000)", ge=10)
    n_test: int | None = param(None, "test images (None: all 10,000)", ge=10)
    epochs: int = param(5, "passes over the training images", ge=1)
    batch_size: int = param(128, "minibatch size", ge=1)
    optimizer: Literal["sgd", "adam"] = param("sgd", "SGD with Nesterov momentum 0.9, or Adam")
    lr: float = param(0.05, "peak learning rate (cosine decay to 0 over the run)", gt=0)
    weight_decay: float = param(1e-4, "L2 penalty on W (decoupled for Adam)", ge=0)
    checkpoint_every: int = param(200, "steps between checkpoints (0: only at epoch ends)", ge=0)


@experiment
class LinearSoftmax(Experiment):
    """Softmax regression on Fashion-MNIST: the linear baseline every later model is compared with."""

    name = "foundations.linear-softmax"
    claim = (
        "A linear softmax classifier on raw pixels reaches about 84% test accuracy on Fashion-MNIST "
        "(the published logistic-regression baseline is 84.2%), well below what hidden layers reach."
    )
    Config = LinearSoftmaxConfig
    presets = {
        "smoke": {"n_train": 1000, "n_test": 1000, "epochs": 2, "checkpoint_every": 0},
        "full": {"epochs": 30},
    }
    ci = True
    flagship = True
    datasets = ("fashion-mnist",)

    def run(self, cfg: LinearSoftmaxConfig, ctx: RunContext) -> Results:
        x_tr, y_tr = fashion_tensors("train", cfg.n_train, ctx.seed)
        x_te, y_te = fashion_tensors("test", cfg.n_test, ctx.seed + 1)
        model = SoftmaxRegression(28 * 28, 10).to(ctx.device)
        params = [{"params": [model.W], "weight_decay": cfg.weight_decay}, {"params": [model.b], "weight_decay": 0.0}]
        if cfg.optimizer == "sgd":
            opt: torch.optim.Optimizer = torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, nesterov=True)
        else:
            opt = torch.optim.AdamW(params, lr=cfg.lr)
        train = ArrayLoader((x_tr, y_tr), cfg.batch_size, shuffle=True, seed=ctx.seed, drop_last=True, device=ctx.device)
        test = ArrayLoader((x_te, y_te), 2000, shuffle=False, device=ctx.device)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs * len(train))
        trainer = Trainer(
            "softmax-regression", model, opt, Classification(), train, cfg.epochs, ctx,
            evals={"test": test}, scheduler=sched, checkpoint_every=cfg.checkpoint_every,
        )
        history = trainer.fit()
        final = history[-1]["test"]

        with torch.no_grad():  # every rank predicts the whole test set (ranks hold identical weights)
            pred = torch.cat([model(x_te[i : i + 2000].to(ctx.device)).argmax(-1).cpu() for i in range(0, len(x_te), 2000)])
        cm = confusion_matrix(pred, y_te, 10)
        per_class = per_class_accuracy(cm)
        train_eval = trainer.evaluate(ArrayLoader((x_tr, y_tr), 2000, shuffle=False, device=ctx.device))

        artifacts = [self._plot_curves(ctx, history), self._plot_templates(ctx, model), self._plot_confusion(ctx, cm)]
        ctx.add_model_card(
            ModelCard(
                name="softmax-regression",
                architecture="linear map 784 -> 10 with softmax (multinomial logistic regression)",
                parameters=sum(p.numel() for p in model.parameters()),
                data=f"Fashion-MNIST train ({len(x_tr):,} images), standardised pixels; evaluated on {len(x_te):,} test images",
                training={"optimizer": cfg.optimizer, "lr": cfg.lr, "epochs": cfg.epochs, "batch_size": cfg.batch_size, "weight_decay": cfg.weight_decay, "schedule": "cosine"},
                metrics={"test_accuracy": final["accuracy"], "test_loss": final["loss"], "train_accuracy": train_eval["accuracy"]},
                intended_use="A baseline for Fashion-MNIST classifiers and a teaching example of softmax regression.",
                limitations="Linear in pixels: it confuses shirts, T-shirts, pullovers and coats; not for any real-world decision.",
            )
        )
        return Results(
            metrics={
                "test_accuracy": final["accuracy"],
                "test_loss": final["loss"],
                "train_accuracy": train_eval["accuracy"],
                "train_loss": train_eval["loss"],
                "epochs": float(len(history)),
            },
            artifacts=artifacts,
            details={
                "per_class_accuracy": [{"class": c, "accuracy": float(a)} for c, a in zip(fashion_mnist.CLASSES, per_class)],
                "epochs": [{"epoch": h["epoch"], "test_accuracy": h["test"]["accuracy"], "test_loss": h["test"]["loss"]} for h in history],
            },
        )

    def verdict(self, results: Results, cfg: LinearSoftmaxConfig):
        acc = results.metrics["test_accuracy"]
        return verdict(
            [check("test accuracy", acc, ">=", 0.83), check("test accuracy", acc, "<=", 0.87)],
            "A linear softmax classifier reaches the expected ~84% on Fashion-MNIST and no more",
            "The linear softmax classifier did not land near the expected ~84% on Fashion-MNIST",
        )

    # --- plots ------------------------------------------------------------------------------

    @staticmethod
    def _plot_curves(ctx: RunContext, history: list[dict]) -> str:
        plt = pyplot()

        recs = [r for r in ctx.read_metrics() if r.get("model") == "softmax-regression" and r["split"] == "train"]
        fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
        a.plot([r["step"] for r in recs], [r["loss"] for r in recs], label="train (running mean)")
        a.plot([h["step"] for h in history], [h["test"]["loss"] for h in history], "o-", label="test")
        a.set(xlabel="step", ylabel="cross-entropy (nats)", title="Loss")
        a.legend()
        b.plot([h["epoch"] for h in history], [h["test"]["accuracy"] for h in history], "o-")
        b.axhline(0.842, ls="--", c="grey", label="published logistic regression 0.842")
        b.set(xlabel="epoch", ylabel="test accuracy", title="Test accuracy")
        b.legend()
        return ctx.save_figure(fig, "curves")

    @staticmethod
    def _plot_templates(ctx: RunContext, model: SoftmaxRegression) -> str:
        plt = pyplot()

        W = model.W.detach().cpu().reshape(10, 28, 28)
        fig, axes = plt.subplots(2, 5, figsize=(10, 4.4))
        for k, ax in enumerate(axes.flat):
            m = W[k].abs().max().item() or 1.0
            ax.imshow(W[k].numpy(), cmap="RdBu_r", vmin=-m, vmax=m)
            ax.set_title(fashion_mnist.CLASSES[k], fontsize=9)
            ax.axis("off")
        fig.suptitle("Rows of W as images: each class's linear template (red: evidence for, blue: against)")
        return ctx.save_figure(fig, "templates")

    @staticmethod
    def _plot_confusion(ctx: RunContext, cm: torch.Tensor) -> str:
        plt = pyplot()

        fig, ax = plt.subplots(figsize=(6.4, 5.6))
        norm = cm.double() / cm.sum(1, keepdim=True).clamp(min=1)
        ax.imshow(norm.numpy(), cmap="Blues", vmin=0, vmax=1)
        for i in range(10):
            for j in range(10):
                ax.text(j, i, f"{norm[i, j]:.2f}", ha="center", va="center", fontsize=6, color="white" if norm[i, j] > 0.5 else "black")
        ax.set_xticks(range(10), fashion_mnist.CLASSES, rotation=60, fontsize=7)
        ax.set_yticks(range(10), fashion_mnist.CLASSES, fontsize=7)
        ax.set(xlabel="predicted", ylabel="true", title="Confusion matrix (rows sum to 1)")
        return ctx.save_figure(fig, "confusion")
