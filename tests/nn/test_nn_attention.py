"""Scaled dot-product and multi-head attention against torch's implementations."""

import math

import pytest
import torch
import torch.nn.functional as F

from adlab.nn.attention import LayerKVCache, MultiHeadAttention, causal_mask, scaled_dot_product_attention

TOL = dict(rtol=1e-10, atol=1e-10)


def _qkv(B=2, H=3, L=5, S=5, d_k=4, d_v=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    mk = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64, requires_grad=True)  # noqa: E731
    return mk(B, H, L, d_k), mk(B, H, S, d_k), mk(B, H, S, d_v)


def _check_against_torch(q, k, v, ours_kw, torch_kw):
    out = scaled_dot_product_attention(q, k, v, **ours_kw)
    ref = F.scaled_dot_product_attention(q, k, v, **torch_kw)
    torch.testing.assert_close(out, ref, **TOL)
    g_out = torch.randn_like(out)
    grads = torch.autograd.grad(out, (q, k, v), g_out)
    grads_ref = torch.autograd.grad(ref, (q, k, v), g_out)
    for a, b in zip(grads, grads_ref):
        torch.testing.assert_close(a, b, **TOL)


def test_sdpa_no_mask_matches_torch_values_and_grads():
    q, k, v = _qkv(L=5, S=7)
    _check_against_torch(q, k, v, {}, {})


def test_sdpa_causal_matches_torch():
    q, k, v = _qkv(L=6, S=6)
    _check_against_torch(q, k, v, {"causal": True}, {"is_causal": True})


def test_sdpa_boolean_mask_matches_torch():
    q, k, v = _qkv(L=4, S=6)
    g = torch.Generator().manual_seed(1)
    mask = torch.rand(2, 1, 4, 6, generator=g) > 0.4
    mask[..., 0] = True  # every query keeps at least one key
    _check_against_torch(q, k, v, {"mask": mask}, {"attn_mask": mask})


def test_sdpa_additive_mask_matches_torch():
    q, k, v = _qkv(L=4, S=6)
    mask = torch.randn(4, 6, dtype=torch.float64)
    _check_against_torch(q, k, v, {"mask": mask}, {"attn_mask": mask})


def test_sdpa_causal_plus_mask_matches_explicit_combined_mask():
    q, k, v = _qkv(L=5, S=5)
    pad = torch.ones(2, 1, 1, 5, dtype=torch.bool)
    pad[1, ..., 3:] = False  # second sequence padded after 3 tokens
    combined = pad & torch.ones(5, 5, dtype=torch.bool).tril()
    _check_against_torch(q, k, v, {"mask": pad, "causal": True}, {"attn_mask": combined})


def test_causal_with_fewer_queries_is_bottom_right_aligned():
    # the last 2 queries of 6 positions see keys 0..4 and 0..5
    torch.testing.assert_close(causal_mask(2, 6), torch.tensor([[1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1]]).bool())
    q, k, v = _qkv(L=2, S=6)
    explicit = torch.ones(6, 6, dtype=torch.bool).tril()[-2:]
    _check_against_torch(q, k, v, {"causal": True}, {"attn_mask": explicit})


def test_sdpa_is_scaled_dot_product_not_cosine():
    # one query, two keys of equal direction but different length: cosine would tie, the dot product does not
    q = torch.tensor([[1.0, 0.0]])
    k = torch.tensor([[1.0, 0.0], [3.0, 0.0]])
    v = torch.eye(2)
    _, w = scaled_dot_product_attention(q, k, v, return_weights=True)
    expected = torch.softmax(torch.tensor([1.0, 3.0]) / math.sqrt(2), dim=0)
    torch.testing.assert_close(w[0], expected)


def test_weights_are_a_distribution_and_dropout_rescales():
    q, k, v = _qkv()
    _, w = scaled_dot_product_attention(q, k, v, causal=True, return_weights=True)
    torch.testing.assert_close(w.sum(-1), torch.ones_like(w.sum(-1)), **TOL)
    assert (w.triu(diagonal=1) == 0).all()
    g = torch.Generator().manual_seed(0)
    _, wd = scaled_dot_product_attention(q, k, v, dropout_p=0.5, return_weights=True, generator=g)
    kept = wd != 0
    _, w0 = scaled_dot_product_attention(q, k, v, return_weights=True)
    torch.testing.assert_close(wd[kept], 2 * w0[kept], **TOL)


