"""Transformer block against torch.nn.TransformerEncoderLayer; causality; position encodings."""

import math

import pytest
import torch

from adlab.nn.attention import causal_mask
from adlab.nn.positions import (
    LearnedPositions,
    SinusoidalPositions,
    sinusoid_shift_matrix,
    sinusoidal_position_encoding,
)
from adlab.nn.transformer import KVCache, PositionwiseFeedForward, TransformerBlock

TOL = dict(rtol=1e-10, atol=1e-10)


def _torch_layer_with_our_weights(block: TransformerBlock, norm_first: bool) -> torch.nn.TransformerEncoderLayer:
    a = block.attn
    ref = torch.nn.TransformerEncoderLayer(
        a.d_model, a.n_heads, dim_feedforward=block.ffn.W_1.out_features, dropout=0.0,
        activation="relu", batch_first=True, norm_first=norm_first,
    ).double()
    with torch.no_grad():
        ref.self_attn.in_proj_weight.copy_(torch.cat([a.W_Q.weight, a.W_K.weight, a.W_V.weight]))
        ref.self_attn.in_proj_bias.copy_(torch.cat([a.W_Q.bias, a.W_K.bias, a.W_V.bias]))
        ref.self_attn.out_proj.load_state_dict(a.W_O.state_dict())
        ref.linear1.load_state_dict(block.ffn.W_1.state_dict())
        ref.linear2.load_state_dict(block.ffn.W_2.state_dict())
        ref.norm1.load_state_dict(block.ln_1.state_dict())
        ref.norm2.load_state_dict(block.ln_2.state_dict())
    return ref.eval()


@pytest.mark.parametrize("norm", ["post", "pre"])
@pytest.mark.parametrize("causal", [False, True])
def test_block_matches_torch_encoder_layer(norm, causal):
    torch.manual_seed(0)
    block = TransformerBlock(32, 4, 64, dropout=0.1, norm=norm, causal=causal).double().eval()
    with torch.no_grad():  # non-trivial LayerNorm parameters
        for ln in (block.ln_1, block.ln_2):
            ln.weight.normal_(1.0, 0.3)
            ln.bias.normal_(0.0, 0.3)
    ref = _torch_layer_with_our_weights(block, norm_first=(norm == "pre"))
    x = torch.randn(3, 9, 32, dtype=torch.float64, requires_grad=True)
    y = block(x)
    y_ref = ref(x, src_mask=~causal_mask(9) if causal else None)
    torch.testing.assert_close(y, y_ref, **TOL)
    g, = torch.autograd.grad(y.sum(), x)
    g_ref, = torch.autograd.grad(y_ref.sum(), x)
    torch.testing.assert_close(g, g_ref, **TOL)


@pytest.mark.parametrize("norm", ["post", "pre"])
def test_causal_block_output_at_t_does_not_depend_on_later_inputs(norm):
    torch.manual_seed(1)
    blocks = torch.nn.Sequential(*[TransformerBlock(16, 2, 32, norm=norm, causal=True) for _ in range(2)]).double()
    x = torch.randn(2, 8, 16, dtype=torch.float64, requires_grad=True)
    y = blocks(x)
    r = torch.randn(16, dtype=torch.float64)  # a post-LN output's plain sum is constant, so project
    for t in range(8):
        g, = torch.autograd.grad((y[:, t] @ r).sum(), x, retain_graph=True)
        assert (g[:, t + 1 :] == 0).all(), f"output {t} depends on a later input"
        assert g[:, : t + 1].abs().sum(-1).min() > 0, f"output {t} ignores an earlier input"


def test_bidirectional_block_sees_every_position():
    torch.manual_seed(2)
    block = TransformerBlock(16, 2, 32).double()
    x = torch.randn(1, 5, 16, dtype=torch.float64, requires_grad=True)
    g, = torch.autograd.grad((block(x)[:, 0] @ torch.randn(16, dtype=torch.float64)).sum(), x)
    assert g.abs().sum(-1).min() > 0


