"""Atomic checkpoints: tensors in safetensors, everything else in JSON; loading never unpickles.

A checkpoint folder holds ``step-<n>/`` sub-folders and a ``LATEST`` file naming the newest.
A new checkpoint is written into a temporary folder, fsynced, renamed into place, and only
then is ``LATEST`` replaced (atomically), so a kill at any moment leaves the previous
checkpoint intact and readable.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from adlab.core.errors import DataCorruptError
from adlab.core.io import jsonable, write_text_atomic

TENSORS = "tensors.safetensors"
STATE = "state.json"
LATEST = "LATEST"


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save(folder: str | Path, step: int, tensors: dict[str, torch.Tensor], state: dict[str, Any], keep: int = 1) -> Path:
    """Write one checkpoint atomically and keep the newest ``keep`` of them; returns its folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    name = f"step-{int(step):09d}"
    tmp = folder / f".{name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    flat = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    save_file(flat, str(tmp / TENSORS))
    with open(tmp / STATE, "w", encoding="utf-8") as f:
        json.dump(jsonable({"step": int(step), **state}), f)
        f.flush()
        os.fsync(f.fileno())
    _fsync_dir(tmp)
    final = folder / name
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    _fsync_dir(folder)
    write_text_atomic(folder / LATEST, name + "\n")
    steps = sorted(p for p in folder.glob("step-*") if p.is_dir())
    for old in steps[:-keep] if keep > 0 else []:
        if old.name != name:
            shutil.rmtree(old, ignore_errors=True)
    return final


def latest(folder: str | Path) -> Path | None:
    """The newest complete checkpoint folder, or None."""
    folder = Path(folder)
    marker = folder / LATEST
    if not marker.exists():
        return None
    path = folder / marker.read_text(encoding="utf-8").strip()
    return path if (path / TENSORS).exists() and (path / STATE).exists() else None


def load(folder: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
    """Tensors and state of the newest checkpoint in ``folder``, or None if there is none."""
    path = latest(folder)
    if path is None:
        return None
    try:
        tensors = load_file(str(path / TENSORS))
        state = json.loads((path / STATE).read_text(encoding="utf-8"))
    except Exception as e:  # safetensors raises its own error types
        raise DataCorruptError(f"checkpoint {path} cannot be read ({e.__class__.__name__}: {e})") from None
    return tensors, state


# --- modules, optimizers, schedulers -------------------------------------------------------


def module_tensors(prefix: str, module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """``module``'s state dict under ``prefix.``."""
    return {f"{prefix}.{k}": v for k, v in module.state_dict().items()}


def load_module(module: torch.nn.Module, tensors: dict[str, torch.Tensor], prefix: str) -> None:
    """Load ``module``'s state from the tensors saved by :func:`module_tensors` (strict)."""
    p = prefix + "."
    sd = {k[len(p):]: v for k, v in tensors.items() if k.startswith(p)}
    module.load_state_dict(sd, strict=True)


def optimizer_state(prefix: str, opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimizer's state dict into tensors (for safetensors) and JSON."""
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    plain: dict[str, dict[str, Any]] = {}
    for idx, st in sd["state"].items():
        plain[str(idx)] = {}
        for key, value in st.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{prefix}.state.{idx}.{key}"] = value
            else:
                plain[str(idx)][key] = value
    return tensors, {"state": plain, "param_groups": jsonable(sd["param_groups"])}


def load_optimizer(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], plain: dict[str, Any], prefix: str) -> None:
    """Rebuild the optimizer state saved by :func:`optimizer_state`."""
    state: dict[int, dict[str, Any]] = {int(i): dict(v) for i, v in plain["state"].items()}
    p = prefix + ".state."
    for key, value in tensors.items():
        if key.startswith(p):
            idx, name = key[len(p):].split(".", 1)
            state.setdefault(int(idx), {})[name] = value
    opt.load_state_dict({"state": state, "param_groups": plain["param_groups"]})
