r"""Registered claims of lecture 9, generative adversarial networks.

This file holds the two experiments that need no GAN training
(``gans.divergences``, ``gans.fid-bias``) and imports the others so that
``adlab.catalog`` registers all seven:

- ``adlab.gans.mode_collapse``: ``gans.mode-collapse`` (2-D ring and grid);
- ``adlab.gans.image_experiments``: ``gans.fashion``, ``gans.conditional``,
  ``gans.infogan``, ``gans.truncation`` (Fashion-MNIST, FID/KID in the feature
  space of ``adlab.gans.feature_net``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch

from adlab.core import Experiment, Results, RunContext, check, experiment, param, verdict
from adlab.core.seeding import generator
from adlab.gans import image_experiments, mode_collapse  # noqa: F401  (registers their experiments)
from adlab.gans.feature_net import extract, gan_images, load_feature_net, model_card
from adlab.metrics.divergences import js_discrete, kl_density, kl_discrete, reverse_kl_density, wasserstein1_1d
from adlab.metrics.fid import fid, kid
from adlab.core.plotting import pyplot as _plt

__all__ = ["Divergences", "FidBias", "fit_gaussian"]

LOG2 = math.log(2.0)


# ================================================================ divergences
def _log_normal(x, mu, sigma):
    # $\log\mathcal N(x; \mu, \sigma^2)$, broadcast (S, 1) against (1, N)
    return -0.5 * ((x - mu) / sigma) ** 2 - torch.log(sigma) - 0.5 * math.log(2 * math.pi)


def _log_target(x, separation: float, std: float):
    # $\log p(x)$, $p = \frac12\mathcal N(-a, s^2) + \frac12\mathcal N(a, s^2)$
    s = torch.tensor(std, dtype=x.dtype)
    a = torch.stack([_log_normal(x, -separation, s), _log_normal(x, separation, s)])
    return torch.logsumexp(a, dim=0) - LOG2


def fit_gaussian(
    divergence: str,
    mu0: torch.Tensor,
    sigma0: float,
    separation: float = 3.0,
    std: float = 1.0,
    steps: int = 1500,
    lr: float = 0.05,
    half_width: float = 12.0,
    n_grid: int = 4801,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""Fit $q = \mathcal N(\mu, \sigma^2)$ to the bimodal target by minimising one divergence.

    ``divergence``: ``"forward"`` $KL(p\|q) = \int p\log\frac pq$ (mean-seeking),
    ``"reverse"`` $KL(q\|p) = \int q\log\frac qp$ (mode-seeking) or ``"js"``.
    The integrals are Riemann sums on ``n_grid`` points of $[-w, w]$, written
    with log-densities so that no density underflows. One fit per entry of
    ``mu0`` (S,), all optimised together by Adam over $(\mu, \log\sigma)$.
    Returns the final $\mu$ (S,), $\sigma$ (S,) and divergence values (S,).
    """
    x = torch.linspace(-half_width, half_width, n_grid, dtype=torch.float64)[None, :]  # (1, N)
    dx = 2 * half_width / (n_grid - 1)
    log_p = _log_target(x, separation, std)  # (1, N)
    mu = mu0.clone().double()[:, None].requires_grad_(True)  # (S, 1)
    log_sigma = torch.full_like(mu, math.log(sigma0)).requires_grad_(True)
    opt = torch.optim.Adam([mu, log_sigma], lr=lr)

    def value() -> torch.Tensor:
        log_q = _log_normal(x, mu, log_sigma.exp())  # (S, N)
        if divergence == "forward":
            # $\int p (\log p - \log q)$
            return (log_p.exp() * (log_p - log_q)).sum(1) * dx
        if divergence == "reverse":
            # $\int q (\log q - \log p)$
            return (log_q.exp() * (log_q - log_p)).sum(1) * dx
        if divergence == "js":
            # $\frac12\int p\log\frac pm + \frac12\int q\log\frac qm$, $\log m = \log\frac{p+q}2$
            log_m = torch.logaddexp(log_p, log_q) - LOG2
            return 0.5 * ((log_p.exp() * (log_p - log_m)).sum(1) + (log_q.exp() * (log_q - log_m)).sum(1)) * dx
        raise ValueError(f"unknown divergence {divergence!r}")

    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        value().sum().backward()
        opt.step()
    with torch.no_grad():
        return mu.squeeze(1).detach(), log_sigma.exp().squeeze(1).detach(), value().detach()


