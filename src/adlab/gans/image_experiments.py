r"""Fashion-MNIST GAN experiments: ``gans.fashion``, ``gans.conditional``, ``gans.infogan``, ``gans.truncation``.

Every number here is measured in the feature space of adlab's own
Fashion-MNIST classifier (``adlab.gans.feature_net``), not Inception-v3: the
FID/KID values are comparable with each other (same feature network version)
and **not** with Inception-based values in papers. The same classifier is the
held-out judge of class-conditional samples: it was trained on real labelled
images and never sees the GANs' training.

Quick presets are small CPU runs (minutes); full presets are the GPU scale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from adlab.core import Experiment, Results, RunContext, check, experiment, param, verdict
from adlab.core.seeding import generator
from adlab.gans.feature_net import extract, gan_images, load_feature_net, model_card
from adlab.gans.image_loop import train_gan
from adlab.gans.infogan import InfoCodes, InfoGANDiscriminator, InfoGANGenerator, info_loss, mutual_information_lower_bound, sample_codes
from adlab.gans.losses import adversarial_step, d_loss_hinge, d_loss_minimax, g_loss_hinge, g_loss_nonsaturating
from adlab.gans.models import ConditionalDCGANGenerator, DCGANDiscriminator, DCGANGenerator, ProjectionDiscriminator, SNDiscriminator
from adlab.gans.truncation import truncated_normal
from adlab.metrics.fid import fid, inception_score, kid
from adlab.core.plotting import pyplot as _plt
from adlab.metrics.stats import spearman as _spearman

__all__ = ["Fashion", "Conditional", "InfoGAN", "Truncation", "matched_accuracy"]

FASHION_MODELS = ("dcgan", "wgan-gp", "sn-hinge")


def matched_accuracy(pred: Tensor, labels: Tensor, k: int = 10) -> tuple[float, list[int]]:
    r"""Accuracy of cluster ids ``pred`` against ``labels`` after the best one-to-one relabelling.

    Builds the (k, k) contingency table $C_{ij} = \#\{\text{pred}=i, \text{label}=j\}$ and finds
    the permutation $\pi$ maximising $\sum_i C_{i\pi(i)}$ (Hungarian algorithm,
    ``scipy.optimize.linear_sum_assignment``). Returns the accuracy and $\pi$ as a list.
    """
    from scipy.optimize import linear_sum_assignment

    table = torch.zeros(k, k, dtype=torch.float64)
    table.index_put_((pred.long().cpu(), labels.long().cpu()), torch.ones(len(pred), dtype=torch.float64), accumulate=True)
    rows, cols = linear_sum_assignment(-table.numpy())
    total = float(table[rows, cols].sum())
    mapping = [0] * k
    for r, c in zip(rows.tolist(), cols.tolist()):
        mapping[r] = c
    return total / max(len(pred), 1), mapping


@torch.no_grad()
def _generate(fn, n: int, batch: int = 500) -> Tensor:
    """Concatenate ``fn(start, size)`` over chunks of ``n`` images, on the CPU."""
    return torch.cat([fn(i, min(batch, n - i)).float().cpu() for i in range(0, n, batch)])


def _grid(ctx: RunContext, panels: dict[str, Tensor], name: str, title: str, nrow: int = 8, max_images: int = 64) -> str:
    """Save image grids (one panel per entry, up to ``max_images`` images in [-1, 1], ``nrow`` per row)."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.5), squeeze=False)
    for ax, (label, imgs) in zip(axes[0], panels.items()):
        imgs = imgs[:max_images].clamp(-1, 1)
        n = len(imgs)
        rows = math.ceil(n / nrow)
        canvas = torch.ones(rows * 29 + 1, nrow * 29 + 1)
        for i in range(n):
            r, c = divmod(i, nrow)
            canvas[1 + r * 29 : 1 + r * 29 + 28, 1 + c * 29 : 1 + c * 29 + 28] = imgs[i, 0]
        ax.imshow(canvas.numpy(), cmap="gray", vmin=-1, vmax=1)
        ax.set_title(label, fontsize=9)
        ax.axis("off")
    fig.suptitle(title, fontsize=9)
    return ctx.save_figure(fig, name)


