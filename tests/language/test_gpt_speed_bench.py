"""benchmarks/gpt_speed.py: the FLOP count and the two attention paths it times."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from adlab.language.gpt import GPT, GPTConfig, gpt_parameter_count

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "gpt_speed.py"


def _load():
    import importlib.util

    spec = importlib.util.spec_from_file_location("gpt_speed", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_flops_per_token_is_6n_plus_attention_term():
    cfg = GPTConfig(vocab_size=65, block_size=64, n_layer=4, n_head=4, d_model=128)
    model = GPT(cfg)
    n = gpt_parameter_count(cfg) - 64 * 128  # without the position table
    # 6N for the weight matmuls (forward 2N, backward 4N) + 12 L T d for QK^T and AV
    assert _load().flops_per_token(model) == 6 * n + 12 * 4 * 128 * 64


@pytest.mark.slow
def test_bench_runs_and_both_attention_paths_train_identically(tmp_path):
    out = tmp_path / "gpt.json"
    p = subprocess.run([sys.executable, str(BENCH), "--preset", "cpu", "--steps", "2", "--warmup", "1", "--dtype", "fp32", "bf16",
                        "--rounds", "2", "--json", str(out)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    r = json.loads(out.read_text())["results"]
    assert set(r) == {"written@fp32", "sdpa@fp32", "written@bf16", "sdpa@bf16"}
    assert r["written@fp32"]["final_loss"] == pytest.approx(r["sdpa@fp32"]["final_loss"], abs=1e-4)
    # bf16 autocast (here on the CPU) computes the same steps to bf16's precision
    assert r["sdpa@bf16"]["final_loss"] == pytest.approx(r["sdpa@fp32"]["final_loss"], rel=0.02)
    assert r["sdpa@bf16"]["dtype"] == "bf16" and all(v["tokens_per_s"] > 0 for v in r.values())
    assert all(len(v["tokens_per_s_rounds"]) == 2 for v in r.values())  # the contenders took turns twice
    assert r["written@fp32"]["ratio_to_written"] == 1.0
    bad = subprocess.run([sys.executable, str(BENCH), "--dtype", "fp16"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "fp16" in bad.stderr


def test_fused_adamw_trains_like_the_per_parameter_loop():
    import contextlib

    mod = _load()
    cfg = GPTConfig(vocab_size=17, block_size=8, n_layer=1, n_head=2, d_model=16)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randint(0, 17, (4, 8), generator=g), torch.randint(0, 17, (4, 8), generator=g)
    losses = []
    for fused in (False, True):
        torch.manual_seed(0)
        losses.append(mod.train_speed(GPT(cfg), x, y, steps=5, warmup=0, autocast=contextlib.nullcontext, fused=fused)["final_loss"])
    assert losses[0] == pytest.approx(losses[1], abs=1e-5)
    assert losses[0] < math.log(17)  # it trained


def test_lstm_flops_per_token_is_6n_without_the_embedding():
    from adlab.language.charlm import CharLSTM

    V, H = 65, 20
    model = CharLSTM(V, H, num_layers=2)
    # two LSTM layers (4 gates on [x; h], two bias vectors each) and the read-out; the embedding is a lookup
    n = 2 * (4 * H * (H + H) + 8 * H) + (H * V + V)
    assert _load().lstm_flops_per_token(model) == 6 * n


@pytest.mark.slow
def test_bench_times_a_parameter_matched_lstm_on_the_same_batches(tmp_path):
    out = tmp_path / "gpt.json"
    p = subprocess.run([sys.executable, str(BENCH), "--preset", "cpu", "--steps", "2", "--warmup", "1", "--lstm", "--json", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    d = json.loads(out.read_text())
    r = d["results"]
    assert set(r) == {"written", "sdpa", "lstm"}
    gpt_n, lstm_n = r["written"]["parameters"], r["lstm"]["parameters"]
    assert abs(lstm_n / gpt_n - 1) < 0.01 and d["settings"]["lstm_hidden"] == 220  # gpt-char's quick LSTM
    assert r["lstm"]["ratio_to_lstm"] == 1.0
    assert r["sdpa"]["ratio_to_lstm"] == pytest.approx(r["sdpa"]["tokens_per_s"] / r["lstm"]["tokens_per_s"])
    assert r["lstm"]["flops_per_token"] < r["written"]["flops_per_token"]  # no attention term
    assert "vs lstm" in p.stdout
