"""Registered claims of lecture 2 about training real networks: an MLP on Fashion-MNIST, gradient
saturation and dead units, and regularisation of an over-sized MLP.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from adlab.core import Experiment, ModelCard, Results, RunContext, check, experiment, param, verdict
from adlab.core.trainer import ArrayLoader, Classification, Trainer
from adlab.data import digits
from adlab.data.fashion_mnist import tensors as fashion_tensors
from adlab.foundations.hygiene import DeadUnitMonitor, WeightNormMonitor, dead_fraction
from adlab.foundations.models import MLP


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


# --- MLP on Fashion-MNIST ---------------------------------------------------------------------


@dataclass
class MlpFashionConfig:
    hidden: list[int] = param([512, 256], "widths of the hidden layers")
    dropout: float = param(0.2, "dropout probability after each hidden ReLU", ge=0, lt=1)
    epochs: int = param(8, "passes over the 60,000 training images", ge=1)
    batch_size: int = param(128, "minibatch size", ge=1)
    lr: float = param(2e-3, "peak AdamW learning rate (cosine decay to 0)", gt=0)
    weight_decay: float = param(1e-2, "decoupled weight decay of AdamW", ge=0)
    label_smoothing: float = param(0.1, "label smoothing of the cross-entropy", ge=0, lt=1)
    n_train: int | None = param(None, "training images (None: all 60,000)", ge=10)
    n_test: int | None = param(None, "test images (None: all 10,000)", ge=10)


@experiment
class MlpFashion(Experiment):
    """A two-hidden-layer MLP on Fashion-MNIST, with the hygiene monitors attached."""

    name = "foundations.mlp-fashion"
    claim = (
        "An MLP with two hidden ReLU layers reaches at least 88% test accuracy on Fashion-MNIST "
        "(published MLP baselines: 87.0-88.3%), above the ~84% of the linear softmax classifier."
    )
    Config = MlpFashionConfig
    presets = {"smoke": {"n_train": 1000, "n_test": 1000, "epochs": 1, "hidden": [64, 32]}, "full": {"hidden": [1024, 1024], "epochs": 40, "dropout": 0.3}}
    datasets = ("fashion-mnist",)
    key_metrics = ("test_accuracy",)

    def run(self, cfg: MlpFashionConfig, ctx: RunContext) -> Results:
        x_tr, y_tr = fashion_tensors("train", cfg.n_train, ctx.seed)
        x_te, y_te = fashion_tensors("test", cfg.n_test, ctx.seed + 1)
        x_tr, x_te = x_tr.flatten(1), x_te.flatten(1)  # (N, 784)
        model = MLP([784, *cfg.hidden, 10], "relu", dropout=cfg.dropout).to(ctx.device)
        decay = [p for p in model.parameters() if p.ndim >= 2]
        no_decay = [p for p in model.parameters() if p.ndim < 2]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr)
        train = ArrayLoader((x_tr, y_tr), cfg.batch_size, shuffle=True, seed=ctx.seed, drop_last=True, device=ctx.device)
        test = ArrayLoader((x_te, y_te), 2000, shuffle=False, device=ctx.device)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs * len(train))
        norms, dead = WeightNormMonitor(every=200), DeadUnitMonitor(x_tr[:2000])
        trainer = Trainer(
            "mlp", model, opt, Classification(cfg.label_smoothing), train, cfg.epochs, ctx,
            evals={"test": test}, scheduler=sched, callbacks=[norms, dead],
        )
        history = trainer.fit()
        final = history[-1]["test"]
        train_eval = trainer.evaluate(ArrayLoader((x_tr[:10000], y_tr[:10000]), 2000, shuffle=False, device=ctx.device))
        n_params = sum(p.numel() for p in model.parameters())
        ctx.add_model_card(
            ModelCard(
                name="mlp",
                architecture=f"MLP 784-{'-'.join(map(str, cfg.hidden))}-10, ReLU, dropout {cfg.dropout}",
                parameters=n_params,
                data=f"Fashion-MNIST train ({len(x_tr):,} images), standardised pixels; evaluated on {len(x_te):,} test images",
                training={"optimizer": "AdamW", "lr": cfg.lr, "weight_decay": cfg.weight_decay, "epochs": cfg.epochs, "batch_size": cfg.batch_size, "label_smoothing": cfg.label_smoothing, "schedule": "cosine"},
                metrics={"test_accuracy": final["accuracy"], "train_accuracy_10k": train_eval["accuracy"]},
                intended_use="A teaching baseline for Fashion-MNIST: what hidden layers add over a linear classifier.",
                limitations="Ignores the image's 2-D structure (a small CNN does better); not for real-world decisions.",
            )
        )
        dead_last = dead.history[-1] if dead.history else {}
        art = [self._plot(ctx, history, norms.history, dead.history)]
        return Results(
            metrics={
                "test_accuracy": final["accuracy"],
                "test_loss": final["loss"],
                "train_accuracy_10k": train_eval["accuracy"],
                "max_dead_fraction": max([v for k, v in dead_last.items() if k.startswith("dead/")] or [0.0]),
                "parameters": float(n_params),
            },
            artifacts=art,
            details={"epochs": [{"epoch": h["epoch"], "test_accuracy": h["test"]["accuracy"], "test_loss": h["test"]["loss"]} for h in history]},
        )

    def verdict(self, results: Results, cfg: MlpFashionConfig):
        return verdict(
            [check("test accuracy", results.metrics["test_accuracy"], ">=", 0.88)],
            "The MLP reaches the published MLP level on Fashion-MNIST",
            "The MLP fell short of 88% test accuracy on Fashion-MNIST",
        )

    @staticmethod
    def _plot(ctx, history, norms, dead) -> str:
        plt = _plt()
        fig, (a, b, c) = plt.subplots(1, 3, figsize=(15, 4))
        a.plot([h["epoch"] for h in history], [h["test"]["accuracy"] for h in history], "o-", label="test accuracy")
        a.axhline(0.88, ls="--", c="grey", label="threshold 0.88")
        a.set(xlabel="epoch", title="Test accuracy")
        a.legend()
        keys = sorted({k for r in norms for k in r if k.startswith("norm/")})
        for k in keys:
            b.plot([r["step"] for r in norms if k in r], [r[k] for r in norms if k in r], label=k[5:])
        b.set(xlabel="step", ylabel="Frobenius norm", title="Weight-norm monitor")
        b.legend(fontsize=7)
        keys = sorted({k for r in dead for k in r if k.startswith("dead/")})
        for k in keys:
            c.plot([r["epoch"] for r in dead], [r[k] for r in dead], "o-", label=k[5:])
        c.set(xlabel="epoch", ylabel="fraction of units never active", title="Dead-unit monitor", ylim=(0, 1))
        c.legend(fontsize=7)
        return ctx.save_figure(fig, "training")


# --- saturation and dead units ----------------------------------------------------------------


def _init(model: MLP, scheme: str) -> None:
    r"""Initialise every linear layer: ``he`` $W \sim \mathcal N(0, 2/\text{fan-in})$, $b = 0$;
    ``glorot`` $W \sim \mathcal N(0, 2/(\text{fan-in} + \text{fan-out}))$, $b = 0$;
    ``small`` $W \sim \mathcal N(0, 0.01^2)$ regardless of fan-in, $b \sim \mathcal N(0, 0.1^2)$."""
    for lin in model.linears():
        if scheme == "he":
            nn.init.kaiming_normal_(lin.weight, nonlinearity="relu")
            nn.init.zeros_(lin.bias)
        elif scheme == "glorot":
            nn.init.xavier_normal_(lin.weight)
            nn.init.zeros_(lin.bias)
        elif scheme == "small":
            nn.init.normal_(lin.weight, 0.0, 0.01)
            nn.init.normal_(lin.bias, 0.0, 0.1)
        else:
            raise ValueError(f"unknown init {scheme!r}")


def layer_grad_norms(model: MLP, x: torch.Tensor, y: torch.Tensor) -> list[float]:
    r"""$\lVert \partial L / \partial W_l \rVert_F$ for every layer, input side first, on one batch."""
    model.zero_grad()
    F.cross_entropy(model(x), y).backward()
    return [float(lin.weight.grad.norm()) for lin in model.linears()]


@dataclass
class SaturationConfig:
    depth: int = param(10, "hidden layers of the deep nets", ge=2)
    width: int = param(64, "units per hidden layer", ge=1)
    seeds: int = param(3, "initialisations (gradient norms are averaged)", ge=1)
    batch: int = param(512, "digits images in the batch the gradients are taken on", ge=2)


@experiment
class Saturation(Experiment):
    """Vanishing gradients through sigmoids; dead ReLUs from a bad initialisation."""

    name = "foundations.saturation"
    claim = (
        "Gradients shrink layer by layer through a deep sigmoid net (sigma' <= 1/4) but keep their size "
        "through a He-initialised ReLU net, and whether ReLU units start dead depends on the initialisation: "
        "tiny unscaled weights leave many units off for every input, fan-in-scaled weights almost none."
    )
    Config = SaturationConfig
    presets = {"smoke": {"depth": 4, "seeds": 1, "batch": 128}, "full": {"depth": 20, "seeds": 10, "batch": 1257}}
    key_metrics = ("sigmoid_first_over_last", "relu_first_over_last", "dead_small", "dead_he")

    def run(self, cfg: SaturationConfig, ctx: RunContext) -> Results:
        x_tr, y_tr, _, _ = digits.load(seed=ctx.seed)
        x = torch.from_numpy(x_tr[: cfg.batch])
        x = (x - x.mean(0)) / (x.std(0) + 1e-3)  # standardised pixels (B, 64)
        y = torch.from_numpy(y_tr[: cfg.batch])
        sizes = [64] + [cfg.width] * cfg.depth + [10]
        grads: dict[str, list[list[float]]] = {"sigmoid": [], "relu": []}
        dead: dict[str, list[list[float]]] = {"small": [], "he": []}
        for s in range(cfg.seeds):
            torch.manual_seed(ctx.seed * 1000 + s)
            for act, scheme in (("sigmoid", "glorot"), ("relu", "he")):
                net = MLP(sizes, act)
                _init(net, scheme)
                grads[act].append(layer_grad_norms(net, x, y))
            for scheme in ("small", "he"):
                net = MLP(sizes, "relu")
                _init(net, scheme)
                dead[scheme].append(list(dead_fraction(net, x).values()))
        g = {k: np.mean(np.array(v), 0) for k, v in grads.items()}  # (layers,)
        d = {k: np.mean(np.array(v), 0) for k, v in dead.items()}  # (hidden layers,)
        rows = [{"layer": i + 1, "sigmoid_grad_norm": float(g["sigmoid"][i]), "relu_grad_norm": float(g["relu"][i])} for i in range(len(g["relu"]))]
        art = [self._plot(ctx, g, d)]
        return Results(
            metrics={
                "sigmoid_first_over_last": float(g["sigmoid"][0] / g["sigmoid"][-1]),
                "relu_first_over_last": float(g["relu"][0] / g["relu"][-1]),
                "dead_small": float(d["small"].mean()),
                "dead_he": float(d["he"].mean()),
            },
            artifacts=art,
            details={"gradient_norms": rows, "dead_fraction": [{"layer": i + 1, "small_init": float(a), "he_init": float(b)} for i, (a, b) in enumerate(zip(d["small"], d["he"]))]},
        )

    def verdict(self, results: Results, cfg: SaturationConfig):
        m = results.metrics
        return verdict(
            [
                check("sigmoid net: norm of grad W_1 over norm of grad W_last", m["sigmoid_first_over_last"], "<=", 1e-3),
                check("ReLU net (He init): norm of grad W_1 over norm of grad W_last", m["relu_first_over_last"], ">=", 0.1),
                check("dead ReLU fraction, small unscaled init", m["dead_small"], ">=", 0.3),
                check("dead ReLU fraction, fan-in-scaled (He) init", m["dead_he"], "<=", 0.1),
            ],
            "Sigmoid nets' gradients vanish with depth; ReLU nets' do not, and a fan-in-scaled init avoids dead units",
            "The saturation / dead-unit claim did not hold in this run",
        )

    @staticmethod
    def _plot(ctx, g, d) -> str:
        plt = _plt()
        fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
        for k, label in (("sigmoid", "sigmoid, Glorot init"), ("relu", "ReLU, He init")):
            a.semilogy(range(1, len(g[k]) + 1), g[k], "o-", label=label)
        a.set(xlabel="layer (1 = input side)", ylabel=r"$\|\partial L/\partial W_l\|$", title="Gradient norm per layer at initialisation")
        a.legend()
        b.plot(range(1, len(d["small"]) + 1), d["small"], "o-", label="small unscaled weights N(0, 0.01²)")
        b.plot(range(1, len(d["he"]) + 1), d["he"], "o-", label="He: N(0, 2/fan-in)")
        b.set(xlabel="hidden layer", ylabel="fraction of dead units", title="Dead ReLUs at initialisation", ylim=(0, 1))
        b.legend()
        return ctx.save_figure(fig, "saturation")


# --- regularisation ---------------------------------------------------------------------------


@dataclass
class RegularisationConfig:
    n_train: int = param(200, "training digits (a small subset, so the big MLP overfits)", ge=10)
    n_val: int = param(300, "validation digits, used only by early stopping", ge=10)
    hidden: int = param(512, "width of the two hidden layers", ge=1)
    epochs: int = param(150, "passes over the training subset", ge=1)
    batch_size: int = param(50, "minibatch size", ge=1)
    lr: float = param(0.05, "SGD learning rate (momentum 0.9)", gt=0)
    weight_decay: float = param(5e-3, "L2 coefficient lambda of the L2 variant", ge=0)
    dropout: float = param(0.5, "dropout probability of the dropout variant", ge=0, lt=1)
    input_noise: float = param(0.3, "input-noise standard deviation of the noise variant", ge=0)
    patience: int = param(20, "early stopping: epochs without validation improvement", ge=1)
    seeds: int = param(3, "training runs per variant (test errors are averaged)", ge=1)


VARIANTS = ("none", "l2", "dropout", "input_noise", "early_stopping")


def _train_variant(variant: str, cfg: RegularisationConfig, data, seed: int) -> tuple[float, list[dict]]:
    r"""Train one variant with SGD + momentum; returns the final test error and the per-epoch curve.

    L2 adds $\frac\lambda2\lVert W\rVert^2$ to the loss (its gradient $\lambda W$ is SGD's ``weight_decay``);
    early stopping keeps the weights of the epoch with the lowest validation loss."""
    x_tr, y_tr, x_va, y_va, x_te, y_te = data
    torch.manual_seed(seed)
    model = MLP([64, cfg.hidden, cfg.hidden, 10], "relu", dropout=cfg.dropout if variant == "dropout" else 0.0, input_noise=cfg.input_noise if variant == "input_noise" else 0.0)
    decay = [p for p in model.parameters() if p.ndim >= 2]
    rest = [p for p in model.parameters() if p.ndim < 2]
    wd = cfg.weight_decay if variant == "l2" else 0.0
    opt = torch.optim.SGD([{"params": decay, "weight_decay": wd}, {"params": rest, "weight_decay": 0.0}], lr=cfg.lr, momentum=0.9)
    g = torch.Generator().manual_seed(seed)
    best = (float("inf"), None, 0)
    curve = []
    for epoch in range(cfg.epochs):
        model.train()
        for idx in torch.randperm(len(x_tr), generator=g).split(cfg.batch_size):
            loss = F.cross_entropy(model(x_tr[idx]), y_tr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            tr_loss = float(F.cross_entropy(model(x_tr), y_tr))
            va_loss = float(F.cross_entropy(model(x_va), y_va))
            te_err = float((model(x_te).argmax(1) != y_te).float().mean())
        curve.append({"epoch": epoch + 1, "train_loss": tr_loss, "val_loss": va_loss, "test_error": te_err})
        if variant == "early_stopping":
            if va_loss < best[0]:
                best = (va_loss, {k: v.clone() for k, v in model.state_dict().items()}, epoch)
            elif epoch - best[2] >= cfg.patience:
                break
    if variant == "early_stopping" and best[1] is not None:
        model.load_state_dict(best[1])
    model.eval()
    with torch.no_grad():
        return float((model(x_te).argmax(1) != y_te).float().mean()), curve


@experiment
class Regularisation(Experiment):
    """An over-sized MLP on 200 digits: L2, dropout, input noise and early stopping each help."""

    name = "foundations.regularisation"
    claim = (
        "An MLP far larger than its training set (two layers of 512 units, 200 digits) overfits, and each of "
        "L2 weight decay, dropout, input noise and early stopping lowers its test error."
    )
    Config = RegularisationConfig
    presets = {"smoke": {"hidden": 64, "epochs": 5, "seeds": 1, "patience": 2}, "full": {"seeds": 10, "epochs": 400, "patience": 50}}
    key_metrics = tuple(f"test_error_{v}" for v in VARIANTS)

    def run(self, cfg: RegularisationConfig, ctx: RunContext) -> Results:
        x_all, y_all, x_te, y_te = digits.load(seed=ctx.seed)
        perm = np.random.default_rng(ctx.seed).permutation(len(x_all))
        tr, va = perm[: cfg.n_train], perm[cfg.n_train : cfg.n_train + cfg.n_val]
        t = torch.from_numpy
        data = (t(x_all[tr]), t(y_all[tr]), t(x_all[va]), t(y_all[va]), t(x_te), t(y_te))
        errors: dict[str, list[float]] = {v: [] for v in VARIANTS}
        curves: dict[str, list[dict]] = {}
        for s in range(cfg.seeds):
            for v in VARIANTS:
                err, curve = _train_variant(v, cfg, data, ctx.seed * 1000 + s)
                errors[v].append(err)
                if s == 0:
                    curves[v] = curve
        mean = {v: float(np.mean(e)) for v, e in errors.items()}
        train_loss_none = curves["none"][-1]["train_loss"]
        rows = [{"variant": v, "mean_test_error": mean[v], "per_seed": ", ".join(f"{e:.4f}" for e in errors[v])} for v in VARIANTS]
        return Results(
            metrics={**{f"test_error_{v}": mean[v] for v in VARIANTS}, "train_loss_none": train_loss_none},
            artifacts=[self._plot(ctx, curves, mean)],
            details={"test_errors": rows},
        )

    def verdict(self, results: Results, cfg: RegularisationConfig):
        m = results.metrics
        base = m["test_error_none"]
        checks = [check("unregularised train loss (overfits: near 0)", m["train_loss_none"], "<=", 0.01)]
        checks += [check(f"test error with {v.replace('_', ' ')} / without", m[f"test_error_{v}"] / max(base, 1e-12), "<", 1.0) for v in VARIANTS[1:]]
        return verdict(checks, "Each regulariser lowers the over-sized MLP's test error", "Not every regulariser lowered the test error in this run")

    @staticmethod
    def _plot(ctx, curves, mean) -> str:
        plt = _plt()
        fig, (a, b, c) = plt.subplots(1, 3, figsize=(16, 4))
        for v, curve in curves.items():
            ep = [r["epoch"] for r in curve]
            a.semilogy(ep, [r["train_loss"] for r in curve], label=v)
            b.plot(ep, [r["test_error"] for r in curve], label=v)
        a.set(xlabel="epoch", ylabel="train cross-entropy", title="Training loss (seed 0)")
        b.set(xlabel="epoch", ylabel="test error", title="Test error (seed 0; early stopping stops)")
        a.legend(fontsize=8)
        b.legend(fontsize=8)
        c.bar(list(mean), list(mean.values()), color=["grey"] + ["C0"] * (len(mean) - 1))
        c.set(ylabel="mean test error", title="Final test error by regulariser")
        c.tick_params(axis="x", rotation=30)
        return ctx.save_figure(fig, "regularisation")
