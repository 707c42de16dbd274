"""Registered claims about the building blocks: equivariance, stacked 3x3 kernels, batch norm, FLOPs."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from adlab.core import Experiment, Results, RunContext, check, experiment, param, verdict
from adlab.data.fashion_mnist import tensors as fashion_tensors
from adlab.nn.normalization import BatchNorm2d
from adlab.vision import arith
from adlab.vision.equivariance import ConvStack, PixelMLP, equivariance_error, invariance_error, shift
from adlab.vision.recipe import Recipe, StepLosses, fit
from adlab.vision.registry import create_model
from adlab.core.plotting import pyplot as _plt


# =============================================================================================
# vision.equivariance
# =============================================================================================


@dataclass
class EquivarianceConfig:
    n_images: int = param(16, "Fashion-MNIST test images the maps are applied to", ge=1)
    max_shift: int = param(3, "largest shift in pixels along each axis", ge=1, le=8)
    n_shifts: int = param(8, "random (dy, dx) shifts tried (the worst one is reported)", ge=1)
    channels: int = param(8, "output channels of each convolution", ge=1)
    layers: int = param(2, "3x3 convolutions in the stack (ReLU between them)", ge=1, le=6)
    hidden: int = param(256, "hidden units of the pixel MLP", ge=1)


@experiment
class Equivariance(Experiment):
    """A convolution stack commutes with shifts (away from the borders); a pixel MLP does not."""

    name = "vision.equivariance"
    claim = (
        "Shifting the input of a convolutional layer shifts its output by the same amount, exactly away from the "
        "borders, while a dense network on flattened pixels has no such property; pooling, not convolution, adds invariance."
    )
    Config = EquivarianceConfig
    presets = {"smoke": {"n_images": 2, "n_shifts": 2}, "full": {"n_images": 256, "n_shifts": 32, "layers": 4}}
    flagship = True
    datasets = ("fashion-mnist",)

    def run(self, cfg: EquivarianceConfig, ctx: RunContext) -> Results:
        torch.manual_seed(ctx.seed)
        x, _ = fashion_tensors("test", cfg.n_images, ctx.seed)
        x = x.double()  # float64: the equivariance error is rounding only
        conv = ConvStack(1, cfg.channels, cfg.layers).double().eval()
        mlp = PixelMLP(1, 28, cfg.hidden, out_channels=cfg.channels).double().eval()
        circ = ConvStack(1, cfg.channels, cfg.layers, padding_mode="circular").double().eval()
        radius = (arith.receptive_field(conv)[-1].size - 1) // 2  # $\rho$: pixels each side a unit sees
        g = torch.Generator().manual_seed(ctx.seed)
        shifts = []
        while len(shifts) < cfg.n_shifts:
            dy, dx = (int(v) for v in torch.randint(-cfg.max_shift, cfg.max_shift + 1, (2,), generator=g))
            if (dy, dx) != (0, 0):
                shifts.append((dy, dx))
        margin = radius + cfg.max_shift

        def gap(f):
            return lambda z: f(z).mean(dim=(-2, -1))  # global average pool: (B, C)

        rows = []
        for dy, dx in shifts:
            rows.append(
                {
                    "dy": dy,
                    "dx": dx,
                    "conv_equivariance": equivariance_error(conv, x, dy, dx, margin),
                    "mlp_equivariance": equivariance_error(mlp, x, dy, dx, margin),
                    "conv_invariance": invariance_error(conv, x, dy, dx, margin=margin),
                    "circular_conv_equivariance_everywhere": _circ_equivariance(circ, x, dy, dx),
                    "global_pool_invariance": invariance_error(gap(circ), x, dy, dx, circular=True),
                }
            )
        worst = {k: max(r[k] for r in rows) for k in rows[0] if k not in ("dy", "dx")}
        least_mlp = min(r["mlp_equivariance"] for r in rows)
        least_inv = min(r["conv_invariance"] for r in rows)
        artifacts = [self._plot(ctx, conv, mlp, x[:1], shifts[0], margin)]
        return Results(
            metrics={
                "conv_equivariance_error_max": worst["conv_equivariance"],
                "mlp_equivariance_error_min": least_mlp,
                "conv_invariance_error_min": least_inv,
                "circular_conv_equivariance_error_max": worst["circular_conv_equivariance_everywhere"],
                "global_pool_invariance_error_max": worst["global_pool_invariance"],
                "receptive_field": float(2 * radius + 1),
                "margin": float(margin),
            },
            artifacts=artifacts,
            details={"shifts": rows},
        )

    def verdict(self, results: Results, cfg: EquivarianceConfig):
        m = results.metrics
        return verdict(
            [
                check("conv: worst relative error of f(Sx) vs S f(x), interior", m["conv_equivariance_error_max"], "<=", 1e-12),
                check("pixel MLP: smallest relative error of f(Sx) vs S f(x), interior", m["mlp_equivariance_error_min"], ">=", 0.1),
                check("conv: smallest relative change f(Sx) vs f(x) (not invariant)", m["conv_invariance_error_min"], ">=", 0.1),
                check("circular conv + global average pool: worst relative change (invariant)", m["global_pool_invariance_error_max"], "<=", 1e-12),
            ],
            "Convolution is shift-equivariant to rounding error, the pixel MLP is not, and only pooling makes the output invariant",
            "The measured errors do not show convolution as exactly shift-equivariant and the MLP as not",
        )

    @staticmethod
    def _plot(ctx: RunContext, conv: nn.Module, mlp: nn.Module, x: torch.Tensor, s: tuple[int, int], margin: int) -> str:
        plt = _plt()
        dy, dx = s
        with torch.no_grad():
            panels = [("input x", x), (f"shifted input Sx (dy={dy}, dx={dx})", shift(x, dy, dx))]
            for label, f in (("conv", conv), ("MLP", mlp)):
                a, b = f(shift(x, dy, dx))[:, :1], shift(f(x), dy, dx)[:, :1]
                d = (a - b).abs()
                d[..., :margin, :] = d[..., -margin:, :] = float("nan")
                d[..., :margin] = d[..., -margin:] = float("nan")
                panels += [(f"{label}: f(Sx)", a), (f"{label}: S f(x)", b), (f"{label}: |f(Sx) - S f(x)| (interior)", d)]
        fig, axes = plt.subplots(2, 4, figsize=(13, 6.4))
        order = [panels[0], panels[2], panels[3], panels[4], panels[1], panels[5], panels[6], panels[7]]
        for ax, (title, img) in zip(axes.flat, order):
            im = ax.imshow(img[0, 0].numpy(), cmap="magma" if "|" in title else "gray")
            ax.set_title(title, fontsize=8)
            ax.axis("off")
            if "|" in title:
                fig.colorbar(im, ax=ax, fraction=0.046)
        fig.suptitle("Top: convolution, f(Sx) equals S f(x) inside the border band. Bottom: pixel MLP, it does not (channel 0)")
        return ctx.save_figure(fig, "equivariance")


def _circ_equivariance(f: nn.Module, x: torch.Tensor, dy: int, dx: int) -> float:
    with torch.no_grad():
        a, b = f(shift(x, dy, dx, circular=True)), shift(f(x), dy, dx, circular=True)
    return float((a - b).norm() / b.norm())


# =============================================================================================
# vision.flops
# =============================================================================================


@dataclass
class FlopsConfig:
    image_size: int = param(224, "side of the RGB input the models are built for and counted at", ge=32)
    models: list[str] = param(
        ["vgg11", "vgg13", "vgg16", "vgg19", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152"],
        "models of the table (the two compared are always counted)",
    )
    resnet: str = param("resnet152", "the residual network of the comparison")
    vgg: str = param("vgg19", "the VGG of the comparison")


@experiment
class Flops(Experiment):
    """MACs of the ImageNet networks, by forward hooks and by torch's FLOP counter, on the meta device."""

    name = "vision.flops"
    claim = (
        "A 152-layer ResNet built from bottleneck blocks needs fewer multiply-accumulates per 224x224 image than the "
        "19-layer VGG, as computed layer by layer and confirmed by a profiler count."
    )
    Config = FlopsConfig
    presets = {"smoke": {"models": [], "resnet": "resnet18", "vgg": "vgg11", "image_size": 64}, "full": {}}
    ci = True

    def run(self, cfg: FlopsConfig, ctx: RunContext) -> Results:
        from torch.utils.flop_counter import FlopCounterMode

        names = list(dict.fromkeys([*cfg.models, cfg.vgg, cfg.resnet]))
        rows = []
        for name in names:
            with torch.device("meta"):  # shapes only: no memory, no arithmetic
                model = create_model(name, num_classes=1000, in_channels=3, image_size=cfg.image_size).eval()
            x = torch.empty(1, 3, cfg.image_size, cfg.image_size, device="meta")
            macs = arith.count_macs(model, input=x)  # our count: forward hooks on conv and linear layers
            with FlopCounterMode(display=False) as counter:  # torch's count: FLOPs = 2 x MACs of each op
                with torch.no_grad():
                    model(x)
            profiler_macs = counter.get_total_flops() / 2
            rows.append(
                {
                    "model": name,
                    "params": arith.count_parameters(model),
                    "gmacs": macs / 1e9,
                    "profiler_gmacs": profiler_macs / 1e9,
                    "relative_difference": abs(macs - profiler_macs) / profiler_macs,
                }
            )
        by = {r["model"]: r for r in rows}
        r152, v19 = by[cfg.resnet], by[cfg.vgg]
        artifacts = [self._plot(ctx, rows, cfg.image_size)]
        return Results(
            metrics={
                "resnet_gmacs": r152["gmacs"],
                "vgg_gmacs": v19["gmacs"],
                "resnet_over_vgg": r152["gmacs"] / v19["gmacs"],
                "resnet_profiler_gmacs": r152["profiler_gmacs"],
                "vgg_profiler_gmacs": v19["profiler_gmacs"],
                "max_relative_difference_hooks_vs_profiler": max(r["relative_difference"] for r in rows),
                "resnet_params_m": r152["params"] / 1e6,
                "vgg_params_m": v19["params"] / 1e6,
            },
            artifacts=artifacts,
            details={"models": rows},
        )

    def verdict(self, results: Results, cfg: FlopsConfig):
        m = results.metrics
        return verdict(
            [
                check(f"{cfg.resnet} MACs / {cfg.vgg} MACs", m["resnet_over_vgg"], "<", 1.0),
                check(f"{cfg.resnet} / {cfg.vgg} by the profiler", m["resnet_profiler_gmacs"] / m["vgg_profiler_gmacs"], "<", 1.0),
                check("largest relative gap, hook count vs profiler count", m["max_relative_difference_hooks_vs_profiler"], "<=", 0.01),
            ],
            f"{cfg.resnet} needs fewer multiply-accumulates than {cfg.vgg}, and the profiler agrees with the layer-by-layer count",
            f"The counts do not show {cfg.resnet} cheaper than {cfg.vgg}, or the two counting methods disagree",
        )

    @staticmethod
    def _plot(ctx: RunContext, rows: list[dict], size: int) -> str:
        plt = _plt()
        fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.2))
        names = [r["model"] for r in rows]
        colors = ["tab:orange" if n.startswith("vgg") else "tab:blue" for n in names]
        a.bar(names, [r["gmacs"] for r in rows], color=colors)
        a.scatter(names, [r["profiler_gmacs"] for r in rows], marker="_", s=300, c="k", label="torch FlopCounterMode / 2")
        a.set(ylabel="GMACs per image", title=f"Multiply-accumulates at 3x{size}x{size}")
        a.tick_params(axis="x", rotation=45)
        a.legend()
        b.scatter([r["params"] / 1e6 for r in rows], [r["gmacs"] for r in rows], c=colors)
        for r in rows:
            b.annotate(r["model"], (r["params"] / 1e6, r["gmacs"]), fontsize=8, xytext=(3, 3), textcoords="offset points")
        b.set(xlabel="parameters (millions)", ylabel="GMACs per image", title="Cost vs size (VGG orange, ResNet blue)")
        return ctx.save_figure(fig, "macs")