@dataclass
class DivergencesConfig:
    separation: float = param(3.0, "the target's modes sit at -a and +a", gt=0)
    mode_std: float = param(1.0, "standard deviation of each target mode", gt=0)
    starts: list[float] = param([-2.5, -0.5, 0.5, 1.5, 4.0], "initial means of the Gaussian fits (one fit per start)")
    sigma0: float = param(1.0, "initial standard deviation of every fit", gt=0)
    steps: int = param(1500, "Adam steps per fit", ge=1)
    lr: float = param(0.05, "Adam learning rate on (mu, log sigma)", gt=0)
    n_grid: int = param(4801, "quadrature points on [-12, 12]", ge=101)
    shifts: int = param(31, "shifts theta in [0, 3] for the disjoint-support study", ge=3)
    n_samples: int = param(5000, "samples per distribution for the empirical W1", ge=10)
    bin_width: float = param(0.01, "histogram bin width for KL/JS of the shifted uniforms", gt=0)


@experiment
class Divergences(Experiment):
    """Forward vs reverse KL fits to a bimodal target; JS, KL and W1 for disjoint supports."""

    name = "gans.divergences"
    claim = (
        "Fitting one Gaussian to a two-mode target by forward KL spreads it over both modes while reverse KL "
        "locks onto one mode; for distributions with disjoint supports KL is infinite and JS stays at log 2, "
        "while the Wasserstein-1 distance grows smoothly with the shift."
    )
    Config = DivergencesConfig
    presets = {
        "smoke": {"steps": 200, "n_grid": 601, "shifts": 7, "n_samples": 500, "bin_width": 0.05},
        "full": {"steps": 4000, "n_grid": 24001, "shifts": 121, "n_samples": 100000, "bin_width": 0.002,
                 "starts": [-4.0, -2.5, -1.0, -0.5, 0.5, 1.0, 2.5, 4.0]},
    }
    ci = True
    flagship = True
    key_metrics = ("forward_max_abs_mu", "reverse_best_mode_error", "js_disjoint_max_error", "w1_max_error")

    def run(self, cfg: DivergencesConfig, ctx: RunContext) -> Results:
        starts = torch.tensor(cfg.starts, dtype=torch.float64)
        fits = {}
        for div in ("forward", "reverse", "js"):
            mu, sigma, val = fit_gaussian(div, starts, cfg.sigma0, cfg.separation, cfg.mode_std, cfg.steps, cfg.lr, n_grid=cfg.n_grid)
            fits[div] = (mu, sigma, val)
            ctx.log(cfg.steps, div, mean_mu=float(mu.mean()), mean_sigma=float(sigma.mean()))
        sigma_mm = math.sqrt(cfg.mode_std**2 + cfg.separation**2)  # moment matching: Var p = s^2 + a^2
        f_mu, f_sigma, _ = fits["forward"]
        r_mu, r_sigma, _ = fits["reverse"]
        # independent check of the fitted objective with adlab.metrics (densities on the grid)
        x = torch.linspace(-12, 12, cfg.n_grid, dtype=torch.float64)
        dx = float(x[1] - x[0])
        p = _log_target(x[None], cfg.separation, cfg.mode_std).exp()[0]
        q_f = torch.exp(_log_normal(x, f_mu[0], f_sigma[0]))
        q_r = torch.exp(_log_normal(x, r_mu[0], r_sigma[0]))
        kl_f_of_f, kl_f_of_r = float(kl_density(p, q_f, dx)), float(kl_density(p, q_r, dx))
        rkl_r_of_r, rkl_r_of_f = float(reverse_kl_density(p, q_r, dx)), float(reverse_kl_density(p, q_f, dx))

        shift = self._disjoint(cfg, ctx.seed)
        disjoint = [r for r in shift if r["disjoint"]]
        j_mu, j_sigma, _ = fits["js"]
        r_val = fits["reverse"][2]
        best = int(r_val.argmin())
        at_mode = (r_mu.abs() - cfg.separation).abs() <= 0.25
        j_at_mode = (j_mu.abs() - cfg.separation).abs() <= 0.25
        metrics = {
            "forward_max_abs_mu": float(f_mu.abs().max()),
            "forward_max_sigma_error": float((f_sigma - sigma_mm).abs().max()),
            "reverse_best_mode_error": float((r_mu[best].abs() - cfg.separation).abs()),
            "reverse_best_sigma": float(r_sigma[best]),
            "reverse_modes_found": float(len({int(torch.sign(m)) for m in r_mu[at_mode]})),
            "reverse_fits_at_a_mode": float(at_mode.double().mean()),
            "js_fits_at_a_mode": float(j_at_mode.double().mean()),
            "js_solution_kinds": float(int(bool(j_at_mode.any())) + int(bool((~j_at_mode).any()))),
            "forward_kl_of_forward_fit": kl_f_of_f,
            "forward_kl_of_reverse_fit": kl_f_of_r,
            "reverse_kl_of_reverse_fit": rkl_r_of_r,
            "reverse_kl_of_forward_fit": rkl_r_of_f,
            "js_disjoint_max_error": max(abs(r["js"] - LOG2) for r in disjoint),
            "kl_finite_when_disjoint": float(sum(math.isfinite(r["kl"]) for r in disjoint)),
            "w1_max_error": max(abs(r["w1"] - r["theta"]) for r in shift),
            "w1_grad_at_max_shift": shift[-1]["w1_grad"],
            "js_slope_when_disjoint": max(abs(r["js_slope"]) for r in disjoint),
        }
        fit_rows = [
            {"divergence": d, "mu0": float(m0), "mu": float(fits[d][0][i]), "sigma": float(fits[d][1][i]), "value": float(fits[d][2][i])}
            for d in fits for i, m0 in enumerate(starts)
        ]
        artifacts = [self._plot_fits(ctx, cfg, fits), self._plot_shift(ctx, shift)]
        return Results(metrics=metrics, artifacts=artifacts, details={"fits": fit_rows, "shift": shift})

    @staticmethod
    def _disjoint(cfg: DivergencesConfig, seed: int) -> list[dict]:
        r"""$P = U[0,1]$, $Q_\theta = U[\theta, \theta+1]$: KL/JS of histograms, W1 of samples, vs $\theta$."""
        edges_lo, edges_hi = -0.5, 4.5
        n_bins = int(round((edges_hi - edges_lo) / cfg.bin_width))
        centres = edges_lo + (torch.arange(n_bins, dtype=torch.float64) + 0.5) * cfg.bin_width

        def hist(theta: float) -> torch.Tensor:
            inside = (centres > theta) & (centres < theta + 1)
            return inside.double() / inside.sum()

        g = generator(seed, 11)
        x = torch.rand(cfg.n_samples, generator=g, dtype=torch.float64)
        y0 = torch.rand(cfg.n_samples, generator=g, dtype=torch.float64)
        p = hist(0.0)
        rows = []
        for theta in torch.linspace(0.0, 3.0, cfg.shifts, dtype=torch.float64).tolist():
            q = hist(theta)
            js = float(js_discrete(p, q))
            kl = float(kl_discrete(p, q))
            th = torch.tensor(theta, dtype=torch.float64, requires_grad=True)
            w1 = wasserstein1_1d(x, y0 + th)
            (grad,) = torch.autograd.grad(w1, th)
            # finite-difference slope of JS: a generator moving Q learns nothing from a flat JS
            js_slope = (float(js_discrete(p, hist(theta + 0.1))) - js) / 0.1
            rows.append({
                "theta": theta, "js": js, "kl": kl, "w1": float(w1.detach()), "w1_grad": float(grad), "js_slope": js_slope,
                "disjoint": bool(theta >= 1.0 + cfg.bin_width),
            })
        return rows

    @staticmethod
    def _plot_fits(ctx: RunContext, cfg: DivergencesConfig, fits: dict) -> str:
        plt = _plt()
        x = torch.linspace(-8, 8, 801, dtype=torch.float64)
        p = _log_target(x[None], cfg.separation, cfg.mode_std).exp()[0]
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), sharey=True)
        titles = {"forward": "forward KL(p||q): covers both modes", "reverse": "reverse KL(q||p): picks one mode", "js": "Jensen-Shannon"}
        for ax, (d, (mu, sigma, _)) in zip(axes, fits.items()):
            ax.fill_between(x.numpy(), p.numpy(), color="grey", alpha=0.35, label="target p")
            for i in range(len(mu)):
                q = torch.exp(_log_normal(x, mu[i], sigma[i]))
                ax.plot(x.numpy(), q.numpy(), lw=1.4, label=f"fit from mu0={cfg.starts[i]:g}")
            ax.set(title=titles[d], xlabel="x")
        axes[0].set_ylabel("density")
        axes[-1].legend(fontsize=7)
        return ctx.save_figure(fig, "gaussian-fits")

    @staticmethod
    def _plot_shift(ctx: RunContext, shift: list[dict]) -> str:
        plt = _plt()
        th = [r["theta"] for r in shift]
        fig, ax = plt.subplots(figsize=(6.4, 3.8))
        ax.plot(th, [r["js"] for r in shift], "o-", ms=3, label="JS(P, Q_theta)")
        ax.plot(th, [r["w1"] for r in shift], "s-", ms=3, label="W1(P, Q_theta), from samples")
        kl = [r["kl"] if math.isfinite(r["kl"]) else float("nan") for r in shift]
        ax.plot(th, kl, "^-", ms=3, label="KL(P || Q_theta) (missing: infinite)")
        ax.axhline(LOG2, ls="--", c="grey", lw=1, label="log 2")
        ax.axvline(1.0, ls=":", c="k", lw=1)
        ax.set(xlabel="shift theta (supports disjoint for theta >= 1)", ylabel="nats / distance",
               title="P = U[0,1] vs Q = U[theta, theta+1]", ylim=(0, 3.2))
        ax.legend(fontsize=8)
        return ctx.save_figure(fig, "disjoint-supports")

    def verdict(self, results: Results, cfg: DivergencesConfig):
        m = results.metrics
        return verdict(
            [
                check("forward-KL fits: largest |mu| (mode averaging puts it at 0)", m["forward_max_abs_mu"], "<=", 0.1),
                check("forward-KL fits: largest |sigma - sqrt(s^2 + a^2)| (moment matching)", m["forward_max_sigma_error"], "<=", 0.1),
                check("best reverse-KL fit: distance of |mu| from a mode", m["reverse_best_mode_error"], "<=", 0.25),
                check("best reverse-KL fit: sigma (one mode's width is 1)", m["reverse_best_sigma"], "<=", 1.25),
                check("distinct modes picked by reverse-KL fits from different starts", m["reverse_modes_found"], "==", 2),
                check("kinds of JS solution (one mode / both modes) over the starts", m["js_solution_kinds"], "==", 2),
                check("disjoint supports: largest |JS - log 2|", m["js_disjoint_max_error"], "<=", 1e-9),
                check("disjoint supports: shifts with a finite KL", m["kl_finite_when_disjoint"], "==", 0),
                check("largest |W1 - theta| (W1 grows like the shift)", m["w1_max_error"], "<=", 0.05),
                check("dW1/dtheta at the largest shift (a useful gradient)", m["w1_grad_at_max_shift"], ">=", 0.99),
            ],
            "Forward KL averages the modes, reverse KL seeks one (its best fit sits on a mode), JS depends on the start; JS is stuck at log 2 and KL infinite once the supports "
            "are disjoint, while W1 keeps measuring the distance",
            "A divergence did not behave as the lecture states",
        )


