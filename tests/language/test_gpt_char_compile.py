"""language.gpt-char's ``compile`` and ``amp`` options: compiled or bf16 training gives the eager fp32 numbers."""

import json

import pytest

from adlab.core import runner


def test_compiled_gpt_char_smoke_matches_eager(tmp_path):
    metrics = {}
    for mode in (None, "default"):
        out = tmp_path / str(mode)
        runner.run("language.gpt-char", preset="smoke", out=out, device="cpu", overrides={"compile": mode, "sample_chars": 0})
        metrics[mode] = json.loads((out / "results.json").read_text())["metrics"]
    assert metrics["default"]["gpt_val_bpc"] == pytest.approx(metrics[None]["gpt_val_bpc"], abs=1e-3)
    assert metrics["default"]["lstm_val_bpc"] == metrics[None]["lstm_val_bpc"]  # the LSTM is never compiled


def test_unknown_compile_mode_is_refused(tmp_path):
    with pytest.raises(Exception, match="compile"):
        runner.run("language.gpt-char", preset="smoke", out=tmp_path / "bad", device="cpu", overrides={"compile": "fast"})
    assert not (tmp_path / "bad" / "results.json").exists()


def test_bf16_autocast_on_the_cpu_trains_like_fp32(tmp_path):
    """``amp=True`` on a CPU: both models train in bf16 autocast to the fp32 numbers within bf16's precision."""
    metrics = {}
    for amp in (False, True):
        out = tmp_path / str(amp)
        runner.run("language.gpt-char", preset="smoke", out=out, device="cpu", overrides={"amp": amp, "sample_chars": 0})
        metrics[amp] = json.loads((out / "results.json").read_text())["metrics"]
    for k in ("gpt_val_bpc", "lstm_val_bpc"):
        assert metrics[True][k] == pytest.approx(metrics[False][k], rel=0.02)
        assert metrics[True][k] != metrics[False][k]  # it did run in another precision
