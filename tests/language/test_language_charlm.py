"""Character-LM helpers: random windows, the parameter-matched LSTM, bits per character."""

import math

import pytest
import torch
import torch.nn.functional as F

from adlab.language.charlm import CharLSTM, bits_per_char, lm_loss, lstm_parameter_count, match_lstm_hidden, sample_windows
from adlab.language.gpt import GPT, GPTConfig, gpt_parameter_count


def test_windows_are_contiguous_slices_of_the_text():
    data = torch.arange(100)
    w = sample_windows(data, 20, 9, torch.Generator().manual_seed(0))
    assert w.shape == (20, 9)
    torch.testing.assert_close(w - w[:, :1], torch.arange(9).expand(20, 9))
    assert int(w.max()) <= 99
    with pytest.raises(ValueError):
        sample_windows(torch.arange(5), 1, 6, torch.Generator())


@pytest.mark.parametrize("V,H,L", [(84, 32, 1), (84, 100, 2), (10, 7, 3)])
def test_lstm_parameter_count_formula(V, H, L):
    model = CharLSTM(V, H, L)
    assert sum(p.numel() for p in model.parameters()) == lstm_parameter_count(V, H, L)


@pytest.mark.parametrize("layers", [1, 2, 3])
def test_matched_hidden_size_is_the_closest(layers):
    target = gpt_parameter_count(GPTConfig(vocab_size=84, block_size=64, n_layer=4, n_head=4, d_model=128))
    H = match_lstm_hidden(target, 84, layers)
    best = min(range(1, 2000), key=lambda h: abs(lstm_parameter_count(84, h, layers) - target))
    assert H == best
    assert abs(lstm_parameter_count(84, H, layers) / target - 1) < 0.02


def test_bits_per_char_is_cross_entropy_in_bits():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=12, block_size=8, n_layer=1, n_head=2, d_model=16))
    w = torch.randint(0, 12, (5, 9))
    logits, _ = model(w[:, :-1])
    ref = F.cross_entropy(logits.reshape(-1, 12), w[:, 1:].reshape(-1)).item() / math.log(2)
    assert bits_per_char(model, w, batch_size=2) == pytest.approx(ref, rel=1e-5)
    assert lm_loss(model, w).item() == pytest.approx(ref * math.log(2), rel=1e-5)


def test_uniform_predictions_cost_log2_vocab_bits():
    class Uniform(torch.nn.Module):
        def forward(self, idx, targets=None):
            return torch.zeros(*idx.shape, 84), None

    w = torch.randint(0, 84, (3, 11))
    assert bits_per_char(Uniform(), w) == pytest.approx(math.log2(84))


def test_char_lstm_has_the_gpt_interface_and_learns():
    torch.manual_seed(0)
    model = CharLSTM(5, 16, 1)
    w = torch.tensor([[0, 1, 2, 3, 4] * 4])
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    first = lm_loss(model, w).item()
    for _ in range(100):
        loss = lm_loss(model, w)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.1 * first
