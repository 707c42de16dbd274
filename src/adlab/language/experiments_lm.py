"""Registered claims of lecture 7 about language models: a character GPT against an LSTM, the
gradient path through attention and recurrence, and what trained attention heads look at."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from adlab.core import Experiment, ModelCard, Results, RunContext, check, experiment, param, verdict
from adlab.core.context import COMPILE_MODES
from adlab.core.seeding import generator
from adlab.data import shakespeare
from adlab.language.charlm import CharLSTM, bits_per_char, lm_loss, match_lstm_hidden, sample_windows
from adlab.language.gpt import GPT, GPTConfig
from adlab.language.loop import train_steps, warmup_cosine
from adlab.language.probes import gpt_attention_weights, jacobian_norms, log_slope
from adlab.language.tokenizers import CharTokenizer
from adlab.nn.recurrent import RNN
from adlab.core.plotting import pyplot as _plt


def char_corpus() -> tuple[CharTokenizer, dict[str, torch.Tensor]]:
    """The character tokenizer of the training plays and every split encoded as a 1-D id tensor."""
    texts = {split: shakespeare.load(split) for split in shakespeare.SPLITS}
    tok = CharTokenizer.fit(texts["train"])
    return tok, {split: torch.tensor(tok.encode(text), dtype=torch.long) for split, text in texts.items()}


def _adamw(model: torch.nn.Module, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW with decay on matrices only (not on biases, LayerNorm gains or 1-D tensors).

    torch's fused kernel: the same update as the per-parameter loop (to float rounding; a test in
    ``tests/language/test_gpt_speed_bench.py``), about 15% faster per step of the CPU GPT, whose
    optimizer otherwise runs one small tensor at a time.
    """
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.99), fused=True)


# ----------------------------------------------------------------------------------- gpt-char


@dataclass
class GptCharConfig:
    n_layer: int = param(4, "transformer blocks", ge=1)
    n_head: int = param(4, "attention heads per block", ge=1)
    d_model: int = param(128, "width of the token vectors (divisible by n_head)", ge=8)
    block_size: int = param(64, "context length in characters (training and evaluation windows)", ge=8)
    dropout: float = param(0.0, "dropout in the GPT and between the LSTM layers", ge=0, lt=1)
    batch_size: int = param(12, "windows per step", ge=1)
    steps: int = param(2000, "optimizer steps, the same for the GPT and the LSTM", ge=1)
    lr: float = param(2e-3, "peak AdamW learning rate of the GPT (warm-up, then cosine decay to 10%)", gt=0)
    lstm_lr: float = param(2e-3, "peak AdamW learning rate of the LSTM (same schedule)", gt=0)
    warmup: int = param(100, "linear warm-up steps", ge=0)
    weight_decay: float = param(0.1, "AdamW weight decay on weight matrices", ge=0)
    lstm_layers: int = param(2, "LSTM layers of the baseline; its width is chosen to match the GPT's parameter count", ge=1)
    eval_windows: int = param(1000, "held-out windows scored per split for the final numbers", ge=1)
    eval_every: int = param(250, "steps between validation points of the learning curves (0: none)", ge=0)
    curve_windows: int = param(200, "validation windows per learning-curve point", ge=1)
    max_train_seconds: float | None = param(None, "also stop each model after this much training wall-clock time (None: step count only)", gt=0)
    target_bpc: float = param(2.75, "the issue's target for the GPT's test bits per character (quick 2.75, full 1.90)", gt=0, threshold=True)
    train_budget_s: float | None = param(60.0, "the issue's budget for the GPT's training seconds on a CPU (quick: 60; None: no budget)", gt=0, threshold=True)
    checkpoint_every: int = param(500, "steps between checkpoints (0: only the final one)", ge=0)
    sample_chars: int = param(300, "characters sampled from the trained GPT for the report", ge=0)
    amp: bool | None = param(
        None, "bf16 autocast in both models' training steps: None = on a GPU only; True = also on a CPU with bf16 "
        "kernels (there the GPT uses the written-out attention, faster than torch's SDPA in bf16); False = never"
    )
    compile: str | None = param(
        None, "torch.compile mode of the GPT's training steps: None (eager), 'default', 'reduce-overhead' "
        "(CUDA graphs; the fastest on a GPU, see benchmarks/gpt_speed.py) or 'max-autotune'",
        choices=COMPILE_MODES,
    )