# =============================================================================================
# vision.stacked-3x3
# =============================================================================================


def conv_block(c: int, kernel: str) -> nn.Sequential:
    """A width-preserving block: one 5x5 conv-BN-ReLU, or two 3x3 conv-BN-ReLU (``kernel="3x3x2"``)."""
    if kernel == "5x5":
        return nn.Sequential(nn.Conv2d(c, c, 5, padding=2, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True))
    if kernel == "3x3x2":
        return nn.Sequential(
            nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True),
            nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True),
        )
    raise ValueError(f"kernel must be '5x5' or '3x3x2', got {kernel!r}")


class KernelNet(nn.Module):
    """stem 3x3 (1 -> C), pool, block at 14x14, pool, block at 7x7, global average pool, linear.

    The two variants differ only in their blocks (:func:`conv_block`).
    """

    def __init__(self, kernel: str, width: int = 32, num_classes: int = 10, in_channels: int = 1):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True))
        self.block1, self.block2 = conv_block(width, kernel), conv_block(width, kernel)
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 1, 28, 28) -> (B, K)
        x = F.max_pool2d(self.stem(x), 2)  # (B, C, 14, 14)
        x = F.max_pool2d(self.block1(x), 2)  # (B, C, 7, 7)
        x = self.block2(x).mean(dim=(-2, -1))  # (B, C)
        return self.fc(x)


