"""benchmarks/gpu_session.sh, the one-call GPU script, in its CPU dry-run mode (smoke presets):
its job syntax, chains, failure handling and packing, which a GPU session cannot afford to debug."""

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_session.sh"


@pytest.mark.slow
def test_dry_run_chains_jobs_stops_a_failed_chain_and_packs_the_runs(tmp_path):
    root = tmp_path / "repo"  # the script works in the folder above its own: a copy keeps runs/ out of the checkout
    (root / "benchmarks").mkdir(parents=True)
    shutil.copy(SCRIPT, root / "benchmarks")
    out = tmp_path / "out"
    jobs = ("language.bert-finetune+language.contextual-senses:pretrained=runs/gpu/language.bert-finetune "
            "vision.no-such-experiment+vision.equivariance")
    env = {**os.environ, "ADLAB_GPU_DRY": "1", "PY": sys.executable, "OUT": str(out), "BENCH": "0", "DEADLINE_S": "300",
           "JOBS": jobs}
    p = subprocess.run(["bash", str(root / "benchmarks" / "gpu_session.sh")], env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    runs = root / "runs" / "gpu"
    # A+B: B ran after A, on A's finished pretraining
    assert "language.contextual-senses:pretrained=runs/gpu/language.bert-finetune rc=0" in p.stdout
    assert "| reused_from | runs/gpu/language.bert-finetune |" in (runs / "language.contextual-senses" / "model_card.md").read_text()
    # a chain stops at its first failed job (an unknown name exits 2)
    assert "vision.no-such-experiment rc=2" in p.stdout and not (runs / "vision.equivariance").exists()
    # the run folders come back packed, checkpoints left out
    with tarfile.open(out / "runs.tar.gz") as t:
        names = t.getnames()
    assert "runs/gpu/language.bert-finetune/results.json" in names
    assert not any(n.endswith(".safetensors") for n in names)


def test_unfinished_runs_come_back_split_into_parts_within_the_device_limits(tmp_path):
    """KEEP_CHECKPOINTS=1: each run folder without a verdict comes back as a tar, checkpoints included,
    split into parts of at most CKPT_PART_BYTES that rejoin into it; a run past the total room is
    dropped with a message, and a finished run (with its verdict) is not packed. The folders are made
    here, so the sizes do not depend on how far a run got before a deadline."""
    root = tmp_path / "repo"
    (root / "benchmarks").mkdir(parents=True)
    shutil.copy(SCRIPT, root / "benchmarks")
    runs = root / "runs" / "gpu"
    for name in ("a.cut-off", "b.cut-off", "c.finished"):
        ckpt = runs / name / "checkpoint" / "m" / "step-000000050"
        ckpt.mkdir(parents=True)
        (ckpt / "model.safetensors").write_bytes(os.urandom(150_000))  # incompressible, like weights
        (runs / name / "config.json").write_text("{}")
    (runs / "c.finished" / "verdict.json").write_text("{}")
    out = tmp_path / "out"
    env = {**os.environ, "ADLAB_GPU_DRY": "1", "PY": sys.executable, "OUT": str(out), "BENCH": "0", "DEADLINE_S": "60",
           "KEEP_CHECKPOINTS": "1", "CKPT_PART_BYTES": "60000", "CKPT_TOTAL_BYTES": "250000",
           "JOBS": "vision.no-such-experiment"}  # fails at once: only the packing is under test
    p = subprocess.run(["bash", str(root / "benchmarks" / "gpu_session.sh")], env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    parts = sorted(out.glob("ckpt-a.cut-off.tar.part*"))
    assert len(parts) == 3 and all(f.stat().st_size <= 60000 for f in parts)  # ~152 kB in 60 kB parts
    assert not (out / "ckpt-a.cut-off.tar").exists() and "split into 3 parts" in p.stdout
    # the second run no longer fits in the room left (250 kB - 152 kB): dropped, with a message
    assert not list(out.glob("ckpt-b.cut-off*")) and "ckpt-b.cut-off.tar" in p.stdout and "dropped" in p.stdout
    assert not list(out.glob("ckpt-c.finished*"))
    joined = tmp_path / "joined.tar"
    joined.write_bytes(b"".join(f.read_bytes() for f in parts))
    with tarfile.open(joined) as t:
        names = set(t.getnames())
        weights = t.extractfile("runs/gpu/a.cut-off/checkpoint/m/step-000000050/model.safetensors").read()
    assert {str(f.relative_to(root)) for f in (runs / "a.cut-off").rglob("*")} <= names
    assert weights == (runs / "a.cut-off" / "checkpoint" / "m" / "step-000000050" / "model.safetensors").read_bytes()