class _FeatureSpace:
    """The feature network, its info and the real test images' features (the FID reference set)."""

    def __init__(self, ctx: RunContext, variant: str, n_real: int, seed: int, device: torch.device):
        self.net, self.info = load_feature_net(variant, device)
        ctx.add_model_card(model_card(self.info))
        self.device = device
        self.real, self.real_labels = gan_images("test", n_real, seed + 101)
        self.real_feats, _ = extract(self.net, self.real, device=device)

    def features(self, images: Tensor) -> tuple[Tensor, Tensor]:
        return extract(self.net, images, device=self.device)

    def score(self, images: Tensor, seed: int) -> dict[str, float]:
        """FID, KID (mean, s.d.) against the real test features, and the Inception-style score."""
        feats, logits = self.features(images)
        k_mean, k_std = kid(feats, self.real_feats, n_subsets=20, subset_size=min(1000, len(feats)), generator=generator(seed, 5))
        return {"fid": fid(feats, self.real_feats), "kid": k_mean, "kid_std": k_std, "is": inception_score(logits, from_logits=True)}


# ============================================================== shared config
@dataclass
class _ImageGANConfig:
    n_train: int | None = param(10000, "Fashion-MNIST training images (None: all 60,000)", ge=64)
    steps: int = param(300, "generator steps", ge=1)
    batch_size: int = param(32, "minibatch size", ge=2)
    z_dim: int = param(64, "latent dimension", ge=1)
    ngf: int = param(16, "generator width (channels of the last hidden layer)", ge=1)
    ndf: int = param(16, "discriminator width", ge=1)
    lr: float = param(2e-4, "Adam learning rate of G and D (betas 0.5, 0.9)", gt=0)
    n_eval: int = param(2000, "generated and real test images for FID/KID", ge=20)
    feature_net: Literal["standard", "tiny"] = param("standard", "feature network variant (tiny: smoke tests only)")
    checkpoint_every: int = param(200, "generator steps between checkpoints (0: none)", ge=0)


_SMOKE = {"n_train": 256, "steps": 3, "batch_size": 16, "ngf": 8, "ndf": 8, "z_dim": 16, "n_eval": 100, "feature_net": "tiny", "checkpoint_every": 0}
_FULL = {"n_train": None, "steps": 20000, "batch_size": 128, "ngf": 64, "ndf": 64, "z_dim": 128, "n_eval": 10000}


def _adam(module: nn.Module, cfg: _ImageGANConfig, lr: float | None = None) -> torch.optim.Optimizer:
    """Adam with the GAN betas (0.5, 0.9) at ``lr`` (None: ``cfg.lr``)."""
    return torch.optim.Adam(module.parameters(), lr=cfg.lr if lr is None else lr, betas=(0.5, 0.9))


def _init(seed: int, build):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


# ==================================================================== fashion
@dataclass
class FashionConfig(_ImageGANConfig):
    models: list[str] = param(list(FASHION_MODELS), "GANs to train", choices=FASHION_MODELS)
    n_critic: int = param(2, "critic steps per generator step for wgan-gp (5 in the paper and the full preset)", ge=1)
    gp_weight: float = param(10.0, "gradient-penalty weight lambda for wgan-gp", gt=0)


