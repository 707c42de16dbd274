"""Fashion-MNIST (Xiao, Rasul and Vollgraf, 2017): 70,000 28x28 grey images of 10 clothing classes.

Looked for, in order, in ``$ADLAB_DATA/fashion-mnist``, ``$ADLAB_DATA``, ``~/.cache/adlab/fashion-mnist``
and ``/usr/share/datasets/fashion-mnist`` (Debian's ``dataset-fashion-mnist``). Files may be
gzip-compressed or raw; each is checked by the SHA-256 of its decompressed IDX bytes, so any
re-compression of the original files is accepted and any change of content is refused.
The same reader loads MNIST or KMNIST IDX files from a path (:func:`load_idx_pair`).
"""

from __future__ import annotations

import os
import urllib.request
from pathlib import Path

import numpy as np
import torch

from adlab.core.errors import DataCorruptError, DataMissingError
from adlab.data.idx import parse_idx, read_bytes, read_idx
from adlab.data.paths import data_home, sha256

CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
FETCH = "adlab data fetch fashion-mnist"

# file stem -> (SHA-256 of the decompressed IDX bytes, decompressed size in bytes)
FILES = {
    "train-images-idx3-ubyte": ("c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888", 47040016),
    "train-labels-idx1-ubyte": ("bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9", 60008),
    "t10k-images-idx3-ubyte": ("5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b", 7840016),
    "t10k-labels-idx1-ubyte": ("0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34", 10008),
}
# Mean and standard deviation of the training pixels scaled to [0, 1] (pinned in a test).
MEAN, STD = 0.2860, 0.3530
SPLITS = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"), "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def search_dirs() -> list[Path]:
    """The folders searched for the IDX files, in order."""
    dirs = []
    env = os.environ.get("ADLAB_DATA")
    if env:
        dirs += [Path(env).expanduser() / "fashion-mnist", Path(env).expanduser()]
    dirs += [Path.home() / ".cache" / "adlab" / "fashion-mnist", DEBIAN_DIR]
    return dirs


def _find(stem: str, dirs: list[Path]) -> Path | None:
    for d in dirs:
        for name in (stem + ".gz", stem):
            if (d / name).is_file():
                return d / name
    return None


def locate() -> Path | None:
    """The first folder that holds all four files, or None."""
    for d in search_dirs():
        if all(_find(stem, [d]) for stem in FILES):
            return d
    return None


def _verified(path: Path, stem: str) -> np.ndarray:
    data = read_bytes(path)
    digest, size = FILES[stem]
    if len(data) != size:
        raise DataCorruptError(f"{path}: {len(data)} bytes after decompression, expected {size}; run `{FETCH}` or replace the file")
    if sha256(data) != digest:
        raise DataCorruptError(f"{path}: SHA-256 mismatch (content differs from Fashion-MNIST); run `{FETCH}` or replace the file")
    return parse_idx(data, str(path))


def load(split: str = "train", root: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 28, 28) uint8 and labels (N,) int64 of ``split`` ("train": 60,000, "test": 10,000)."""
    if split not in SPLITS:
        raise ValueError(f"unknown Fashion-MNIST split {split!r}; use 'train' or 'test'")
    folder = Path(root) if root is not None else locate()
    if folder is None:
        where = ", ".join(str(d) for d in search_dirs())
        raise DataMissingError(f"Fashion-MNIST not found (looked in {where}); run: {FETCH}")
    img_stem, lab_stem = SPLITS[split]
    paths = [_find(img_stem, [folder]), _find(lab_stem, [folder])]
    if None in paths:
        raise DataMissingError(f"Fashion-MNIST {split} files missing in {folder}; run: {FETCH}")
    images, labels = _verified(paths[0], img_stem), _verified(paths[1], lab_stem)
    return images, labels.astype(np.int64)


def status() -> dict:
    """Location, size and checksum status for ``adlab data info``."""
    folder = locate()
    if folder is None:
        return {"name": "fashion-mnist", "location": None, "size": 0, "status": f"missing (run: {FETCH})"}
    size = sum(_find(s, [folder]).stat().st_size for s in FILES)  # type: ignore[union-attr]
    try:
        for stem in FILES:
            _verified(_find(stem, [folder]), stem)  # type: ignore[arg-type]
        state = "ok (SHA-256 verified)"
    except DataCorruptError as e:
        state = f"corrupt: {e}"
    return {"name": "fashion-mnist", "location": str(folder), "size": size, "status": state}


def fetch(dest: str | Path | None = None, url: str = URL, timeout: float = 30.0) -> Path:
    """Make Fashion-MNIST available: use a verified local copy, else download from ``url`` into ``dest``.

    Downloads are verified before they are renamed into place, so a failed or interrupted
    download never leaves a partial file behind.
    """
    folder = locate()
    if folder is not None and dest is None:
        for stem in FILES:
            _verified(_find(stem, [folder]), stem)  # type: ignore[arg-type]
        return folder
    dest = Path(dest) if dest is not None else data_home() / "fashion-mnist"
    dest.mkdir(parents=True, exist_ok=True)
    for stem, (digest, _) in FILES.items():
        target = dest / f"{stem}.gz"
        if target.is_file():
            _verified(target, stem)
            continue
        try:
            with urllib.request.urlopen(url + stem + ".gz", timeout=timeout) as r:
                blob = r.read()
        except OSError as e:
            raise DataMissingError(
                f"could not download Fashion-MNIST from {url} ({e.__class__.__name__}: {e}); without a network, "
                f"install Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist) or put the four IDX files in {dest}"
            ) from None
        tmp = target.with_name(f".{target.name}.part")
        tmp.write_bytes(blob)
        try:
            _verified(tmp, stem)
        except DataCorruptError:
            tmp.unlink(missing_ok=True)
            raise
        tmp.replace(target)
    return dest


def load_idx_pair(images: str | Path, labels: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels from any MNIST-style IDX pair (MNIST, KMNIST, ...); lengths must agree."""
    x, y = read_idx(images), read_idx(labels)
    if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
        raise DataCorruptError(f"{images} / {labels}: expected (N, H, W) images and (N,) labels, got {x.shape} and {y.shape}")
    return x, y.astype(np.int64)


def tensors(split: str = "train", n: int | None = None, seed: int = 0, standardise: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N, 1, 28, 28) float32 and labels (N,) int64 of ``split``, ready for torch.

    Pixels are scaled to [0, 1] and, with ``standardise``, shifted and scaled by the training
    mean and standard deviation. With ``n``, the first ``n`` of a permutation seeded by ``seed``.
    """
    x, y = load(split)
    if n is not None and n < len(x):
        idx = np.random.default_rng(seed).permutation(len(x))[:n]
        x, y = x[idx], y[idx]
    xt = torch.from_numpy(x).float().div_(255.0)
    if standardise:
        xt = (xt - MEAN) / STD
    return xt.unsqueeze(1), torch.from_numpy(y)