@dataclass
class Stacked3x3Config:
    width: int = param(32, "channels C of every block", ge=1)
    n_train: int | None = param(8000, "training images (None: all 60,000)", ge=100)
    n_test: int | None = param(5000, "test images (None: all 10,000)", ge=100)
    epochs: int = param(2, "passes over the training images", ge=1)
    seeds: int = param(2, "training runs per variant (accuracies are averaged)", ge=1)
    batch_size: int = param(128, "minibatch size", ge=1)
    lr: float = param(0.1, "peak learning rate of the one-cycle schedule", gt=0)


@experiment
class Stacked3x3(Experiment):
    """Two 3x3 convolutions vs one 5x5: receptive field, parameters and trained accuracy."""

    name = "vision.stacked-3x3"
    claim = (
        "Two stacked 3x3 convolutions see the same 5x5 window as one 5x5 convolution with 28% fewer weights "
        "(18C^2 instead of 25C^2), and a network built from them classifies at least as well."
    )
    Config = Stacked3x3Config
    presets = {
        "smoke": {"width": 4, "n_train": 256, "n_test": 200, "epochs": 1, "seeds": 1},
        "full": {"width": 64, "n_train": None, "n_test": None, "epochs": 15, "seeds": 3},
    }
    datasets = ("fashion-mnist",)

    def run(self, cfg: Stacked3x3Config, ctx: RunContext) -> Results:
        x_tr, y_tr = fashion_tensors("train", cfg.n_train, ctx.seed)
        x_te, y_te = fashion_tensors("test", cfg.n_test, ctx.seed + 1)
        recipe = Recipe(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr)
        rf = {k: arith.receptive_field(conv_block(4, k))[-1].size for k in ("5x5", "3x3x2")}
        w = {k: sum(m.weight.numel() for m in conv_block(cfg.width, k).modules() if isinstance(m, nn.Conv2d)) for k in ("5x5", "3x3x2")}
        rows, acc = [], {"5x5": [], "3x3x2": []}
        for s in range(cfg.seeds):
            for kernel in ("5x5", "3x3x2"):
                torch.manual_seed(ctx.seed * 1000 + s)
                model = KernelNet(kernel, cfg.width)
                res = fit(f"{kernel}-seed{s}", model, recipe, (x_tr, y_tr), ctx, evals={"test": (x_te, y_te)})
                a = res.final("test")
                acc[kernel].append(a)
                rows.append({"variant": kernel, "seed": s, "test_accuracy": a, "params": arith.count_parameters(model),
                             "macs": arith.count_macs(model.cpu(), input_size=(1, 28, 28)), "train_s": res.seconds,
                             "curve": [h["test"]["accuracy"] for h in res.history]})
        mean = {k: sum(v) / len(v) for k, v in acc.items()}
        artifacts = [self._plot(ctx, rows, mean)]
        return Results(
            metrics={
                "receptive_field_5x5": float(rf["5x5"]),
                "receptive_field_3x3x2": float(rf["3x3x2"]),
                "block_weight_reduction": 1 - w["3x3x2"] / w["5x5"],
                "model_param_reduction": 1 - rows[1]["params"] / rows[0]["params"],
                "test_accuracy_5x5": mean["5x5"],
                "test_accuracy_3x3x2": mean["3x3x2"],
            },
            artifacts=artifacts,
            details={"runs": [{k: v for k, v in r.items() if k != "curve"} for r in rows]},
        )

    def verdict(self, results: Results, cfg: Stacked3x3Config):
        m = results.metrics
        return verdict(
            [
                check("receptive field of two 3x3 convs", m["receptive_field_3x3x2"], "==", 5.0),
                check("receptive field of one 5x5 conv", m["receptive_field_5x5"], "==", 5.0),
                check("fewer block weights, 1 - 18C^2/25C^2", m["block_weight_reduction"], ">=", 0.28 - 1e-9),
                check("test accuracy, 3x3+3x3 minus 5x5", m["test_accuracy_3x3x2"] - m["test_accuracy_5x5"], ">=", 0.0),
            ],
            "Two 3x3 convolutions cover the 5x5 window with 28% fewer weights and classify at least as well",
            "The stacked 3x3 network did not match the 5x5 network on this run",
        )

    @staticmethod
    def _plot(ctx: RunContext, rows: list[dict], mean: dict[str, float]) -> str:
        plt = _plt()
        fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
        for r in rows:
            a.plot(range(1, len(r["curve"]) + 1), r["curve"], "o-", c="tab:blue" if r["variant"] == "3x3x2" else "tab:orange",
                   label=f"{r['variant']} seed {r['seed']}")
        a.set(xlabel="epoch", ylabel="test accuracy", title="Test accuracy per epoch")
        a.legend(fontsize=8)
        labels = ["one 5x5", "two 3x3"]
        b.bar(labels, [mean["5x5"], mean["3x3x2"]], color=["tab:orange", "tab:blue"])
        lo = min(mean.values())
        b.set(ylim=(max(0.0, lo - 0.05), min(1.0, max(mean.values()) + 0.02)), ylabel="mean test accuracy", title="Same receptive field, 28% fewer weights")
        return ctx.save_figure(fig, "stacked_3x3")