@experiment
class Fashion(Experiment):
    """DCGAN, WGAN-GP and SN-hinge GANs on Fashion-MNIST, scored by FID/KID in adlab's feature space."""

    name = "gans.fashion"
    claim = (
        "DCGAN (non-saturating loss), WGAN-GP and SN-GAN with the hinge loss all learn to generate Fashion-MNIST "
        "images: each at least halves the FID (in adlab's feature space) of its untrained generator."
    )
    Config = FashionConfig
    presets = {"smoke": _SMOKE, "full": {**_FULL, "n_critic": 5}}
    datasets = ("fashion-mnist",)
    key_metrics = ("dcgan_fid", "wgan-gp_fid", "sn-hinge_fid")

    def run(self, cfg: FashionConfig, ctx: RunContext) -> Results:
        space = _FeatureSpace(ctx, cfg.feature_net, cfg.n_eval, ctx.seed, ctx.device)
        x_tr, _ = gan_images("train", cfg.n_train, ctx.seed)
        dev = ctx.device
        metrics: dict[str, float] = {}
        panels: dict[str, Tensor] = {"real": space.real[:64]}
        rows = []
        for idx, model in enumerate(cfg.models):
            seed = ctx.seed * 100 + idx
            G = _init(seed, lambda: DCGANGenerator(cfg.z_dim, cfg.ngf)).to(dev)
            if model == "dcgan":
                D = _init(seed + 50, lambda: DCGANDiscriminator(cfg.ndf)).to(dev)
                kw: dict = {"loss": "nonsaturating"}
            elif model == "wgan-gp":
                D = _init(seed + 50, lambda: SNDiscriminator(cfg.ndf, spectral=False)).to(dev)
                kw = {"loss": "wasserstein", "n_critic": cfg.n_critic, "gp_weight": cfg.gp_weight}
            else:
                D = _init(seed + 50, lambda: SNDiscriminator(cfg.ndf)).to(dev)
                kw = {"loss": "hinge"}
            g_eval = generator(seed, 9)
            z_eval = torch.randn(cfg.n_eval, cfg.z_dim, generator=g_eval)
            G.eval()
            before = space.score(_generate(lambda i, n: G(z_eval[i : i + n].to(dev)), cfg.n_eval), seed)
            opt_g, opt_d = _adam(G, cfg), _adam(D, cfg)

            def step(next_batch, g, G=G, D=D, opt_g=opt_g, opt_d=opt_d, kw=kw):
                batches = iter(lambda: next_batch()[0], None)
                return adversarial_step(G, D, opt_g, opt_d, batches, lambda n: torch.randn(n, cfg.z_dim, generator=g).to(dev), generator=g, **kw)

            train_gan(ctx, model, {"G": G, "D": D}, {"G": opt_g, "D": opt_d}, step, (x_tr,), cfg.steps, cfg.batch_size, seed, cfg.checkpoint_every)
            fake = _generate(lambda i, n: G(z_eval[i : i + n].to(dev)), cfg.n_eval)
            after = space.score(fake, seed)
            panels[model] = fake[:64]
            for k, v in after.items():
                metrics[f"{model}_{k}"] = v
            metrics[f"{model}_fid_untrained"] = before["fid"]
            metrics[f"{model}_fid_ratio"] = after["fid"] / max(before["fid"], 1e-12)
            rows.append({"model": model, **after, "fid_untrained": before["fid"]})
            ctx.log(cfg.steps, "eval", model=model, **after)
        x_ref, _ = gan_images("train", cfg.n_eval, ctx.seed + 7)
        metrics["real_train_vs_test_fid"] = space.score(x_ref, ctx.seed)["fid"]
        metrics["feature_net_test_accuracy"] = float(space.info["test_accuracy"])
        art = _grid(ctx, panels, "samples", f"Real test images and samples after {cfg.steps} generator steps")
        return Results(metrics=metrics, artifacts=[art], details={"models": rows, "feature_net": space.info})

    def verdict(self, results: Results, cfg: FashionConfig):
        m = results.metrics
        return verdict(
            [check(f"{k}: FID after training / FID of the untrained generator", m[f"{k}_fid_ratio"], "<=", 0.5) for k in cfg.models],
            "Every GAN objective learned Fashion-MNIST images (FID at least halved)",
            "A GAN did not halve the FID of its untrained generator",
        )


# ================================================================ conditional
@dataclass
class ConditionalConfig(_ImageGANConfig):
    steps: int = param(2000, "generator steps", ge=1)
    spectral: bool = param(True, "spectrally normalise the projection discriminator (SN-GAN / BigGAN)")
    class_input: bool = param(True, "also feed onehot(y) to the generator's input layer (besides its conditional batch norms)")


def _is_full(cfg: _ImageGANConfig) -> bool:
    """The issue's full-scale bars apply from the full preset's number of steps on."""
    return cfg.steps >= _FULL["steps"]


