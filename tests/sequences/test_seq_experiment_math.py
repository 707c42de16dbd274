"""The measurements behind the lecture-6 experiments: Jacobian norms, fitted rates, entropies,
sample statistics, and the TBPTT loop's exact resume."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from adlab.core import checkpoint as ckpt
from adlab.core.context import RunContext
from adlab.nn.recurrent import LSTMCell, RNNCell
from adlab.sequences import exp_lm
from adlab.sequences.exp_generative import binary_entropy_bits, marginal_entropy_bits
from adlab.sequences.exp_gradients import VanishingGradients, fitted_rate, loglog_exponent
from adlab.sequences.exp_lm import LSTMSettings, attested_bigram_fraction, real_word_fraction, train_lm, word_set


def test_rnn_jacobian_norms_equal_the_product_of_step_jacobians():
    torch.manual_seed(0)
    H, I, T = 6, 3, 12
    cell = RNNCell(I, H).double()
    x = torch.randn(T, 1, I, dtype=torch.float64)
    logs = VanishingGradients._log_norms(cell, x, lstm=False)
    # $\partial h_t/\partial h_0 = \prod_s \mathrm{diag}(1 - h_s^2) W_{hh}$, along the trajectory from h_0 = 0
    h, J = torch.zeros(1, H, dtype=torch.float64), torch.eye(H, dtype=torch.float64)
    with torch.no_grad():
        for t in range(T):
            h = cell(x[t], h)
            J = torch.diag(1 - h[0] ** 2) @ cell.W_hh @ J
            assert math.isclose(logs[t], math.log(torch.linalg.matrix_norm(J, 2).item()), rel_tol=1e-10)


def test_lstm_cell_path_jacobian_matches_reverse_mode_autograd():
    torch.manual_seed(1)
    H, I, T = 5, 2, 7
    cell = LSTMCell(I, H).double()
    x = torch.randn(T, 1, I, dtype=torch.float64)
    logs = VanishingGradients._log_norms(cell, x, lstm=True)

    def c_T(c0):
        s = (torch.zeros(1, H, dtype=torch.float64), c0)
        for t in range(T):
            s = cell(x[t], s)
        return s[1]

    J = torch.autograd.functional.jacobian(c_T, torch.zeros(1, H, dtype=torch.float64))[0, :, 0, :]
    assert math.isclose(logs[-1], math.log(torch.linalg.matrix_norm(J, 2).item()), rel_tol=1e-10)


def test_scaled_orthogonal_tanh_rnn_obeys_the_rho_power_bound():
    torch.manual_seed(2)
    H, rho = 8, 0.8
    cell = RNNCell(4, H).double()
    Q, _ = torch.linalg.qr(torch.randn(H, H, dtype=torch.float64))
    with torch.no_grad():
        cell.W_hh.copy_(rho * Q)
    logs = VanishingGradients._log_norms(cell, torch.randn(20, 1, 4, dtype=torch.float64), lstm=False)
    assert np.all(logs <= np.arange(1, 21) * math.log(rho) + 1e-9)


def test_fitted_rate_and_loglog_exponent_recover_known_laws():
    t = np.arange(1, 51)
    assert math.isclose(fitted_rate(2.0 + t * math.log(0.7)), math.log(0.7), rel_tol=1e-9)
    xs = [8.0, 16.0, 64.0, 256.0]
    assert math.isclose(loglog_exponent(xs, [3 * v**2 for v in xs]), 2.0, rel_tol=1e-9)
    assert math.isclose(loglog_exponent(xs, [0.1 * v for v in xs]), 1.0, rel_tol=1e-9)


def test_binary_entropy_bits():
    p = torch.tensor([0.0, 0.5, 1.0, 0.11])
    h = binary_entropy_bits(p)
    assert h[1] == pytest.approx(1.0) and h[0] == 0 and h[2] == 0
    assert h[3] == pytest.approx(-(0.11 * math.log2(0.11) + 0.89 * math.log2(0.89)), rel=1e-6)
    assert torch.allclose(binary_entropy_bits(p), binary_entropy_bits(1 - p))


def test_marginal_entropy_removes_the_finite_k_bias():
    """Completions agreeing exactly give H_b(p); for disagreeing ones the plug-in H_b(mean) is biased
    low by about Var/(2p(1-p) ln 2 K) and the corrected estimate is unbiased to second order."""
    p = torch.tensor([0.1, 0.5, 0.9]).expand(2, 5, 3)
    torch.testing.assert_close(marginal_entropy_bits(p), binary_entropy_bits(p[:, 0]))
    g = torch.Generator().manual_seed(0)
    K, trials = 8, 20000
    pk = 0.2 + 0.6 * torch.rand(trials, K, 1, generator=g, dtype=torch.float64)  # mean 0.5: H = 1 bit
    plug_in = binary_entropy_bits(pk.mean(1)).mean().item()
    corrected = marginal_entropy_bits(pk).mean().item()
    expected_bias = (0.6**2 / 12 / K) / (2 * 0.25 * math.log(2))  # 0.0108 bits
    assert 1 - plug_in == pytest.approx(expected_bias, rel=0.1)
    assert abs(1 - corrected) < 0.1 * expected_bias


def test_sample_statistics():
    lex = word_set("Thou art, I think, a fool; thou'rt mad.")
    assert lex == {"thou", "art", "i", "think", "a", "fool", "thou'rt", "mad"}
    assert real_word_fraction("thou zzq art, xx!", lex) == pytest.approx(0.5)
    assert real_word_fraction("...", lex) == 0.0
    assert attested_bigram_fraction([1, 2, 3, 1], {(1, 2), (3, 1)}) == pytest.approx(2 / 3)


def _ctx(path: Path, resume: bool = False) -> RunContext:
    path.mkdir(parents=True, exist_ok=True)
    return RunContext(out=path, experiment="test.tbptt", preset="smoke", seed=3, device=torch.device("cpu"), resume=resume)


def test_tbptt_loop_resumes_to_the_same_weights(tmp_path, monkeypatch):
    g = torch.Generator().manual_seed(0)
    train, val = torch.randint(0, 7, (900,), generator=g), torch.randint(0, 7, (300,), generator=g)
    s = LSTMSettings("lstm", 4, 8, 1, 0.0, batch_size=4, bptt=10, steps=9, lr=1e-2, grad_clip=1.0, eval_every=3, checkpoint_every=3)
    whole, hist_whole = train_lm("lm", s, train, val, 7, _ctx(tmp_path / "a"))

    real_save, calls = ckpt.save, []

    def save_then_die(*args, **kwargs):
        out = real_save(*args, **kwargs)
        calls.append(1)
        if len(calls) == 2:  # killed right after the step-6 checkpoint
            raise KeyboardInterrupt
        return out

    monkeypatch.setattr(exp_lm.ckpt, "save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        train_lm("lm", s, train, val, 7, _ctx(tmp_path / "b"))
    steps_saved = []

    def record(folder, step, *args, **kwargs):
        steps_saved.append(step)
        return real_save(folder, step, *args, **kwargs)

    monkeypatch.setattr(exp_lm.ckpt, "save", record)
    resumed, hist_resumed = train_lm("lm", s, train, val, 7, _ctx(tmp_path / "b", resume=True))
    # a resume, not a restart: nothing at or before the step-6 checkpoint is saved again
    assert steps_saved and min(steps_saved) > 6, steps_saved
    assert hist_resumed == hist_whole
    for (k, a), (_, b) in zip(whole.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), k
