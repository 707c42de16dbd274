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
from adlab.core.plotting import pyplot as _plt


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
    n_train: int = param(100, "training digits (a small subset, so the big MLP overfits)", ge=10)
    n_val: int = param(500, "validation digits: choose each regulariser's strength and the early-stopping epoch", ge=10)
    label_noise: float = param(
        0.2, "fraction of the training and validation labels replaced by a random other class (the test labels stay clean)", ge=0, lt=0.9
    )
    hidden: int = param(256, "width of the two hidden layers", ge=1)
    epochs: int = param(400, "full-batch gradient steps (one step = one pass over the training subset)", ge=1)
    lr: float = param(0.05, "learning rate of gradient descent with momentum 0.9", gt=0)
    eval_every: int = param(10, "epochs between evaluations on train/validation/test (the curves' resolution)", ge=1)
    l2_grid: list[float] = param([1e-4, 1e-3, 1e-2], "L2 coefficients lambda tried (loss + lambda/2 ||W||^2)")
    dropout_grid: list[float] = param([0.2, 0.5], "dropout probabilities tried (hidden units)")
    noise_grid: list[float] = param([0.1, 0.2, 0.4], "input-noise standard deviations tried (pixels in [0, 1])")
    seeds: int = param(3, "initialisations per setting (errors are averaged; seed s starts every variant from the same weights)", ge=1)


VARIANTS = ("none", "l2", "dropout", "input_noise", "early_stopping")
_STRENGTH = {"l2": "lambda", "dropout": "p", "input_noise": "sigma", "early_stopping": "epoch"}


def flip_labels(y: np.ndarray, fraction: float, num_classes: int, rng: np.random.Generator) -> np.ndarray:
    """A copy of ``y`` in which ``round(fraction * len(y))`` labels, chosen at random, are replaced by a
    class drawn uniformly from the *other* ``num_classes - 1`` classes (symmetric label noise)."""
    y = y.copy()
    idx = rng.choice(len(y), size=round(fraction * len(y)), replace=False)
    y[idx] = (y[idx] + rng.integers(1, num_classes, size=len(idx))) % num_classes  # never the true class
    return y


def _init_stack(sizes: list[int], seeds: list[int]) -> list[torch.Tensor]:
    """Weights of ``len(seeds)`` MLPs stacked on a leading model axis: ``[W_1, b_1, ..., W_L, b_L]``,
    ``W_l`` (M, fan_in, fan_out) and ``b_l`` (M, 1, fan_out), each drawn like ``nn.Linear``'s default,
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)), from a generator seeded by the model's seed."""
    per_model = []
    for seed in seeds:
        g = torch.Generator().manual_seed(seed)
        ps = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            bound = a**-0.5
            ps += [(torch.rand(a, b, generator=g) * 2 - 1) * bound, (torch.rand(1, b, generator=g) * 2 - 1) * bound]
        per_model.append(ps)
    return [torch.stack(group).requires_grad_() for group in zip(*per_model)]


def _forward_stack(params: list[torch.Tensor], x: torch.Tensor, sigma=None, p_drop=None, g=None) -> torch.Tensor:
    r"""Logits (M, N, K) of M ReLU MLPs on the same inputs x (N, D).

    With ``sigma``/``p_drop`` (M, 1, 1) it is the training forward: input noise
    $x \leftarrow x + \varepsilon$, $\varepsilon \sim \mathcal N(0, \sigma^2 I)$, and inverted dropout on
    every hidden layer, $h \leftarrow h \odot m / (1 - p)$, $m_i \sim \mathrm{Bernoulli}(1 - p)$;
    without them it is the test-time forward, which uses neither."""
    M = params[0].shape[0]
    h = x.unsqueeze(0).expand(M, *x.shape)  # (M, N, D)
    if sigma is not None:
        h = h + sigma * torch.randn(h.shape, generator=g)
    n_layers = len(params) // 2
    for i in range(n_layers):
        h = torch.baddbmm(params[2 * i + 1], h, params[2 * i])  # (M, N, fan_out): h W + b
        if i < n_layers - 1:
            h = torch.relu(h)
            if p_drop is not None:
                h = h * (torch.rand(h.shape, generator=g) >= p_drop) / (1 - p_drop)
    return h


