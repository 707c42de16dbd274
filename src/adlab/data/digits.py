"""scikit-learn's 8x8 handwritten digits (1,797 images, 10 classes), with a fixed stratified split."""

from __future__ import annotations

import numpy as np


def load(test_size: float = 0.3, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(x_train, y_train, x_test, y_test)``: pixels scaled to [0, 1] as float32 (N, 64), labels int64."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    y = d.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_size, random_state=seed, stratify=y)
    return x_tr, y_tr, x_te, y_te


def status() -> dict:
    """Digits ship with scikit-learn: always available."""
    import sklearn

    return {"name": "digits", "location": f"scikit-learn {sklearn.__version__} (bundled)", "size": 1797 * 64, "status": "ok (bundled)"}
