r"""The feature network behind adlab's FID, KID and Inception-style score.

FID and KID compare generated and real images through the features of a
classifier. The published numbers use Inception-v3 trained on ImageNet; adlab
ships no such network and never downloads one, so it trains its own small
Fashion-MNIST classifier once, versions it, and measures every GAN of the
lecture in *its* feature space. **These FID/KID values are not comparable with
Inception-based FID/KID from papers**: only numbers computed with the same
feature network version can be compared with each other.

The network (``FeatureNet``), input images in $[-1, 1]$ (B, 1, 28, 28), the
GAN output range:

    conv3x3(1 -> w) ReLU maxpool2      (B, w, 14, 14)
    conv3x3(w -> 2w) ReLU maxpool2     (B, 2w, 7, 7)
    linear(2w*49 -> d) ReLU            (B, d)     <- features phi(x) for FID/KID
    linear(d -> 10)                    (B, 10)    <- logits p(y|x) for IS and class checks

It is trained with Adam on cross-entropy from a fixed seed, deterministic on
CPU. ``load_feature_net()`` returns the cached copy from
``data_home()/models/<name>.safetensors`` (with the JSON sidecar
``<name>.json``: version, test accuracy, configuration, SHA-256 of the
weights), training and caching it first when it is missing or does not match.
Both files are written atomically (temporary file, then rename); the sidecar
is written last, so its presence means the weights are complete.

Two variants exist: ``"standard"`` (``fmnist-features-v1``: all 60,000
training images, 3 epochs, about 90% test accuracy; tens of seconds to a few
minutes on one CPU core) and ``"tiny"`` (``fmnist-features-v1-tiny``: 2,000
images, two epochs, a few seconds) for smoke tests only.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from torch import Tensor, nn

from adlab.core.context import ModelCard
from adlab.core.io import read_json, write_bytes_atomic, write_json_atomic
from adlab.core.seeding import generator
from adlab.data import fashion_mnist
from adlab.data.paths import data_home, sha256

__all__ = [
    "FeatureNetSpec",
    "VARIANTS",
    "FeatureNet",
    "gan_images",
    "train_feature_net",
    "feature_net_paths",
    "save_feature_net",
    "load_feature_net",
    "extract",
    "model_card",
]

FORMAT = 1
"""Bumped when the file layout or architecture changes; older caches are retrained."""


@dataclass(frozen=True)
class FeatureNetSpec:
    """Everything that determines a feature network (its cache name and training)."""

    name: str
    """File stem in ``data_home()/models``; includes the version (``-v1``)."""
    n_train: int | None
    """Training images (None: all 60,000)."""
    epochs: int
    """Passes over the training images."""
    width: int
    """Channels of the first convolution (the second has twice as many)."""
    feature_dim: int
    """Size of the feature layer used by FID/KID."""
    batch_size: int = 128
    """Minibatch size."""
    lr: float = 1e-3
    """Adam learning rate."""
    seed: int = 0
    """Seed of the initialisation and the batch order."""


VARIANTS: dict[str, FeatureNetSpec] = {
    "standard": FeatureNetSpec("fmnist-features-v1", None, 3, 16, 128),
    "tiny": FeatureNetSpec("fmnist-features-v1-tiny", 2000, 2, 8, 32, batch_size=64, lr=2e-3),
}


class FeatureNet(nn.Module):
    """Small Fashion-MNIST CNN; ``features(x)`` (B, d) for FID/KID, ``forward(x)`` logits (B, 10)."""

    def __init__(self, width: int = 16, feature_dim: int = 128, num_classes: int = 10):
        super().__init__()
        self.trunk = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # (B, w, 14, 14)
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # (B, 2w, 7, 7)
            nn.Flatten(),
            nn.Linear(2 * width * 49, feature_dim),
            nn.ReLU(),
        )
        self.classifier = nn.Linear(feature_dim, num_classes)
        self.width, self.feature_dim = width, feature_dim

    def features(self, x: Tensor) -> Tensor:
        r"""$\phi(x)$ (B, feature_dim) for images (B, 1, 28, 28) in $[-1, 1]$."""
        return self.trunk(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.trunk(x))


def gan_images(split: str = "train", n: int | None = None, seed: int = 0) -> tuple[Tensor, Tensor]:
    r"""Fashion-MNIST images scaled to $[-1, 1]$ (N, 1, 28, 28) and labels (N,).

    The GAN generators end in ``tanh``, so real images are put in the same range.
    """
    x, y = fashion_mnist.tensors(split, n, seed, standardise=False)
    return x * 2.0 - 1.0, y


@torch.no_grad()
def extract(net: FeatureNet, images: Tensor, batch_size: int = 1000, device: torch.device | str | None = None) -> tuple[Tensor, Tensor]:
    """(features (N, d), logits (N, 10)) of ``images`` (N, 1, 28, 28) in [-1, 1], on the CPU in float32."""
    net.eval()
    device = torch.device(device) if device is not None else next(net.parameters()).device
    feats, logits = [], []
    for i in range(0, len(images), batch_size):
        h = net.features(images[i : i + batch_size].to(device))
        feats.append(h.float().cpu())
        logits.append(net.classifier(h).float().cpu())
    if not feats:
        return torch.zeros(0, net.feature_dim), torch.zeros(0, 10)
    return torch.cat(feats), torch.cat(logits)


def _accuracy(net: FeatureNet, x: Tensor, y: Tensor, device: torch.device) -> float:
    _, logits = extract(net, x, device=device)
    return float((logits.argmax(1) == y).double().mean())


def train_feature_net(
    seed: int = 0,
    epochs: int = 3,
    device: torch.device | str = "cpu",
    n_train: int | None = None,
    width: int = 16,
    feature_dim: int = 128,
    batch_size: int = 128,
    lr: float = 1e-3,
    n_test: int | None = None,
) -> tuple[FeatureNet, dict]:
    """Train a :class:`FeatureNet` on Fashion-MNIST; returns it (eval mode, CPU) and its sidecar info.

    Deterministic on CPU for a given ``seed``: the initialisation and the batch
    order come from generators seeded by it. The info holds the test accuracy
    (on ``n_test`` test images, all by default) and the configuration.
    """
    device = torch.device(device)
    x_tr, y_tr = gan_images("train", n_train, seed)
    x_te, y_te = gan_images("test", n_test, seed + 1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = FeatureNet(width, feature_dim)
    net = net.to(device)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    steps = 0
    for epoch in range(epochs):
        net.train()
        perm = torch.randperm(len(x_tr), generator=generator(seed, epoch))
        for i in range(0, len(perm) - batch_size + 1, batch_size):
            idx = perm[i : i + batch_size]
            loss = F.cross_entropy(net(x_tr[idx].to(device)), y_tr[idx].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            steps += 1
    net = net.cpu().eval()
    info = {
        "format": FORMAT,
        "test_accuracy": _accuracy(net, x_te, y_te, torch.device("cpu")),
        "n_test": len(x_te),
        "config": {
            "seed": seed,
            "epochs": epochs,
            "n_train": len(x_tr),
            "width": width,
            "feature_dim": feature_dim,
            "batch_size": batch_size,
            "lr": lr,
            "optimizer": "adam",
            "steps": steps,
            "input": "Fashion-MNIST pixels scaled to [-1, 1]",
        },
        "torch_version": torch.__version__,
    }
    return net, info


def feature_net_paths(name: str, cache_dir: str | Path | None = None) -> tuple[Path, Path]:
    """(weights ``<name>.safetensors``, sidecar ``<name>.json``) in ``cache_dir`` (default ``data_home()/models``)."""
    folder = Path(cache_dir) if cache_dir is not None else data_home() / "models"
    return folder / f"{name}.safetensors", folder / f"{name}.json"


def save_feature_net(net: FeatureNet, info: dict, name: str, cache_dir: str | Path | None = None) -> Path:
    """Write the weights, then the sidecar (version, accuracy, config, SHA-256), both atomically."""
    weights, sidecar = feature_net_paths(name, cache_dir)
    blob = save_safetensors({k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()})
    write_bytes_atomic(weights, blob)
    write_json_atomic(sidecar, {"version": name, **info, "sha256": sha256(blob)})
    return weights


def _read_cached(spec: FeatureNetSpec, cache_dir: str | Path | None) -> tuple[FeatureNet, dict] | None:
    weights, sidecar = feature_net_paths(spec.name, cache_dir)
    if not (weights.is_file() and sidecar.is_file()):
        return None
    try:
        info = read_json(sidecar)
        blob = weights.read_bytes()
        expected = {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec) if f.name not in ("name", "n_train")}
        cfg = info.get("config", {})
        if info.get("format") != FORMAT or info.get("sha256") != sha256(blob):
            return None
        if any(cfg.get(k) != v for k, v in expected.items()):
            return None
        net = FeatureNet(cfg["width"], cfg["feature_dim"])
        net.load_state_dict(load_safetensors(blob), strict=True)
    except (ValueError, KeyError, OSError, RuntimeError):
        return None  # unreadable or from another layout: train a fresh copy
    return net.eval(), info


def load_feature_net(
    variant: str = "standard",
    device: torch.device | str = "cpu",
    cache_dir: str | Path | None = None,
) -> tuple[FeatureNet, dict]:
    """The versioned feature network and its sidecar info, trained and cached on first use.

    A cached copy is used when its sidecar matches the variant's configuration
    and the SHA-256 of its weights; otherwise the network is trained
    deterministically (seed in the spec, on the CPU so the cache does not
    depend on the device) and written to the cache.
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown feature network {variant!r}; use one of {', '.join(VARIANTS)}")
    spec = VARIANTS[variant]
    cached = _read_cached(spec, cache_dir)
    if cached is None:
        net, info = train_feature_net(
            seed=spec.seed,
            epochs=spec.epochs,
            device="cpu",
            n_train=spec.n_train,
            width=spec.width,
            feature_dim=spec.feature_dim,
            batch_size=spec.batch_size,
            lr=spec.lr,
        )
        save_feature_net(net, info, spec.name, cache_dir)
        info = read_json(feature_net_paths(spec.name, cache_dir)[1])
    else:
        net, info = cached
    for p in net.parameters():
        p.requires_grad_(False)
    return net.to(device).eval(), info