def _train_stack(settings: list[tuple[str, float]], cfg: RegularisationConfig, data, seed: int, progress=None) -> dict:
    r"""Train one MLP per (setting, seed) pair, all at once, by full-batch gradient descent with
    momentum 0.9; return their curves.

    Every model has its own weights and momentum (the update is elementwise, and the summed loss gives
    each model exactly its own gradient), so this equals training them one by one, only faster on a CPU.
    L2 adds $\frac\lambda2\sum_l\lVert W_l\rVert^2$ (weights, not biases) to the loss, i.e. weight decay
    $W \leftarrow W - \eta\lambda W$ in the update (with Adam the two differ: Adam rescales the
    $\lambda W$ term per weight, which is why plain SGD is used here).
    Returns arrays (settings, seeds, evaluations) of train loss, validation loss/error and test error."""
    x_tr, y_tr, x_va, y_va, x_te, y_te = data
    S, R = len(settings), cfg.seeds
    seeds = [seed * 1000 + r for _ in settings for r in range(R)]  # model m = setting * R + r
    params = _init_stack([x_tr.shape[1], cfg.hidden, cfg.hidden, 10], seeds)
    col = lambda kind: torch.tensor([v if k == kind else 0.0 for k, v in settings for _ in range(R)]).view(-1, 1, 1)  # noqa: E731
    lam, p_drop, sigma = col("l2"), col("dropout"), col("input_noise")
    M = S * R
    opt = torch.optim.SGD(params, lr=cfg.lr, momentum=0.9)
    g = torch.Generator().manual_seed(seed)
    x_ev, y_ev = torch.cat([x_tr, x_va, x_te]), torch.cat([y_tr, y_va, y_te])
    n_tr, n_va = len(x_tr), len(x_va)
    epochs, rec = [], {"train_loss": [], "val_loss": [], "val_error": [], "test_error": []}
    for epoch in range(1, cfg.epochs + 1):
        logits = _forward_stack(params, x_tr, sigma, p_drop, g)  # (M, N, K)
        ce = F.cross_entropy(logits.flatten(0, 1), y_tr.repeat(M), reduction="none").view(M, -1).mean(1)  # (M,)
        l2 = 0.5 * lam.view(-1) * sum(W.pow(2).sum((1, 2)) for W in params[0::2])  # (M,)
        opt.zero_grad()
        (ce + l2).sum().backward()
        opt.step()
        if epoch % cfg.eval_every == 0 or epoch == cfg.epochs:
            with torch.no_grad():
                z = _forward_stack(params, x_ev)  # (M, N_ev, K)
                nll = F.cross_entropy(z.flatten(0, 1), y_ev.repeat(M), reduction="none").view(M, -1)
                wrong = (z.argmax(-1) != y_ev).float()
            epochs.append(epoch)
            rec["train_loss"].append(nll[:, :n_tr].mean(1))
            rec["val_loss"].append(nll[:, n_tr : n_tr + n_va].mean(1))
            rec["val_error"].append(wrong[:, n_tr : n_tr + n_va].mean(1))
            rec["test_error"].append(wrong[:, n_tr + n_va :].mean(1))
            if progress is not None:
                progress.update(epoch - progress.done, loss=float(ce.detach().mean()))
    out = {k: torch.stack(v, 1).view(S, R, -1).numpy().astype(np.float64) for k, v in rec.items()}
    out["epochs"] = np.array(epochs)
    return out


def _choose(curves: dict, idx: list[int]) -> int:
    """Of the settings ``idx``, the one with the lowest mean final validation error over seeds
    (ties: the lowest mean final validation loss)."""
    return min(idx, key=lambda i: (round(float(curves["val_error"][i, :, -1].mean()), 9), float(curves["val_loss"][i, :, -1].mean())))


