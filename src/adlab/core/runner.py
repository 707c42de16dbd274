"""Run one experiment end to end: resolve its config, make the run directory, train, judge, report.

Everything a user can get wrong (name, preset, ``--set`` values, device, data, resume folder)
is checked before the run directory is created, so a bad command writes nothing.
"""

from __future__ import annotations

import json
import shutil
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import torch

import adlab
from adlab.core import distributed
from adlab.core.config import from_dict, to_dict
from adlab.core.context import RunContext
from adlab.core.errors import AdlabError, UserError
from adlab.core.io import read_json, write_json_atomic
from adlab.core.registry import REGISTRY, Experiment, Results, Verdict
from adlab.core.report import RunRecord, load_run, write_run_report
from adlab.core.seeding import seed_everything


class Interrupted(AdlabError):
    """The user stopped a run (Ctrl-C); the message says how to resume it."""

    exit_code = 130


def pick_device(device: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU is a user error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA GPU is available on this machine; use --device cpu or auto")
    if device not in ("cpu",) and not device.startswith("cuda"):
        raise UserError(f"--device {device!r}: expected auto, cpu or cuda")
    if device.startswith("cuda"):
        local = distributed.rank() if distributed.world_size() > 1 else None
        return torch.device(f"cuda:{local}" if local is not None and ":" not in device else device)
    return torch.device(device)


def resolve(name: str, preset: str = "quick", overrides: dict[str, Any] | None = None) -> tuple[type[Experiment], Any]:
    """The experiment class and its resolved config; raises a user error for any bad input."""
    import adlab.catalog  # noqa: F401  (fills the registry)

    cls = REGISTRY.get(name)
    return cls, cls.config(preset, overrides)


def _new_run_dir(name: str, runs_root: Path) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = runs_root / name / stamp
    path, i = base, 1
    while path.exists():
        path = base.with_name(f"{stamp}-{i}")
        i += 1
    return path


def _check_results(name: str, results: Any) -> Results:
    if not isinstance(results, Results):
        raise TypeError(f"{name}.run must return Results, got {type(results).__name__}")
    for k, v in results.metrics.items():
        if not isinstance(v, (int, float)):
            raise TypeError(f"{name}: metric {k!r} is {type(v).__name__}, expected a number")
    return results


def run(
    name: str,
    preset: str = "quick",
    overrides: dict[str, Any] | None = None,
    seed: int = 0,
    device: str = "auto",
    out: str | Path | None = None,
    resume: str | Path | None = None,
    runs_root: str | Path = "runs",
) -> RunRecord:
    """Run ``name`` and return its record (the run directory's files, already written)."""
    if resume is not None:
        resume = Path(resume)
        if not (resume / "config.json").is_file():
            raise UserError(f"--resume {resume}: not a run directory (no config.json)")
        try:
            saved = read_json(resume / "config.json")
        except json.JSONDecodeError:
            raise UserError(f"--resume {resume}: config.json is damaged") from None
        if saved.get("experiment") != name:
            raise UserError(f"--resume {resume}: that run is of {saved.get('experiment')!r}, not {name!r}")
        if overrides:
            raise UserError("--resume continues a run with its saved config; --set cannot be combined with it")
        cls, _ = resolve(name, saved["preset"])
        cfg = from_dict(cls.Config, saved["config"])
        preset, seed = saved["preset"], int(saved["seed"])
        if (resume / "results.json").is_file() and (resume / "verdict.json").is_file():
            return load_run(resume)
    else:
        cls, cfg = resolve(name, preset, overrides)
    dev = pick_device(device)
    from adlab import data

    for ds in cls.datasets:
        data.require(ds)
    distributed.init(dev)

    if resume is not None:
        path = resume
    else:
        path = Path(out) if out is not None else _new_run_dir(name, Path(runs_root))
        if distributed.is_main():
            if path.exists() and any(path.iterdir()):
                raise UserError(f"--out {path}: folder exists and is not empty; choose another or use --resume")
        path = Path(distributed.broadcast_object(str(path)))
    created = not path.exists()
    ctx = RunContext(out=path, experiment=name, preset=preset, seed=seed, device=dev, resume=resume is not None)
    if distributed.is_main():
        path.mkdir(parents=True, exist_ok=True)
        if resume is None:
            write_json_atomic(
                path / "config.json",
                {
                    "experiment": name,
                    "lecture": cls.lecture(),
                    "claim": cls.claim,
                    "preset": preset,
                    "seed": seed,
                    "device": str(dev),
                    "world_size": distributed.world_size(),
                    "config": to_dict(cfg),
                    "adlab_version": adlab.__version__,
                    "torch_version": torch.__version__,
                    "created": datetime.now().isoformat(timespec="seconds"),
                },
            )
    distributed.barrier()
    seed_everything(seed)
    start = time.perf_counter()
    try:
        results = _check_results(name, cls().run(cfg, ctx))
        verdict: Verdict = cls().verdict(results, cfg)
    except BaseException as e:
        has_ckpt = (path / "checkpoint").exists() and any((path / "checkpoint").rglob("LATEST"))
        if distributed.is_main() and created and not has_ckpt:
            shutil.rmtree(path, ignore_errors=True)
        if isinstance(e, KeyboardInterrupt):
            hint = f"; resume with: adlab run {name} --resume {path}" if has_ckpt else "; nothing was kept"
            raise Interrupted(f"interrupted{hint}") from None
        raise
    finally:
        ctx.close()
    wall = time.perf_counter() - start
    if distributed.is_main():
        artifacts = list(dict.fromkeys(list(results.artifacts) + ctx.artifacts))
        write_json_atomic(
            path / "results.json",
            {
                "experiment": name,
                "preset": preset,
                "seed": seed,
                "metrics": {k: float(v) for k, v in results.metrics.items()},
                "artifacts": artifacts,
                "wall_s": round(wall, 3),
                "resumed": resume is not None,
                "details": results.details,
            },
        )
        write_json_atomic(path / "verdict.json", verdict.to_dict())
        ctx.write_model_cards()
        write_run_report(path)
    distributed.barrier()
    if not distributed.is_main():
        return RunRecord(path, {"experiment": name}, {"experiment": name, "metrics": results.metrics}, verdict.to_dict())
    return load_run(path)
