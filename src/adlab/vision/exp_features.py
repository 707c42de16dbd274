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

    # ``features[:STAGE_ENDS[0]]`` is stage 1 (B, C, 14, 14); ``features[:STAGE_ENDS[1]]`` ends stage 2 (B, 2C, 7, 7)
    STAGE_ENDS = (7, 14)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class StagePool(nn.Module):
    """Global average pools of the outputs of both stages of a :class:`SmallConvNet` ``features``, concatenated.

    (B, 1, 28, 28) -> [pool(stage 1) (B, C), pool(stage 2) (B, 2C)] -> (B, 3C): the more general
    stage-1 features (Yosinski et al., 2014) stand beside the source-specific stage-2 ones.
    """

    def __init__(self, features: nn.Sequential):
        super().__init__()
        s1, s2 = SmallConvNet.STAGE_ENDS
        self.stage1, self.stage2 = features[:s1], features[s1:s2]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h1 = self.stage1(x)  # (B, C, 14, 14)
        h2 = self.stage2(h1)  # (B, 2C, 7, 7)
        return torch.cat([h1.mean((2, 3)), h2.mean((2, 3))], 1)  # (B, 3C)


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


def linear_probe(features: nn.Module, x: torch.Tensor, y: torch.Tensor, num_classes: int, l2: float, device="cpu", max_iter: int = 500) -> nn.Linear:
    r"""Multinomial logistic regression on frozen ``features``, solved to convergence by L-BFGS (the linear
    evaluation protocol of Kornblith, Shlens & Le, 2019).

    On standardised features $\hat f = (f - \mu) / \sigma$ (statistics of ``x``) it minimises

        $\frac{1}{N} \sum_n -\log \mathrm{softmax}(W \hat f_n + b)_{y_n} + \frac{\lambda}{2} \|W\|^2$

    and returns the equivalent linear layer on the raw features: $W' = W / \sigma$, $b' = b - W' \mu$.
    """
    f = predict(features, x, device).double()  # (N, D): frozen features in eval mode
    mu, sd = f.mean(0), f.std(0).clamp_min(1e-6)
    f_hat = (f - mu) / sd
    W = torch.zeros(num_classes, f.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros(num_classes, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([W, b], max_iter=max_iter, tolerance_grad=1e-7, tolerance_change=1e-10, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = nn.functional.cross_entropy(f_hat @ W.T + b, y) + 0.5 * l2 * (W**2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    head = nn.Linear(f.shape[1], num_classes)
    with torch.no_grad():
        w_raw = W.detach() / sd  # (K, D)
        head.weight.copy_(w_raw.float())
        head.bias.copy_((b.detach() - w_raw @ mu).float())
    return head.to(device)  # beside the features it reads


@dataclass
class TransferConfig:
    width: int = param(16, "channels C of the network's first stage", ge=1)
    n_pretrain: int | None = param(12000, "images of classes 0-4 used for pretraining (None: all 30,000)", ge=100)
    pretrain_epochs: int = param(2, "pretraining epochs", ge=1)
    per_class: int = param(100, "labelled training images per class of the new task (classes 5-9)", ge=1)
    epochs: int = param(20, "epochs on the few labelled images (each variant)", ge=1)
    batch_size: int = param(50, "minibatch size on the new task", ge=1)
    lr: float = param(0.05, "peak learning rate of the SGD-trained new head and of training from scratch (without lr_grid)", gt=0)
    finetune_lr: float = param(0.01, "peak learning rate of full fine-tuning (without lr_grid)", gt=0)
    repeats: int = param(2, "different draws of the labelled images (accuracies are averaged)", ge=1)
    n_test: int | None = param(None, "test images of classes 5-9 (None: all 5,000)", ge=100)
    pretrain_label_smoothing: float = param(
        0.1, "label smoothing of pretraining (0: plain cross-entropy; smoothing makes penultimate features less transferable)", ge=0, lt=1
    )
    frozen_features: str = param(
        "map",
        "the frozen variant: 'pooled' (linear head on the pooled last stage, 2C), 'stages' (linear head on the pools of "
        "both stages, 3C), 'map' (linear head on the last stage's 7x7 map before the pool, 49 x 2C), "
        "'stage1' (stage 1 frozen, a new stage 2 and head trained)",
        choices=("pooled", "stages", "map", "stage1"),
    )
    lr_grid: list[float] = param(
        [0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0],
        "peak rates tried for each SGD-trained variant on a validation split of the labelled images; the best retrains "
        "on all of them (empty: lr and finetune_lr as given, no validation split)",
    )
    val_per_class: int = param(20, "labelled images per class held out to choose the rate (only with lr_grid)", ge=1)
    frozen_solver: str = param(
        "lbfgs", "how the frozen variant's linear head is trained: 'sgd' (the recipe of the other variants) or 'lbfgs' "
        "(logistic regression on the standardised features, solved to convergence; not with 'stage1')", choices=("sgd", "lbfgs")
    )
    l2_grid: list[float] = param(
        [1e-4, 1e-3, 1e-2, 1e-1], "L2 strengths lambda tried for the 'lbfgs' head on the validation split (with lr_grid)"
    )
    probe_l2: float = param(1e-3, "L2 strength lambda of the 'lbfgs' head without lr_grid", ge=0)


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
        "smoke": {
            "width": 4, "n_pretrain": 256, "pretrain_epochs": 1, "per_class": 10, "epochs": 2, "repeats": 1, "n_test": 200,
            "lr_grid": [0.01, 0.1], "l2_grid": [1e-3, 1e-1], "val_per_class": 2,
        },
        "full": {"width": 32, "n_pretrain": None, "pretrain_epochs": 15, "epochs": 60, "repeats": 5},
    }
    datasets = ("fashion-mnist",)

    def run(self, cfg: TransferConfig, ctx: RunContext) -> Results:
        if cfg.lr_grid and cfg.val_per_class >= cfg.per_class:
            raise ValueError(f"val_per_class ({cfg.val_per_class}) must be below per_class ({cfg.per_class})")
        if cfg.frozen_solver == "lbfgs" and cfg.frozen_features == "stage1":
            raise ValueError("frozen_solver='lbfgs' fits a linear head; frozen_features='stage1' trains a conv stage too")
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
        pre_recipe = Recipe(epochs=cfg.pretrain_epochs, lr=0.1, label_smoothing=cfg.pretrain_label_smoothing)
        res = fit("pretrained", base, pre_recipe, (x_all[pre], y_all[pre]), ctx)
        source_acc = _accuracy(base, x_te[pre_te], y_te[pre_te], ctx.device)
        ctx.add_model_card(
            ModelCard(
                name="pretrained",
                architecture=f"small conv net ({arith.count_parameters(base):,} parameters), 5-way head",
                parameters=arith.count_parameters(base),
                data=f"Fashion-MNIST train, classes 0-4 ({', '.join(fashion_mnist.CLASSES[c] for c in src)}), {len(pre):,} images",
                training=pre_recipe.describe(),
                metrics={"test_accuracy_classes_0_4": source_acc},
                intended_use="Source model of the transfer experiment.",
                limitations="Knows only five clothing classes.",
            )
        )

        accs: dict[str, list[float]] = {"frozen": [], "finetune": [], "scratch": []}
        chosen: list[dict] = []
        for r in range(cfg.repeats):
            idx = few_labels(y_all, dst, cfg.per_class, torch.Generator().manual_seed(ctx.seed * 100 + r))
            data = (x_all[idx], y_all[idx] - 5)
            # few_labels returns each class's draws in random order: the first val_per_class of each class validate
            is_val = (torch.arange(len(idx)) % cfg.per_class) < cfg.val_per_class
            fit_data, val_data = (data[0][~is_val], data[1][~is_val]), (data[0][is_val], data[1][is_val])
            for variant in accs:
                probe = variant == "frozen" and cfg.frozen_solver == "lbfgs"
                hp = cfg.probe_l2 if probe else {"finetune": cfg.finetune_lr}.get(variant, cfg.lr)
                if cfg.lr_grid:  # the same split for every variant, the same rate grid for every SGD-trained one
                    grid = cfg.l2_grid if probe else cfg.lr_grid
                    val = {}
                    for h in grid:
                        model = self._train(variant, h, base, cfg, fit_data, ctx, f"{variant}-draw{r}-{h:g}-val", ctx.seed * 100 + r)
                        val[h] = _accuracy(model, *val_data, ctx.device)
                    hp = max(grid, key=lambda h: val[h])  # ties: the first in the grid
                    chosen.append({"variant": variant, "draw": r, "l2" if probe else "lr": hp, "validation_accuracy": val})
                model = self._train(variant, hp, base, cfg, data, ctx, f"{variant}-draw{r}", ctx.seed * 100 + r)
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
            details={
                "runs": [{"variant": k, "draw": i, "test_accuracy": a} for k, v in accs.items() for i, a in enumerate(v)],
                "learning_rates": chosen,
            },
        )

    @staticmethod
    def _recipe(cfg: TransferConfig) -> Recipe:
        """The recipe of every fit on the few labelled images (the optimizer, with its rate, is passed separately)."""
        return Recipe(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, crop_padding=2, flip=True, warmup=0.1)

    def _train(self, variant: str, hp: float, base: SmallConvNet, cfg: TransferConfig, data, ctx: RunContext, name: str, seed: int) -> nn.Module:
        """One variant trained on ``data``: by the recipe at peak rate ``hp``, or (frozen, 'lbfgs') by
        :func:`linear_probe` with L2 strength ``hp``."""
        torch.manual_seed(seed)
        model = self._model(variant, base, cfg)
        if variant == "frozen" and cfg.frozen_solver == "lbfgs":
            model.head = linear_probe(model.features, *data, 5, hp, ctx.device)
        else:
            fit(name, model, self._recipe(cfg), data, ctx, optimizer=sgd_nesterov(model, hp))
        return model

    @staticmethod
    def _model(variant: str, base: SmallConvNet, cfg: TransferConfig) -> nn.Module:
        """A fresh network for one variant: frozen pretrained features + new head, the pretrained net with a new
        head (fine-tuning), or a randomly initialised net (scratch)."""
        if variant == "scratch":
            return SmallConvNet(5, cfg.width)
        if variant == "finetune":
            model = copy.deepcopy(base)
            model.head = nn.Linear(2 * cfg.width, 5)
            return model
        features = copy.deepcopy(base.features)
        if cfg.frozen_features == "pooled":
            return FrozenFeatures(features, nn.Linear(2 * cfg.width, 5))
        if cfg.frozen_features == "stages":
            return FrozenFeatures(StagePool(features), nn.Linear(3 * cfg.width, 5))
        if cfg.frozen_features == "map":  # the global pool, a part of the source head, is left out: (B, 2C * 7 * 7)
            return FrozenFeatures(nn.Sequential(features[: SmallConvNet.STAGE_ENDS[1]], nn.Flatten()), nn.Linear(2 * cfg.width * 49, 5))
        # 'stage1': stage 1 frozen (Yosinski et al.'s general lower layers); a re-initialised stage 2 and head train
        fresh = SmallConvNet(5, cfg.width)
        s1 = SmallConvNet.STAGE_ENDS[0]
        return FrozenFeatures(features[:s1], nn.Sequential(fresh.features[s1:], fresh.head))

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