@experiment
class Regularisation(Experiment):
    """An over-sized MLP on 100 digits with 20% label noise: L2, dropout, input noise and early stopping,
    each tuned on validation data, against the unregularised net."""

    name = "foundations.regularisation"
    claim = (
        "An MLP far larger than its training set (two layers of 256 units, 100 digits, a fifth of them mislabelled) "
        "overfits, and each of L2 weight decay, dropout, input noise and early stopping, its strength chosen on "
        "validation data, lowers its test error."
    )
    Config = RegularisationConfig
    presets = {
        "smoke": {"n_train": 60, "n_val": 100, "hidden": 32, "epochs": 40, "eval_every": 5, "seeds": 1},
        "full": {"seeds": 10, "epochs": 1200},
    }
    key_metrics = tuple(f"test_error_{v}" for v in VARIANTS)

    def run(self, cfg: RegularisationConfig, ctx: RunContext) -> Results:
        # one split for every variant: n_train training and n_val validation digits from the training
        # pool, the fixed digits test split (540 images) for the reported test errors
        x_all, y_all, x_te, y_te = digits.load(seed=ctx.seed)
        perm = np.random.default_rng(ctx.seed).permutation(len(x_all))
        tr, va = perm[: cfg.n_train], perm[cfg.n_train : cfg.n_train + cfg.n_val]
        # symmetric label noise on the labelled pool (train and validation); the test labels stay clean
        noise_rng = np.random.default_rng(ctx.seed + 7)
        y_tr, y_va = (flip_labels(y_all[ix], cfg.label_noise, 10, noise_rng) for ix in (tr, va))
        t = torch.from_numpy
        data = (t(x_all[tr]), t(y_tr), t(x_all[va]), t(y_va), t(x_te), t(y_te))
        settings = [("none", 0.0)] + [("l2", v) for v in cfg.l2_grid] + [("dropout", v) for v in cfg.dropout_grid]
        settings += [("input_noise", v) for v in cfg.noise_grid]
        with ctx.progress(cfg.epochs, f"{len(settings)} settings x {cfg.seeds} seeds") as bar:
            c = _train_stack(settings, cfg, data, ctx.seed, bar)
        ep = c["epochs"]

        # each regulariser: its strength chosen by validation error, its test error at the last epoch
        chosen, errors, val_err = {"none": 0}, {}, {}
        for kind in VARIANTS[1:4]:
            chosen[kind] = _choose(c, [i for i, (k, _) in enumerate(settings) if k == kind])
        for kind, i in chosen.items():
            errors[kind] = c["test_error"][i, :, -1]
            val_err[kind] = c["val_error"][i, :, -1]
        # early stopping: the unregularised runs, each stopped at its epoch of lowest validation error
        stop = c["val_error"][0].argmin(1)  # (seeds,) first minimum
        errors["early_stopping"] = c["test_error"][0, np.arange(cfg.seeds), stop]
        val_err["early_stopping"] = c["val_error"][0, np.arange(cfg.seeds), stop]
        mean = {v: float(errors[v].mean()) for v in VARIANTS}
        strength = {v: settings[chosen[v]][1] for v in VARIANTS[1:4]} | {"early_stopping": float(ep[stop].mean())}
        for i, (kind, value) in enumerate(settings):
            for j, e in enumerate(ep):
                ctx.log(int(e), f"{kind}={value:g}", val_error=c["val_error"][i, :, j].mean(), test_error=c["test_error"][i, :, j].mean(),
                        train_loss=c["train_loss"][i, :, j].mean())

        base_curve = c["test_error"][0].mean(0)  # mean over seeds
        rows = [
            {"variant": v, "strength": "" if v == "none" else f"{_STRENGTH[v]} = {strength[v]:g}", "mean_val_error": float(val_err[v].mean()),
             "mean_test_error": mean[v], "ratio_to_none": mean[v] / max(mean["none"], 1e-12), "per_seed": ", ".join(f"{e:.4f}" for e in errors[v])}
            for v in VARIANTS
        ]
        grid = [
            {"setting": f"{k} {v:g}" if k != "none" else "none", "mean_val_error": float(c["val_error"][i, :, -1].mean()),
             "mean_test_error": float(c["test_error"][i, :, -1].mean()), "chosen": i in chosen.values()}
            for i, (k, v) in enumerate(settings)
        ]
        metrics = {f"test_error_{v}": mean[v] for v in VARIANTS}
        metrics |= {
            "train_loss_none": float(c["train_loss"][0, :, -1].mean()),
            "chosen_l2_lambda": strength["l2"], "chosen_dropout_p": strength["dropout"], "chosen_input_noise_sigma": strength["input_noise"],
            "early_stopping_epoch_mean": strength["early_stopping"],
            "none_min_test_error_epoch": int(ep[base_curve.argmin()]), "none_min_test_error": float(base_curve.min()),
        }
        curves = {"none": c["test_error"][0].mean(0)} | {v: c["test_error"][chosen[v]].mean(0) for v in VARIANTS[1:4]}
        plot = self._plot(ctx, ep, c, curves, chosen, settings, stop, rows)
        return Results(metrics=metrics, artifacts=[plot], details={"test_errors": rows, "validation_grid": grid})

    def verdict(self, results: Results, cfg: RegularisationConfig):
        m = results.metrics
        base = m["test_error_none"]
        checks = [check("unregularised train loss (overfits: near 0)", m["train_loss_none"], "<=", 0.01)]
        checks += [check(f"test error with {v.replace('_', ' ')} / without", m[f"test_error_{v}"] / max(base, 1e-12), "<", 1.0) for v in VARIANTS[1:]]
        return verdict(checks, "Each regulariser, tuned on validation data, lowers the over-sized MLP's test error",
                       "Not every regulariser, tuned on validation data, lowered the test error in this run")

    @staticmethod
    def _plot(ctx, ep, c, curves, chosen, settings, stop, rows) -> str:
        plt = _plt()
        fig, (a, b, d) = plt.subplots(1, 3, figsize=(18, 4.6), gridspec_kw={"width_ratios": [1, 1.2, 1.3]})
        label = {i: f"{k} {v:g}" if k != "none" else "none" for i, (k, v) in enumerate(settings)}
        color = {"none": "black", "l2": "C0", "dropout": "C1", "input_noise": "C2"}
        for v, i in chosen.items():
            a.semilogy(ep, c["train_loss"][i].mean(0), label=label[i], color=color[v])
        a.set(xlabel="epoch (full-batch step)", ylabel="train cross-entropy (mean over seeds)", title="Training loss")
        a.legend(fontsize=8)
        for v, curve in curves.items():
            i = chosen[v]
            b.plot(ep, curve, label=label[i], lw=2.2 if v == "none" else 1.2, color=color[v])
        b.plot(ep, c["val_error"][0].mean(0), ":", color="black", label="none, validation error")
        k = curves["none"].argmin()
        b.plot([ep[k]], [curves["none"][k]], "v", color="red", ms=9, label=f"none: lowest test error (epoch {ep[k]})")
        b.plot(ep[stop], c["test_error"][0, np.arange(len(stop)), stop], "o", color="C4", mfc="none", ms=8,
               label="early stopping: epoch of lowest validation error (per seed)")
        lo = min(float(np.min(v)) for v in curves.values())
        b.set(xlabel="epoch (full-batch step)", ylabel="error (mean over seeds)", ylim=(max(0.0, lo - 0.02), lo + 0.08),
              title="Test error at each strength chosen on validation")
        b.legend(fontsize=7)
        d.axis("off")
        cell = [[r["variant"], r["strength"] or "-", f"{r['mean_val_error']:.4f}", f"{r['mean_test_error']:.4f}", f"{r['ratio_to_none']:.3f}"] for r in rows]
        tab = d.table(cellText=cell, colLabels=["variant", "chosen on validation", "val error", "test error", "/ none"],
                      colWidths=[0.25, 0.3, 0.16, 0.16, 0.13], loc="center")
        tab.auto_set_font_size(False)
        tab.set_fontsize(9)
        tab.scale(1, 1.6)
        d.set_title(f"Mean over {c['test_error'].shape[1]} seeds: test error at the last epoch\n(early stopping: at its stop epoch)")
        return ctx.save_figure(fig, "regularisation")
