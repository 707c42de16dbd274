r"""Generative sequence experiments: an encoder-decoder transduction and an autoregressive pixel model.

- ``sequences.seq2seq``: an LSTM encoder-decoder trained with teacher forcing on a generated
  task (sorting letters by default), decoded greedily and by beam search.
- ``sequences.pixel-uncertainty``: a gated PixelCNN on binarised Fashion-MNIST; how uncertain it
  is about the bottom of an image as more of the image above is given.

The model's uncertainty about a pixel $i$ of the bottom region $R$, given the first $g$ pixels
$x_{<g}$, is the entropy of its predictive marginal for that pixel, the pixels between $g$ and
$i$ summed out:

    $p(x_i = 1 \mid x_{<g}) = \mathbb{E}_{x_{g:i} \sim p(\cdot \mid x_{<g})}\, p(x_i = 1 \mid x_{<i})$,
    $H_i(g) = H_b\big(p(x_i = 1 \mid x_{<g})\big)$, $H_b(q) = -q \log_2 q - (1 - q) \log_2 (1 - q)$.

The marginal is estimated by drawing $K$ completions of the given pixels from the model and
averaging its predicted probabilities for pixel $i$ along them (lower variance than averaging the
drawn pixels). Because $H_b$ is concave and revealing more pixels splits the marginal into an
average of sharper ones, $\mathbb{E}\, H_i(g') \le H_i(g)$ for $g' > g$ whenever the revealed
pixels are drawn from the model itself: checking this on model images tests the causal mask and
the sampler. (The entropy along one drawn completion, $H_b(p(x_i \mid x_{<i}))$, would not do:
it conditions on the drawn pixels above $i$ as well, so on model images its expectation is the
same for every $g$; it is reported as ``pathwise``.) A finite $K$ biases $H_b(\hat p)$ of the
averaged estimate downwards, most where the completions disagree most, i.e. for small $g$, which
would work against the claim; the second-order (delta-method) correction

    $\hat H_i = H_b(\hat p_i) + \frac{s_i^2 / K}{2 \hat p_i (1 - \hat p_i) \ln 2}$,

with $s_i^2$ the sample variance of the $K$ predicted probabilities, removes the leading term
(it is at most $1 / (2 (K - 1) \ln 2)$ bits, since $s_i^2 \le \frac{K}{K-1} \hat p_i (1 - \hat p_i)$).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from adlab.core import Experiment, ModelCard, Results, RunContext, check, experiment, param, verdict
from adlab.core.seeding import generator
from adlab.core.trainer import ArrayLoader, Trainer
from adlab.data.fashion_mnist import tensors as fashion_tensors
from adlab.sequences.pixelcnn import GatedPixelCNN, bernoulli_nll, bits_per_dim, sample
from adlab.core.plotting import pyplot
from adlab.sequences.seq2seq import (
    DATE_ALPHABET,
    PAD_ID,
    Seq2Seq,
    beam_search,
    date_pairs,
    greedy_decode,
    make_batch,
    reverse_pairs,
    seq2seq_loss,
    sort_pairs,
    task_vocab,
)

# ================================================================================================
# seq2seq


class TeacherForcing:
    """Seq2seq loss with the true previous token as decoder input (a Task for the shared Trainer)."""

    def train_step(self, model, batch):
        src, src_len, tgt_in, tgt_out = batch
        loss = seq2seq_loss(model(src, tgt_in, src_len), tgt_out)
        return loss, {"loss": loss.item()}

    @torch.no_grad()
    def eval_step(self, model, batch):
        src, src_len, tgt_in, tgt_out = batch
        logits = model(src, tgt_in, src_len)
        mask = tgt_out != PAD_ID
        return {
            "loss": F.cross_entropy(logits[mask], tgt_out[mask], reduction="sum"),
            "correct": (logits.argmax(-1)[mask] == tgt_out[mask]).sum().float(),
            "count": mask.sum().float(),
        }

    def finalize(self, sums):
        n = max(sums["count"], 1.0)
        return {"loss": sums["loss"] / n, "token_accuracy": sums["correct"] / n}


def _tensors(pairs, vocab) -> tuple[torch.Tensor, ...]:
    b = make_batch(pairs, vocab, vocab)
    return b.src, b.src_lengths, b.tgt_in, b.tgt_out


@dataclass
class Seq2SeqConfig:
    task: Literal["sort", "reverse", "date"] = param("sort", "transduction: sort letters, reverse a string, or normalise dates to ISO")
    min_len: int = param(3, "shortest training input (sort/reverse)", ge=1)
    max_len: int = param(10, "longest training input (sort/reverse)", ge=1)
    longer_max_len: int = param(14, "inputs of lengths max_len+1 .. this are also decoded (generalisation to longer inputs)", ge=1)
    n_train: int = param(20000, "training pairs", ge=16)
    n_test: int = param(1000, "held-out pairs of the training lengths (and as many longer ones)", ge=8)
    n_beam: int = param(200, "held-out pairs also decoded by beam search", ge=1)
    beam_width: int = param(4, "beam width", ge=1)
    d_embed: int = param(32, "embedding size", ge=1)
    d_hidden: int = param(128, "LSTM hidden units (encoder and decoder)", ge=1)
    epochs: int = param(12, "passes over the training pairs", ge=1)
    batch_size: int = param(128, "minibatch size", ge=1)
    lr: float = param(3e-3, "Adam learning rate (cosine to 0)", gt=0)


@experiment
class Seq2SeqTransduction(Experiment):
    """Encoder-decoder with teacher forcing; sequence accuracy of greedy and beam decoding."""

    name = "sequences.seq2seq"
    claim = (
        "An LSTM encoder-decoder trained with teacher forcing learns a generated transduction, reaching "
        "sequence accuracy >= 0.95 on held-out inputs of the training lengths (longer inputs are reported)."
    )
    Config = Seq2SeqConfig
    presets = {
        "smoke": {"n_train": 256, "n_test": 32, "n_beam": 4, "d_hidden": 16, "d_embed": 8, "epochs": 1, "batch_size": 32},
        "full": {"n_train": 200000, "n_test": 5000, "n_beam": 1000, "d_hidden": 256, "d_embed": 64, "epochs": 20, "max_len": 16, "longer_max_len": 24},
    }

    def _pairs(self, cfg: Seq2SeqConfig, n: int, g: torch.Generator, longer: bool = False):
        if cfg.task == "date":
            return date_pairs(n, g)  # dates have no longer inputs; the 'longer' set is just more held-out dates
        lo, hi = (cfg.max_len + 1, cfg.longer_max_len) if longer else (cfg.min_len, cfg.max_len)
        return (sort_pairs if cfg.task == "sort" else reverse_pairs)(n, g, min_len=lo, max_len=hi)

    def run(self, cfg: Seq2SeqConfig, ctx: RunContext) -> Results:
        if cfg.longer_max_len <= cfg.max_len or cfg.max_len < cfg.min_len:
            raise ValueError("need min_len <= max_len < longer_max_len")
        vocab = task_vocab(DATE_ALPHABET if cfg.task == "date" else "abcdefghij")
        g = generator(ctx.seed, 7)
        train_pairs = self._pairs(cfg, cfg.n_train, g)
        seen = {s for s, _ in train_pairs}
        test_pairs = [p for p in self._pairs(cfg, 3 * cfg.n_test, g) if p[0] not in seen][: cfg.n_test]
        longer_pairs = self._pairs(cfg, cfg.n_test, g, longer=True)
        torch.manual_seed(ctx.seed)
        model = Seq2Seq(len(vocab), len(vocab), cfg.d_embed, cfg.d_hidden).to(ctx.device)
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        train = ArrayLoader(_tensors(train_pairs, vocab), cfg.batch_size, shuffle=True, seed=ctx.seed, drop_last=True, device=ctx.device)
        test = ArrayLoader(_tensors(test_pairs, vocab), 500, shuffle=False, device=ctx.device)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs * len(train))
        history = Trainer("seq2seq", model, opt, TeacherForcing(), train, cfg.epochs, ctx, evals={"test": test},
                          scheduler=sched, grad_clip=1.0, checkpoint_every=200).fit()
        model.eval()
        acc, examples = {}, []
        for label, pairs in (("test", test_pairs), ("longer", longer_pairs)):
            b = make_batch(pairs, vocab, vocab)
            max_out = b.tgt_out.shape[1] + 2
            preds = []
            for i in range(0, len(pairs), 500):
                preds += greedy_decode(model, b.src[i : i + 500].to(ctx.device), b.src_lengths[i : i + 500].to(ctx.device), max_len=max_out)
            outs = [vocab.decode(p) for p in preds]
            acc[label] = sum(o == t for o, (_, t) in zip(outs, pairs)) / len(pairs)
            examples += [{"set": label, "source": s, "target": t, "greedy": o} for (s, t), o in list(zip(pairs, outs))[:5]]
        beam_ok = 0
        for s, t in test_pairs[: cfg.n_beam]:
            hyps = beam_search(model, torch.tensor(vocab.encode(s), device=ctx.device), cfg.beam_width, max_len=len(t) + 4)
            beam_ok += vocab.decode(hyps[0].tokens) == t
        acc["beam"] = beam_ok / min(cfg.n_beam, len(test_pairs))
        ctx.add_model_card(ModelCard(
            name="seq2seq", architecture=f"LSTM({cfg.d_hidden}) encoder -> final (h, c) -> LSTM({cfg.d_hidden}) decoder -> linear",
            parameters=sum(p.numel() for p in model.parameters()),
            data=f"{cfg.n_train:,} generated '{cfg.task}' pairs, lengths {cfg.min_len}-{cfg.max_len}",
            training={"optimizer": "adam", "lr": cfg.lr, "epochs": cfg.epochs, "batch_size": cfg.batch_size, "teacher_forcing": True},
            metrics={"greedy_sequence_accuracy": acc["test"], "beam_sequence_accuracy": acc["beam"], "longer_sequence_accuracy": acc["longer"]},
            intended_use="Teaching: encoder-decoder training and decoding on a synthetic task.",
            limitations="Only this synthetic task and these lengths; accuracy drops on longer inputs.",
        ))
        plt = pyplot()
        fig, ax = plt.subplots(figsize=(6, 3.8))
        ax.plot([h["epoch"] for h in history], [h["test"]["token_accuracy"] for h in history], "o-", label="held-out token accuracy (teacher forced)")
        ax.axhline(acc["test"], c="C1", ls="--", label=f"greedy sequence accuracy {acc['test']:.3f}")
        ax.axhline(acc["longer"], c="C3", ls=":", label=f"longer inputs {acc['longer']:.3f}")
        ax.set(xlabel="epoch", ylabel="accuracy", title=f"Seq2seq on '{cfg.task}'", ylim=(0, 1.02))
        ax.legend(fontsize=8)
        return Results(
            metrics={"greedy_seq_accuracy": acc["test"], "beam_seq_accuracy": acc["beam"], "longer_seq_accuracy": acc["longer"],
                     "token_accuracy": history[-1]["test"]["token_accuracy"]},
            artifacts=[ctx.save_figure(fig, "seq2seq")],
            details={"examples": examples},
        )

    def verdict(self, results: Results, cfg: Seq2SeqConfig):
        return verdict(
            [check("greedy sequence accuracy on held-out inputs of the training lengths", results.metrics["greedy_seq_accuracy"], ">=", 0.95)],
            f"The encoder-decoder learned the '{cfg.task}' transduction",
            f"The encoder-decoder did not learn the '{cfg.task}' transduction to 95% sequence accuracy",
        )


# ================================================================================================
# pixel uncertainty


def binary_images(split: str, n: int | None, size: int, seed: int) -> torch.Tensor:
    """Fashion-MNIST in {0, 1}: pixels in [0, 1], average-pooled to ``size`` x ``size``, thresholded at 0.5. (N, 1, size, size)."""
    x, _ = fashion_tensors(split, n, seed, standardise=False)
    if size != 28:
        x = F.adaptive_avg_pool2d(x, size)
    return (x > 0.5).float()


def binary_entropy_bits(p: torch.Tensor) -> torch.Tensor:
    r"""$H_b(p)$ in bits, elementwise."""
    return -(torch.special.xlogy(p, p) + torch.special.xlogy(1 - p, 1 - p)) / math.log(2)


def marginal_entropy_bits(p: torch.Tensor) -> torch.Tensor:
    r"""Entropy in bits of each pixel's predictive marginal from $K$ completions, bias-corrected.

    ``p`` (N, K, P): $p(x_i = 1 \mid x_{<i})$ along $K$ completions of each of N prefixes. Returns
    (N, P): $H_b(\hat p) + \frac{s^2 / K}{2 \hat p (1 - \hat p) \ln 2}$ with $\hat p$ the mean over
    the completions and $s^2$ their sample variance (zero where $\hat p$ is 0 or 1).
    """
    K = p.shape[1]
    p_hat = p.mean(1)  # (N, P): p(x_i = 1 | x_<g)
    s2 = p.var(1, unbiased=True)  # (N, P)
    denom = 2 * p_hat * (1 - p_hat) * math.log(2)
    correction = torch.where(denom > 0, (s2 / K) / denom.clamp_min(1e-12), torch.zeros_like(p_hat))
    return binary_entropy_bits(p_hat) + correction


class Bernoulli:
    """Pixel NLL in nats per image (a Task for the shared Trainer); evaluation also counts images."""

    def train_step(self, model, batch):
        (x,) = batch
        loss = bernoulli_nll(model(x), x).mean()
        return loss, {"loss": loss.item()}

    @torch.no_grad()
    def eval_step(self, model, batch):
        (x,) = batch
        return {"nll": bernoulli_nll(model(x), x).sum(), "count": torch.tensor(float(len(x)))}

    def finalize(self, sums):
        return {"nll": sums["nll"] / max(sums["count"], 1.0)}


@dataclass
class PixelConfig:
    size: int = param(14, "image side after average pooling (28: the original resolution)", ge=4, le=28)
    n_train: int | None = param(4000, "training images (None: all 60,000)", ge=16)
    n_test: int | None = param(1000, "test images for the NLL (None: all 10,000)", ge=8)
    channels: int = param(24, "feature maps of the gated PixelCNN", ge=1)
    layers: int = param(5, "gated layers", ge=1)
    epochs: int = param(4, "passes over the training images", ge=1)
    batch_size: int = param(64, "minibatch size", ge=1)
    lr: float = param(3e-3, "Adam learning rate (cosine to 0)", gt=0)
    given: list[float] = param([0.0, 0.25, 0.5, 0.75], "fractions of the image (raster order) given before the region")
    images: int = param(32, "reference images (drawn from the model, and from the test set) whose prefixes are given; "
                        "the expectation over prefixes is what falls, so this count sets the estimate's noise", ge=1)
    completions: int = param(16, "completions K drawn per reference image and given fraction to estimate each "
                             "bottom pixel's predictive marginal", ge=2)


@experiment
class PixelUncertainty(Experiment):
    """Gated PixelCNN: test NLL, and the entropy of the bottom quarter as more of the image is given."""

    name = "sequences.pixel-uncertainty"
    claim = (
        "An autoregressive pixel model is most uncertain when little of the image is given: its per-pixel "
        "predictive entropy for the bottom of an image it generates (each pixel's marginal over the unrevealed "
        "pixels above it) falls as more of the rows above are revealed, "
        "and its test NLL beats independent pixels."
    )
    Config = PixelConfig
    presets = {
        "smoke": {"size": 8, "n_train": 64, "n_test": 32, "channels": 4, "layers": 2, "epochs": 1, "batch_size": 32, "images": 2, "completions": 4, "given": [0.0, 0.5]},
        "full": {"size": 28, "n_train": None, "n_test": None, "channels": 64, "layers": 10, "epochs": 20, "batch_size": 128, "lr": 1e-3, "images": 64, "completions": 32},
    }
    datasets = ("fashion-mnist",)

    def run(self, cfg: PixelConfig, ctx: RunContext) -> Results:
        if sorted(cfg.given) != list(cfg.given) or cfg.given[0] < 0 or cfg.given[-1] > 0.75:
            raise ValueError("given must be increasing fractions in [0, 0.75] (the region is the last quarter)")
        x_tr = binary_images("train", cfg.n_train, cfg.size, ctx.seed)
        x_te = binary_images("test", cfg.n_test, cfg.size, ctx.seed + 1)
        D = cfg.size * cfg.size
        torch.manual_seed(ctx.seed)
        model = GatedPixelCNN(cfg.channels, cfg.layers).to(ctx.device)
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        train = ArrayLoader((x_tr,), cfg.batch_size, shuffle=True, seed=ctx.seed, drop_last=True, device=ctx.device)
        test = ArrayLoader((x_te,), 500, shuffle=False, device=ctx.device)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs * len(train))
        trainer = Trainer("gated-pixelcnn", model, opt, Bernoulli(), train, cfg.epochs, ctx, evals={"test": test},
                          scheduler=sched, checkpoint_every=200)
        history = trainer.fit()
        model.eval()
        test_bpd = bits_per_dim(history[-1]["test"]["nll"], D)
        # independent pixels: p_i = training frequency of pixel i being on
        q = x_tr.mean(0, keepdim=True).clamp(1e-4, 1 - 1e-4)
        indep_bpd = bits_per_dim(bernoulli_nll(torch.logit(q).expand_as(x_te), x_te).mean().item(), D)
        # predictive entropy of each pixel of the last quarter (raster order) given the first g*D
        # pixels of reference images: images drawn from the model itself (every quantity under the
        # model's own distribution, where revealing more can only lower the expected entropy), and
        # real test images
        region = int(0.75 * D)
        g = generator(ctx.seed, 3)
        refs = {"model": sample(model, cfg.images, (1, cfg.size, cfg.size), generator=g), "test": x_te[: cfg.images].to(ctx.device)}
        entropy = []
        with ctx.progress(len(cfg.given) * 2, "completions") as bar:
            for source, ref in refs.items():
                base = ref.repeat_interleave(cfg.completions, 0)  # (images*K, 1, s, s)
                for frac in cfg.given:
                    start = int(frac * D)
                    if start == 0 and entropy:  # nothing given: the reference plays no part, same quantity as before
                        prev = next(e for e in entropy if e["given_pixels"] == 0)
                        h, h_path = prev["region_entropy_bits_per_pixel"], prev["pathwise_entropy_bits_per_pixel"]
                    else:
                        _, probs = sample(model, x=base, start=start, generator=g, return_probs=True)
                        p_path = probs.flatten(1)[:, region:]  # (images*K, D/4): p(x_i = 1 | x_<i) along each completion
                        h = marginal_entropy_bits(p_path.reshape(len(ref), cfg.completions, -1)).mean().item()
                        h_path = binary_entropy_bits(p_path).mean().item()
                    entropy.append({"prefix_from": source, "given_fraction": frac, "given_pixels": start,
                                    "region_entropy_bits_per_pixel": h, "pathwise_entropy_bits_per_pixel": h_path})
                    ctx.log(start, "entropy", prefix_from=source, given_fraction=frac, entropy_bits=h, pathwise_bits=h_path)
                    bar.update(1)
        # teacher-forced per-position entropy map over the test images
        with torch.no_grad():
            p_map = torch.sigmoid(model(x_te[:500].to(ctx.device)))
        ent_map = binary_entropy_bits(p_map).mean(0)[0].cpu()
        ctx.add_model_card(ModelCard(
            name="gated-pixelcnn", architecture=f"gated PixelCNN, {cfg.layers} layers x {cfg.channels} maps, vertical + horizontal stacks",
            parameters=sum(p.numel() for p in model.parameters()),
            data=f"binarised Fashion-MNIST at {cfg.size}x{cfg.size}, {len(x_tr):,} training images",
            training={"optimizer": "adam", "lr": cfg.lr, "epochs": cfg.epochs, "batch_size": cfg.batch_size},
            metrics={"test_bits_per_dim": test_bpd, "independent_pixels_bits_per_dim": indep_bpd},
            intended_use="Teaching: autoregressive image modelling and its uncertainty.",
            limitations="Binary, low-resolution clothing silhouettes only; samples are blurry shapes, not photographs.",
        ))
        artifacts = [self._plot(ctx, entropy, ent_map)]
        metrics = {"test_bits_per_dim": test_bpd, "test_nll_nats": history[-1]["test"]["nll"], "independent_bits_per_dim": indep_bpd}
        for e in entropy:
            metrics[f"entropy_{e['prefix_from']}_given_{e['given_fraction']:g}"] = e["region_entropy_bits_per_pixel"]
        return Results(metrics=metrics, artifacts=artifacts, details={"region_entropy": entropy})

    @staticmethod
    def _plot(ctx: RunContext, entropy: list[dict], ent_map: torch.Tensor) -> str:
        plt = pyplot()
        fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
        for source, label in (("model", "prefix from a model sample"), ("test", "prefix from a test image")):
            pts = [e for e in entropy if e["prefix_from"] == source]
            a.plot([e["given_fraction"] for e in pts], [e["region_entropy_bits_per_pixel"] for e in pts], "o-", label=label)
        a.legend(fontsize=8)
        a.set(xlabel="fraction of the image given (raster order)", ylabel="bits per pixel", title="Predictive entropy of the bottom quarter")
        im = b.imshow(ent_map.numpy(), cmap="magma")
        b.set_title("Per-pixel entropy given all previous pixels (test mean)")
        b.axis("off")
        fig.colorbar(im, ax=b, fraction=0.046)
        return ctx.save_figure(fig, "uncertainty")

    def verdict(self, results: Results, cfg: PixelConfig):
        m = results.metrics
        ent = [m[f"entropy_model_given_{f:g}"] for f in cfg.given]
        checks = [check(f"bottom-quarter entropy (bits/pixel) given {b:g} minus given {a:g} of a model image (falls)", eb - ea, "<", 0.0)
                  for (a, ea), (b, eb) in zip(zip(cfg.given, ent), zip(cfg.given[1:], ent[1:]))]
        checks.append(check("PixelCNN test bits/dim below independent pixels'", m["test_bits_per_dim"], "<", m["independent_bits_per_dim"]))
        return verdict(checks, "The pixel model grows more certain as more of the image is given, and models the images better than independent pixels",
                       "The pixel model's uncertainty did not fall as expected, or it did not beat independent pixels")