# =============================================================================================
# vision.batchnorm
# =============================================================================================


class BNNet(nn.Module):
    """conv 16, conv 16, pool, conv 32, conv 32, pool, global average pool, linear; BN after every conv or none.

    Batch norm is :class:`adlab.nn.normalization.BatchNorm2d`, written from its definition.
    """

    def __init__(self, batch_norm: bool, width: int = 16, num_classes: int = 10):
        super().__init__()
        layers: list[nn.Module] = []
        c = 1
        for i, w in enumerate((width, width, 2 * width, 2 * width)):
            layers.append(nn.Conv2d(c, w, 3, padding=1, bias=not batch_norm))
            if batch_norm:
                layers.append(BatchNorm2d(w))
            layers.append(nn.ReLU(inplace=True))
            if i in (1, 3):
                layers.append(nn.MaxPool2d(2))
            c = w
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(c, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")  # He: fan-in scaled

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).mean(dim=(-2, -1)))


@dataclass
class BatchNormConfig:
    lrs: list[float] = param([0.004, 0.04, 0.4], "learning rates of SGD with momentum 0.9 (constant), smallest to largest")
    width: int = param(16, "channels of the first two convolutions (doubled for the last two)", ge=1)
    n_train: int | None = param(6400, "training images (None: all 60,000)", ge=64)
    n_test: int | None = param(2000, "test images (None: all 10,000)", ge=100)
    epochs: int = param(1, "passes over the training images", ge=1)
    batch_size: int = param(64, "minibatch size", ge=2)
    tail: float = param(0.2, "fraction of the last steps whose training losses are averaged", gt=0, le=1)


