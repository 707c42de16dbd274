"""Seeding and random-number-generator state, for deterministic and resumable runs."""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's global generators (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def generator(seed: int, *salt: int) -> torch.Generator:
    """A fresh CPU ``torch.Generator`` seeded from ``seed`` and optional integers (e.g. the epoch)."""
    g = torch.Generator()
    s = int(seed)
    for x in salt:
        s = (s * 1_000_003 + int(x)) % (2**63 - 1)
    g.manual_seed(s)
    return g


def rng_state() -> dict[str, torch.Tensor]:
    """The global RNG states as tensors (safetensors-ready; no pickling)."""
    state = {"torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["torch_cuda"] = torch.cuda.get_rng_state()
    np_state = np.random.get_state()
    state["numpy_keys"] = torch.from_numpy(np.asarray(np_state[1], dtype=np.int64))
    state["numpy_pos"] = torch.tensor([np_state[2], np_state[3]], dtype=torch.int64)
    state["numpy_gauss"] = torch.tensor([np_state[4]], dtype=torch.float64)
    py = random.getstate()
    state["python"] = torch.tensor(list(py[1]), dtype=torch.int64)
    return state


def set_rng_state(state: dict[str, torch.Tensor]) -> None:
    """Restore the states saved by :func:`rng_state`."""
    torch.set_rng_state(state["torch_cpu"].to(torch.uint8))
    if "torch_cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["torch_cuda"].to(torch.uint8))
    if "numpy_keys" in state:
        pos = state["numpy_pos"].tolist()
        np.random.set_state(
            ("MT19937", state["numpy_keys"].numpy().astype(np.uint32), int(pos[0]), int(pos[1]), float(state["numpy_gauss"][0]))
        )
    if "python" in state:
        random.setstate((3, tuple(int(x) for x in state["python"].tolist()), None))
