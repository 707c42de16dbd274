r"""Experiments on how recurrent networks carry information through time, and what that costs.

- ``sequences.vanishing-gradients``: $\|\partial h_T / \partial h_0\|$ against $T$ for tanh RNNs
  of several spectral radii, and $\|\partial c_T / \partial c_0\|$ along the LSTM's cell path.
- ``sequences.long-range``: the adding problem, which a vanilla RNN cannot learn at long delays.
- ``sequences.cost-scaling``: wall time of an LSTM layer against a self-attention layer.

For $h_t = \tanh(W h_{t-1} + U x_t + b)$ the Jacobian is a product of per-step factors,

    $\frac{\partial h_T}{\partial h_0} = \prod_{t=T}^{1} \mathrm{diag}(1 - h_t^2)\, W$,
    so $\big\|\frac{\partial h_T}{\partial h_0}\big\|_2 \le \|W\|_2^T = \rho^T$ when $W = \rho Q$ ($Q$ orthogonal):

the norm decays at least as fast as $\rho^T$ (log-rate $\le \ln \rho$ per step) and can only grow
when $\rho > 1$. Along the LSTM's cell, $c_t = f_t \odot c_{t-1} + i_t \odot \tilde c_t$ gives a
direct path $\prod_t \mathrm{diag}(f_t)$: with the forget gate open ($f_t \approx 1$, a forget
bias of a few units) the product neither vanishes nor explodes.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import jacfwd

from adlab.core import Experiment, ModelCard, Results, RunContext, check, experiment, param, verdict
from adlab.core.context import synchronize
from adlab.core.seeding import generator
from adlab.core.trainer import ArrayLoader, Trainer
from adlab.data import synthetic
from adlab.nn.attention import MultiHeadAttention
from adlab.nn.recurrent import RNN, LSTMCell, RNNCell
from adlab.core.plotting import pyplot


def fitted_rate(log_norms: np.ndarray) -> float:
    """Least-squares slope of ln(norm) against t = 1..T: the per-step log growth (negative: vanishing)."""
    t = np.arange(1, len(log_norms) + 1, dtype=np.float64)
    return float(np.polyfit(t, log_norms, 1)[0])


def loglog_exponent(x: list[float], y: list[float]) -> float:
    """Slope of ln y against ln x (y ~ x^slope)."""
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


# ================================================================================================
# vanishing gradients


@dataclass
class VanishingConfig:
    hidden: int = param(64, "hidden units H of every cell", ge=2)
    inputs: int = param(8, "input size; inputs are standard normal", ge=1)
    T: int = param(100, "longest horizon: Jacobians for t = 1..T", ge=5)
    sequences: int = param(2, "input sequences averaged over (mean of ln-norms)", ge=1)
    radii: list[float] = param([0.5, 0.9, 1.0, 3.0], "spectral radii rho of the tanh RNNs' W_hh = rho * Q (Q orthogonal)")
    forget_biases: list[float] = param([0.0, 3.0], "forget-gate biases b_f of the LSTMs (0: default init)")
    explode_radius: float = param(3.0, "the radius whose RNN must explode (must be one of radii)", gt=1)
    open_forget_bias: float = param(3.0, "the forget bias whose LSTM must keep its gradient (one of forget_biases)", gt=0)


@experiment
class VanishingGradients(Experiment):
    """Jacobian norms through time, by forward-mode autodiff through the cells of adlab.nn.recurrent."""

    name = "sequences.vanishing-gradients"
    claim = (
        "Through a tanh RNN the gradient norm ||dh_T/dh_0|| changes geometrically with T, vanishing at least "
        "as fast as rho^T for spectral radius rho < 1 and exploding for large rho, while the LSTM's cell path "
        "with an open forget gate keeps it."
    )
    Config = VanishingConfig
    presets = {
        "smoke": {"hidden": 16, "T": 30, "sequences": 1},
        "full": {"hidden": 256, "T": 400, "sequences": 16},
    }
    ci = True
    flagship = True

    def run(self, cfg: VanishingConfig, ctx: RunContext) -> Results:
        if cfg.explode_radius not in cfg.radii or cfg.open_forget_bias not in cfg.forget_biases:
            raise ValueError("explode_radius must be one of radii and open_forget_bias one of forget_biases")
        g = generator(ctx.seed)
        xs = torch.randn(cfg.sequences, cfg.T, 1, cfg.inputs, generator=g, dtype=torch.float64)
        curves: dict[str, np.ndarray] = {}
        rows = []
        with ctx.progress(len(cfg.radii) + len(cfg.forget_biases), "jacobians") as bar:
            for rho in cfg.radii:
                cell = RNNCell(cfg.inputs, cfg.hidden).double()
                Q, _ = torch.linalg.qr(torch.randn(cfg.hidden, cfg.hidden, generator=g, dtype=torch.float64))
                with torch.no_grad():
                    cell.W_hh.copy_(rho * Q)
                logs = np.mean([self._log_norms(cell, x, lstm=False) for x in xs], axis=0)
                curves[f"rnn rho={rho:g}"] = logs
                rows.append({"model": "tanh RNN", "setting": f"rho={rho:g}", "rate": fitted_rate(logs), "bound": math.log(rho), "log_norm_T": float(logs[-1])})
                bar.update(1)
            for bf in cfg.forget_biases:
                cell = LSTMCell(cfg.inputs, cfg.hidden).double()
                with torch.no_grad():
                    cell.b_f.fill_(bf)
                logs = np.mean([self._log_norms(cell, x, lstm=True) for x in xs], axis=0)
                curves[f"lstm b_f={bf:g}"] = logs
                rows.append({"model": "LSTM cell path", "setting": f"b_f={bf:g}", "rate": fitted_rate(logs), "bound": math.log(1 / (1 + math.exp(-bf))), "log_norm_T": float(logs[-1])})
                bar.update(1)
        for r in rows:
            ctx.log(0, "jacobian", **{k: v for k, v in r.items() if isinstance(v, float)}, setting=r["model"] + " " + r["setting"])
        metrics = {}
        for r in rows:
            key = ("rnn_rho_" if r["model"] == "tanh RNN" else "lstm_bf_") + r["setting"].split("=")[1]
            metrics[f"rate_{key}"] = r["rate"]
            metrics[f"log_norm_T_{key}"] = r["log_norm_T"]
        return Results(metrics=metrics, artifacts=[self._plot(ctx, curves)], details={"rates": rows})

    @staticmethod
    def _log_norms(cell: nn.Module, x: Tensor, lstm: bool) -> np.ndarray:
        """ln ||d s_t / d s_0||_2 for t = 1..T, s = h (RNN) or c (the LSTM's cell), from s_0 = 0."""
        H = cell.hidden_size

        def unroll(s0: Tensor) -> Tensor:
            outs = []
            state = (torch.zeros_like(s0), s0) if lstm else s0
            for t in range(x.shape[0]):
                state = cell(x[t], state)
                outs.append(state[1] if lstm else state)
            return torch.stack(outs)  # (T, 1, H)

        J = jacfwd(unroll)(torch.zeros(1, H, dtype=torch.float64))[:, 0, :, 0, :]  # (T, H, H)
        norms = torch.linalg.matrix_norm(J, ord=2)
        return torch.log(norms.clamp(min=1e-300)).detach().numpy()

    @staticmethod
    def _plot(ctx: RunContext, curves: dict[str, np.ndarray]) -> str:
        plt = pyplot()
        fig, ax = plt.subplots(figsize=(7.5, 4.5))
        for label, logs in curves.items():
            t = np.arange(1, len(logs) + 1)
            ax.semilogy(t, np.exp(logs), ("-" if label.startswith("rnn") else "--"), label=label)
        ax.set(xlabel="steps T", ylabel="spectral norm of the Jacobian", title="||dh_T/dh_0|| (tanh RNN) and ||dc_T/dc_0|| (LSTM)")
        ax.legend(fontsize=8)
        return ctx.save_figure(fig, "jacobian_norms")

    def verdict(self, results: Results, cfg: VanishingConfig):
        m = results.metrics
        checks = []
        for rho in cfg.radii:
            if rho < 1:
                checks.append(check(f"RNN rho={rho:g} log-rate per step (vanishes like rho^T: <= ln rho)", m[f"rate_rnn_rho_{rho:g}"], "<=", math.log(rho)))
        checks.append(check(f"RNN rho={cfg.explode_radius:g} log-rate per step (explodes)", m[f"rate_rnn_rho_{cfg.explode_radius:g}"], ">", 0.0))
        bf = cfg.open_forget_bias
        leak = math.log(1 / (1 + math.exp(-bf)))
        checks.append(check(f"LSTM b_f={bf:g} cell-path log-rate (no faster decay than its forget gate, ln sigmoid(b_f))", m[f"rate_lstm_bf_{bf:g}"], ">=", leak))
        checks.append(check(f"LSTM b_f={bf:g} cell-path log-rate (no explosion: <= |ln sigmoid(b_f)|)", m[f"rate_lstm_bf_{bf:g}"], "<=", -leak))
        return verdict(
            checks,
            "The tanh RNN's gradient vanishes (rho < 1) or explodes (large rho) geometrically, the open-gated LSTM cell keeps it",
            "The gradient norms did not behave as the analysis predicts",
        )


# ================================================================================================
# long-range dependencies: the adding problem


class LastStepRegressor(nn.Module):
    """A recurrent stack whose last hidden state is read out by a linear layer to one number."""

    def __init__(self, cell: str, hidden: int, forget_bias: float = 0.0) -> None:
        super().__init__()
        self.rnn = RNN(cell, 2, hidden, fast=True)
        self.head = nn.Linear(hidden, 1)
        if cell == "lstm" and forget_bias:
            with torch.no_grad():  # torch's gate order i, f, g, o: the second quarter is the forget gate
                self.rnn.torch_rnn.bias_ih_l0[hidden : 2 * hidden].fill_(forget_bias)
                self.rnn.torch_rnn.bias_hh_l0[hidden : 2 * hidden].zero_()

    def forward(self, x: Tensor) -> Tensor:
        out, _ = self.rnn(x)  # (B, T, H)
        return self.head(out[:, -1]).squeeze(-1)  # (B,)


class Regression:
    """Mean squared error (a Task for the shared Trainer)."""

    def train_step(self, model: nn.Module, batch):
        x, y = batch
        loss = F.mse_loss(model(x), y)
        return loss, {"loss": loss.item()}

    @torch.no_grad()
    def eval_step(self, model: nn.Module, batch):
        x, y = batch
        return {"sse": ((model(x) - y) ** 2).sum(), "count": torch.tensor(float(len(y)))}

    def finalize(self, sums):
        return {"mse": sums["sse"] / max(sums["count"], 1.0)}


@dataclass
class LongRangeConfig:
    lengths: list[int] = param([100], "sequence lengths T of the adding problem (the full preset adds T=200)")
    n_train: int = param(16000, "training sequences per length", ge=64)
    n_test: int = param(1000, "test sequences per length", ge=16)
    hidden: int = param(64, "hidden units of both networks", ge=2)
    epochs: int = param(8, "passes over the training sequences", ge=1)
    batch_size: int = param(32, "minibatch size", ge=1)
    lr: float = param(3e-3, "Adam learning rate (cosine decay to 0)", gt=0)
    forget_bias: float = param(1.0, "initial LSTM forget-gate bias", ge=0)
    grad_clip: float = param(1.0, "global gradient-norm clip", gt=0)


TRIVIAL_MSE = 1.0 / 6.0  # predicting the mean sum (1.0): variance of the sum of two U(0,1) values


@experiment
class LongRange(Experiment):
    """LSTM against vanilla RNN on Hochreiter's adding problem."""

    name = "sequences.long-range"
    claim = (
        "On the adding problem with T = 100 steps (quick; the full preset adds T = 200) an LSTM learns to add the "
        "two marked numbers (test MSE <= 0.01) while a vanilla tanh RNN stays near the trivial predictor's MSE of 1/6."
    )
    Config = LongRangeConfig
    presets = {
        "smoke": {"lengths": [20], "n_train": 256, "n_test": 64, "hidden": 16, "epochs": 1},
        "full": {"lengths": [100, 200], "n_train": 32000, "n_test": 5000, "hidden": 128, "epochs": 15, "lr": 2e-3},
    }

    def run(self, cfg: LongRangeConfig, ctx: RunContext) -> Results:
        metrics, rows, curves = {}, [], {}
        for T in cfg.lengths:
            x_tr, y_tr = (torch.from_numpy(a) for a in synthetic.adding_problem(cfg.n_train, T, seed=ctx.seed * 1000 + T))
            x_te, y_te = (torch.from_numpy(a) for a in synthetic.adding_problem(cfg.n_test, T, seed=ctx.seed * 1000 + T + 1))
            for cell in ("lstm", "rnn"):
                torch.manual_seed(ctx.seed + T)
                model = LastStepRegressor(cell, cfg.hidden, cfg.forget_bias if cell == "lstm" else 0.0).to(ctx.device)
                opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
                train = ArrayLoader((x_tr, y_tr), cfg.batch_size, shuffle=True, seed=ctx.seed, drop_last=True, device=ctx.device)
                test = ArrayLoader((x_te, y_te), 1000, shuffle=False, device=ctx.device)
                sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs * len(train))
                name = f"{cell}-T{T}"
                trainer = Trainer(name, model, opt, Regression(), train, cfg.epochs, ctx, evals={"test": test},
                                  scheduler=sched, grad_clip=cfg.grad_clip, checkpoint_every=200)
                history = trainer.fit()
                mse = history[-1]["test"]["mse"]
                metrics[f"{cell}_mse_T{T}"] = mse
                curves[name] = [(h["epoch"], h["test"]["mse"]) for h in history]
                rows.append({"T": T, "model": cell, "test_mse": mse, "trivial_mse": TRIVIAL_MSE})
                ctx.add_model_card(ModelCard(
                    name=name, architecture=f"2 -> {cell.upper()}({cfg.hidden}) -> last state -> linear 1",
                    parameters=sum(p.numel() for p in model.parameters()),
                    data=f"adding problem, T={T}, {cfg.n_train:,} generated training sequences",
                    training={"optimizer": "adam", "lr": cfg.lr, "epochs": cfg.epochs, "batch_size": cfg.batch_size, "grad_clip": cfg.grad_clip},
                    metrics={"test_mse": mse}, intended_use="Teaching: long-range credit assignment in recurrent networks.",
                    limitations="Solves one synthetic task; says nothing about other data.",
                ))
        return Results(metrics=metrics, artifacts=[self._plot(ctx, curves)], details={"mse": rows})

    @staticmethod
    def _plot(ctx: RunContext, curves: dict) -> str:
        plt = pyplot()
        fig, ax = plt.subplots(figsize=(7, 4.2))
        for name, pts in curves.items():
            ax.semilogy([p[0] for p in pts], [p[1] for p in pts], "o-" if name.startswith("lstm") else "s--", label=name)
        ax.axhline(TRIVIAL_MSE, c="grey", ls=":", label="trivial predictor 1/6")
        ax.axhline(0.01, c="green", ls=":", label="solved: 0.01")
        ax.set(xlabel="epoch", ylabel="test MSE", title="Adding problem: LSTM against vanilla RNN")
        ax.legend(fontsize=8)
        return ctx.save_figure(fig, "adding_mse")

    def verdict(self, results: Results, cfg: LongRangeConfig):
        m = results.metrics
        checks = []
        for T in cfg.lengths:
            checks.append(check(f"LSTM test MSE at T={T}", m[f"lstm_mse_T{T}"], "<=", 0.01))
            checks.append(check(f"vanilla RNN test MSE at T={T} (near trivial 0.167: >= 0.75 of it)", m[f"rnn_mse_T{T}"], ">=", 0.75 * TRIVIAL_MSE))
        return verdict(checks, "The LSTM solves the adding problem where the vanilla RNN cannot",
                       "The LSTM/RNN contrast on the adding problem did not reproduce")


