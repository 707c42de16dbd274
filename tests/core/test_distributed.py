"""Two processes under torchrun (gloo, CPU) take the same steps as one process with the same global batch."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

WORKER = Path(__file__).with_name("ddp_worker.py")


def _env():
    return dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg")


@pytest.mark.distributed
@pytest.mark.slow
def test_two_processes_equal_one(tmp_path):
    one = tmp_path / "one" / "params.safetensors"
    two = tmp_path / "two" / "params.safetensors"
    one.parent.mkdir(), two.parent.mkdir()
    subprocess.run([sys.executable, str(WORKER), str(one)], check=True, env=_env(), timeout=300)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    for _attempt in range(2):
        p = subprocess.run(torchrun + [str(WORKER), str(two)], env=_env(), timeout=300, capture_output=True, text=True)
        # a rare race in gloo's teardown (pytorch/pytorch#190489, #179291) aborts a rank with
        # "terminate called without an active exception"; seen once in a full test run: run again once
        if p.returncode == 0 or "terminate called without an active exception" not in p.stderr:
            break
    assert p.returncode == 0, "\n".join(ln for ln in p.stderr.splitlines() if not ln.startswith("[ddp"))[-3000:]
    a, b = load_file(str(one)), load_file(str(two))
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-9, atol=1e-10)
    # training did move the weights (the comparison is not between two initialisations)
    assert float(a["eval_accuracy"]) > 0.8


@pytest.mark.distributed
@pytest.mark.slow
def test_adlab_run_under_torchrun(tmp_path):
    """The experiment runner itself works unchanged under torchrun: same metrics as one process."""
    args = ["foundations.linear-softmax", "--preset", "smoke", "--device", "cpu", "--set", "batch_size=64"]
    single = subprocess.run([sys.executable, "-m", "adlab", "run", *args, "--out", str(tmp_path / "one")], env=_env(), timeout=300, capture_output=True, text=True)
    assert single.returncode == 0, single.stderr[-2000:]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "adlab", "run"]
    multi = subprocess.run(torchrun + args + ["--out", str(tmp_path / "two")], env=_env(), timeout=300, capture_output=True, text=True)
    assert multi.returncode == 0, multi.stderr[-3000:]
    import json

    a = json.loads((tmp_path / "one" / "results.json").read_text())["metrics"]
    b = json.loads((tmp_path / "two" / "results.json").read_text())["metrics"]
    assert abs(a["test_accuracy"] - b["test_accuracy"]) <= 0.002
    assert abs(a["test_loss"] - b["test_loss"]) <= 1e-3
    assert json.loads((tmp_path / "two" / "config.json").read_text())["world_size"] == 2