def _train_conditional(cfg: ConditionalConfig, ctx: RunContext) -> tuple[nn.Module, int]:
    """Train the class-conditional DCGAN G(z, y) against a projection discriminator D(x, y) with the
    hinge loss (SN-GAN / BigGAN); returns G and the run's seed offset."""
    x_tr, y_tr = gan_images("train", cfg.n_train, ctx.seed)
    dev, seed = ctx.device, ctx.seed * 100
    G = _init(seed, lambda: ConditionalDCGANGenerator(cfg.z_dim, 10, cfg.ngf, class_input=cfg.class_input)).to(dev)
    D = _init(seed + 50, lambda: ProjectionDiscriminator(10, cfg.ndf, spectral=cfg.spectral)).to(dev)
    opt_g, opt_d = _adam(G, cfg), _adam(D, cfg)

    def step(next_batch, g):
        x, y = next_batch()
        b = len(x)
        z = torch.randn(b, cfg.z_dim, generator=g).to(dev)
        y_fake = torch.randint(0, 10, (b,), generator=g).to(dev)
        with torch.no_grad():
            fake = G(z, y_fake)
        opt_d.zero_grad(set_to_none=True)
        d_loss = d_loss_hinge(D(x, y), D(fake, y_fake))  # max(0, 1 - D(x,y)) + max(0, 1 + D(G(z,y'),y'))
        d_loss.backward()
        opt_d.step()
        opt_g.zero_grad(set_to_none=True)
        z = torch.randn(b, cfg.z_dim, generator=g).to(dev)
        y_fake = torch.randint(0, 10, (b,), generator=g).to(dev)
        g_loss = g_loss_hinge(D(G(z, y_fake), y_fake))  # -D(G(z,y),y)
        g_loss.backward()
        opt_g.step()
        return {"d_loss": float(d_loss.detach()), "g_loss": float(g_loss.detach())}

    train_gan(ctx, "conditional", {"G": G, "D": D}, {"G": opt_g, "D": opt_d}, step, (x_tr, y_tr), cfg.steps, cfg.batch_size, seed, cfg.checkpoint_every)
    return G, seed


@experiment
class Conditional(Experiment):
    """Class-conditional DCGAN (conditional batch norm) with a projection discriminator and the hinge loss."""

    name = "gans.conditional"
    claim = (
        "A class-conditional GAN produces the requested class: a classifier trained separately on real images "
        "recognises the requested class in at least 80% of samples at full scale (quick CPU scale: at least 50%)."
    )
    Config = ConditionalConfig
    presets = {"smoke": _SMOKE, "full": _FULL}
    datasets = ("fashion-mnist",)
    key_metrics = ("requested_class_accuracy", "fid")

    def run(self, cfg: ConditionalConfig, ctx: RunContext) -> Results:
        space = _FeatureSpace(ctx, cfg.feature_net, cfg.n_eval, ctx.seed, ctx.device)
        G, seed = _train_conditional(cfg, ctx)
        dev = ctx.device
        g_eval = generator(seed, 9)
        y_req = torch.arange(cfg.n_eval) % 10
        z = torch.randn(cfg.n_eval, cfg.z_dim, generator=g_eval)
        fake = _generate(lambda i, n: G(z[i : i + n].to(dev), y_req[i : i + n].to(dev)), cfg.n_eval)
        feats, logits = space.features(fake)
        pred = logits.argmax(1)
        per_class = [float((pred[y_req == c] == c).double().mean()) for c in range(10)]
        scores = space.score(fake, seed)
        _, real_logits = space.features(space.real)
        metrics = {
            "requested_class_accuracy": float((pred == y_req).double().mean()),
            "worst_class_accuracy": min(per_class),
            "classifier_accuracy_on_real_test": float((real_logits.argmax(1) == space.real_labels).double().mean()),
            **scores,
        }
        ordered = torch.cat([fake[(y_req == c).nonzero().squeeze(1)[:8]] for c in range(10)])
        art = _grid(ctx, {"rows: requested classes 0-9": ordered}, "samples-by-class", "Conditional samples, one class per row", nrow=8, max_images=80)
        from adlab.data.fashion_mnist import CLASSES

        details = {"per_class": [{"class": CLASSES[c], "accuracy": per_class[c]} for c in range(10)], "feature_net": space.info}
        return Results(metrics=metrics, artifacts=[art], details=details)

    def verdict(self, results: Results, cfg: ConditionalConfig):
        bar = 0.8 if _is_full(cfg) else 0.5
        return verdict(
            [check("held-out classifier agrees with the requested class", results.metrics["requested_class_accuracy"], ">=", bar)],
            "The conditional GAN generates the class it is asked for",
            "The conditional GAN's samples are not recognised as the requested class often enough",
        )