# ================================================================================================
# cost scaling


@dataclass
class CostConfig:
    lengths: list[int] = param([256, 512, 1024, 2048, 4096], "sequence lengths timed")
    d_model: int = param(64, "width of both layers (LSTM hidden size, attention model width)", ge=1)
    batch: int = param(1, "sequences per forward pass", ge=1)
    repeats: int = param(3, "timed repeats per length (the median is kept)", ge=1)


@experiment
class CostScaling(Experiment):
    """Forward wall time against sequence length for an LSTM layer and a self-attention layer."""

    name = "sequences.cost-scaling"
    claim = (
        "The time of an LSTM layer grows linearly with sequence length and that of a self-attention layer "
        "quadratically (fitted log-log exponents about 1 and about 2)."
    )
    Config = CostConfig
    presets = {
        "smoke": {"lengths": [256, 512, 1024], "repeats": 1},
        "full": {"lengths": [512, 1024, 2048, 4096, 8192, 16384], "d_model": 256, "batch": 4, "repeats": 5},
    }

    def run(self, cfg: CostConfig, ctx: RunContext) -> Results:
        torch.manual_seed(ctx.seed)
        lstm = RNN("lstm", cfg.d_model, cfg.d_model, fast=True).to(ctx.device).eval()
        attn = MultiHeadAttention(cfg.d_model, 1).to(ctx.device).eval()
        rows = []
        with ctx.progress(len(cfg.lengths), "timing") as bar, torch.no_grad():
            for T in cfg.lengths:
                x = torch.randn(cfg.batch, T, cfg.d_model, device=ctx.device)
                t_lstm = self._time(lambda: lstm(x), cfg.repeats, ctx.device)
                t_attn = self._time(lambda: attn(x), cfg.repeats, ctx.device)
                rows.append({"T": T, "lstm_s": t_lstm, "attention_s": t_attn})
                ctx.log(T, "timing", lstm_s=t_lstm, attention_s=t_attn)
                bar.update(1)
        Ts = [r["T"] for r in rows]
        e_lstm = loglog_exponent(Ts, [r["lstm_s"] for r in rows])
        e_attn = loglog_exponent(Ts, [r["attention_s"] for r in rows])
        plt = pyplot()
        fig, ax = plt.subplots(figsize=(6.5, 4.2))
        ax.loglog(Ts, [r["lstm_s"] for r in rows], "o-", label=f"LSTM layer (exponent {e_lstm:.2f})")
        ax.loglog(Ts, [r["attention_s"] for r in rows], "s-", label=f"self-attention layer (exponent {e_attn:.2f})")
        ax.set(xlabel="sequence length T", ylabel="forward time (s)", title=f"Cost against length (d={cfg.d_model}, {ctx.device.type})")
        ax.legend()
        return Results(metrics={"lstm_exponent": e_lstm, "attention_exponent": e_attn}, artifacts=[ctx.save_figure(fig, "cost_scaling")], details={"timings": rows})

    @staticmethod
    def _time(fn, repeats: int, device: torch.device) -> float:
        fn()  # warm-up
        times = []
        for _ in range(repeats):
            synchronize(device)
            t = time.perf_counter()
            fn()
            synchronize(device)
            times.append(time.perf_counter() - t)
        return float(np.median(times))

    def verdict(self, results: Results, cfg: CostConfig):
        e_l, e_a = results.metrics["lstm_exponent"], results.metrics["attention_exponent"]
        return verdict(
            [check("LSTM exponent", e_l, ">=", 0.8), check("LSTM exponent", e_l, "<=", 1.25),
             check("self-attention exponent", e_a, ">=", 1.6), check("self-attention exponent", e_a, "<=", 2.3)],
            "LSTM time is linear and self-attention time quadratic in the sequence length",
            "The measured cost exponents are not about 1 (LSTM) and about 2 (self-attention)",
        )