# ---------------------------------------------------------------- multi-head


def _torch_mha_with_our_weights(ours: MultiHeadAttention) -> torch.nn.MultiheadAttention:
    bias = ours.W_Q.bias is not None
    ref = torch.nn.MultiheadAttention(ours.d_model, ours.n_heads, bias=bias, batch_first=True)
    ref = ref.to(ours.W_Q.weight.dtype)
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.cat([ours.W_Q.weight, ours.W_K.weight, ours.W_V.weight]))
        ref.out_proj.weight.copy_(ours.W_O.weight)
        if bias:
            ref.in_proj_bias.copy_(torch.cat([ours.W_Q.bias, ours.W_K.bias, ours.W_V.bias]))
            ref.out_proj.bias.copy_(ours.W_O.bias)
    return ref.eval()


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("causal", [False, True])
def test_mha_matches_torch_multihead_attention(bias, causal):
    torch.manual_seed(0)
    d, h, T = 100, 4, 7  # the lecture's example: 4 heads of 25
    ours = MultiHeadAttention(d, h, bias=bias).double().eval()
    ref = _torch_mha_with_our_weights(ours)
    x = torch.randn(3, T, d, dtype=torch.float64, requires_grad=True)
    # torch's boolean attn_mask is True where attention is *blocked*
    blocked = ~causal_mask(T) if causal else None
    y_ref, w_ref = ref(x, x, x, attn_mask=blocked, need_weights=True, average_attn_weights=False)
    y, w = ours(x, causal=causal, need_weights=True)
    torch.testing.assert_close(y, y_ref, **TOL)
    torch.testing.assert_close(w, w_ref, **TOL)
    gx, = torch.autograd.grad(y.sum(), x)
    gx_ref, = torch.autograd.grad(y_ref.sum(), x)
    torch.testing.assert_close(gx, gx_ref, **TOL)


def test_mha_cross_attention_and_key_padding_match_torch():
    torch.manual_seed(1)
    ours = MultiHeadAttention(16, 2).double().eval()
    ref = _torch_mha_with_our_weights(ours)
    x = torch.randn(2, 3, 16, dtype=torch.float64)
    c = torch.randn(2, 5, 16, dtype=torch.float64)
    valid = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]]).bool()
    y_ref, _ = ref(x, c, c, key_padding_mask=~valid)
    y = ours(x, c, mask=valid[:, None, None, :])
    torch.testing.assert_close(y, y_ref, **TOL)


@pytest.mark.parametrize("causal", [False, True])
def test_fast_equals_slow(causal):
    torch.manual_seed(2)
    slow = MultiHeadAttention(32, 4).double()
    fast = MultiHeadAttention(32, 4, fast=True).double()
    fast.load_state_dict(slow.state_dict())
    x = torch.randn(2, 6, 32, dtype=torch.float64, requires_grad=True)
    mask = torch.ones(2, 1, 1, 6, dtype=torch.bool)
    mask[0, ..., 4:] = False
    for m in (None, mask):
        y_s, y_f = slow(x, mask=m, causal=causal), fast(x, mask=m, causal=causal)
        torch.testing.assert_close(y_f, y_s, **TOL)
        g_s, = torch.autograd.grad(y_s.square().sum(), x)
        g_f, = torch.autograd.grad(y_f.square().sum(), x)
        torch.testing.assert_close(g_f, g_s, **TOL)


@pytest.mark.parametrize("fast", [False, True])
def test_kv_cache_gives_the_same_outputs_as_full_causal_attention(fast):
    torch.manual_seed(3)
    mha = MultiHeadAttention(24, 3, fast=fast).double().eval()
    x = torch.randn(2, 7, 24, dtype=torch.float64)
    full = mha(x, causal=True)
    cache = LayerKVCache()
    parts = [mha(x[:, :3], causal=True, cache=cache)]  # a prompt, then one token at a time
    for t in range(3, 7):
        parts.append(mha(x[:, t : t + 1], causal=True, cache=cache))
    assert len(cache) == 7
    torch.testing.assert_close(torch.cat(parts, dim=1), full, **TOL)


def test_mha_rejects_indivisible_heads():
    with pytest.raises(ValueError, match="divisible"):
        MultiHeadAttention(10, 3)


# ---------------------------------------------------------------- added by mutation review


