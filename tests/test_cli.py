"""The command line: user errors are one line with the right exit code and write nothing."""

import json
import os
import subprocess
import sys

import pytest

from adlab.cli import main

ADLAB = [sys.executable, "-m", "adlab"]


def _cli(*args, cwd=None, env=None):
    e = dict(os.environ, MPLBACKEND="Agg", **(env or {}))
    return subprocess.run(ADLAB + list(args), capture_output=True, text=True, cwd=cwd, env=e, timeout=600)


def test_unknown_experiment_exit_2_one_line_with_closest(tmp_path):
    p = _cli("run", "foundations.linear-softmx", "--runs", str(tmp_path / "runs"))
    assert p.returncode == 2
    assert p.stderr.strip().count("\n") == 0 and "Traceback" not in p.stderr
    assert "foundations.linear-softmax" in p.stderr
    p = _cli("run", "nope", "--runs", str(tmp_path / "runs"))
    assert p.returncode == 2 and p.stderr.strip().count("\n") == 0 and "unknown experiment 'nope'" in p.stderr
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    "setting,needle",
    [("lr=abc", "lr"), ("lr=-1", "> 0"), ("epochs=2.5", "int"), ("optimiser=adam", "did you mean optimizer"), ("optimizer=rmsprop", "sgd|adam"), ("lr", "key=value")],
)
def test_bad_set_exit_2_names_field(tmp_path, setting, needle):
    p = _cli("run", "foundations.linear-softmax", "--set", setting, "--runs", str(tmp_path / "runs"))
    assert p.returncode == 2, p.stderr
    assert needle in p.stderr and p.stderr.strip().count("\n") == 0 and "Traceback" not in p.stderr
    assert not (tmp_path / "runs").exists()


def test_lr_abc_message_names_field_and_type(capsys, tmp_path):
    assert main(["run", "foundations.linear-softmax", "--set", "lr=abc", "--runs", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "lr" in err and "expected float" in err


def test_missing_data_exit_3_with_fetch_command(capsys, tmp_path, empty_data_home):
    code = main(["run", "foundations.linear-softmax", "--preset", "smoke", "--runs", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 3 and "adlab data fetch fashion-mnist" in err and err.count("\n") == 1
    assert not (tmp_path / "runs").exists()


def test_usage_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as e:
        main(["run", "foundations.linear-softmax", "--preset", "huge"])
    assert e.value.code == 2 and capsys.readouterr().err.count("\n") == 1
    with pytest.raises(SystemExit) as e:
        main(["frobnicate"])
    assert e.value.code == 2


def test_cuda_request_without_gpu_is_a_user_error(capsys, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    assert main(["run", "foundations.linear-softmax", "--device", "cuda", "--runs", str(tmp_path / "r")]) == 2
    assert not (tmp_path / "r").exists()


def test_list_show_and_data_info(capsys):
    assert main(["list"]) == 0
    assert "foundations.linear-softmax" in capsys.readouterr().out
    assert main(["list", "vision.nothing-like-this*"]) == 2
    capsys.readouterr()
    assert main(["show", "foundations.linear-softmax"]) == 0
    out = capsys.readouterr().out
    assert "batch_size" in out and "minibatch size" in out
    assert main(["data", "info"]) == 0
    assert "fashion-mnist" in capsys.readouterr().out
    assert main(["data", "fetch", "imagenet"]) == 2


def test_run_writes_the_run_directory_contract(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "foundations.linear-softmax", "--preset", "smoke", "--out", str(out), "--seed", "3"]) == 0
    for f in ("config.json", "metrics.jsonl", "results.json", "verdict.json", "report.html", "report.md", "model_card.md"):
        assert (out / f).is_file(), f
    res = json.loads((out / "results.json").read_text())
    assert {"experiment", "preset", "seed", "metrics", "artifacts", "wall_s"} <= set(res)
    assert res["seed"] == 3 and res["preset"] == "smoke" and res["experiment"] == "foundations.linear-softmax"
    assert all((out / a).is_file() for a in res["artifacts"]) and any(a.startswith("plots/") for a in res["artifacts"])
    v = json.loads((out / "verdict.json").read_text())
    assert set(v) == {"passed", "summary", "checks"}
    assert all(set(c) == {"name", "value", "op", "threshold", "passed"} for c in v["checks"])
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["config"]["n_train"] == 1000 and cfg["preset"] == "smoke"
    assert list((out / "checkpoint").rglob("tensors.safetensors"))
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html and "test accuracy" in html and "<script src" not in html
    # the same out dir again is refused and left untouched
    before = (out / "results.json").read_bytes()
    assert main(["run", "foundations.linear-softmax", "--preset", "smoke", "--out", str(out)]) == 2
    assert (out / "results.json").read_bytes() == before
    # the smoke run is too short to reach 83%: --strict turns its failed verdict into exit 1
    if not v["passed"]:
        assert main(["run", "foundations.linear-softmax", "--preset", "smoke", "--out", str(tmp_path / "s"), "--strict"]) == 1
    # report rebuilds from the files
    (out / "report.html").unlink()
    assert main(["report", str(out)]) == 0 and (out / "report.html").is_file()
    assert main(["report", str(out), str(tmp_path / "s"), "--out", str(tmp_path / "combined")]) == 0
    assert "of 2 verdicts pass" in (tmp_path / "combined" / "report.html").read_text()
    assert main(["report", str(tmp_path / "nothing-here")]) == 2


def test_resume_rejects_mismatch(tmp_path, capsys):
    assert main(["run", "foundations.linear-softmax", "--resume", str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err


def test_verify_and_tour_write_one_combined_report(tmp_path, capsys):
    runs = tmp_path / "runs"
    code = main(["verify", "foundations.linear-soft*", "--preset", "smoke", "--runs", str(runs), "--out", str(tmp_path / "v")])
    out = capsys.readouterr().out
    verdict = json.loads(next(runs.glob("foundations.linear-softmax/*/verdict.json")).read_text())
    assert code == (0 if verdict["passed"] else 1)  # exit 1 exactly when a verdict fails
    assert "foundations.linear-softmax" in out and "report:" in out
    html = (tmp_path / "v" / "report.html").read_text()
    assert "of 1 verdicts pass" in html and "data:image/png;base64," in html
    assert main(["verify", "no-such-*", "--runs", str(runs)]) == 2
    assert main(["tour", "--preset", "smoke", "--runs", str(runs), "--out", str(tmp_path / "t")]) == 0
    assert "foundations.linear-softmax" in (tmp_path / "t" / "report.html").read_text()


@pytest.mark.slow
def test_ctrl_c_exits_130_and_keeps_a_resumable_run(tmp_path):
    import signal
    import time

    out = tmp_path / "run"
    env = dict(os.environ, MPLBACKEND="Agg", OMP_NUM_THREADS="1")
    args = ["run", "foundations.linear-softmax", "--preset", "smoke", "--set", "epochs=200", "--set", "checkpoint_every=2", "--out", str(out)]
    p = subprocess.Popen(ADLAB + args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not list(out.glob("checkpoint/*/LATEST")):
        time.sleep(0.05)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130
    last = err.strip().splitlines()[-1]
    assert "--resume" in last and str(out) in last and "Traceback" not in err
    assert not (out / "results.json").exists() and (out / "config.json").exists()


def test_bench_lists_scripts_and_rejects_unknown(capsys):
    assert main(["bench"]) == 0
    assert "loader_speed" in capsys.readouterr().out
    assert main(["bench", "no-such-bench"]) == 2
    assert "unknown benchmark" in capsys.readouterr().err
