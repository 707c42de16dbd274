"""Registered claims about what trained features hold: activation maximisation and transfer learning."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn as nn

from adlab.core import Experiment, ModelCard, Results, RunContext, check, experiment, param, verdict
from adlab.data import fashion_mnist
from adlab.data.fashion_mnist import tensors as fashion_tensors
from adlab.vision import arith
from adlab.vision.activation_max import maximise_logits, total_variation
from adlab.vision.recipe import Recipe, fit, predict, sgd_nesterov
from adlab.core.plotting import pyplot as _plt


class SmallConvNet(nn.Module):
    """``features``: two conv-BN-ReLU pairs at 28x28 and 14x14 with max-pools, then a global average pool; ``head``: linear.

    (B, 1, 28, 28) -> features (B, 2C) -> head (B, K).
    """

    def __init__(self, num_classes: int = 10, width: int = 16, in_channels: int = 1):
        super().__init__()

        def cbr(c_in: int, c_out: int) -> list[nn.Module]:
            return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]

        w = width
        self.features = nn.Sequential(
            *cbr(in_channels, w), *cbr(w, w), nn.MaxPool2d(2),  # (B, C, 14, 14)
            *cbr(w, 2 * w), *cbr(2 * w, 2 * w), nn.MaxPool2d(2),  # (B, 2C, 7, 7)
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),  # (B, 2C)
        )
        self.head = nn.Linear(2 * w, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, device) -> float:
    return float((predict(model, x, device).argmax(1) == y).float().mean())


# =============================================================================================
# vision.activation-maximisation
# =============================================================================================


@dataclass
class ActivationMaxConfig:
    width: int = param(16, "channels C of the classifier's first stage", ge=1)
    n_train: int | None = param(10000, "training images of the classifier (None: all 60,000)", ge=100)
    n_test: int | None = param(2000, "test images (None: all 10,000)", ge=100)
    epochs: int = param(2, "classifier training epochs", ge=1)
    steps: int = param(200, "gradient-ascent steps on the images", ge=1)
    lr: float = param(0.05, "ascent step (root-mean-square change per pixel, standardised units)", gt=0)
    l2: float = param(1e-3, "weight of the ||x||^2 penalty", ge=0)
    jitter: int = param(2, "largest random shift (pixels) before each forward pass; the prior run only", ge=1)
    blur_every: int = param(10, "blur every this many steps; the prior run only", ge=1)
    blur_sigma: float = param(0.5, "Gaussian blur standard deviation (pixels)", gt=0)


@experiment
class ActivationMaximisation(Experiment):
    """Gradient ascent on the input for each class logit, with and without jitter and blur priors."""

    name = "vision.activation-maximisation"
    claim = (
        "Gradient ascent on the input finds, for every class, an image that excites that class's logit more than "
        "the class's real images do on average, and jitter and blur priors make these images smoother than plain ascent."
    )
    Config = ActivationMaxConfig
    presets = {
        "smoke": {"width": 4, "n_train": 256, "n_test": 200, "epochs": 1, "steps": 12},
        "full": {"width": 32, "n_train": None, "n_test": None, "epochs": 10, "steps": 500},
    }
    datasets = ("fashion-mnist",)

    def run(self, cfg: ActivationMaxConfig, ctx: RunContext) -> Results:
        x_tr, y_tr = fashion_tensors("train", cfg.n_train, ctx.seed)
        x_te, y_te = fashion_tensors("test", cfg.n_test, ctx.seed + 1)
        torch.manual_seed(ctx.seed)
        model = SmallConvNet(10, cfg.width)
        recipe = Recipe(epochs=cfg.epochs, lr=0.1)
        res = fit("classifier", model, recipe, (x_tr, y_tr), ctx)
        test_acc = _accuracy(model, x_te, y_te, ctx.device)
        z_te = predict(model, x_te, ctx.device)  # (N, 10)
        real = torch.stack([z_te[y_te == k, k].mean() if (y_te == k).any() else z_te[:, k].max() for k in range(10)])
        for p in model.parameters():
            p.requires_grad_(False)
        classes = torch.arange(10)
        lo, hi = (0.0 - fashion_mnist.MEAN) / fashion_mnist.STD, (1.0 - fashion_mnist.MEAN) / fashion_mnist.STD
        out = {}
        for prior in (True, False):
            g = torch.Generator().manual_seed(ctx.seed)
            imgs, hist = maximise_logits(
                model, classes, (1, 28, 28), steps=cfg.steps, lr=cfg.lr, l2=cfg.l2,
                jitter=cfg.jitter if prior else 0, blur_every=cfg.blur_every if prior else 0, blur_sigma=cfg.blur_sigma,
                bounds=(lo, hi), generator=g,
            )
            logits = predict(model, imgs, ctx.device)  # (10, 10)
            probs = torch.softmax(logits, 1)
            out[prior] = {
                "images": imgs.cpu(), "history": hist, "probs": probs,
                "above_real": float((logits[classes, classes] > real).float().mean()),
                "reached": float((probs.argmax(1) == classes).float().mean()),
                "target_prob": float(probs[classes, classes].mean()),
                "tv": float(total_variation(imgs.cpu()).mean()),
            }
        tv_data = float(total_variation(x_te[:500]).mean())
        ctx.add_model_card(
            ModelCard(
                name="classifier",
                architecture=f"small conv net, widths {cfg.width}/{2 * cfg.width}, global average pool, linear ({arith.count_parameters(model):,} parameters)",
                parameters=arith.count_parameters(model),
                data=f"Fashion-MNIST train ({len(x_tr):,} images)",
                training=recipe.describe(),
                metrics={"test_accuracy": test_acc},
                intended_use="The classifier whose class logits are visualised by activation maximisation.",
                limitations="Small and briefly trained; its visualisations show this model's cues, not the data set's.",
            )
        )
        artifacts = [self._plot(ctx, out)]
        return Results(
            metrics={
                "classifier_test_accuracy": test_acc,
                "classes_above_real_with_priors": out[True]["above_real"],
                "classes_above_real_without_priors": out[False]["above_real"],
                "classes_reached_with_priors": out[True]["reached"],
                "target_probability_with_priors": out[True]["target_prob"],
                "classes_reached_without_priors": out[False]["reached"],
                "total_variation_with_priors": out[True]["tv"],
                "total_variation_without_priors": out[False]["tv"],
                "total_variation_ratio": out[True]["tv"] / max(out[False]["tv"], 1e-12),
                "total_variation_test_images": tv_data,
                "classifier_train_s": res.seconds,
            },
            artifacts=artifacts,
            details={
                "classes": [
                    {"class": fashion_mnist.CLASSES[k], "mean_logit_real_images": float(real[k]),
                     "logit_with_priors": float(predict(model, out[True]["images"][k : k + 1], ctx.device)[0, k]),
                     "p_target_with_priors": float(out[True]["probs"][k, k]),
                     "p_target_without_priors": float(out[False]["probs"][k, k])}
                    for k in range(10)
                ]
            },
        )

    def verdict(self, results: Results, cfg: ActivationMaxConfig):
        m = results.metrics
        return verdict(
            [
                check("fraction of classes whose image beats the mean logit of its real test images (with priors)", m["classes_above_real_with_priors"], ">=", 1.0),
                check("total variation with priors / without", m["total_variation_ratio"], "<", 1.0),
            ],
            "Every class logit was driven above its value on real images, and the priors gave smoother images",
            "Activation maximisation fell short of the real images on some class, or the priors did not smooth the images",
        )

    @staticmethod
    def _plot(ctx: RunContext, out: dict) -> str:
        plt = _plt()
        fig, axes = plt.subplots(2, 10, figsize=(16, 4.2))
        for row, prior in enumerate((True, False)):
            imgs, probs = out[prior]["images"], out[prior]["probs"]
            for k in range(10):
                ax = axes[row, k]
                ax.imshow(imgs[k, 0].numpy(), cmap="gray")
                ax.set_title(f"{fashion_mnist.CLASSES[k]}\np={probs[k, k]:.2f}", fontsize=7)
                ax.axis("off")
            axes[row, 0].text(-8, 14, "jitter + blur" if prior else "no prior", rotation=90, va="center", ha="right", fontsize=9)
        fig.suptitle("Images that maximise each class logit (top: with jitter and blur priors; bottom: plain gradient ascent)")
        return ctx.save_figure(fig, "activation_maximisation")


# =============================================================================================
# vision.transfer
# =============================================================================================


class FrozenFeatures(nn.Module):
    """A pretrained ``features`` module kept fixed (no gradients, batch norm in eval mode) under a new ``head``."""

    def __init__(self, features: nn.Module, head: nn.Module):
        super().__init__()
        self.features, self.head = features, head
        for p in self.features.parameters():
            p.requires_grad_(False)

    def train(self, mode: bool = True) -> "FrozenFeatures":
        super().train(mode)
        self.features.eval()  # running statistics stay those of pretraining
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            f = self.features(x)
        return self.head(f)


def few_labels(y: torch.Tensor, classes: list[int], per_class: int, generator: torch.Generator) -> torch.Tensor:
    """Indices of ``per_class`` random examples of each class in ``classes`` (in class order)."""
    picks = []
    for c in classes:
        idx = torch.nonzero(y == c).squeeze(1)
        if len(idx) < per_class:
            raise ValueError(f"class {c} has {len(idx)} examples, fewer than {per_class}")
        picks.append(idx[torch.randperm(len(idx), generator=generator)[:per_class]])
    return torch.cat(picks)


@dataclass
class TransferConfig:
    width: int = param(16, "channels C of the network's first stage", ge=1)
    n_pretrain: int | None = param(12000, "images of classes 0-4 used for pretraining (None: all 30,000)", ge=100)
    pretrain_epochs: int = param(2, "pretraining epochs", ge=1)
    per_class: int = param(100, "labelled training images per class of the new task (classes 5-9)", ge=1)
    epochs: int = param(20, "epochs on the few labelled images (each variant)", ge=1)
    batch_size: int = param(50, "minibatch size on the new task", ge=1)
    lr: float = param(0.05, "peak learning rate for the new head and for training from scratch", gt=0)
    finetune_lr: float = param(0.01, "peak learning rate of full fine-tuning", gt=0)
    repeats: int = param(2, "different draws of the labelled images (accuracies are averaged)", ge=1)
    n_test: int | None = param(None, "test images of classes 5-9 (None: all 5,000)", ge=100)


@experiment
class Transfer(Experiment):
    """Pretrain on five classes; learn the other five from 100 labels each: frozen head, fine-tune, scratch."""

    name = "vision.transfer"
    claim = (
        "Features learned on five Fashion-MNIST classes help learn the other five from 100 labels per class: "
        "both a new head on frozen features and full fine-tuning beat the same network trained from scratch."
    )
    Config = TransferConfig
    presets = {
        "smoke": {"width": 4, "n_pretrain": 256, "pretrain_epochs": 1, "per_class": 10, "epochs": 2, "repeats": 1, "n_test": 200},
        "full": {"width": 32, "n_pretrain": None, "pretrain_epochs": 15, "epochs": 60, "repeats": 5},
    }
    datasets = ("fashion-mnist",)

    def run(self, cfg: TransferConfig, ctx: RunContext) -> Results:
        x_all, y_all = fashion_tensors("train", None, ctx.seed)
        x_te, y_te = fashion_tensors("test", None, ctx.seed + 1)
        src, dst = [0, 1, 2, 3, 4], [5, 6, 7, 8, 9]
        g = torch.Generator().manual_seed(ctx.seed)
        pre = torch.nonzero(y_all < 5).squeeze(1)
        pre = pre[torch.randperm(len(pre), generator=g)][: cfg.n_pretrain]
        te = torch.nonzero(y_te >= 5).squeeze(1)[: cfg.n_test]
        x_dst_te, y_dst_te = x_te[te], y_te[te] - 5

        torch.manual_seed(ctx.seed)
        base = SmallConvNet(5, cfg.width)
        pre_te = torch.nonzero(y_te < 5).squeeze(1)
        res = fit("pretrained", base, Recipe(epochs=cfg.pretrain_epochs, lr=0.1), (x_all[pre], y_all[pre]), ctx)
        source_acc = _accuracy(base, x_te[pre_te], y_te[pre_te], ctx.device)
        ctx.add_model_card(
            ModelCard(
                name="pretrained",
                architecture=f"small conv net ({arith.count_parameters(base):,} parameters), 5-way head",
                parameters=arith.count_parameters(base),
                data=f"Fashion-MNIST train, classes 0-4 ({', '.join(fashion_mnist.CLASSES[c] for c in src)}), {len(pre):,} images",
                training={"epochs": cfg.pretrain_epochs, "recipe": "adlab.vision.recipe defaults"},
                metrics={"test_accuracy_classes_0_4": source_acc},
                intended_use="Source model of the transfer experiment.",
                limitations="Knows only five clothing classes.",
            )
        )

        few_recipe = Recipe(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, crop_padding=2, flip=True, warmup=0.1)
        accs: dict[str, list[float]] = {"frozen": [], "finetune": [], "scratch": []}
        for r in range(cfg.repeats):
            idx = few_labels(y_all, dst, cfg.per_class, torch.Generator().manual_seed(ctx.seed * 100 + r))
            data = (x_all[idx], y_all[idx] - 5)
            for variant in accs:
                torch.manual_seed(ctx.seed * 100 + r)
                if variant == "frozen":
                    model: nn.Module = FrozenFeatures(copy.deepcopy(base.features), nn.Linear(2 * cfg.width, 5))
                    opt = sgd_nesterov(model, cfg.lr)
                elif variant == "finetune":
                    model = copy.deepcopy(base)
                    model.head = nn.Linear(2 * cfg.width, 5)
                    opt = sgd_nesterov(model, cfg.finetune_lr)
                else:
                    model = SmallConvNet(5, cfg.width)
                    opt = sgd_nesterov(model, cfg.lr)
                fit(f"{variant}-draw{r}", model, few_recipe, data, ctx, optimizer=opt)
                accs[variant].append(_accuracy(model, x_dst_te, y_dst_te, ctx.device))
        mean = {k: sum(v) / len(v) for k, v in accs.items()}
        artifacts = [self._plot(ctx, accs, cfg)]
        return Results(
            metrics={
                "test_accuracy_frozen_head": mean["frozen"],
                "test_accuracy_finetune": mean["finetune"],
                "test_accuracy_scratch": mean["scratch"],
                "source_test_accuracy": source_acc,
                "pretrain_s": res.seconds,
            },
            artifacts=artifacts,
            details={"runs": [{"variant": k, "draw": i, "test_accuracy": a} for k, v in accs.items() for i, a in enumerate(v)]},
        )

    def verdict(self, results: Results, cfg: TransferConfig):
        m = results.metrics
        return verdict(
            [
                check("frozen features + new head minus scratch, test accuracy", m["test_accuracy_frozen_head"] - m["test_accuracy_scratch"], ">", 0.0),
                check("fine-tuning minus scratch, test accuracy", m["test_accuracy_finetune"] - m["test_accuracy_scratch"], ">", 0.0),
            ],
            "Both transfer variants beat training from scratch on the few labelled images",
            "Transfer from classes 0-4 did not beat training from scratch in both variants",
        )

    @staticmethod
    def _plot(ctx: RunContext, accs: dict[str, list[float]], cfg: TransferConfig) -> str:
        plt = _plt()
        fig, ax = plt.subplots(figsize=(6.4, 4))
        labels = {"frozen": "new head,\nfrozen features", "finetune": "fine-tune\neverything", "scratch": "from scratch"}
        for i, (k, v) in enumerate(accs.items()):
            ax.bar(i, sum(v) / len(v), color=("tab:blue", "tab:green", "tab:grey")[i])
            ax.scatter([i] * len(v), v, c="k", s=12, zorder=3)
        ax.set_xticks(range(3), [labels[k] for k in accs])
        lo = min(min(v) for v in accs.values())
        ax.set(ylim=(max(0.0, lo - 0.05), 1.0), ylabel="test accuracy, classes 5-9",
               title=f"Classes 5-9 from {cfg.per_class} labels per class (dots: label draws)")
        return ctx.save_figure(fig, "transfer")
