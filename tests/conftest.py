"""Shared fixtures: non-interactive plotting, one thread per test process, a private data home.

Two pytest workers share two cores: torch's default of one thread per core in each worker
makes small operations many times slower, so every process (and its subprocesses) uses one.
"""

import os

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture
def empty_data_home(tmp_path, monkeypatch):
    """A data home with nothing in it, and no system-wide Fashion-MNIST visible."""
    from adlab.data import fashion_mnist

    home = tmp_path / "data"
    home.mkdir()
    monkeypatch.setenv("ADLAB_DATA", str(home))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", tmp_path / "no-such-dir")
    return home
