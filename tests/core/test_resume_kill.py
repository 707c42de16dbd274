"""A run killed with SIGKILL in the middle of training and resumed with --resume ends with the
same final numbers as an uninterrupted run (CPU, fixed seed)."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

ARGS = ["foundations.linear-softmax", "--preset", "smoke", "--set", "epochs=40", "--set", "checkpoint_every=3", "--seed", "5"]


def _run(args, **kw):
    env = dict(os.environ, MPLBACKEND="Agg", OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-m", "adlab", "run", *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, **kw)


@pytest.mark.slow
def test_sigkill_then_resume_matches_uninterrupted(tmp_path):
    ref = _run(ARGS + ["--out", str(tmp_path / "ref")])
    killed_dir = tmp_path / "killed"
    victim = _run(ARGS + ["--out", str(killed_dir)])
    latest = killed_dir / "checkpoint" / "softmax-regression" / "LATEST"
    deadline = time.time() + 120
    while time.time() < deadline:
        if latest.exists():
            state = (killed_dir / "checkpoint" / "softmax-regression" / latest.read_text().strip() / "state.json")
            if state.exists() and json.loads(state.read_text())["step"] >= 30:
                break
        time.sleep(0.05)
    assert victim.poll() is None, "the run finished before it could be killed"
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert not (killed_dir / "results.json").exists()
    resumed = _run(["foundations.linear-softmax", "--resume", str(killed_dir)])
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read()
    assert ref.wait(timeout=300) == 0, ref.stderr.read()
    a = json.loads((tmp_path / "ref" / "results.json").read_text())
    b = json.loads((killed_dir / "results.json").read_text())
    assert b["resumed"] and not a["resumed"]
    assert a["metrics"] == b["metrics"]
    assert a["details"] == b["details"]