# ================================================================== fid bias
@dataclass
class FidBiasConfig:
    sizes: list[int] = param([50, 100, 250, 500, 1000, 2500], "sample sizes n per set (each <= half the test set)")
    repeats: int = param(10, "independent pairs of subsets per size", ge=2)
    feature_net: Literal["standard", "tiny"] = param("standard", "feature network variant (tiny: smoke tests only)")
    n_pool: int = param(10000, "test images split into two disjoint halves of one distribution", ge=100)


@experiment
class FidBias(Experiment):
    """FID and KID of two sets drawn from one distribution against the sample size."""

    name = "gans.fid-bias"
    claim = (
        "FID is biased upwards at small sample sizes (two samples of the same images score far above 0 and the "
        "score falls as n grows), while KID is unbiased: its mean stays at 0 at every sample size."
    )
    Config = FidBiasConfig
    presets = {
        "smoke": {"sizes": [50, 100, 250], "repeats": 3, "feature_net": "tiny", "n_pool": 2000},
        "full": {"sizes": [25, 50, 100, 250, 500, 1000, 2500, 5000], "repeats": 50},
    }
    datasets = ("fashion-mnist",)
    key_metrics = ("fid_ratio_small_to_large", "kid_max_abs_z")

    def run(self, cfg: FidBiasConfig, ctx: RunContext) -> Results:
        net, info = load_feature_net(cfg.feature_net, ctx.device)
        ctx.add_model_card(model_card(info))
        images, _ = gan_images("test", cfg.n_pool, ctx.seed)
        feats, _ = extract(net, images)
        half = len(feats) // 2
        a, b = feats[:half], feats[half:]  # disjoint halves of one distribution: true FID = KID = 0
        sizes = sorted(n for n in cfg.sizes if n <= half)
        if len(sizes) < 2:
            raise ValueError(f"need at least two sizes <= {half} (half of n_pool)")
        g = generator(ctx.seed, 7)
        rows = []
        with ctx.progress(len(sizes) * cfg.repeats, "fid-bias") as bar:
            for n in sizes:
                fids, kids = [], []
                for _ in range(cfg.repeats):
                    xa = a[torch.randperm(half, generator=g)[:n]]
                    xb = b[torch.randperm(len(b), generator=g)[:n]]
                    fids.append(fid(xa, xb))
                    kids.append(kid(xa, xb, n_subsets=1, subset_size=n, generator=g)[0])
                    bar.update(1)
                f, k = torch.tensor(fids, dtype=torch.float64), torch.tensor(kids, dtype=torch.float64)
                se = float(k.std(unbiased=True)) / math.sqrt(len(k))
                row = {"n": n, "fid_mean": float(f.mean()), "fid_std": float(f.std(unbiased=True)),
                       "kid_mean": float(k.mean()), "kid_std": float(k.std(unbiased=True)), "kid_se": se,
                       "kid_z": float(k.mean()) / se if se > 0 else 0.0}
                rows.append(row)
                ctx.log(n, "size", **{k2: v for k2, v in row.items() if k2 != "n"})
        fid_means = [r["fid_mean"] for r in rows]
        decreasing = sum(fid_means[i + 1] < fid_means[i] for i in range(len(rows) - 1)) / (len(rows) - 1)
        metrics = {
            "fid_at_smallest_n": rows[0]["fid_mean"],
            "fid_at_largest_n": rows[-1]["fid_mean"],
            "fid_ratio_small_to_large": rows[0]["fid_mean"] / max(rows[-1]["fid_mean"], 1e-12),
            "fid_fraction_of_decreasing_steps": decreasing,
            "kid_max_abs_z": max(abs(r["kid_z"]) for r in rows),
            "kid_at_smallest_n": rows[0]["kid_mean"],
            "feature_net_test_accuracy": float(info["test_accuracy"]),
        }
        return Results(metrics=metrics, artifacts=[self._plot(ctx, rows, info)], details={"sizes": rows, "feature_net": info})

    @staticmethod
    def _plot(ctx: RunContext, rows: list[dict], info: dict) -> str:
        plt = _plt()
        n = [r["n"] for r in rows]
        fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.8))
        a.errorbar(n, [r["fid_mean"] for r in rows], yerr=[r["fid_std"] for r in rows], fmt="o-", capsize=3)
        a.set(xscale="log", yscale="log", xlabel="samples per set n", ylabel="FID (adlab features)",
              title="FID of two samples of one distribution (true value 0)")
        b.errorbar(n, [r["kid_mean"] for r in rows], yerr=[2 * r["kid_se"] for r in rows], fmt="s-", capsize=3, c="C1")
        b.axhline(0, c="grey", ls="--")
        b.set(xscale="log", xlabel="samples per set n", ylabel="KID (mean +- 2 s.e.)", title="KID: unbiased, centred on 0")
        fig.suptitle(f"Feature network {info.get('version')}; not comparable with Inception-based FID", fontsize=9)
        return ctx.save_figure(fig, "fid-vs-n")

    def verdict(self, results: Results, cfg: FidBiasConfig):
        m = results.metrics
        return verdict(
            [
                check("FID(smallest n) / FID(largest n)", m["fid_ratio_small_to_large"], ">=", 5.0),
                check("fraction of size steps where mean FID falls", m["fid_fraction_of_decreasing_steps"], "==", 1.0),
                check("largest |mean KID| / standard error over sizes", m["kid_max_abs_z"], "<=", 3.0),
            ],
            "FID of one distribution against itself shrinks with n (bias), KID stays centred on 0",
            "The sample-size behaviour of FID or KID differs from the claim",
        )