def model_card(info: dict) -> ModelCard:
    """The model card of a feature network, from its sidecar info."""
    cfg = info.get("config", {})
    return ModelCard(
        name=str(info.get("version", "feature-net")),
        architecture=f"CNN: conv3x3({cfg.get('width')}) pool, conv3x3({2 * cfg.get('width', 0)}) pool, "
        f"linear -> {cfg.get('feature_dim')} features (FID/KID), linear -> 10 logits (IS, class checks)",
        parameters=sum(
            n for n in (9 * cfg.get("width", 0) + cfg.get("width", 0),
                        18 * cfg.get("width", 0) ** 2 + 2 * cfg.get("width", 0),
                        98 * cfg.get("width", 0) * cfg.get("feature_dim", 0) + cfg.get("feature_dim", 0),
                        10 * cfg.get("feature_dim", 0) + 10)
        ),
        data=f"Fashion-MNIST train ({cfg.get('n_train')} images, pixels in [-1, 1]); accuracy on {info.get('n_test')} test images",
        training={k: v for k, v in cfg.items() if k != "input"},
        metrics={"test_accuracy": float(info.get("test_accuracy", float("nan")))},
        intended_use="Feature space for FID/KID/Inception-style scores of Fashion-MNIST generators, and a held-out "
        "judge of class-conditional samples; cached in data_home()/models and versioned by its name.",
        limitations="Not Inception-v3: FID/KID in this space are not comparable with published Inception-based values, "
        "nor across feature network versions; a small classifier (~90%) confuses shirts, T-shirts, pullovers and coats.",
    )
