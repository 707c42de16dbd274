"""Our recurrent cells against torch.nn.LSTM/GRU/RNN, finite differences, and each other."""

import pytest
import torch
from torch import nn

from adlab.nn.recurrent import GRUCell, LSTMCell, RNN, RNNCell, cell_from_torch, cell_to_torch, copy_weights

TOL = dict(rtol=1e-5, atol=1e-5)


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny recurrent models run many times faster on one thread; restored afterwards."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _pair(cell_type, num_layers, batch_first, seed=0, I=5, H=7):
    torch.manual_seed(seed)
    ours = RNN(cell_type, I, H, num_layers, batch_first=batch_first, gru_variant="torch")
    theirs = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[cell_type](I, H, num_layers, batch_first=batch_first)
    return ours, theirs


def _state(cell_type, L, B, H, seed=1):
    g = torch.Generator().manual_seed(seed)
    h0 = torch.randn(L, B, H, generator=g)
    return (h0, torch.randn(L, B, H, generator=g)) if cell_type == "lstm" else h0


def _flat(state):
    return torch.cat([s.flatten() for s in state]) if isinstance(state, tuple) else state.flatten()


@pytest.mark.parametrize("cell_type", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("direction", ["from_torch", "to_torch"])
def test_matches_torch_outputs_and_gradients(cell_type, batch_first, direction):
    ours, theirs = _pair(cell_type, num_layers=3, batch_first=batch_first)
    if direction == "from_torch":
        copy_weights(theirs, ours)
    else:
        copy_weights(ours, theirs)
    B, T = 4, 6
    x = torch.randn((B, T, 5) if batch_first else (T, B, 5))
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    s0 = _state(cell_type, 3, B, 7)
    out1, s1 = ours(x1, s0)
    out2, s2 = theirs(x2, s0)
    torch.testing.assert_close(out1, out2, **TOL)
    torch.testing.assert_close(_flat(s1), _flat(s2), **TOL)
    w = torch.randn_like(out1)
    ((out1 * w).sum() + _flat(s1).sum()).backward()
    ((out2 * w).sum() + _flat(s2).sum()).backward()
    torch.testing.assert_close(x1.grad, x2.grad, **TOL)
    # map our weight gradients into torch's layout and compare with torch's
    grads = RNN(cell_type, 5, 7, 3, gru_variant="torch")
    for cell, g_cell in zip(ours.cells, grads.cells):
        for name, p in cell.named_parameters():
            getattr(g_cell, name).data.copy_(p.grad)
    mapped = type(theirs)(5, 7, 3)
    copy_weights(grads, mapped)
    for l in range(3):
        for gate_w in ("weight_ih", "weight_hh"):
            torch.testing.assert_close(getattr(mapped, f"{gate_w}_l{l}"), getattr(theirs, f"{gate_w}_l{l}").grad, **TOL)
        # our bias gradient is torch's bias_ih gradient (the sum of the two biases enters everywhere ...)
        torch.testing.assert_close(getattr(mapped, f"bias_ih_l{l}"), getattr(theirs, f"bias_ih_l{l}").grad, **TOL)
        if cell_type == "gru":  # ... except the GRU candidate's hidden bias, which sits inside r * (.)
            H = 7
            torch.testing.assert_close(
                ours.cells[l].b_hh.grad, getattr(theirs, f"bias_hh_l{l}").grad[2 * H :], **TOL
            )


@pytest.mark.parametrize("cell_type", ["lstm", "gru", "rnn"])
def test_fast_equals_slow(cell_type):
    torch.manual_seed(0)
    slow = RNN(cell_type, 3, 6, num_layers=2, fast=False, gru_variant="torch")
    fast = RNN(cell_type, 3, 6, num_layers=2, fast=True, gru_variant="torch")
    copy_weights(slow, fast)
    x = torch.randn(5, 9, 3)
    out_s, st_s = slow(x)
    out_f, st_f = fast(x)
    torch.testing.assert_close(out_s, out_f, **TOL)
    torch.testing.assert_close(_flat(st_s), _flat(st_f), **TOL)
    # and back: a model trained fast can be read into the readable cells
    slow2 = RNN(cell_type, 3, 6, num_layers=2, fast=False, gru_variant="torch")
    copy_weights(fast, slow2)
    torch.testing.assert_close(slow2(x)[0], out_f, **TOL)


@pytest.mark.parametrize("cell_type", ["lstm", "gru", "rnn"])
def test_lengths_mask_matches_packed_and_truncated(cell_type):
    torch.manual_seed(0)
    slow = RNN(cell_type, 3, 4, num_layers=2, gru_variant="torch")
    fast = RNN(cell_type, 3, 4, num_layers=2, fast=True, gru_variant="torch")
    copy_weights(slow, fast)
    x = torch.randn(3, 6, 3)
    lengths = torch.tensor([6, 2, 4])
    out_s, st_s = slow(x, lengths=lengths)
    out_f, st_f = fast(x, lengths=lengths)
    torch.testing.assert_close(out_s, out_f, **TOL)
    torch.testing.assert_close(_flat(st_s), _flat(st_f), **TOL)
    for b, n in enumerate(lengths.tolist()):
        out_b, st_b = slow(x[b : b + 1, :n])
        torch.testing.assert_close(out_s[b, :n], out_b[0], **TOL)
        assert torch.all(out_s[b, n:] == 0)
        h_b = st_b[0] if cell_type == "lstm" else st_b
        h_s = st_s[0] if cell_type == "lstm" else st_s
        torch.testing.assert_close(h_s[:, b], h_b[:, 0], **TOL)


def test_fast_cho_gru_is_refused():
    with pytest.raises(ValueError, match="Cho"):
        RNN("gru", 3, 4, fast=True)
    RNN("gru", 3, 4, fast=True, gru_variant="torch")  # the torch variant is fine


def test_lstm_separate_and_concatenated_forms_agree():
    torch.manual_seed(0)
    cell = LSTMCell(4, 6)
    x, h, c = torch.randn(3, 4), torch.randn(3, 6), torch.randn(3, 6)
    a = cell(x, (h, c))
    b = cell.forward_concatenated(x, (h, c))
    torch.testing.assert_close(a[0], b[0], rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(a[1], b[1], rtol=1e-6, atol=1e-6)
    W, bias = cell.concatenated()
    assert W.shape == (24, 10) and bias.shape == (24,)
    # the forget gate's rows are [W_hf  W_xf]
    torch.testing.assert_close(W[6:12], torch.cat([cell.W_hf, cell.W_xf], dim=1))


def test_lstm_cell_matches_torch_lstmcell():
    torch.manual_seed(0)
    ours, theirs = LSTMCell(4, 5), nn.LSTMCell(4, 5)
    cell_from_torch(ours, theirs)
    x, h, c = torch.randn(2, 4), torch.randn(2, 5), torch.randn(2, 5)
    for a, b in zip(ours(x, (h, c)), theirs(x, (h, c))):
        torch.testing.assert_close(a, b, **TOL)
    theirs2 = nn.LSTMCell(4, 5)
    cell_to_torch(ours, theirs2)
    torch.testing.assert_close(theirs2(x, (h, c))[0], theirs(x, (h, c))[0], **TOL)


def test_cho_gru_gradcheck_float64():
    torch.manual_seed(0)
    cell = GRUCell(3, 4, variant="cho").double()
    x = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    h = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    params = [p for _, p in cell.named_parameters()]
    names = [n for n, _ in cell.named_parameters()]

    def f(x, h, *ps):
        return torch.func.functional_call(cell, dict(zip(names, ps)), (x, h))

    assert torch.autograd.gradcheck(f, (x, h, *params))
    # and through time, by the multi-layer unroller
    rnn = RNN("gru", 3, 4, num_layers=2, gru_variant="cho").double()
    xs = torch.randn(2, 5, 3, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 2, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda xs, h0: rnn(xs, h0)[0], (xs, h0))


def test_cho_gru_matches_lecture_equations():
    torch.manual_seed(0)
    cell = GRUCell(3, 4, variant="cho")
    x, h = torch.randn(2, 3), torch.randn(2, 4)
    # the lecture's concatenated form: W_g . [h_{t-1}, x_t]
    Wz = torch.cat([cell.W_hz, cell.W_xz], 1)
    Wr = torch.cat([cell.W_hr, cell.W_xr], 1)
    Wh = torch.cat([cell.W_hh, cell.W_xh], 1)
    z = torch.sigmoid(torch.cat([h, x], 1) @ Wz.T + cell.b_z)
    r = torch.sigmoid(torch.cat([h, x], 1) @ Wr.T + cell.b_r)
    h_tilde = torch.tanh(torch.cat([r * h, x], 1) @ Wh.T + cell.b_h)
    expected = (1 - z) * h + z * h_tilde
    torch.testing.assert_close(cell(x, h), expected, rtol=1e-6, atol=1e-6)


def test_cho_and_torch_gru_differ_for_the_same_weights():
    torch.manual_seed(0)
    cho = GRUCell(3, 4, variant="cho")
    tor = GRUCell(3, 4, variant="torch")
    missing, unexpected = tor.load_state_dict(cho.state_dict(), strict=False)
    assert missing == ["b_hh"] and not unexpected
    with torch.no_grad():
        tor.b_hh.zero_()
    x, h = torch.randn(5, 3), torch.randn(5, 4)
    assert (cho(x, h) - tor(x, h)).abs().max() > 1e-2
    # with h = 0 the reset placement no longer matters, only the swapped z remains
    z = torch.sigmoid(x @ cho.W_xz.T + cho.b_z)
    h_tilde = torch.tanh(x @ cho.W_xh.T + cho.b_h)
    zero = torch.zeros(5, 4)
    torch.testing.assert_close(cho(x, zero), z * h_tilde)
    torch.testing.assert_close(tor(x, zero), (1 - z) * h_tilde)


def test_rnn_cell_equation():
    torch.manual_seed(0)
    cell = RNNCell(3, 4)
    x, h = torch.randn(2, 3), torch.randn(2, 4)
    torch.testing.assert_close(cell(x, h), torch.tanh(cell.W_xh @ x.T + cell.W_hh @ h.T + cell.b_h[:, None]).T)


def test_bad_arguments():
    with pytest.raises(ValueError, match="cell_type"):
        RNN("transformer", 3, 4)
    with pytest.raises(ValueError, match="variant"):
        GRUCell(3, 4, variant="keras")
    with pytest.raises(ValueError, match="shapes differ"):
        copy_weights(RNN("lstm", 3, 4), nn.LSTM(3, 5))
    with pytest.raises(ValueError, match="shapes differ"):
        copy_weights(RNN("lstm", 3, 4), nn.GRU(3, 4))
    with pytest.raises(ValueError, match="torch"):
        cell_to_torch(GRUCell(3, 4, variant="cho"), nn.GRU(3, 4))
