r"""Language-model experiments on Shakespeare: held-out bits per character, and samples side by side.

- ``sequences.char-lm``: unigram, the best interpolated Kneser-Ney n-gram (order and discount
  chosen on the validation plays) and an LSTM language model, in bits per character on the
  test plays.
- ``sequences.samples``: text drawn from each model; the unigram model repeats the frequent tokens.

The LSTM is trained by truncated backpropagation through time (TBPTT) with the hidden state
carried from one window to the next (:func:`~adlab.sequences.text.contiguous_batches`, state
detached between windows). That loop is written here, visibly, rather than run by the shared
:class:`~adlab.core.trainer.Trainer`: the carried state is part of what must be checkpointed
for a resumed run to end with the same numbers, and the Trainer's loaders and checkpoints hold
no state between batches. The loop checkpoints model, optimizer, carried state and RNG state
with :mod:`adlab.core.checkpoint`, so ``adlab run ... --resume`` continues exactly.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from adlab.core import Experiment, ModelCard, Results, RunContext, check, experiment, param, verdict
from adlab.core import checkpoint as ckpt
from adlab.core.seeding import generator, rng_state, set_rng_state
from adlab.data import shakespeare
from adlab.sequences.lm import RNNLM, bits_per_token, detach_state, evaluate_nll, lm_loss, sample
from adlab.sequences.ngram import KneserNeyLM, UnigramLM
from adlab.sequences.ngram_fast import KneserNeyTables
from adlab.core.plotting import pyplot
from adlab.sequences.text import CharVocab, WordVocab, contiguous_batches


# ================================================================================================
# the TBPTT training loop shared by both experiments


@dataclass
class LSTMSettings:
    """What :func:`train_lm` needs (a view of an experiment's config)."""

    cell: str
    d_embed: int
    d_hidden: int
    layers: int
    dropout: float
    batch_size: int
    bptt: int
    steps: int
    lr: float
    grad_clip: float
    eval_every: int
    checkpoint_every: int
    warmup: int = 0


def train_lm(
    name: str, s: LSTMSettings, train_ids: torch.Tensor, val_ids: torch.Tensor, vocab_size: int, ctx: RunContext
) -> tuple[RNNLM, list[dict]]:
    """Train an RNN LM by TBPTT for ``s.steps`` windows; returns the weights of the best validation check.

    Epoch e walks the training stream shifted by a random offset in [0, bptt) (seeded by
    (seed, e)), cut into ``batch_size`` tracks; the state is carried across windows and reset
    at each epoch. The learning rate rises linearly over the first ``warmup`` steps, then follows a
    cosine from ``lr`` to 0 over the remaining steps.
    """
    torch.manual_seed(ctx.seed)
    model = RNNLM(vocab_size, s.d_embed, s.d_hidden, s.layers, cell=s.cell, fast=True, dropout=s.dropout).to(ctx.device)
    opt = torch.optim.Adam(model.parameters(), lr=s.lr)
    folder = ctx.checkpoint_dir(name)
    step, state, history, best = 0, None, [], {"bits": math.inf, "step": 0}
    best_weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
    loaded = ckpt.load(folder) if ctx.resume else None
    if loaded is not None:
        tensors, saved = loaded
        ckpt.load_module(model, tensors, "model")
        ckpt.load_optimizer(opt, tensors, saved["optimizer"], "optimizer")
        best_weights = {k[5:]: v.to(ctx.device) for k, v in tensors.items() if k.startswith("best.")}
        set_rng_state({k[4:]: v for k, v in tensors.items() if k.startswith("rng.")})
        step, history, best = saved["step"], saved["history"], saved["best"]
        if "state.h" in tensors:
            state = (tensors["state.h"].to(ctx.device), tensors["state.c"].to(ctx.device)) if "state.c" in tensors else tensors["state.h"].to(ctx.device)
        ctx.truncate_metrics(step, model=name)

    def windows(epoch: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        offset = int(torch.randint(s.bptt, (1,), generator=generator(ctx.seed, epoch)))
        return list(contiguous_batches(train_ids[offset:], s.batch_size, s.bptt, drop_last=True))

    per_epoch = len(windows(0))
    if per_epoch == 0:
        raise ValueError(f"the training text is too short for batch_size={s.batch_size} x bptt={s.bptt}")
    epoch = step // per_epoch
    batches = windows(epoch)
    val_batches = list(contiguous_batches(val_ids, 16, 256))

    def save() -> None:
        if not ctx.is_main:
            return
        tensors = ckpt.module_tensors("model", model)
        opt_t, opt_j = ckpt.optimizer_state("optimizer", opt)
        tensors.update(opt_t)
        tensors.update({f"best.{k}": v for k, v in best_weights.items()})
        tensors.update({f"rng.{k}": v for k, v in rng_state().items()})
        if state is not None:
            h_c = state if isinstance(state, tuple) else (state,)
            tensors.update(dict(zip(("state.h", "state.c"), h_c)))
        ckpt.save(folder, step, tensors, {"optimizer": opt_j, "history": history, "best": best})

    window_loss: list[float] = []
    model.train()
    with ctx.progress(s.steps, f"{ctx.experiment}:{name}") as bar:
        bar.update(step)
        while step < s.steps:
            if step // per_epoch != epoch:
                epoch = step // per_epoch
                batches, state = windows(epoch), None
            x, y = batches[step % per_epoch]
            x, y = x.to(ctx.device), y.to(ctx.device)
            for group in opt.param_groups:  # warm-up, then $\eta_t = \eta \cdot \frac{1}{2}(1 + \cos(\pi t' / \text{steps}'))$
                group["lr"] = lr_at(s, step)
            logits, state = model(x, detach_state(state))  # carried, detached state
            loss = lm_loss(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), s.grad_clip)
            opt.step()
            step += 1
            window_loss.append(loss.item())
            bar.update(1, bits=bits_per_token(loss.item()))
            if step % s.eval_every == 0 or step == s.steps:
                model.eval()
                val_bits = bits_per_token(evaluate_nll(model, val_batches, ctx.device))
                model.train()
                train_bits = bits_per_token(sum(window_loss) / len(window_loss))
                window_loss.clear()
                history.append({"step": step, "train_bits": train_bits, "val_bits": val_bits})
                ctx.log(step, "val", model=name, train_bits=train_bits, val_bits=val_bits)
                if val_bits < best["bits"]:
                    best = {"bits": val_bits, "step": step}
                    best_weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if s.checkpoint_every and step % s.checkpoint_every == 0 or step == s.steps:
                save()
    model.load_state_dict(best_weights)
    model.eval()
    return model, history


def lr_at(s: LSTMSettings, step: int) -> float:
    """Learning rate of step ``step`` (0-based): linear warm-up to ``s.lr`` over ``s.warmup`` steps, then a cosine to 0."""
    if step < s.warmup:
        return s.lr * (step + 1) / s.warmup
    t, span = step - s.warmup, max(s.steps - s.warmup, 1)
    return s.lr * 0.5 * (1 + math.cos(math.pi * t / span))


def char_data(n_train: int | None) -> tuple[CharVocab, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Character vocabulary of the training plays and the id streams of train (first ``n_train`` chars), val and test."""
    train_text = shakespeare.load("train")
    vocab = CharVocab(train_text)
    if n_train is not None:
        train_text = train_text[:n_train]
    return vocab, vocab.encode_tensor(train_text), vocab.encode_tensor(shakespeare.load("val")), vocab.encode_tensor(shakespeare.load("test"))


def _lstm_card(name: str, model: RNNLM, s: LSTMSettings, n_train: int, metrics: dict) -> ModelCard:
    return ModelCard(
        name=name,
        architecture=f"char embedding {s.d_embed} -> {s.layers} x {s.cell.upper()}({s.d_hidden}) -> linear to {model.vocab_size} chars",
        parameters=sum(p.numel() for p in model.parameters()),
        data=f"Shakespeare training plays ({n_train:,} characters); validation and test plays held out",
        training={"batch_size": s.batch_size, "bptt": s.bptt, "steps": s.steps, "optimizer": "adam", "lr": s.lr, "schedule": f"linear warm-up {s.warmup} steps, cosine" if s.warmup else "cosine", "dropout": s.dropout, "grad_clip": s.grad_clip},
        metrics=metrics,
        intended_use="Teaching: a character-level language model of Early Modern English drama; sampling demos.",
        limitations="Knows only Shakespeare's plays; generates plausible-looking but meaningless text; not for any real-world use.",
    )


# ================================================================================================
# char-lm


@dataclass
class CharLMConfig:
    n_train: int | None = param(None, "training characters used by every model (None: all training plays)", ge=1000)
    max_order: int = param(9, "n-gram orders 1..max_order are fitted; the best on validation is kept", ge=1, le=9)
    discounts: list[float] = param([0.5, 0.75, 0.9], "Kneser-Ney discounts tried (the best on validation is kept)")
    cell: Literal["lstm", "gru", "rnn"] = param("lstm", "recurrent cell of the neural LM")
    d_embed: int = param(64, "character embedding size", ge=1)
    d_hidden: int = param(256, "hidden units per layer", ge=1)
    layers: int = param(1, "recurrent layers", ge=1)
    dropout: float = param(0.0, "dropout between layers and before the read-out", ge=0, lt=1)
    batch_size: int = param(16, "parallel tracks of the training stream", ge=1)
    bptt: int = param(128, "truncated-BPTT window (characters)", ge=1)
    steps: int = param(7000, "training windows (optimizer steps)", ge=1)
    lr: float = param(4e-3, "Adam peak learning rate (after the warm-up; cosine to 0)", gt=0)
    warmup: int = param(100, "steps of linear learning-rate warm-up", ge=0)
    grad_clip: float = param(1.0, "global gradient-norm clip", gt=0)
    eval_every: int = param(500, "steps between validation checks (the best weights are kept)", ge=1)
    val_chars: int | None = param(60000, "validation characters used by the periodic checks (None: all)", ge=1000)
    eval_chars: int | None = param(None, "held-out characters scored at the end, per split (None: the whole plays)", ge=1000)
    checkpoint_every: int = param(200, "steps between checkpoints (0: only at the end)", ge=0)


@experiment
class CharLM(Experiment):
    """Unigram, best Kneser-Ney n-gram and LSTM language models in bits per character on unseen plays."""

    name = "sequences.char-lm"
    claim = (
        "On held-out Shakespeare plays an LSTM character language model needs fewer bits per character "
        "than the best interpolated Kneser-Ney n-gram, which in turn beats the unigram model."
    )
    Config = CharLMConfig
    presets = {
        "smoke": {"n_train": 30000, "max_order": 4, "discounts": [0.75], "d_hidden": 32, "d_embed": 16, "batch_size": 8,
                  "bptt": 32, "steps": 20, "warmup": 5, "eval_every": 10, "val_chars": 5000, "eval_chars": 5000, "checkpoint_every": 0},
        "full": {"d_embed": 128, "d_hidden": 512, "layers": 2, "dropout": 0.25, "batch_size": 128, "bptt": 128,
                 "steps": 12000, "lr": 2e-3, "eval_every": 500, "val_chars": None, "checkpoint_every": 500},
    }
    datasets = ("shakespeare",)

    def run(self, cfg: CharLMConfig, ctx: RunContext) -> Results:
        vocab, train_ids, val_ids, test_ids = char_data(cfg.n_train)
        if cfg.eval_chars is not None:
            val_ids, test_ids = val_ids[: cfg.eval_chars], test_ids[: cfg.eval_chars]
        V = len(vocab)
        # unigram (add-one)
        uni = UnigramLM(V, k=1.0).fit(train_ids)
        uni_bits = {"val": uni.bits_per_token(val_ids), "test": uni.bits_per_token(test_ids)}
        # Kneser-Ney: every order and discount, chosen on validation
        tables = KneserNeyTables(cfg.max_order, V).fit(train_ids)
        grid = []
        for n in range(1, cfg.max_order + 1):
            for d in cfg.discounts:
                grid.append({"order": n, "discount": d, "val_bits": tables.bits_per_token(val_ids, n, d)})
                ctx.log(n, "ngram", order=n, discount=d, val_bits=grid[-1]["val_bits"])
        best = min(grid, key=lambda r: r["val_bits"])
        kn_test = tables.bits_per_token(test_ids, best["order"], best["discount"])
        # LSTM language model
        s = LSTMSettings(cfg.cell, cfg.d_embed, cfg.d_hidden, cfg.layers, cfg.dropout, cfg.batch_size, cfg.bptt,
                         cfg.steps, cfg.lr, cfg.grad_clip, cfg.eval_every, cfg.checkpoint_every, cfg.warmup)
        val_check = val_ids if cfg.val_chars is None else val_ids[: cfg.val_chars]
        model, history = train_lm(f"char-{cfg.cell}", s, train_ids, val_check, V, ctx)
        rnn_bits = {
            split: bits_per_token(evaluate_nll(model, contiguous_batches(ids, 16, 256), ctx.device))
            for split, ids in (("val", val_ids), ("test", test_ids))
        }
        ctx.add_model_card(_lstm_card(f"char-{cfg.cell}", model, s, len(train_ids), {"val_bits_per_char": rnn_bits["val"], "test_bits_per_char": rnn_bits["test"]}))
        table = [
            {"model": "unigram (add-one)", "val_bits": uni_bits["val"], "test_bits": uni_bits["test"]},
            {"model": f"Kneser-Ney n={best['order']}, d={best['discount']:g}", "val_bits": best["val_bits"], "test_bits": kn_test},
            {"model": f"{cfg.cell.upper()} {cfg.layers}x{cfg.d_hidden}", "val_bits": rnn_bits["val"], "test_bits": rnn_bits["test"]},
        ]
        artifacts = [self._plot_ngram(ctx, grid, cfg, rnn_bits["val"]), self._plot_curve(ctx, history, best["val_bits"], uni_bits["val"])]
        return Results(
            metrics={
                "unigram_test_bits": uni_bits["test"],
                "ngram_test_bits": kn_test,
                "ngram_val_bits": best["val_bits"],
                "ngram_order": float(best["order"]),
                "ngram_discount": best["discount"],
                "rnn_test_bits": rnn_bits["test"],
                "rnn_val_bits": rnn_bits["val"],
                "train_chars": float(len(train_ids)),
            },
            artifacts=artifacts,
            details={"bits_per_char": table, "ngram_grid": grid, "lstm_curve": history},
        )

    @staticmethod
    def _plot_ngram(ctx: RunContext, grid: list[dict], cfg: CharLMConfig, rnn_val: float) -> str:
        plt = pyplot()
        fig, ax = plt.subplots(figsize=(6.5, 4.2))
        for d in cfg.discounts:
            pts = [r for r in grid if r["discount"] == d]
            ax.plot([r["order"] for r in pts], [r["val_bits"] for r in pts], "o-", label=f"Kneser-Ney, d={d:g}")
        ax.axhline(rnn_val, c="k", ls="--", label=f"{cfg.cell.upper()} LM")
        ax.set(xlabel="n-gram order", ylabel="validation bits per character", title="Longer contexts help, then the counts run out")
        ax.set_ylim(top=min(5.0, max(r["val_bits"] for r in grid) + 0.1))
        ax.legend()
        return ctx.save_figure(fig, "ngram_orders")

    @staticmethod
    def _plot_curve(ctx: RunContext, history: list[dict], kn_val: float, uni_val: float) -> str:
        plt = pyplot()
        fig, ax = plt.subplots(figsize=(6.5, 4.2))
        ax.plot([h["step"] for h in history], [h["train_bits"] for h in history], "o-", label="LSTM train (running mean)")
        ax.plot([h["step"] for h in history], [h["val_bits"] for h in history], "s-", label="LSTM validation")
        ax.axhline(kn_val, c="C3", ls="--", label="best Kneser-Ney (validation)")
        ax.axhline(uni_val, c="grey", ls=":", label="unigram (validation)")
        ax.set(xlabel="training step", ylabel="bits per character", title="Character LM on held-out plays")
        ax.legend()
        return ctx.save_figure(fig, "lstm_curve")

    def verdict(self, results: Results, cfg: CharLMConfig):
        m = results.metrics
        return verdict(
            [check("LSTM test bits/char below the best n-gram's", m["rnn_test_bits"], "<", m["ngram_test_bits"]),
             check("best n-gram test bits/char below the unigram's", m["ngram_test_bits"], "<", m["unigram_test_bits"])],
            "The LSTM language model beats the best Kneser-Ney n-gram on unseen plays",
            "The LSTM did not beat the best Kneser-Ney n-gram on unseen plays at this training budget",
        )


# ================================================================================================
# samples


_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)*")


def word_set(text: str) -> set[str]:
    """The lower-cased words of a text."""
    return {w.lower() for w in _WORD.findall(text)}


def real_word_fraction(sample_text: str, lexicon: set[str]) -> float:
    """Share of the sample's words (letter runs) that occur in ``lexicon``."""
    words = [w.lower() for w in _WORD.findall(sample_text)]
    return sum(w in lexicon for w in words) / max(len(words), 1)


def attested_bigram_fraction(ids: list[int], known: set[tuple[int, int]]) -> float:
    """Share of consecutive token pairs of a sample that occur in the training text."""
    pairs = list(zip(ids, ids[1:]))
    return sum(p in known for p in pairs) / max(len(pairs), 1)


@dataclass
class SamplesConfig:
    n_chars: int = param(400, "characters drawn from each character model", ge=10)
    n_words: int = param(150, "tokens drawn from each word model", ge=10)
    char_order: int = param(5, "order of the character Kneser-Ney model", ge=2)
    word_order: int = param(3, "order of the word Kneser-Ney model", ge=2)
    word_min_freq: int = param(2, "words seen fewer times become <unk>", ge=1)
    train_chars: int | None = param(1_500_000, "training characters for every model (None: all training plays)", ge=1000)
    temperature: float = param(1.0, "sampling temperature used for the comparison (1: each model's own distribution)", gt=0)
    top_k: int = param(5, "top-k of the extra, sharpened LSTM sample shown beside the others", ge=1)
    d_embed: int = param(48, "LSTM character embedding size", ge=1)
    d_hidden: int = param(128, "LSTM hidden units", ge=1)
    batch_size: int = param(64, "LSTM tracks", ge=1)
    bptt: int = param(64, "LSTM truncated-BPTT window", ge=1)
    steps: int = param(600, "LSTM training steps", ge=1)
    lr: float = param(5e-3, "LSTM Adam peak learning rate", gt=0)
    checkpoint_every: int = param(200, "steps between LSTM checkpoints (0: only at the end)", ge=0)


@experiment
class Samples(Experiment):
    """Text drawn from unigram, n-gram and LSTM models, side by side, with simple measures of their quality."""

    name = "sequences.samples"
    claim = (
        "Sampled text shows what each model knows: a unigram model strings together the most frequent tokens "
        "('the , and the I'), an n-gram makes locally plausible word pairs, and an LSTM spells real words."
    )
    Config = SamplesConfig
    presets = {
        "smoke": {"n_chars": 60, "n_words": 30, "train_chars": 40000, "d_hidden": 16, "d_embed": 8, "batch_size": 8, "bptt": 16, "steps": 10, "checkpoint_every": 0},
        "full": {"train_chars": None, "d_embed": 128, "d_hidden": 512, "batch_size": 128, "bptt": 128, "steps": 8000, "lr": 2e-3, "checkpoint_every": 500},
    }
    datasets = ("shakespeare",)

    def run(self, cfg: SamplesConfig, ctx: RunContext) -> Results:
        g = generator(ctx.seed, 1)
        full_train = shakespeare.load("train")
        text = full_train if cfg.train_chars is None else full_train[: cfg.train_chars]
        lexicon = word_set(text)  # "real" words: those of the training text the models saw
        samples, rows = [], []
        # words: unigram and Kneser-Ney
        wv = WordVocab(text, min_freq=cfg.word_min_freq)
        w_ids = wv.encode(text)
        known_pairs = set(zip(w_ids, w_ids[1:]))
        counts = np.bincount(w_ids, minlength=len(wv))
        top10 = set(np.argsort(-counts)[:10].tolist())
        for label, lm in (("word unigram", UnigramLM(len(wv), k=0.0).fit(w_ids)), (f"word {cfg.word_order}-gram (Kneser-Ney)", KneserNeyLM(cfg.word_order, len(wv)).fit(w_ids))):
            out = lm.sample(cfg.n_words, temperature=cfg.temperature, generator=g)
            samples.append({"model": label, "text": wv.decode(out)})
            rows.append({"model": label, "top10_share": sum(t in top10 for t in out) / len(out), "attested_bigrams": attested_bigram_fraction(out, known_pairs), "real_words": real_word_fraction(wv.decode(out), lexicon)})
        # characters: unigram, Kneser-Ney, LSTM
        vocab = CharVocab(full_train)
        c_ids = vocab.encode(text)
        prompt = vocab.encode("\n")
        for label, lm in (("char unigram", UnigramLM(len(vocab), k=0.0).fit(c_ids)), (f"char {cfg.char_order}-gram (Kneser-Ney)", KneserNeyLM(cfg.char_order, len(vocab)).fit(c_ids))):
            out = lm.sample(cfg.n_chars, context=prompt, temperature=cfg.temperature, generator=g)
            samples.append({"model": label, "text": vocab.decode(out)})
            rows.append({"model": label, "real_words": real_word_fraction(vocab.decode(out), lexicon)})
        s = LSTMSettings("lstm", cfg.d_embed, cfg.d_hidden, 1, 0.0, cfg.batch_size, cfg.bptt, cfg.steps, cfg.lr, 1.0, max(cfg.steps // 4, 1), cfg.checkpoint_every)
        train_ids = torch.tensor(c_ids, dtype=torch.long)
        val_ids = vocab.encode_tensor(shakespeare.load("val")[:30000])
        model, history = train_lm("char-lstm", s, train_ids, val_ids, len(vocab), ctx)
        for label, temp, k in (("char LSTM", cfg.temperature, None), (f"char LSTM (T=0.5, top-{cfg.top_k})", 0.5, cfg.top_k)):
            out = sample(model, prompt, cfg.n_chars, temperature=temp, top_k=k, generator=g).tolist()
            samples.append({"model": label, "text": vocab.decode(out)})
            rows.append({"model": label, "real_words": real_word_fraction(vocab.decode(out), lexicon)})
        ctx.add_model_card(_lstm_card("char-lstm", model, s, len(train_ids), {"val_bits_per_char": history[-1]["val_bits"]}))
        by = {r["model"]: r for r in rows}
        metrics = {
            "word_unigram_top10_share": by["word unigram"]["top10_share"],
            "corpus_top10_share": float(counts[list(top10)].sum() / counts.sum()),
            "word_unigram_attested_bigrams": by["word unigram"]["attested_bigrams"],
            "word_ngram_attested_bigrams": rows[1]["attested_bigrams"],
            "char_unigram_real_words": by["char unigram"]["real_words"],
            "char_ngram_real_words": rows[3]["real_words"],
            "char_lstm_real_words": by["char LSTM"]["real_words"],
        }
        md = "\n\n".join(f"### {x['model']}\n\n```\n{x['text']}\n```" for x in samples)
        if ctx.is_main:
            (ctx.out / "samples.md").write_text(f"# Samples ({ctx.preset} preset, seed {ctx.seed})\n\n{md}\n", encoding="utf-8")
        return Results(metrics=metrics, artifacts=["samples.md"], details={"samples": samples, "measures": rows})

    def verdict(self, results: Results, cfg: SamplesConfig):
        m = results.metrics
        return verdict(
            [check("share of the 10 most frequent words in the word-unigram sample", m["word_unigram_top10_share"], ">=", 0.2),
             check("attested word pairs: n-gram minus unigram", m["word_ngram_attested_bigrams"] - m["word_unigram_attested_bigrams"], ">=", 0.2),
             check("real words in the char LSTM sample minus the char unigram's", m["char_lstm_real_words"] - m["char_unigram_real_words"], ">=", 0.2)],
            "The unigram repeats frequent tokens, the n-gram forms real word pairs, the LSTM spells real words",
            "The samples did not show the expected differences between the models",
        )