def test_sdpa_explicit_scale_matches_torch():
    q, k, v = _qkv(L=4, S=6)
    _check_against_torch(q, k, v, {"scale": 0.3}, {"scale": 0.3})


def test_sdpa_additive_mask_with_causal_matches_torch():
    # the causal mask must be merged into an additive mask, not dropped
    q, k, v = _qkv(L=5, S=5)
    add = torch.randn(2, 1, 5, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    causal_add = torch.zeros(5, 5, dtype=torch.float64).masked_fill(~torch.ones(5, 5, dtype=torch.bool).tril(), float("-inf"))
    _check_against_torch(q, k, v, {"mask": add, "causal": True}, {"attn_mask": add + causal_add})


def test_sdpa_dropout_keeps_each_weight_with_probability_one_minus_p():
    # Bernoulli(1 - p) keep mask: the kept fraction is 1 - p (here 0.8, not 0.2), and E[weights] = weights
    q, k, v = _qkv(B=4, H=4, L=32, S=32)
    g = torch.Generator().manual_seed(5)
    _, wd = scaled_dot_product_attention(q.detach(), k.detach(), v.detach(), dropout_p=0.2, return_weights=True, generator=g)
    kept = (wd != 0).double().mean().item()
    assert abs(kept - 0.8) < 0.02, kept  # n = 16384, sd of the fraction ~ 0.003
    # each row still sums to one on average (inverted dropout is unbiased)
    assert abs(wd.sum(-1).mean().item() - 1.0) < 0.02


@pytest.mark.parametrize("fast", [False, True])
def test_mha_dropout_is_off_in_eval_mode(fast):
    # a non-zero dropout rate must not change an eval-mode module: it equals torch's (eval) exactly
    torch.manual_seed(6)
    ours = MultiHeadAttention(16, 2, fast=fast, dropout=0.5).double().eval()
    ref = _torch_mha_with_our_weights(ours)
    x = torch.randn(2, 5, 16, dtype=torch.float64)
    for causal in (False, True):
        y_ref, _ = ref(x, x, x, attn_mask=~causal_mask(5) if causal else None, need_weights=False)
        torch.testing.assert_close(ours(x, causal=causal), y_ref, **TOL)


def test_mha_dropout_in_training_rescales_the_eval_weights():
    torch.manual_seed(7)
    mha = MultiHeadAttention(16, 2, dropout=0.5).double()
    x = torch.randn(2, 6, 16, dtype=torch.float64)
    _, w_eval = mha.eval()(x, need_weights=True)
    y, w = mha.train()(x, need_weights=True)
    dropped = w == 0
    assert 0.3 < dropped.double().mean().item() < 0.7
    torch.testing.assert_close(w[~dropped], 2 * w_eval[~dropped], **TOL)
    # and the output is W_O applied to the heads computed with those (dropped) weights
    v = mha.W_V(x).view(2, 6, 2, 8).transpose(1, 2)
    o = (w @ v).transpose(1, 2).reshape(2, 6, 16)
    torch.testing.assert_close(y, mha.W_O(o), **TOL)


@pytest.mark.parametrize("fast", [False, True])
def test_mha_dropout_rate_near_one_in_training_leaves_only_the_output_bias(fast):
    # every attention weight dropped: each head outputs 0, so MHA(x) = W_O(0) = b_O
    torch.manual_seed(8)
    mha = MultiHeadAttention(16, 2, fast=fast, dropout=1.0 - 1e-12).double().train()
    x = torch.randn(2, 5, 16, dtype=torch.float64)
    torch.testing.assert_close(mha(x), mha.W_O.bias.expand(2, 5, 16), rtol=0, atol=1e-9)


def test_sdpa_dropout_of_one_drops_everything_like_torch_and_bad_rates_are_refused():
    """p = 1: every weight is dropped, so the output is zero (torch's kernel gives zeros; the
    rescaling 1 / (1 - p) must not turn that into 0/0 = NaN)."""
    q, k, v = (torch.randn(2, 3, 5, 4) for _ in range(3))
    out, w = scaled_dot_product_attention(q, k, v, dropout_p=1.0, return_weights=True)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, dropout_p=1.0))
    assert torch.count_nonzero(out) == 0 and torch.count_nonzero(w) == 0
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match="dropout_p"):
            scaled_dot_product_attention(q, k, v, dropout_p=bad)
