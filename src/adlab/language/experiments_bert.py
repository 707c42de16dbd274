"""Registered claims of lecture 7 about BERT: pretraining helps a task with few labels, and
contextual vectors tell the senses of one word apart where a static vector cannot."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, fields
from pathlib import Path

import torch
import torch.nn.functional as F

from adlab.core import Experiment, ModelCard, Results, RunContext, check, experiment, param, verdict
from adlab.core import checkpoint as ckpt
from adlab.core.errors import ConfigError
from adlab.core.seeding import generator
from adlab.data import shakespeare
from adlab.language.bert import IGNORE_INDEX, BertClassifier, BertConfig, BertEncoder, BertForPretraining, mask_tokens
from adlab.language.corpus import SPECIALS, fit_word_tokenizer, LinePairs, pad_batch, play_passages, spoken_lines, will_sense
from adlab.language.loop import LoopResult, train_steps, warmup_cosine
from adlab.language.probes import cluster_purity
from adlab.language.tokenizers import WordTokenizer
from adlab.core.plotting import pyplot as _plt


# ------------------------------------------------------------------------ shared pretraining


@dataclass
class PretrainConfig:
    vocab_size: int = param(2000, "word vocabulary (lower-cased, most frequent words; 5 special tokens included)", ge=10)
    max_line: int = param(14, "tokens kept of each line; inputs are [CLS] A [SEP] B [SEP]", ge=2)
    n_layer: int = param(2, "transformer blocks of BERT-mini", ge=1)
    n_head: int = param(4, "attention heads per block", ge=1)
    d_model: int = param(128, "width of the token vectors", ge=8)
    dropout: float = param(0.0, "dropout in the encoder", ge=0, lt=1)
    norm: str = param("pre", "LayerNorm placement in the blocks: post (BERT) or pre", choices=("post", "pre"))
    batch_size: int = param(128, "line pairs per pretraining step", ge=2)
    steps: int = param(600, "pretraining steps (masked LM + next-sentence prediction)", ge=1)
    lr: float = param(1e-3, "peak AdamW learning rate of pretraining (warm-up 10%, cosine decay)", gt=0)
    amp: bool = param(
        False, "bf16 autocast in the pretraining steps, on a GPU or a CPU with bf16 kernels (about 1.45x faster per "
        "step on this project's 2-core AVX512-BF16 CPU; not yet measured on a GPU, where these small steps are "
        "bound by kernel launches)"
    )
    checkpoint_every: int = param(200, "pretraining steps between checkpoints (0: only the final one)", ge=0)
    pretrained: str | None = param(
        None, "folder of a finished bert-finetune or contextual-senses run with the same pretraining settings and seed: "
        "reuse its pretrained encoder instead of pretraining again"
    )


PRETRAINED_BY = ("language.bert-finetune", "language.contextual-senses")
PRETRAIN_FIELDS = tuple(f.name for f in fields(PretrainConfig) if f.name not in ("checkpoint_every", "pretrained"))
PRETRAIN_FULL = {"vocab_size": 8000, "norm": "post", "dropout": 0.1, "n_layer": 4, "d_model": 256, "batch_size": 128, "steps": 20000, "lr": 5e-4, "checkpoint_every": 2000}
PRETRAIN_SMOKE = {"vocab_size": 300, "max_line": 8, "n_layer": 1, "n_head": 2, "d_model": 16, "batch_size": 8, "steps": 10, "checkpoint_every": 0}


def pretraining_loss(model: BertForPretraining, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
    r"""$\mathcal{L}_{MLM} + \mathcal{L}_{NSP}$, the MLM logits computed at the selected positions only.

    The same value as ``model(ids, segs, mlm_labels=..., nsp_labels=...).loss``; scoring only
    the ~15% selected positions saves the $(B, T, V)$ logits of the others.
    """
    ids, segs, labels, nsp = batch
    h = model.encoder(ids, segs)  # (B, T, d)
    sel = labels != IGNORE_INDEX
    z = model.mlm_transform(h[sel]) @ model.encoder.tok_emb.weight.T + model.mlm_bias  # (n_selected, V)
    mlm = F.cross_entropy(z, labels[sel])
    nsp_loss = F.cross_entropy(model.nsp_head(model.pooler(h[:, 0])), nsp)
    return mlm + nsp_loss


def pretrain_bert(cfg: PretrainConfig, ctx: RunContext) -> tuple[BertForPretraining, WordTokenizer, LoopResult]:
    """BERT-mini pretrained on the spoken lines of the training plays (masked LM 15%, 80/10/10; NSP)."""
    plays = [spoken_lines(t) for t in shakespeare.load_plays("train").values()]
    tok = fit_word_tokenizer([ln for p in plays for ln in p], cfg.vocab_size)
    pairs = LinePairs([[tok.encode(ln) for ln in p] for p in plays])
    pad, _, cls_id, sep_id, mask_id = (tok.token_id(s) for s in SPECIALS)
    specials = [tok.token_id(s) for s in SPECIALS]
    dev = ctx.device

    def batch_fn(step: int) -> tuple[torch.Tensor, ...]:
        g = generator(ctx.seed, 11, step)
        ids, segs, nsp = pairs.batch(cfg.batch_size, cfg.max_line, cls_id, sep_id, g)
        corrupted, labels = mask_tokens(ids, mask_id, tok.vocab_size, specials, g)
        return tuple(t.to(dev) for t in (corrupted, segs, labels, nsp))

    torch.manual_seed(ctx.seed)
    bert_cfg = BertConfig(
        vocab_size=tok.vocab_size, max_len=2 * cfg.max_line + 3, n_layer=cfg.n_layer, n_head=cfg.n_head,
        d_model=cfg.d_model, dropout=cfg.dropout, norm=cfg.norm, pad_id=pad,
    )
    model = BertForPretraining(bert_cfg).to(dev)
    if cfg.pretrained is not None:
        run = load_pretrained(model, cfg, ctx.seed)
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01)
        run = train_steps(
            "bert", model, opt, batch_fn, pretraining_loss, cfg.steps, ctx, amp=cfg.amp,
            scheduler=warmup_cosine(opt, max(1, cfg.steps // 10), cfg.steps), checkpoint_every=cfg.checkpoint_every,
        )
    model.eval()
    ctx.add_model_card(ModelCard(
        name="bert-mini", architecture=f"BERT encoder: {cfg.n_layer} {cfg.norm}-LN blocks, {cfg.n_head} heads, width {cfg.d_model}, {tok.vocab_size} word tokens",
        parameters=sum(p.numel() for p in model.parameters()),
        data=f"spoken lines of the {len(plays)} Shakespeare training works, as consecutive line pairs",
        training={"objectives": "masked LM (15%, 80/10/10) + next-sentence prediction", "steps": run.steps, "batch": cfg.batch_size, "lr": cfg.lr,
                  "precision": "bf16 autocast" if cfg.amp else "fp32",
                  "seconds": round(run.seconds, 1), **({"reused_from": cfg.pretrained} if cfg.pretrained else {})},
        metrics={"final_pretraining_loss": sum(run.losses[-50:]) / max(1, len(run.losses[-50:]))},
        intended_use="Teaching: pretraining then fine-tuning on a small labelled task; probing contextual vectors.",
        limitations="Tiny, briefly trained, early-modern English only; lower-cased words, rare words are [UNK].",
    ))
    return model, tok, run


def load_pretrained(model: BertForPretraining, cfg: PretrainConfig, seed: int) -> LoopResult:
    """Load the final pretraining checkpoint of the run in ``cfg.pretrained`` into ``model``.

    The run must be a finished pretraining of one of :data:`PRETRAINED_BY` with the same
    pretraining fields, precision and seed, so the encoder is the one this run would have trained
    itself (pretraining is deterministic given those). Anything else is a :class:`ConfigError`.
    """
    src = Path(cfg.pretrained)
    where = f"pretrained={cfg.pretrained}"
    try:
        saved = json.loads((src / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ConfigError(f"{where}: no readable config.json there (give the folder of a {' or '.join(PRETRAINED_BY)} run)") from None
    if saved.get("experiment") not in PRETRAINED_BY:
        raise ConfigError(f"{where}: a {saved.get('experiment')} run; its encoder must come from {' or '.join(PRETRAINED_BY)}")
    theirs = saved.get("config", {})
    theirs.setdefault("amp", False)  # runs saved before the amp field existed pretrained in fp32
    diffs = [f"{k} {theirs.get(k)!r} there, {getattr(cfg, k)!r} here" for k in PRETRAIN_FIELDS if theirs.get(k) != getattr(cfg, k)]
    if saved.get("seed") != seed:
        diffs.append(f"seed {saved.get('seed')!r} there, {seed!r} here")
    if diffs:
        raise ConfigError(f"{where} was pretrained differently: {'; '.join(diffs)}")
    loaded = ckpt.load(src / "checkpoint" / "bert")
    if loaded is None or not loaded[1].get("done") or loaded[1].get("step") != cfg.steps:
        raise ConfigError(f"{where}: no finished pretraining checkpoint there (resume that run first)")
    tensors, state = loaded
    ckpt.load_module(model, tensors, "model")
    return LoopResult(steps=state["step"], seconds=state["seconds"], losses=list(state["losses"]), stopped_by_budget=state["stopped_by_budget"])


def _encode_single(tok: WordTokenizer, texts: list[str], max_len: int) -> torch.Tensor:
    """``[CLS] text [SEP]`` for each text, cut to ``max_len`` tokens and padded."""
    cls_id, sep_id = tok.token_id("[CLS]"), tok.token_id("[SEP]")
    return pad_batch([[cls_id, *tok.encode(t)[: max_len - 2], sep_id] for t in texts])


# ------------------------------------------------------------------------------ bert-finetune


@dataclass
class BertFinetuneConfig(PretrainConfig):
    n_labels: int = param(64, "labelled passages per play for fine-tuning (the few labels)", ge=1)
    n_test: int = param(300, "test passages per play", ge=1)
    lines_per_passage: int = param(2, "consecutive spoken lines per passage", ge=1)
    n_splits: int = param(3, "random draws of the labelled set (each fine-tunes both models)", ge=1)
    ft_epochs: int = param(15, "fine-tuning epochs over the labelled passages", ge=1)
    ft_batch_size: int = param(16, "fine-tuning batch size", ge=1)
    ft_lr: float = param(3e-4, "fine-tuning AdamW learning rate (all weights updated), the same for both models; used when ft_lr_grid is empty", gt=0)
    ft_lr_grid: list[float] = param([1e-4, 3e-4, 1e-3], "fine-tuning rates; when set, each model picks its own rate on each label draw by accuracy on a validation split of the labelled passages, then is refitted on all of them")
    ft_val_per_class: int = param(16, "labelled passages per play held out for choosing the rate (with ft_lr_grid)", ge=1)
    ft_pooling: str = param("mean", "what the classifier head sees: cls (pooler on [CLS], BERT) or mean (mean of the token vectors)", choices=("cls", "mean"))
    ft_warmup: float = param(0.1, "fraction of the fine-tuning steps with linear warm-up, then cosine decay (0: constant rate)", ge=0, lt=1)
    min_gain: float = param(0.02, "passes if pretraining raises mean test accuracy by at least this much", ge=0, threshold=True)


@experiment
class BertFinetune(Experiment):
    """Pretrain BERT-mini on the training plays, fine-tune it to tell three unseen plays apart."""

    name = "language.bert-finetune"
    claim = (
        "With only a few labelled examples, a BERT encoder pretrained on unlabelled text (masked words and next "
        "sentences) learns a classification task better than the same encoder trained from scratch."
    )
    Config = BertFinetuneConfig
    presets = {
        "smoke": {**PRETRAIN_SMOKE, "ft_lr_grid": [1e-4, 1e-3], "ft_val_per_class": 2, "n_labels": 4, "n_test": 8, "n_splits": 1, "ft_epochs": 1, "ft_batch_size": 4},
        "full": {**PRETRAIN_FULL, "n_splits": 5, "ft_lr": 1e-4, "ft_epochs": 20, "ft_lr_grid": [], "ft_pooling": "cls", "ft_warmup": 0.0},
    }
    datasets = ("shakespeare",)

    def run(self, cfg: BertFinetuneConfig, ctx: RunContext) -> Results:
        grid = cfg.ft_lr_grid
        n_fit = cfg.n_labels - cfg.ft_val_per_class  # labelled passages per play that fit when a rate is being chosen
        if grid and n_fit < 1:
            raise ValueError("ft_val_per_class must be smaller than n_labels")
        if any(lr <= 0 for lr in grid):
            raise ValueError(f"ft_lr_grid rates must be > 0, got {grid}")
        pretrained, tok, pre_run = pretrain_bert(cfg, ctx)
        max_len = pretrained.cfg.max_len
        plays = shakespeare.load_plays("val")  # plays never seen in pretraining
        names = sorted(plays)
        passages = [play_passages(spoken_lines(plays[p]), cfg.lines_per_passage) for p in names]
        need = cfg.n_labels + cfg.n_test
        if any(len(ps) < need for ps in passages):
            raise ValueError(f"a play has fewer than n_labels + n_test = {need} passages; lower them")
        dev = ctx.device
        rows = []
        for r in range(cfg.n_splits):
            tr_x, tr_y, te_x, te_y = [], [], [], []
            for c, ps in enumerate(passages):
                order = torch.randperm(len(ps), generator=generator(ctx.seed, 21, r, c)).tolist()
                tr_x += [ps[i] for i in order[: cfg.n_labels]]
                te_x += [ps[i] for i in order[cfg.n_labels : need]]
                tr_y += [c] * cfg.n_labels
                te_y += [c] * cfg.n_test
            x_tr, y_tr = _encode_single(tok, tr_x, max_len), torch.tensor(tr_y)
            x_te, y_te = _encode_single(tok, te_x, max_len), torch.tensor(te_y)
            # validation split of the labelled passages (the labelled set is class-major: n_labels per play)
            is_val = torch.tensor([(i % cfg.n_labels) >= n_fit for i in range(len(tr_y))])

            def make(init: str) -> BertClassifier:
                torch.manual_seed(ctx.seed * 100 + r)
                if init == "pretrained":
                    return BertClassifier(copy.deepcopy(pretrained.encoder), len(names), pooler=copy.deepcopy(pretrained.pooler), pooling=cfg.ft_pooling).to(dev)
                return BertClassifier(BertEncoder(pretrained.cfg), len(names), pooling=cfg.ft_pooling).to(dev)

            for init in ("pretrained", "scratch"):
                lr, val_acc = cfg.ft_lr, {}
                if grid:
                    for cand in grid:
                        val_acc[cand] = self._finetune(
                            make(init), x_tr[~is_val], y_tr[~is_val], x_tr[is_val], y_tr[is_val], cfg, generator(ctx.seed, 23, r), dev, cand
                        )
                    lr = max(grid, key=lambda c: val_acc[c])  # first of the best on ties
                acc = self._finetune(make(init), x_tr, y_tr, x_te, y_te, cfg, generator(ctx.seed, 22, r), dev, lr)
                rows.append({"split": r, "init": init, "test_accuracy": acc, "ft_lr": lr, **{f"val_acc_lr{c:g}": v for c, v in val_acc.items()}})
                ctx.log(r, "finetune", model=init, test_accuracy=acc, ft_lr=lr)
        mean = {k: sum(x["test_accuracy"] for x in rows if x["init"] == k) / cfg.n_splits for k in ("pretrained", "scratch")}
        wins = sum(
            a["test_accuracy"] > b["test_accuracy"]
            for a, b in zip([x for x in rows if x["init"] == "pretrained"], [x for x in rows if x["init"] == "scratch"])
        )
        artifacts = [self._plot(ctx, rows, names, cfg)]
        return Results(
            metrics={
                "pretrained_accuracy": mean["pretrained"], "scratch_accuracy": mean["scratch"],
                "gain": mean["pretrained"] - mean["scratch"], "pretrained_wins": float(wins), "splits": float(cfg.n_splits),
                "chance": 1.0 / len(names), "pretrain_steps": float(pre_run.steps), "pretrain_seconds": pre_run.seconds,
                "pretrain_final_loss": sum(pre_run.losses[-50:]) / max(1, len(pre_run.losses[-50:])),
            },
            artifacts=artifacts,
            details={"runs": rows, "plays": [{"class": c, "play": p} for c, p in enumerate(names)]},
        )

    @staticmethod
    def _finetune(model: BertClassifier, x_tr, y_tr, x_te, y_te, cfg: BertFinetuneConfig, g: torch.Generator, dev, lr: float) -> float:
        """Train every weight on the labelled passages for ``ft_epochs`` at rate ``lr``; return test accuracy."""
        opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
        total = cfg.ft_epochs * -(-len(x_tr) // cfg.ft_batch_size)
        sched = warmup_cosine(opt, max(1, round(cfg.ft_warmup * total)), total) if cfg.ft_warmup > 0 else None
        model.train()
        for _ in range(cfg.ft_epochs):
            order = torch.randperm(len(x_tr), generator=g)
            for i in range(0, len(order), cfg.ft_batch_size):
                idx = order[i : i + cfg.ft_batch_size]
                _, loss = model(x_tr[idx].to(dev), labels=y_tr[idx].to(dev))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                if sched is not None:
                    sched.step()
        model.eval()
        correct = 0
        with torch.no_grad():
            for i in range(0, len(x_te), 256):
                logits, _ = model(x_te[i : i + 256].to(dev))
                correct += int((logits.argmax(-1).cpu() == y_te[i : i + 256]).sum())
        return correct / len(x_te)

    def verdict(self, results: Results, cfg: BertFinetuneConfig):
        m = results.metrics
        return verdict(
            [check("test accuracy gain of pretrained over from-scratch", m["gain"], ">=", cfg.min_gain)],
            "Pretraining helps: the pretrained encoder beats the one trained from scratch on the few-label task",
            "Pretraining did not help enough on the few-label task",
        )

    @staticmethod
    def _plot(ctx: RunContext, rows: list[dict], names: list[str], cfg: BertFinetuneConfig) -> str:
        plt = _plt()
        fig, ax = plt.subplots(figsize=(5.6, 3.8))
        for k, (init, colour) in enumerate((("pretrained", "C0"), ("scratch", "C1"))):
            acc = [x["test_accuracy"] for x in rows if x["init"] == init]
            ax.scatter([k] * len(acc), acc, color=colour, zorder=3)
            ax.bar(k, sum(acc) / len(acc), color=colour, alpha=0.4)
        ax.axhline(1 / len(names), ls="--", c="grey", label="chance")
        ax.set_xticks([0, 1], ["pretrained", "from scratch"])
        ax.set(ylabel="test accuracy", title=f"Which play? ({', '.join(names)}; {cfg.n_labels} labels each)")
        ax.legend()
        return ctx.save_figure(fig, "finetune")


# -------------------------------------------------------------------------- contextual-senses


@dataclass
class ContextualSensesConfig(PretrainConfig):
    # 4x bert-finetune's quick pretraining (about 5 minutes on 2 CPU cores, the quick tier's budget):
    # after 600 steps the senses are linearly present but not the main variation (purity 0.59)
    steps: int = param(2400, "pretraining steps (masked LM + next-sentence prediction); 4x bert-finetune's quick preset", ge=1)
    n_per_sense: int = param(200, "occurrences of each sense of 'will' sampled (balanced)", ge=2)
    min_purity: float = param(0.8, "passes if 2-means clusters of the contextual vectors match the senses with at least this purity", gt=0, le=1, threshold=True)
    min_margin: float = param(0.2, "and if that purity exceeds the static embedding's by at least this much", ge=0, threshold=True)


@experiment
class ContextualSenses(Experiment):
    """Vectors of 'will' (noun: wish, testament; verb: future) from a pretrained BERT, clustered."""

    name = "language.contextual-senses"
    claim = (
        "A contextual encoder gives the two senses of one word (will as a noun and as a verb) vectors that fall "
        "into two separate clusters, while a static embedding gives every occurrence the same vector."
    )
    Config = ContextualSensesConfig
    presets = {
        "smoke": {**PRETRAIN_SMOKE, "n_per_sense": 10},
        "full": {**PRETRAIN_FULL, "n_per_sense": 200},
    }
    datasets = ("shakespeare",)

    def run(self, cfg: ContextualSensesConfig, ctx: RunContext) -> Results:
        pretrained, tok, pre_run = pretrain_bert(cfg, ctx)
        max_len = pretrained.cfg.max_len
        found: dict[int, list[tuple[list[int], int]]] = {0: [], 1: []}
        for text in shakespeare.load_plays("train").values():
            for line in spoken_lines(text):
                words = tok.split(line, lowercase=True)[: max_len - 2]
                for i in range(len(words)):
                    sense = will_sense(words, i)
                    if sense is not None:
                        found[sense].append((tok.encode(line)[: max_len - 2], i))
        n = min(cfg.n_per_sense, len(found[0]), len(found[1]))
        picked, labels = [], []
        for sense in (0, 1):
            order = torch.randperm(len(found[sense]), generator=generator(ctx.seed, 31, sense))[:n].tolist()
            picked += [found[sense][j] for j in order]
            labels += [sense] * n
        labels_t = torch.tensor(labels)
        cls_id, sep_id = tok.token_id("[CLS]"), tok.token_id("[SEP]")
        ids = pad_batch([[cls_id, *x, sep_id] for x, _ in picked]).to(ctx.device)
        where = torch.tensor([i + 1 for _, i in picked])  # +1 for [CLS]

        torch.manual_seed(ctx.seed + 7)
        fresh = BertEncoder(pretrained.cfg).to(ctx.device).eval()
        vectors = {}
        with torch.no_grad():
            for name, enc in (("pretrained", pretrained.encoder), ("untrained", fresh)):
                h = enc(ids).cpu()  # (N, T, d)
                v = h[torch.arange(len(picked)), where]  # (N, d): the vector of 'will' in its line
                vectors[name] = F.normalize(v - v.mean(0), dim=-1)
        purity = {k: cluster_purity(v, labels_t, 2, ctx.seed) for k, v in vectors.items()}
        # a static embedding is one vector per word type: every occurrence lands in the same
        # cluster, so the best purity any clustering can reach is the larger sense's share
        purity["static"] = max(labels.count(0), labels.count(1)) / len(labels)
        probe = {k: self._probe(v, labels_t, ctx.seed) for k, v in vectors.items()}
        artifacts = [self._plot(ctx, vectors, labels_t, purity)]
        return Results(
            metrics={
                "contextual_purity": purity["pretrained"], "untrained_purity": purity["untrained"], "static_purity": purity["static"],
                "contextual_probe_accuracy": probe["pretrained"], "untrained_probe_accuracy": probe["untrained"],
                "occurrences_per_sense": float(n), "pretrain_steps": float(pre_run.steps), "pretrain_seconds": pre_run.seconds,
            },
            artifacts=artifacts,
            details={
                "purity": [{"vectors": k, "cluster_purity": round(v, 4)} for k, v in purity.items()],
                "examples": [{"sense": ["noun", "verb"][labels[j]], "line": tok.decode(picked[j][0])} for j in (0, 1, n, n + 1) if j < len(picked)],
            },
        )

    @staticmethod
    def _probe(vectors: torch.Tensor, labels: torch.Tensor, seed: int) -> float:
        """5-fold cross-validated accuracy of a logistic-regression probe (linear separability)."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import StratifiedKFold, cross_val_score

        folds = StratifiedKFold(n_splits=min(5, int(labels.bincount().min())), shuffle=True, random_state=seed)
        return float(cross_val_score(LogisticRegression(max_iter=2000), vectors.numpy(), labels.numpy(), cv=folds).mean())

    def verdict(self, results: Results, cfg: ContextualSensesConfig):
        m = results.metrics
        return verdict(
            [
                check("cluster purity of the contextual vectors", m["contextual_purity"], ">=", cfg.min_purity),
                check("contextual minus static purity", m["contextual_purity"] - m["static_purity"], ">=", cfg.min_margin),
            ],
            "The contextual vectors of 'will' split into its two senses; the static vector cannot",
            "The contextual vectors did not separate the two senses of 'will' clearly",
        )

    @staticmethod
    def _plot(ctx: RunContext, vectors: dict[str, torch.Tensor], labels: torch.Tensor, purity: dict[str, float]) -> str:
        plt = _plt()
        fig, axes = plt.subplots(1, len(vectors), figsize=(5 * len(vectors), 4))
        for ax, (name, v) in zip(axes, vectors.items()):
            U, S, _ = torch.linalg.svd(v.double() - v.double().mean(0), full_matrices=False)
            xy = U[:, :2] * S[:2]
            for sense, (label, colour) in enumerate((("noun (my will)", "C0"), ("verb (I will)", "C1"))):
                pts = xy[labels == sense]
                ax.scatter(pts[:, 0], pts[:, 1], s=8, color=colour, label=label, alpha=0.7)
            ax.set(title=f"{name} encoder: 2-means purity {purity[name]:.2f}", xlabel="PC 1", ylabel="PC 2")
            ax.legend(fontsize=8)
        fig.suptitle(f"Vectors of 'will' in context (a static embedding: one point, purity {purity['static']:.2f})")
        return ctx.save_figure(fig, "senses")