@pytest.mark.parametrize("norm", ["post", "pre"])
def test_block_stack_with_kv_cache_equals_full_pass(norm):
    torch.manual_seed(3)
    blocks = [TransformerBlock(16, 4, 32, norm=norm, causal=True, activation="gelu").double().eval() for _ in range(3)]
    x = torch.randn(2, 6, 16, dtype=torch.float64)
    full = x
    for b in blocks:
        full = b(full)
    cache = KVCache(len(blocks))
    outs = []
    for t in range(6):
        h = x[:, t : t + 1]
        for i, b in enumerate(blocks):
            h = b(h, cache=cache[i])
        outs.append(h)
    assert len(cache) == 6
    torch.testing.assert_close(torch.cat(outs, 1), full, **TOL)
    cache.reset()
    assert len(cache) == 0


def test_feed_forward_is_position_wise():
    torch.manual_seed(4)
    ffn = PositionwiseFeedForward(8, 32)
    x = torch.randn(2, 5, 8)
    y = ffn(x)
    torch.testing.assert_close(y[:, 2], ffn(x[:, 2:3])[:, 0])
    torch.testing.assert_close(y, ffn.W_2(torch.relu(ffn.W_1(x))))


def test_block_rejects_unknown_norm():
    with pytest.raises(ValueError, match="norm"):
        TransformerBlock(8, 2, 16, norm="sandwich")


# ---------------------------------------------------------------- positions