# ==================================================================== infogan
@dataclass
class InfoGANConfig(_ImageGANConfig):
    steps: int = param(2000, "generator steps", ge=1)
    z_dim: int = param(62, "incompressible noise dimension (besides 10 categorical + 2 continuous codes)", ge=1)
    lambda_cont: float = param(0.1, "weight of the continuous codes' information term", ge=0)
    g_hidden: int | None = param(None, "units of G's fully connected layer before its 7x7 projection (None: 16 ngf, the InfoGAN paper's 1024 at width 64; 0: no such layer)", ge=0)
    lr_g: float | None = param(None, "Adam learning rate of G (None: lr, as D); the InfoGAN paper trains G at 1e-3 and D at 2e-4", gt=0)


@experiment
class InfoGAN(Experiment):
    """InfoGAN: does the 10-way categorical code discover the clothing classes without labels?"""

    name = "gans.infogan"
    claim = (
        "Trained without labels, InfoGAN's 10-way categorical code aligns with the Fashion-MNIST classes: after the "
        "best one-to-one matching of codes to classes, the recognition network Q labels real test images correctly and "
        "a held-out classifier recognises the code's class in generated images, each at least 60% of the time at full "
        "scale (quick CPU scale: at least 30%; chance is 10%)."
    )
    Config = InfoGANConfig
    presets = {"smoke": {**_SMOKE, "z_dim": 16}, "full": {**_FULL, "z_dim": 62}}
    datasets = ("fashion-mnist",)
    key_metrics = ("q_matched_accuracy", "code_matched_accuracy")

    def run(self, cfg: InfoGANConfig, ctx: RunContext) -> Results:
        space = _FeatureSpace(ctx, cfg.feature_net, cfg.n_eval, ctx.seed, ctx.device)
        x_tr, _ = gan_images("train", cfg.n_train, ctx.seed)  # labels are not used for training
        dev, seed = ctx.device, ctx.seed * 100
        G = _init(seed, lambda: InfoGANGenerator(cfg.z_dim, 10, 2, cfg.ngf, hidden=16 * cfg.ngf if cfg.g_hidden is None else cfg.g_hidden)).to(dev)
        D = _init(seed + 50, lambda: InfoGANDiscriminator(10, 2, cfg.ndf)).to(dev)
        opt_g, opt_d = _adam(G, cfg, lr=cfg.lr_g), _adam(D, cfg)

        def codes_on(codes: InfoCodes) -> InfoCodes:
            return InfoCodes(codes.z.to(dev), codes.cat.to(dev), codes.cont.to(dev), codes.n_categories)

        def step(next_batch, g):
            (x,) = next_batch()
            codes = codes_on(sample_codes(len(x), cfg.z_dim, 10, 2, generator=g))
            fake = G(codes)
            b = len(x)
            # Real and generated images go through D in one batch: D's batch norm then normalises both with
            # the same statistics. Scored in separate batches, each batch is normalised on its own and D
            # stays at chance (its loss stuck near 2 log 2) while G learns nothing.
            opt_d.zero_grad(set_to_none=True)
            logit, cat, mu, log_std = D(torch.cat([x, fake.detach()]))
            # D maximises V(D, G); Q (sharing D's trunk) maximises the lower bound L_I on generated images
            d_loss = d_loss_minimax(logit[:b], logit[b:]) + info_loss(cat[b:], mu[b:], log_std[b:], codes, lambda_cont=cfg.lambda_cont)
            d_loss.backward()
            opt_d.step()
            opt_g.zero_grad(set_to_none=True)
            logit, cat, mu, log_std = D(torch.cat([x, fake]))
            g_loss = g_loss_nonsaturating(logit[b:]) + info_loss(cat[b:], mu[b:], log_std[b:], codes, lambda_cont=cfg.lambda_cont)
            g_loss.backward()
            opt_g.step()
            return {"d_loss": float(d_loss.detach()), "g_loss": float(g_loss.detach())}

        train_gan(ctx, "infogan", {"G": G, "D": D}, {"G": opt_g, "D": opt_d}, step, (x_tr,), cfg.steps, cfg.batch_size, seed, cfg.checkpoint_every)
        with torch.no_grad():
            q_pred = torch.cat([D(space.real[i : i + 500].to(dev))[1].argmax(1).cpu() for i in range(0, len(space.real), 500)])
        q_acc, mapping = matched_accuracy(q_pred, space.real_labels)
        g_eval = generator(seed, 9)
        codes = sample_codes(cfg.n_eval, cfg.z_dim, 10, 2, generator=g_eval)
        codes.cat = torch.arange(cfg.n_eval) % 10
        fake = _generate(lambda i, n: G(codes_on(InfoCodes(codes.z[i : i + n], codes.cat[i : i + n], codes.cont[i : i + n], 10))), cfg.n_eval)
        _, logits = space.features(fake)
        code_acc, code_map = matched_accuracy(codes.cat, logits.argmax(1))
        scores = space.score(fake, seed)
        # is the code used at all? Q's recovery of c_1 from G(z, c) and the bound L_I <= I(c_1; G) <= log 10
        with torch.no_grad():
            q_out = [D(fake[i : i + 500].to(dev)) for i in range(0, len(fake), 500)]
        q_cat, q_mu, q_ls = (torch.cat([o[k].cpu() for o in q_out]) for k in (1, 2, 3))
        bound = mutual_information_lower_bound(q_cat, q_mu, q_ls, codes)
        metrics = {
            "q_matched_accuracy": q_acc, "code_matched_accuracy": code_acc,
            "q_accuracy_on_generated": float((q_cat.argmax(1) == codes.cat).double().mean()),
            "mi_lower_bound_cat_nats": float(bound["cat"]), "mi_max_cat_nats": math.log(10), **scores,
        }
        ordered = torch.cat([fake[(codes.cat == c).nonzero().squeeze(1)[:8]] for c in range(10)])
        art = _grid(ctx, {"rows: categorical code 0-9": ordered}, "samples-by-code", "InfoGAN samples, one categorical code per row", nrow=8, max_images=80)
        from adlab.data.fashion_mnist import CLASSES

        details = {
            "q_code_to_class": {str(k): CLASSES[v] for k, v in enumerate(mapping)},
            "code_to_predicted_class": {str(k): CLASSES[v] for k, v in enumerate(code_map)},
            "feature_net": space.info,
        }
        return Results(metrics=metrics, artifacts=[art], details=details)

    def verdict(self, results: Results, cfg: InfoGANConfig):
        bar = 0.6 if _is_full(cfg) else 0.3
        return verdict(
            [
                check("Q's categorical code vs true labels on real test images, best matching", results.metrics["q_matched_accuracy"], ">=", bar),
                check("code of generated images vs the held-out classifier's class, best matching", results.metrics["code_matched_accuracy"], ">=", bar),
            ],
            "InfoGAN's categorical code found the clothing classes without labels",
            "InfoGAN's categorical code did not align with the classes well enough",
        )


