"""Registered claim of lecture 7 about static word embeddings: word2vec neighbours, and two
embedding spaces trained on disjoint halves of the corpus are one rotation apart."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from adlab.core import Experiment, Results, RunContext, check, experiment, param, verdict
from adlab.core.seeding import generator
from adlab.data import shakespeare
from adlab.language.corpus import spoken_lines
from adlab.language.procrustes import orthogonal_procrustes, translation_accuracy
from adlab.language.tokenizers import WordTokenizer
from adlab.language.word2vec import Word2VecConfig, nearest_neighbours, train_word2vec, word_vectors
from adlab.core.plotting import pyplot

QUERIES = ("king", "love", "death", "sword", "night", "heaven", "father", "eyes", "speak", "sweet")


def normalise_embeddings(E: torch.Tensor) -> torch.Tensor:
    """Unit-length rows, mean-centred, unit-length again (the usual preparation before Procrustes)."""
    E = F.normalize(E.double(), dim=-1)
    return F.normalize(E - E.mean(0), dim=-1)


@dataclass
class Word2VecExpConfig:
    min_freq: int = param(5, "a word enters the vocabulary if it occurs this often in the training plays", ge=1)
    dim: int = param(32, "embedding dimension", ge=2)
    window: int = param(3, "largest centre-context distance", ge=1)
    negatives: int = param(5, "noise words per pair", ge=1)
    subsample_t: float | None = param(None, "frequent-word subsampling threshold t (None: keep every token; t = 1e-4 cost most of the accuracy on this small corpus)", gt=0)
    epochs: int = param(4, "passes over each half", ge=1)
    batch_size: int = param(2048, "pairs per SparseAdam step", ge=1)
    lr: float = param(0.01, "SparseAdam learning rate", gt=0)
    block_lines: int = param(50, "the halves alternate blocks of this many spoken lines", ge=1)
    max_tokens: int | None = param(None, "use at most this many tokens of each half (None: all; for quick tests)", ge=100)
    vectors: Literal["input", "sum", "concat"] = param("concat", "word vectors: input vectors v, v + u, or [v/|v|, u/|u|] (input and output side by side)")
    retrieval: Literal["nn", "csls"] = param("csls", "translation by nearest neighbour or by CSLS (Conneau et al., 2018)")
    csls_k: int = param(10, "neighbourhood size of CSLS", ge=1)
    min_count: int = param(20, "words evaluated by translation occur at least this often in each half", ge=1)
    test_fraction: float = param(0.25, "share of those words held out from the Procrustes fit and scored", gt=0, lt=1)
    min_accuracy: float = param(0.2, "passes if translation accuracy@1 on held-out words reaches this", gt=0, le=1, threshold=True)
    min_chance_multiple: float = param(50.0, "and if it is at least this many times chance (1 / candidate words)", gt=1, threshold=True)


@experiment
class Word2Vec(Experiment):
    """Skip-gram with negative sampling on each half of the plays, neighbours, Procrustes translation."""

    name = "language.word2vec"
    claim = (
        "word2vec places related words near each other, and the spaces learned from two disjoint halves of the text "
        "differ by a rotation: one fitted on shared anchor words maps held-out words onto themselves far more often than chance."
    )
    Config = Word2VecExpConfig
    presets = {
        "smoke": {"dim": 8, "epochs": 1, "batch_size": 4096, "max_tokens": 10000, "min_count": 10},
        "full": {"epochs": 10, "batch_size": 1024, "lr": 0.005, "min_count": 10},
    }
    datasets = ("shakespeare",)

    def run(self, cfg: Word2VecExpConfig, ctx: RunContext) -> Results:
        plays = shakespeare.load_plays("train")
        lines = [ln for p in sorted(plays) for ln in spoken_lines(plays[p], min_words=1)]
        tok = WordTokenizer.fit("\n".join(lines), min_freq=cfg.min_freq, lowercase=True)
        V = tok.vocab_size
        # two disjoint halves: alternate blocks of `block_lines` lines, so both halves sample every play
        halves = {h: [ln for i, ln in enumerate(lines) if (i // cfg.block_lines) % 2 == k] for k, h in enumerate("AB")}
        alpha = torch.tensor([tok.itos[i].isalpha() for i in range(V)])  # words only: no punctuation, <unk>, <pad>
        E, streams, hist = {}, {}, {}
        for k, (half, members) in enumerate(halves.items()):
            ids = torch.tensor(tok.encode("\n".join(members)), dtype=torch.long)
            ids = ids[alpha[ids] & (ids != tok.unk_id)][: cfg.max_tokens]
            streams[half] = ids
            w2v = Word2VecConfig(
                dim=cfg.dim, window=cfg.window, negatives=cfg.negatives, subsample_t=cfg.subsample_t,
                epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, seed=ctx.seed * 10 + k,
            )
            model, hist[half] = train_word2vec(ids, V, w2v)
            E[half] = word_vectors(model, cfg.vectors)
            for e, loss in enumerate(hist[half]):
                ctx.log(e + 1, "train", model=f"word2vec-{half}", loss=loss)

        counts = {h: torch.bincount(s, minlength=V) for h, s in streams.items()}
        eligible = torch.nonzero((counts["A"] >= cfg.min_count) & (counts["B"] >= cfg.min_count) & alpha).flatten()
        n = len(eligible)
        order = eligible[torch.randperm(n, generator=generator(ctx.seed, 41))]
        n_test = max(1, int(round(cfg.test_fraction * n)))
        test, anchors = order[:n_test], order[n_test:]
        # rows of the candidate matrices are the eligible words; map vocabulary ids to row numbers
        row = torch.full((V,), -1, dtype=torch.long)
        row[eligible] = torch.arange(n)
        X, Y = normalise_embeddings(E["A"][eligible]), normalise_embeddings(E["B"][eligible])
        W = orthogonal_procrustes(X[row[anchors]], Y[row[anchors]])
        t = row[test]
        acc1 = {m: translation_accuracy(X, Y, W, t, t, k=1, retrieval=m, csls_k=cfg.csls_k) for m in ("nn", "csls")}
        acc, acc_nn, acc_csls = acc1[cfg.retrieval], acc1["nn"], acc1["csls"]
        acc5 = translation_accuracy(X, Y, W, t, t, k=5, retrieval=cfg.retrieval, csls_k=cfg.csls_k)
        eye = torch.eye(X.shape[1], dtype=torch.float64)
        acc_identity = translation_accuracy(X, Y, eye, t, t, k=1, retrieval=cfg.retrieval, csls_k=cfg.csls_k)
        chance = 1.0 / n

        neighbours = []
        frequent_A = torch.nonzero(counts["A"] >= cfg.min_count).flatten()
        for q in QUERIES:
            if q not in tok.stoi or counts["A"][tok.stoi[q]] < cfg.min_count:
                continue
            sub = E["A"][frequent_A]
            qi = int(torch.nonzero(frequent_A == tok.stoi[q]).flatten()[0])
            ids, sims = nearest_neighbours(sub, torch.tensor([qi]), k=5)
            neighbours.append({"word": q, "neighbours (half A, cosine)": ", ".join(f"{tok.itos[int(frequent_A[i])]} {s:.2f}" for i, s in zip(ids[0], sims[0].tolist()))})
        artifacts = [self._plot(ctx, hist, X, Y, W, row, test, tok, eligible)]
        return Results(
            metrics={
                "translation_acc1": acc, "translation_acc5": acc5, "unmapped_acc1": acc_identity, "chance": chance,
                "nn_acc1": acc_nn, "csls_acc1": acc_csls,
                "candidate_words": float(n), "anchor_words": float(len(anchors)), "test_words": float(n_test),
                "tokens_A": float(len(streams["A"])), "tokens_B": float(len(streams["B"])), "vocab_size": float(V),
            },
            artifacts=artifacts,
            details={
                "neighbours": neighbours,
                "halves": [{"half": h, "lines": len(m), "tokens": len(streams[h])} for h, m in halves.items()],
            },
        )

    def verdict(self, results: Results, cfg: Word2VecExpConfig):
        m = results.metrics
        return verdict(
            [
                check("translation accuracy@1 on held-out words", m["translation_acc1"], ">=", cfg.min_accuracy),
                check("accuracy@1 / chance", m["translation_acc1"] / m["chance"], ">=", cfg.min_chance_multiple),
            ],
            "A rotation fitted on anchor words translates held-out words between the two halves' spaces far above chance",
            "The Procrustes translation between the two halves' spaces was not far enough above chance",
        )

    @staticmethod
    def _plot(ctx: RunContext, hist, X, Y, W, row, test, tok, eligible) -> str:
        plt = pyplot()

        fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
        for half, losses in hist.items():
            a.plot(range(1, len(losses) + 1), losses, "o-", label=f"half {half}")
        a.set(xlabel="epoch", ylabel="negative-sampling loss", title="word2vec training")
        a.legend()
        t = row[test]
        cos_mapped = (X[t] @ W * Y[t]).sum(-1)
        cos_raw = (X[t] * Y[t]).sum(-1)
        b.hist(cos_raw.numpy(), bins=30, alpha=0.6, label="same word, no map")
        b.hist(cos_mapped.numpy(), bins=30, alpha=0.6, label="same word, after rotation W")
        b.set(xlabel="cosine between the word's two vectors", ylabel="held-out words", title="Procrustes alignment of the two halves")
        b.legend()
        return ctx.save_figure(fig, "word2vec")