def test_sinusoidal_closed_form_values():
    d = 8
    pe = sinusoidal_position_encoding(torch.tensor([0, 1, 7, 50]), d, dtype=torch.float64)
    # position 0: sin 0 = 0, cos 0 = 1
    torch.testing.assert_close(pe[0], torch.tensor([0.0, 1.0] * 4, dtype=torch.float64))
    for row, p in zip(pe, [0, 1, 7, 50]):
        for i in range(d // 2):
            w = 10000.0 ** (-2 * i / d)
            assert row[2 * i].item() == pytest.approx(math.sin(p * w), abs=1e-14)
            assert row[2 * i + 1].item() == pytest.approx(math.cos(p * w), abs=1e-14)
    # p = 1, first pair: (sin 1, cos 1); last pair has wavelength 10000^(6/8) * 2 pi
    assert pe[1, 0].item() == pytest.approx(0.8414709848078965)
    assert pe[1, 7].item() == pytest.approx(math.cos(1e-3))


def test_sinusoidal_encodings_are_vectors_that_differ_per_dimension():
    pe = sinusoidal_position_encoding(10, 16)
    assert pe.shape == (10, 16)
    # not one scalar per position: the dimensions of a position differ
    assert (pe[3].max() - pe[3].min()) > 0.5


@pytest.mark.parametrize("k", [1, 5, 37])
def test_sinusoid_shift_is_a_fixed_rotation(k):
    d = 12
    M = sinusoid_shift_matrix(k, d)
    p = torch.arange(0, 200)
    pe = sinusoidal_position_encoding(p, d, dtype=torch.float64)
    pe_k = sinusoidal_position_encoding(p + k, d, dtype=torch.float64)
    torch.testing.assert_close(pe @ M.T, pe_k, rtol=0, atol=1e-12)
    # each 2x2 block is a rotation: orthogonal with determinant one
    torch.testing.assert_close(M @ M.T, torch.eye(d, dtype=torch.float64), rtol=0, atol=1e-12)
    assert torch.linalg.det(M[:2, :2]).item() == pytest.approx(1.0)


def test_position_modules():
    sin = SinusoidalPositions(6).double()
    pos = torch.arange(3, 7)
    out = sin(pos)
    assert out.dtype == torch.float64 and out.shape == (4, 6)
    torch.testing.assert_close(out, sinusoidal_position_encoding(pos, 6, dtype=torch.float64))
    assert len(list(sin.parameters())) == 0 and len(sin.state_dict()) == 0
    learned = LearnedPositions(10, 6)
    assert learned(pos).shape == (4, 6)
    with pytest.raises(ValueError, match="past the learned table"):
        learned(torch.tensor([10]))


# ---------------------------------------------------------------- added by mutation review


def _torch_layer_like(block: TransformerBlock, norm_first: bool, activation: str, bias: bool, eps: float, dropout: float):
    """torch.nn.TransformerEncoderLayer with ``block``'s weights (LayerNorm biases only when ``bias``)."""
    a = block.attn
    ref = torch.nn.TransformerEncoderLayer(
        a.d_model, a.n_heads, dim_feedforward=block.ffn.W_1.out_features, dropout=dropout,
        activation=activation, layer_norm_eps=eps, batch_first=True, norm_first=norm_first, bias=bias,
    ).double()
    with torch.no_grad():
        ref.self_attn.in_proj_weight.copy_(torch.cat([a.W_Q.weight, a.W_K.weight, a.W_V.weight]))
        ref.self_attn.out_proj.weight.copy_(a.W_O.weight)
        ref.linear1.weight.copy_(block.ffn.W_1.weight)
        ref.linear2.weight.copy_(block.ffn.W_2.weight)
        ref.norm1.weight.copy_(block.ln_1.weight)
        ref.norm2.weight.copy_(block.ln_2.weight)
        if bias:
            ref.self_attn.in_proj_bias.copy_(torch.cat([a.W_Q.bias, a.W_K.bias, a.W_V.bias]))
            ref.self_attn.out_proj.bias.copy_(a.W_O.bias)
            ref.linear1.bias.copy_(block.ffn.W_1.bias)
            ref.linear2.bias.copy_(block.ffn.W_2.bias)
            ref.norm1.bias.copy_(block.ln_1.bias)
            ref.norm2.bias.copy_(block.ln_2.bias)
    return ref


@pytest.mark.parametrize("norm", ["post", "pre"])
@pytest.mark.parametrize("bias", [True, False])
def test_block_gelu_eps_bias_and_padding_mask_match_torch(norm, bias):
    # GELU (exact, erf form), a non-default LayerNorm eps, no biases, and a key-padding mask passed to the block
    torch.manual_seed(5)
    block = TransformerBlock(16, 4, 32, norm=norm, activation="gelu", bias=bias, layer_norm_eps=0.5).double().eval()
    with torch.no_grad():
        for ln in (block.ln_1, block.ln_2):
            ln.weight.normal_(1.0, 0.3)
            if bias:  # torch's bias=False layer has no LayerNorm biases; ours are then left at zero
                ln.bias.normal_(0.0, 0.3)
    ref = _torch_layer_like(block, norm == "pre", "gelu", bias, 0.5, 0.0).eval()
    assert sum(p.numel() for p in block.ffn.parameters()) == sum(
        p.numel() for p in (*ref.linear1.parameters(), *ref.linear2.parameters())
    )
    valid = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]]).bool()
    x = torch.randn(2, 6, 16, dtype=torch.float64, requires_grad=True)  # requires_grad: torch's slow path
    y = block(x, mask=valid[:, None, None, :])
    y_ref = ref(x, src_key_padding_mask=~valid)
    torch.testing.assert_close(y, y_ref, **TOL)


@pytest.mark.parametrize("norm", ["post", "pre"])
def test_block_dropout_placement_in_training_matches_torch(norm):
    # with the attention-weight dropout off on both sides, the remaining dropouts (after the attention
    # sub-layer, after phi in the FFN, after the FFN) draw the same masks as torch's, in the same order.
    # Batch of one: torch's batch_first attention output is a transposed view, and dropout draws its
    # mask in memory order, so only with B = 1 do the two layouts assign the same draws to the same elements.
    torch.manual_seed(6)
    block = TransformerBlock(16, 2, 32, dropout=0.3, norm=norm, activation="gelu").double().train()
    ref = _torch_layer_like(block, norm == "pre", "gelu", True, 1e-5, 0.3).train()
    block.attn.dropout = 0.0
    ref.self_attn.dropout = 0.0
    x = torch.randn(1, 12, 16, dtype=torch.float64)
    torch.manual_seed(7)
    y = block(x)
    torch.manual_seed(7)
    y_ref = ref(x)
    torch.testing.assert_close(y, y_ref, **TOL)
    assert not torch.allclose(y, block.eval()(x))  # dropout did act


