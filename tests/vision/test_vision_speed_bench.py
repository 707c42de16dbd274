"""benchmarks/vision_speed.py: runs, reports every model, refuses bad arguments."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "vision_speed.py"


@pytest.mark.slow
def test_vision_speed_reports_images_per_second_and_ratios(tmp_path):
    out = tmp_path / "v.json"
    p = subprocess.run([sys.executable, str(BENCH), "--models", "lenet5", "vgg_small", "--batch", "16", "--steps", "2",
                        "--warmup", "1", "--json", str(out)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    r = json.loads(out.read_text())["images_per_s"]
    assert set(r) == {"lenet5", "vgg_small"}
    assert r["lenet5"]["ratio_to_first"] == 1.0
    assert r["vgg_small"]["ratio_to_first"] == pytest.approx(r["vgg_small"]["images_per_s"] / r["lenet5"]["images_per_s"])
    assert r["lenet5"]["parameters"] == 61706  # LeNet-5 at 1x28x28, 10 classes
    bad = subprocess.run([sys.executable, str(BENCH), "--models", "no_such_net"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "unknown model" in bad.stderr
    for args, msg in ((["--recipe-lr", "0"], "--recipe-lr"), (["--recipe-batch", "0"], "--recipe-batch")):
        bad = subprocess.run([sys.executable, str(BENCH), "--time-to", "0.9", *args], capture_output=True, text=True, timeout=120)
        assert bad.returncode == 2 and msg in bad.stderr, bad.stderr[-500:]