@experiment
class GptChar(Experiment):
    """A character-level GPT on Shakespeare, against an LSTM of equal size trained equally long."""

    name = "language.gpt-char"
    claim = (
        "A small transformer language model trained on Shakespeare's characters predicts unseen plays "
        "better than an LSTM language model with the same number of parameters trained for the same number of steps."
    )
    Config = GptCharConfig
    presets = {
        "smoke": {
            "n_layer": 1, "n_head": 2, "d_model": 32, "block_size": 32, "batch_size": 4, "steps": 30, "warmup": 5,
            "lstm_layers": 1, "eval_windows": 16, "eval_every": 15, "curve_windows": 8, "checkpoint_every": 0,
            "sample_chars": 20,
        },
        "full": {
            "n_layer": 6, "n_head": 6, "d_model": 384, "block_size": 256, "batch_size": 64, "steps": 5000,
            "dropout": 0.2, "lr": 1e-3, "lstm_lr": 1e-3, "eval_windows": 2000, "eval_every": 500,
            "target_bpc": 1.90, "train_budget_s": None, "checkpoint_every": 1000,
        },
    }
    datasets = ("shakespeare",)

    def run(self, cfg: GptCharConfig, ctx: RunContext) -> Results:
        tok, data = char_corpus()
        V, T = tok.vocab_size, cfg.block_size
        dev = ctx.device
        windows = {s: sample_windows(data[s], cfg.eval_windows, T + 1, generator(ctx.seed, 7, i)) for i, s in enumerate(("val", "test"))}
        curve = windows["val"][: cfg.curve_windows]

        def batch_fn(step: int) -> torch.Tensor:
            return sample_windows(data["train"], cfg.batch_size, T + 1, generator(ctx.seed, 1, step)).to(dev)

        amp = dev.type == "cuda" if cfg.amp is None else cfg.amp
        gpt_cfg = GPTConfig(
            vocab_size=V, block_size=T, n_layer=cfg.n_layer, n_head=cfg.n_head, d_model=cfg.d_model,
            dropout=cfg.dropout, fast_attention=not (amp and dev.type == "cpu"),  # see benchmarks/gpt_speed.py
        )
        torch.manual_seed(ctx.seed)
        gpt = GPT(gpt_cfg).to(dev)
        n_gpt = gpt.num_parameters()
        H = match_lstm_hidden(n_gpt, V, cfg.lstm_layers)
        torch.manual_seed(ctx.seed + 1)
        lstm = CharLSTM(V, H, cfg.lstm_layers, dropout=cfg.dropout).to(dev)
        n_lstm = sum(p.numel() for p in lstm.parameters())

        runs, curves = {}, {}
        for name, model, lr in (("gpt", gpt, cfg.lr), ("lstm", lstm, cfg.lstm_lr)):
            opt = _adamw(model, lr, cfg.weight_decay)
            sched = warmup_cosine(opt, cfg.warmup, cfg.steps)
            points: list[dict] = []

            def evaluate(step: int, model=model, points=points) -> dict[str, float]:
                bpc = bits_per_char(model, curve, device=dev)
                points.append({"step": step, "val_bpc": bpc})
                return {"bpc": bpc}

            runs[name] = train_steps(
                name, model, opt, batch_fn, lm_loss, cfg.steps, ctx, scheduler=sched, amp=amp,
                checkpoint_every=cfg.checkpoint_every, max_seconds=cfg.max_train_seconds,
                eval_fn=evaluate, eval_every=cfg.eval_every,
                compile=cfg.compile if name == "gpt" else None,  # only the GPT's steps; evaluation stays eager
            )
            evaluate(runs[name].steps)
            curves[name] = points
        if runs["gpt"].steps != runs["lstm"].steps:  # equal steps, even when a time budget cut one short
            raise RuntimeError(f"unequal training: GPT {runs['gpt'].steps} steps, LSTM {runs['lstm'].steps} steps; raise max_train_seconds")

        bpc = {(m, s): bits_per_char(model, windows[s], device=dev) for m, model in (("gpt", gpt), ("lstm", lstm)) for s in ("val", "test")}
        for m in ("gpt", "lstm"):
            ctx.log(runs[m].steps, "final", model=m, val_bpc=bpc[(m, "val")], test_bpc=bpc[(m, "test")], train_seconds=runs[m].seconds)

        sample = ""
        if cfg.sample_chars:
            prompt = data["test"][:T // 2][None].to(dev)
            gpt.eval()
            out = gpt.generate(prompt, cfg.sample_chars, temperature=0.8, top_k=20, generator=generator(ctx.seed, 3) if dev.type == "cpu" else None)
            sample = tok.decode(out[0].tolist())

        train_desc = f"AdamW, peak lr {{lr}}, warm-up {cfg.warmup}, cosine to 10%, batch {cfg.batch_size} x {T} chars, {runs['gpt'].steps} steps"
        data_desc = "Shakespeare train plays (characters); scored on the held-out validation and test plays"
        ctx.add_model_card(ModelCard(
            name="gpt", architecture=f"GPT: {cfg.n_layer} pre-LN blocks, {cfg.n_head} heads, width {cfg.d_model}, context {T}, tied embeddings",
            parameters=n_gpt, data=data_desc, training={"recipe": train_desc.format(lr=cfg.lr), "seconds": round(runs["gpt"].seconds, 1)},
            metrics={"val_bpc": bpc[("gpt", "val")], "test_bpc": bpc[("gpt", "test")]},
            intended_use="Teaching: a minimal character-level transformer language model.",
            limitations="Tiny and briefly trained: spelling and metre of Shakespeare, no meaning; not a text generator for any real use.",
        ))
        ctx.add_model_card(ModelCard(
            name="lstm", architecture=f"{cfg.lstm_layers}-layer LSTM, hidden {H}, parameter count matched to the GPT",
            parameters=n_lstm, data=data_desc, training={"recipe": train_desc.format(lr=cfg.lstm_lr), "seconds": round(runs["lstm"].seconds, 1)},
            metrics={"val_bpc": bpc[("lstm", "val")], "test_bpc": bpc[("lstm", "test")]},
            intended_use="The recurrent baseline of the gpt-char comparison.",
            limitations="Same as the GPT; trained with one fixed recipe, not tuned.",
        ))
        artifacts = [self._plot_curves(ctx, curves, runs)]
        return Results(
            metrics={
                "gpt_val_bpc": bpc[("gpt", "val")], "gpt_test_bpc": bpc[("gpt", "test")],
                "lstm_val_bpc": bpc[("lstm", "val")], "lstm_test_bpc": bpc[("lstm", "test")],
                "gpt_parameters": float(n_gpt), "lstm_parameters": float(n_lstm), "lstm_hidden": float(H),
                "steps": float(runs["gpt"].steps),
                "gpt_train_seconds": runs["gpt"].seconds, "lstm_train_seconds": runs["lstm"].seconds,
                "uniform_bpc": math.log2(V),
            },
            artifacts=artifacts,
            details={
                "models": [
                    {"model": m, "parameters": n, "steps": runs[m].steps, "train_seconds": round(runs[m].seconds, 1),
                     "val_bpc": round(bpc[(m, "val")], 4), "test_bpc": round(bpc[(m, "test")], 4)}
                    for m, n in (("gpt", n_gpt), ("lstm", n_lstm))
                ],
                "curves": [{"model": m, **p} for m, pts in curves.items() for p in pts],
                "sample": [{"text": sample}],
            },
        )

    def verdict(self, results: Results, cfg: GptCharConfig):
        m = results.metrics
        checks = [
            check("GPT test bits/char", m["gpt_test_bpc"], "<=", cfg.target_bpc),
            check("GPT val bits/char minus LSTM val bits/char", m["gpt_val_bpc"] - m["lstm_val_bpc"], "<", 0.0),
            check("LSTM/GPT parameter ratio", m["lstm_parameters"] / m["gpt_parameters"], "<=", 1.05),
            check("GPT/LSTM parameter ratio", m["gpt_parameters"] / m["lstm_parameters"], "<=", 1.05),
        ]
        if cfg.train_budget_s is not None:  # the quick target holds "after at most 60 s of CPU training"
            checks.append(check("GPT training seconds", m["gpt_train_seconds"], "<=", cfg.train_budget_s))
        return verdict(
            checks,
            "The character GPT reaches the target on unseen plays within its training budget and beats the equally large LSTM at equal steps",
            "The character GPT missed the target or its training budget, or did not beat the equally large LSTM",
        )

    @staticmethod
    def _plot_curves(ctx: RunContext, curves: dict[str, list[dict]], runs: dict) -> str:
        plt = _plt()
        fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
        for m, pts in curves.items():
            steps = [p["step"] for p in pts]
            sec = [runs[m].seconds * s / max(runs[m].steps, 1) for s in steps]
            a.plot(steps, [p["val_bpc"] for p in pts], "o-", label=m.upper())
            b.plot(sec, [p["val_bpc"] for p in pts], "o-", label=m.upper())
        a.set(xlabel="step", ylabel="validation bits / char", title="Held-out plays, per step")
        b.set(xlabel="training seconds (this machine)", ylabel="validation bits / char", title="Per wall-clock second")
        a.legend()
        b.legend()
        return ctx.save_figure(fig, "curves")


# ------------------------------------------------------------------------------ gradient-path


@dataclass
class GradientPathConfig:
    d_model: int = param(32, "width of the inputs, the transformer and the LSTM", ge=4)
    n_layer: int = param(2, "transformer blocks and LSTM layers", ge=1)
    n_head: int = param(4, "attention heads", ge=1)
    seq_len: int = param(128, "sequence length T; the output is y at the last position", ge=4)
    batch_size: int = param(4, "random input sequences per initialisation", ge=1)
    n_inits: int = param(2, "independent random initialisations averaged", ge=1)
    transformer_min_decay: float = param(0.5, "the transformer passes if its fitted norm falls by less than this factor over the whole span", gt=0, threshold=True)
    lstm_max_decay: float = param(0.01, "the LSTM passes if its fitted norm falls below this factor over the whole span", gt=0, threshold=True)


@experiment
class GradientPath(Experiment):
    """||dy_t/dx_s|| against |t-s| for a causal transformer and an LSTM, at initialisation."""

    name = "language.gradient-path"
    claim = (
        "Through self-attention an output is one step away from every input, so its gradient with respect to a "
        "distant input does not shrink with the distance; through an LSTM it shrinks as the distance grows."
    )
    Config = GradientPathConfig
    presets = {
        "smoke": {"d_model": 16, "seq_len": 24, "batch_size": 2, "n_inits": 1},
        "full": {"d_model": 128, "n_layer": 4, "seq_len": 512, "batch_size": 16, "n_inits": 5},
    }
    ci = True
    flagship = True
    datasets = ()

    def run(self, cfg: GradientPathConfig, ctx: RunContext) -> Results:
        T, d = cfg.seq_len, cfg.d_model
        t = T - 1
        acc = {"transformer": torch.zeros(T, dtype=torch.float64), "lstm": torch.zeros(T, dtype=torch.float64)}
        for i in range(cfg.n_inits):
            torch.manual_seed(ctx.seed * 1000 + i)
            gpt = GPT(GPTConfig(vocab_size=2, block_size=T, n_layer=cfg.n_layer, n_head=cfg.n_head, d_model=d, positions="sinusoidal")).double().eval()
            lstm = RNN("lstm", d, d, cfg.n_layer, batch_first=True, fast=True).double().eval()

            def transformer(x: torch.Tensor, gpt=gpt) -> torch.Tensor:
                h = x
                for block in gpt.blocks:
                    h = block(h)
                return gpt.ln_f(h)

            def recurrent(x: torch.Tensor, lstm=lstm) -> torch.Tensor:
                return lstm(x)[0]

            # inputs x_s: unit-variance random vectors; the transformer also gets the sinusoid
            # positions added (a constant, so the derivative is still with respect to x_s)
            x = torch.randn(cfg.batch_size, T, d, dtype=torch.float64, generator=generator(ctx.seed, 5, i))
            pos = gpt.pos_emb(torch.arange(T)).double()
            acc["transformer"] += jacobian_norms(lambda z, f=transformer, pos=pos: f(z + pos), x, t).pow(2)
            acc["lstm"] += jacobian_norms(recurrent, x, t).pow(2)
        norms = {k: (v / cfg.n_inits).sqrt() for k, v in acc.items()}  # RMS over initialisations

        distance = torch.arange(1, T, dtype=torch.float64)  # |t - s| for s = t-1 .. 0
        fits = {}
        for k, n in norms.items():
            along = n[:t].flip(0)  # along[j] = norm at distance j + 1
            slope, intercept = log_slope(distance, along)
            fits[k] = {"slope": slope, "intercept": intercept, "decay": 10.0 ** (slope * (T - 2)), "along": along}
        artifacts = [self._plot(ctx, distance, fits, norms, t)]
        picks = sorted({1, 2, 4, 8, 16, 32, 64, 128, 256, T - 1} & set(range(1, T)))
        return Results(
            metrics={
                "transformer_log10_slope": fits["transformer"]["slope"], "lstm_log10_slope": fits["lstm"]["slope"],
                "transformer_decay_over_span": fits["transformer"]["decay"], "lstm_decay_over_span": fits["lstm"]["decay"],
                "span": float(T - 2),
            },
            artifacts=artifacts,
            details={
                "norms": [
                    {"distance": k, "transformer": float(fits["transformer"]["along"][k - 1]), "lstm": float(fits["lstm"]["along"][k - 1])}
                    for k in picks
                ],
            },
        )

    def verdict(self, results: Results, cfg: GradientPathConfig):
        m = results.metrics
        return verdict(
            [
                check("transformer: fitted norm ratio, farthest / nearest input", m["transformer_decay_over_span"], ">=", cfg.transformer_min_decay),
                check("LSTM: fitted norm ratio, farthest / nearest input", m["lstm_decay_over_span"], "<=", cfg.lstm_max_decay),
            ],
            "At initialisation the transformer's gradient path does not decay with distance and the LSTM's does",
            "The gradient norms did not behave as the path-length argument predicts",
        )

    @staticmethod
    def _plot(ctx: RunContext, distance: torch.Tensor, fits: dict, norms: dict, t: int) -> str:
        plt = _plt()
        fig, ax = plt.subplots(figsize=(6.4, 4))
        for k, f in fits.items():
            line = ax.semilogy(distance, f["along"].clamp_min(1e-300), label=f"{k} (norm at distance 0: {float(norms[k][t]):.3g})")
            ax.semilogy(distance, 10 ** (f["intercept"] + f["slope"] * distance), "--", color=line[0].get_color(), lw=1,
                        label=f"fit: x{f['decay']:.2g} over the span")
        ax.set(xlabel="distance |t - s|", ylabel="||dy_t / dx_s|| (Frobenius)", title="Gradient of the last output w.r.t. earlier inputs (at init)")
        ax.legend(fontsize=8)
        return ctx.save_figure(fig, "gradient_path")


# ----------------------------------------------------------------------------- attention-maps


@dataclass
class AttentionMapsConfig:
    n_layer: int = param(2, "transformer blocks", ge=1)
    n_head: int = param(4, "attention heads per block", ge=1)
    d_model: int = param(128, "width of the token vectors", ge=8)
    block_size: int = param(64, "context length in characters", ge=16)
    batch_size: int = param(16, "windows per step", ge=1)
    steps: int = param(2000, "optimizer steps", ge=1)
    lr: float = param(3e-3, "peak AdamW learning rate (warm-up 50 steps, cosine decay)", gt=0)
    stat_windows: int = param(200, "test windows over which the head statistics are averaged", ge=1)
    min_position: int = param(8, "positions before this are left out of the statistics (too little context to choose from)", ge=1)
    max_entropy_ratio: float = param(0.7, "passes if the heads' mean attention entropy is at most this share of uniform attention's", gt=0, threshold=True)
    min_offset_weight: float = param(0.5, "passes if some head puts at least this mean weight on one relative offset", gt=0, le=1, threshold=True)


@experiment
class AttentionMaps(Experiment):
    """Train a small character GPT briefly, then plot and measure what each head attends to."""

    name = "language.attention-maps"
    claim = (
        "After brief training the attention heads of a character GPT stop spreading their weight evenly: they "
        "concentrate it, and some heads look mainly at one fixed relative position such as the previous character."
    )
    Config = AttentionMapsConfig
    presets = {
        "smoke": {"n_layer": 1, "n_head": 2, "d_model": 16, "block_size": 24, "batch_size": 4, "steps": 20, "stat_windows": 8},
        "full": {"n_layer": 4, "n_head": 8, "d_model": 256, "block_size": 128, "batch_size": 32, "steps": 3000, "lr": 1e-3},
    }
    datasets = ("shakespeare",)

    def run(self, cfg: AttentionMapsConfig, ctx: RunContext) -> Results:
        tok, data = char_corpus()
        T, dev = cfg.block_size, ctx.device
        torch.manual_seed(ctx.seed)
        gpt = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=T, n_layer=cfg.n_layer, n_head=cfg.n_head, d_model=cfg.d_model, fast_attention=True)).to(dev)
        opt = _adamw(gpt, cfg.lr, 0.1)

        def batch_fn(step: int) -> torch.Tensor:
            return sample_windows(data["train"], cfg.batch_size, T + 1, generator(ctx.seed, 1, step)).to(dev)

        run = train_steps("gpt", gpt, opt, batch_fn, lm_loss, cfg.steps, ctx, scheduler=warmup_cosine(opt, min(50, cfg.steps // 4), cfg.steps))
        windows = sample_windows(data["test"], cfg.stat_windows, T + 1, generator(ctx.seed, 7))
        test_bpc = bits_per_char(gpt, windows, device=dev)

        maps = gpt_attention_weights(gpt, windows[:, :T].to(dev))  # n_layer x (N, H, T, T)
        rows, ratios = [], []
        pos = torch.arange(cfg.min_position, T)
        uniform = torch.log(pos.double() + 1).mean().item()  # entropy of uniform causal attention, mean over positions
        for l, w in enumerate(maps):
            w = w.double().cpu()[:, :, cfg.min_position :]  # (N, H, T', T)
            ent = -(w * w.clamp_min(1e-30).log()).sum(-1).mean(dim=(0, 2))  # (H,)
            for h in range(w.shape[1]):
                # mean weight on the key k positions back, k = 0 .. min_position
                by_offset = torch.stack([w[:, h, torch.arange(len(pos)), pos - k].mean() for k in range(cfg.min_position + 1)])
                k_best = int(by_offset.argmax())
                ratios.append(float(ent[h]) / uniform)
                rows.append({"layer": l, "head": h, "entropy_ratio": round(ratios[-1], 3), "best_offset": k_best, "weight_on_best_offset": round(float(by_offset[k_best]), 3)})
        best = max(rows, key=lambda r: r["weight_on_best_offset"])

        lines = [ln for ln in shakespeare.load("test").split("\n") if len(ln) >= 30 and not ln.isupper() and not ln.startswith("[")]
        samples = [lines[len(lines) // 3][:T], lines[2 * len(lines) // 3][:T]]
        artifacts = [self._plot_maps(ctx, gpt, tok, text, i) for i, text in enumerate(samples)]
        ctx.add_model_card(ModelCard(
            name="gpt", architecture=f"GPT: {cfg.n_layer} blocks, {cfg.n_head} heads, width {cfg.d_model}, context {T}",
            parameters=gpt.num_parameters(), data="Shakespeare train plays (characters)",
            training={"steps": run.steps, "batch": cfg.batch_size, "lr": cfg.lr, "seconds": round(run.seconds, 1)},
            metrics={"test_bpc": test_bpc}, intended_use="Teaching: inspecting attention heads.",
            limitations="Briefly trained; its heads show simple patterns only.",
        ))
        return Results(
            metrics={
                "mean_entropy_ratio": sum(ratios) / len(ratios), "best_offset_weight": best["weight_on_best_offset"],
                "best_offset": float(best["best_offset"]), "test_bpc": test_bpc, "train_seconds": run.seconds,
            },
            artifacts=artifacts,
            details={"heads": rows, "sample_lines": [{"line": s} for s in samples]},
        )

    def verdict(self, results: Results, cfg: AttentionMapsConfig):
        m = results.metrics
        return verdict(
            [
                check("heads' attention entropy / uniform attention's", m["mean_entropy_ratio"], "<=", cfg.max_entropy_ratio),
                check("largest mean weight one head puts on one relative offset", m["best_offset_weight"], ">=", cfg.min_offset_weight),
            ],
            "The trained heads concentrate their attention, and at least one head tracks a fixed relative position",
            "The trained heads did not specialise as expected",
        )

    @staticmethod
    def _plot_maps(ctx: RunContext, gpt: GPT, tok: CharTokenizer, text: str, i: int) -> str:
        plt = _plt()
        idx = torch.tensor([tok.encode(text)], device=next(gpt.parameters()).device)
        maps = gpt_attention_weights(gpt, idx)
        L, H = len(maps), maps[0].shape[1]
        fig, axes = plt.subplots(L, H, figsize=(3.2 * H, 3.2 * L), squeeze=False)
        labels = [c if c != " " else "␣" for c in text]
        for l in range(L):
            for h in range(H):
                ax = axes[l][h]
                ax.imshow(maps[l][0, h].cpu().numpy(), cmap="viridis", vmin=0, vmax=1)
                ax.set_title(f"layer {l}, head {h}", fontsize=9)
                ax.set_xticks(range(len(labels)), labels, fontsize=4)
                ax.set_yticks(range(len(labels)), labels, fontsize=4)
                ax.set_xlabel("key (attended character)", fontsize=7)
                ax.set_ylabel("query", fontsize=7)
        fig.suptitle(f"Attention weights on: {text!r}", fontsize=10)
        return ctx.save_figure(fig, f"attention_line{i}")