def test_block_passes_its_dropout_rate_to_the_attention_weights():
    # only attention-weight dropout left, at a rate ~1: every weight dropped, the attention sub-layer
    # outputs W_O's bias alone, so the post-LN block is LN2(h + FFN(h)) with h = LN1(x + b_O)
    torch.manual_seed(8)
    block = TransformerBlock(16, 2, 32, dropout=1.0 - 1e-12).double().train()
    for d in (block.dropout_1, block.dropout_2, block.ffn.dropout):
        d.p = 0.0
    x = torch.randn(2, 5, 16, dtype=torch.float64)
    h = block.ln_1(x + block.attn.W_O.bias)
    torch.testing.assert_close(block(x), block.ln_2(h + block.ffn(h)), rtol=0, atol=1e-9)


def test_feed_forward_dropout_sits_after_the_activation():
    torch.manual_seed(9)
    ffn = PositionwiseFeedForward(8, 32, dropout=0.4, activation="gelu").double().train()
    x = torch.randn(2, 5, 8, dtype=torch.float64)
    torch.manual_seed(10)
    y = ffn(x)
    torch.manual_seed(10)
    y_ref = ffn.W_2(torch.nn.functional.dropout(torch.nn.functional.gelu(ffn.W_1(x)), 0.4, training=True))
    torch.testing.assert_close(y, y_ref, **TOL)


@pytest.mark.parametrize("d", [7, 9])
def test_sinusoidal_odd_width_closed_form(d):
    # odd d_model: ceil(d/2) sines, floor(d/2) cosines, column 2i+1 pairs with column 2i
    p = torch.tensor([0, 1, 3, 40])
    pe = sinusoidal_position_encoding(p, d, dtype=torch.float64)
    assert pe.shape == (4, d)
    for row, pos in zip(pe, p.tolist()):
        for j in range(d):
            w = 10000.0 ** (-2 * (j // 2) / d)
            ref = math.sin(pos * w) if j % 2 == 0 else math.cos(pos * w)
            assert row[j].item() == pytest.approx(ref, abs=1e-14)


def test_sinusoidal_custom_base_closed_form_and_shift():
    d, base = 6, 100.0
    p = torch.arange(0, 30)
    pe = sinusoidal_position_encoding(p, d, base=base, dtype=torch.float64)
    w = torch.tensor([base ** (-2 * i / d) for i in range(d // 2)], dtype=torch.float64)
    torch.testing.assert_close(pe[:, 0::2], torch.sin(p[:, None].double() * w), rtol=0, atol=1e-14)
    torch.testing.assert_close(pe[:, 1::2], torch.cos(p[:, None].double() * w), rtol=0, atol=1e-14)
    torch.testing.assert_close(SinusoidalPositions(d, base=base).double()(p), pe)
    M = sinusoid_shift_matrix(3, d, base=base)
    torch.testing.assert_close(pe[:-3] @ M.T, pe[3:], rtol=0, atol=1e-12)


def test_learned_positions_are_table_rows_at_their_index():
    torch.manual_seed(11)
    learned = LearnedPositions(1000, 64, std=0.02)
    pos = torch.tensor([[0, 1, 2], [5, 999, 7]])
    torch.testing.assert_close(learned(pos), learned.table.weight[pos])
    # N(0, 0.02^2) initialisation: 64000 draws, sample std within a few percent
    assert learned.table.weight.std().item() == pytest.approx(0.02, rel=0.03)
    assert abs(learned.table.weight.mean().item()) < 1e-3