@experiment
class BatchNormLR(Experiment):
    """The same convolutional net with and without batch norm, at three learning rates."""

    name = "vision.batchnorm"
    claim = (
        "With batch norm a convolutional net still converges at a learning rate where the same net without it "
        "diverges or trains clearly slower."
    )
    Config = BatchNormConfig
    presets = {"smoke": {"lrs": [0.04, 0.4], "width": 4, "n_train": 256, "n_test": 200, "batch_size": 32}, "full": {"n_train": None, "epochs": 3, "n_test": None}}
    datasets = ("fashion-mnist",)

    def run(self, cfg: BatchNormConfig, ctx: RunContext) -> Results:
        x_tr, y_tr = fashion_tensors("train", cfg.n_train, ctx.seed)
        x_te, y_te = fashion_tensors("test", cfg.n_test, ctx.seed + 1)
        lrs = sorted(cfg.lrs)
        rows, curves = [], {}
        for bn in (True, False):
            for lr in lrs:
                torch.manual_seed(ctx.seed)
                model = BNNet(bn, cfg.width)
                recipe = Recipe(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=lr, weight_decay=0.0, schedule="constant",
                                label_smoothing=0.0, crop_padding=0, flip=False)
                opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
                losses = StepLosses()
                name = f"{'bn' if bn else 'plain'}-lr{lr:g}"
                res = fit(name, model, recipe, (x_tr, y_tr), ctx, evals={"test": (x_te, y_te)}, callbacks=(losses,), optimizer=opt)
                k = max(1, int(round(cfg.tail * len(losses.losses))))
                tail = losses.losses[-k:]
                final = sum(tail) / len(tail)
                if not math.isfinite(final) or final > 1e3:
                    final = math.inf  # diverged
                curves[name] = losses.losses
                rows.append({"batch_norm": bn, "lr": lr, "final_train_loss": final, "test_accuracy": res.final("test"), "train_s": res.seconds})
        top = lrs[-1]
        get = {(r["batch_norm"], r["lr"]): r for r in rows}
        bn_top, plain_top = get[(True, top)]["final_train_loss"], get[(False, top)]["final_train_loss"]
        artifacts = [self._plot(ctx, curves, lrs)]
        return Results(
            metrics={
                "bn_final_loss_at_top_lr": bn_top,
                "plain_final_loss_at_top_lr": plain_top,
                "plain_over_bn_at_top_lr": plain_top / bn_top if bn_top > 0 else math.inf,
                "bn_test_accuracy_at_top_lr": get[(True, top)]["test_accuracy"],
                "plain_test_accuracy_at_top_lr": get[(False, top)]["test_accuracy"],
                "top_lr": top,
            },
            artifacts=artifacts,
            details={"runs": rows},
        )

    def verdict(self, results: Results, cfg: BatchNormConfig):
        m = results.metrics
        chance = math.log(10)
        return verdict(
            [
                check("with BN at the largest rate: final training loss (converged: <= half of ln 10)", m["bn_final_loss_at_top_lr"], "<=", 0.5 * chance),
                check("without BN / with BN, final training loss at the largest rate (inf: diverged)", m["plain_over_bn_at_top_lr"], ">=", 1.5),
            ],
            "Batch norm keeps training stable at the largest learning rate, where the net without it diverges or lags",
            "The largest learning rate did not separate the nets with and without batch norm as claimed",
        )

    @staticmethod
    def _plot(ctx: RunContext, curves: dict[str, list[float]], lrs: list[float]) -> str:
        plt = _plt()
        fig, axes = plt.subplots(1, len(lrs), figsize=(4.2 * len(lrs), 3.8), sharey=True)
        for ax, lr in zip(list(axes) if len(lrs) > 1 else [axes], lrs):
            for bn, color in ((True, "tab:blue"), (False, "tab:red")):
                y = torch.tensor(curves[f"{'bn' if bn else 'plain'}-lr{lr:g}"], dtype=torch.float64)
                y = torch.where(torch.isfinite(y), y, torch.full_like(y, float("nan")))
                w = max(1, len(y) // 20)
                smooth = F.avg_pool1d(y[None, None], w, 1).squeeze() if len(y) >= w else y
                ax.plot(smooth.numpy(), c=color, label="with BN" if bn else "without BN")
            ax.axhline(math.log(10), ls="--", c="grey", lw=0.8)
            ax.set(title=f"lr = {lr:g}", xlabel="step", ylim=(0, 3.5))
            ax.legend()
        axes[0].set_ylabel("training loss (moving average; gaps: NaN)")
        fig.suptitle("The same net with and without batch norm (dashed: chance level ln 10)")
        return ctx.save_figure(fig, "batchnorm")