# ================================================================= truncation
@dataclass
class TruncationConfig(ConditionalConfig):
    thresholds: list[float] = param([0.25, 0.5, 1.0, 1.5, 2.0], "truncation thresholds tau (no truncation is added)")


def _within_class_diversity(feats: Tensor, labels: Tensor, per_class: int = 100) -> float:
    """Mean pairwise feature distance among samples of the same requested class, averaged over classes."""
    means = []
    for c in labels.unique():
        f = feats[labels == c][:per_class]  # (n, d)
        if len(f) > 1:
            means.append(torch.cdist(f, f).sum() / (len(f) * (len(f) - 1)))  # the diagonal is 0
    return float(torch.stack(means).mean())


@experiment
class Truncation(Experiment):
    """The truncation trick on a class-conditional GAN (BigGAN): diversity, quality and FID against the threshold."""

    name = "gans.truncation"
    claim = (
        "Sampling a trained class-conditional GAN's latents from a truncated normal trades diversity for quality: "
        "the smaller the threshold, the less diverse the samples of each class and the more confidently a held-out "
        "classifier recognises the requested class."
    )
    Config = TruncationConfig
    presets = {"smoke": _SMOKE, "full": {**_FULL, "thresholds": [0.1, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0]}}
    datasets = ("fashion-mnist",)
    key_metrics = ("diversity_rank_correlation", "diversity_ratio", "confidence_gain")

    def run(self, cfg: TruncationConfig, ctx: RunContext) -> Results:
        # BigGAN truncates the latent of a class-conditional generator: G(0, y) is then the class's
        # "typical" image. (An unconditional G(0) is one image, often a blend of classes.)
        space = _FeatureSpace(ctx, cfg.feature_net, cfg.n_eval, ctx.seed, ctx.device)
        G, seed = _train_conditional(cfg, ctx)
        dev = ctx.device
        y_req = torch.arange(cfg.n_eval) % 10  # requested classes, balanced
        taus = sorted(cfg.thresholds) + [math.inf]
        rows, panels = [], {}
        for mode in ("resample", "scale"):
            for tau in taus:
                g_eval = generator(seed, 9)  # the same draws for every tau
                if math.isinf(tau):
                    z = torch.randn(cfg.n_eval, cfg.z_dim, generator=g_eval)
                else:
                    z = truncated_normal((cfg.n_eval, cfg.z_dim), tau, g_eval, mode=mode)
                fake = _generate(lambda i, n: G(z[i : i + n].to(dev), y_req[i : i + n].to(dev)), cfg.n_eval)
                feats, logits = space.features(fake)
                p_req = F.softmax(logits, 1).gather(1, y_req[:, None]).squeeze(1)  # p(requested class | x)
                row = {
                    "mode": mode, "tau": tau,
                    "diversity": _within_class_diversity(feats, y_req),
                    "confidence": float(p_req.mean()),
                    "requested_class_accuracy": float((logits.argmax(1) == y_req).double().mean()),
                    **space.score(fake, seed),
                }
                rows.append(row)
                if mode == "resample" and tau in (taus[0], 1.0, math.inf):
                    order = torch.cat([(y_req == c).nonzero().squeeze(1)[:6] for c in range(10)])
                    panels[f"tau = {tau:g}"] = fake[order]
                ctx.log(len(rows), mode, **{k: v for k, v in row.items() if k != "mode"})
        res = [r for r in rows if r["mode"] == "resample"]
        div = torch.tensor([r["diversity"] for r in res])
        metrics = {
            "diversity_rank_correlation": _spearman(np.arange(len(res)), div.double().cpu().numpy()),
            "diversity_ratio": res[0]["diversity"] / max(res[-1]["diversity"], 1e-12),
            "confidence_gain": res[0]["confidence"] - res[-1]["confidence"],
            "accuracy_smallest_tau": res[0]["requested_class_accuracy"],
            "accuracy_no_truncation": res[-1]["requested_class_accuracy"],
            "fid_smallest_tau": res[0]["fid"],
            "fid_no_truncation": res[-1]["fid"],
            "best_fid": min(r["fid"] for r in res),
            "best_fid_tau": min(res, key=lambda r: r["fid"])["tau"],
        }
        arts = [_grid(ctx, panels, "samples-by-tau", "Same latents and classes (one per row), truncated by resampling", nrow=6, max_images=60),
                self._plot(ctx, rows)]
        return Results(metrics=metrics, artifacts=arts, details={"sweep": rows, "feature_net": space.info})

    @staticmethod
    def _plot(ctx: RunContext, rows: list[dict]) -> str:
        plt = _plt()
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
        for mode, style in (("resample", "o-"), ("scale", "s--")):
            rs = [r for r in rows if r["mode"] == mode]
            x = [r["tau"] if math.isfinite(r["tau"]) else 4.0 for r in rs]
            for ax, key in zip(axes, ("diversity", "confidence", "fid")):
                ax.plot(x, [r[key] for r in rs], style, label=f"{mode} (tau = 4 means none)")
        for ax, (key, lab) in zip(axes, (("diversity", "within-class pairwise feature distance"), ("confidence", "mean p(requested class)"), ("fid", "FID (adlab features)"))):
            ax.set(xlabel="truncation threshold tau", ylabel=lab, title=key)
            ax.legend(fontsize=7)
        return ctx.save_figure(fig, "truncation-sweep")

    def verdict(self, results: Results, cfg: TruncationConfig):
        m = results.metrics
        return verdict(
            [
                check("rank correlation of diversity with tau (resampling)", m["diversity_rank_correlation"], ">=", 0.9),
                check("diversity at the smallest tau / without truncation", m["diversity_ratio"], "<", 1.0),
                check("p(requested class) gained by the smallest tau", m["confidence_gain"], ">", 0.0),
            ],
            "Truncation lowers diversity within each class and raises the classifier's confidence in the requested class, as the trick promises",
            "Truncation did not trade diversity for confidence as claimed",
        )


