"""GPT-style language model: parameter count, initial loss, KV-cache generation."""

import math

import pytest
import torch

from adlab.language.gpt import GPT, GPTConfig, gpt_parameter_count


def _small(**kw):
    base = dict(vocab_size=50, block_size=24, n_layer=2, n_head=4, d_model=32)
    base.update(kw)
    return GPTConfig(**base)


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"tie_embeddings": False},
        {"norm": "post"},
        {"positions": "sinusoidal"},
        {"bias": False, "d_ff": 40, "n_layer": 3},
    ],
)
def test_parameter_count_formula(kw):
    cfg = _small(**kw)
    assert GPT(cfg).num_parameters() == gpt_parameter_count(cfg)


def test_parameter_count_by_hand():
    # V=10, T=4, d=8, f=32, one pre-LN block, tied:
    # 80 + 32 + [4*64 + 2*256 + 4*8 + (4*8 + 32 + 8)] + 16
    cfg = GPTConfig(vocab_size=10, block_size=4, n_layer=1, n_head=2, d_model=8)
    assert gpt_parameter_count(cfg) == 80 + 32 + (256 + 512 + 32 + 72) + 16


@pytest.mark.parametrize("norm", ["pre", "post"])
def test_loss_at_init_is_close_to_log_vocab(norm):
    torch.manual_seed(0)
    cfg = GPTConfig(vocab_size=200, block_size=32, n_layer=2, n_head=4, d_model=64, norm=norm)
    model = GPT(cfg).eval()
    idx = torch.randint(0, 200, (8, 32))
    logits, loss = model(idx, targets=torch.roll(idx, -1, dims=1))
    assert logits.shape == (8, 32, 200)
    assert abs(loss.item() - math.log(200)) < 0.1


def test_targets_minus_100_are_ignored():
    torch.manual_seed(0)
    model = GPT(_small()).eval()
    idx = torch.randint(0, 50, (2, 10))
    targets = torch.randint(0, 50, (2, 10))
    _, full = model(idx, targets)
    targets[:, 5:] = -100
    logits, part = model(idx, targets)
    ref = torch.nn.functional.cross_entropy(logits[:, :5].reshape(-1, 50), targets[:, :5].reshape(-1))
    torch.testing.assert_close(part, ref)


def test_tied_output_layer_is_the_embedding():
    torch.manual_seed(0)
    model = GPT(_small())
    assert model.lm_head is None
    idx = torch.randint(0, 50, (1, 5))
    logits, loss = model(idx, idx)
    loss.backward()
    assert model.tok_emb.weight.grad is not None
    # the logits are the final hidden states times the embedding matrix transposed
    captured = {}
    model.ln_f.register_forward_hook(lambda m, i, o: captured.setdefault("h", o))
    model.eval()
    logits, _ = model(idx)
    torch.testing.assert_close(logits, captured["h"] @ model.tok_emb.weight.T)


def _count_positions(model):
    """Count token positions entering the model (a forward hook on the token embedding)."""
    seen = []
    model.tok_emb.register_forward_hook(lambda m, inp, out: seen.append(inp[0].numel()))
    return seen


@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-5), (torch.float64, 1e-10)])
@pytest.mark.parametrize("norm", ["pre", "post"])
def test_cached_greedy_generation_equals_full_recomputation(dtype, tol, norm):
    torch.manual_seed(0)
    model = GPT(_small(norm=norm, dropout=0.1)).to(dtype).eval()
    prompt = torch.randint(0, 50, (3, 5))
    seen = _count_positions(model)
    out_c, logits_c = model.generate(prompt, 12, temperature=0.0, use_cache=True, return_logits=True)
    cached_positions = sum(seen)
    seen.clear()
    out_f, logits_f = model.generate(prompt, 12, temperature=0.0, use_cache=False, return_logits=True)
    full_positions = sum(seen)
    assert torch.equal(out_c, out_f)
    torch.testing.assert_close(logits_c, logits_f, rtol=tol, atol=tol)
    # the cache feeds each position once: B*(5 + 11) against B*(5 + 6 + ... + 16)
    assert cached_positions == 3 * (5 + 11)
    assert full_positions == 3 * sum(range(5, 17))


def test_cached_generation_past_block_size_equals_recomputation():
    torch.manual_seed(1)
    model = GPT(_small(block_size=8)).double().eval()
    prompt = torch.randint(0, 50, (2, 3))
    out_c, logits_c = model.generate(prompt, 15, temperature=0.0, use_cache=True, return_logits=True)
    out_f, logits_f = model.generate(prompt, 15, temperature=0.0, use_cache=False, return_logits=True)
    assert out_c.shape == (2, 18)
    assert torch.equal(out_c, out_f)
    torch.testing.assert_close(logits_c, logits_f, rtol=1e-10, atol=1e-10)


def test_sampling_with_a_generator_is_reproducible_and_top_k_restricts():
    torch.manual_seed(2)
    model = GPT(_small()).eval()
    prompt = torch.zeros(4, 1, dtype=torch.long)
    a = model.generate(prompt, 10, temperature=1.0, generator=torch.Generator().manual_seed(0))
    b = model.generate(prompt, 10, temperature=1.0, use_cache=False, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b)
    out, logits = model.generate(prompt, 10, top_k=1, return_logits=True, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out[:, 1:], logits.argmax(-1))  # top-1 sampling is greedy


def test_fast_attention_model_matches():
    torch.manual_seed(3)
    slow = GPT(_small()).double().eval()
    fast = GPT(_small(fast_attention=True)).double().eval()
    fast.load_state_dict(slow.state_dict())
    idx = torch.randint(0, 50, (2, 20))
    torch.testing.assert_close(fast(idx)[0], slow(idx)[0], rtol=1e-10, atol=1e-10)


def test_too_long_input_is_refused():
    model = GPT(_small(block_size=8))
    with pytest.raises(ValueError, match="block_size=8"):
        model(torch.zeros(1, 9, dtype=torch.long))


def test_a_tiny_model_learns_a_repeating_sequence():
    torch.manual_seed(4)
    model = GPT(_small(block_size=16))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    seq = torch.arange(17) % 5  # 0 1 2 3 4 0 1 ...: each next token is determined
    x, y = seq[:-1][None], seq[1:][None]
    for _ in range(60):
        _, loss = model(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.1
    model.eval()
    out = model.generate(torch.tensor([[2]]), 8, temperature=0.0)
    assert out[0].tolist() == [2, 3, 4, 0, 1, 2, 3, 4, 0]


def test_compiled_training_steps_match_eager_without_graph_breaks():
    """torch.compile (the gpt-char ``compile`` option) trains the same numbers as eager mode, in one graph."""
    cfg = GPTConfig(vocab_size=17, block_size=8, n_layer=2, n_head=2, d_model=16)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randint(0, 17, (4, 8), generator=g), torch.randint(0, 17, (4, 8), generator=g)
    torch.manual_seed(0)
    eager = GPT(cfg)
    compiled = GPT(cfg)
    compiled.load_state_dict(eager.state_dict())
    explain = torch._dynamo.explain(compiled)(x, y)
    assert explain.graph_break_count == 0  # the CPU position check steps aside while compiling
    losses = {}
    for name, model in (("eager", eager), ("compiled", torch.compile(compiled))):
        opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
        losses[name] = []
        for _ in range(3):
            _, loss = model(x, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses[name].append(float(loss))
    assert losses["compiled"] == pytest.approx(losses["eager"], abs=1e-4)
    assert losses["eager"][-1] < losses["eager"][0]  # it trained
    for p, q in zip(eager.parameters(), compiled.parameters()):
        torch.testing.assert_close(p, q, atol=1e-4, rtol=1e-4)


def test_sampling_with_temperature_and_top_k_follows_the_tempered_top_k_softmax():
    """temperature 0.7, top_k 3: each sample is one of the 3 largest logits, drawn with
    probability softmax(top3(z) / 0.7), checked per prompt within 4 binomial sigmas."""
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=8, block_size=4, n_layer=1, n_head=2, d_model=16)).eval()
    with torch.no_grad():
        model.tok_emb.weight.normal_(0.0, 0.15)  # logits spread over ~2.5 nats, not the init's ~0.05
    n, tau, k = 5000, 0.7, 3
    prompt = torch.arange(4).repeat_interleave(n)[:, None]  # 4 distinct one-token prompts, n rows each
    out, logits = model.generate(prompt, 1, temperature=tau, top_k=k, return_logits=True,
                                 generator=torch.Generator().manual_seed(0))
    assert out.shape == (4 * n, 2) and torch.equal(out[:, 0], prompt[:, 0])
    with torch.no_grad():
        z = model(prompt)[0][:, -1]  # (4n, V) logits of the same model on the prompts
    torch.testing.assert_close(logits[:, 0], z)  # the returned logits are the untempered ones
    nxt = out[:, 1]
    top = torch.topk(z.double(), k, dim=-1)
    assert (top.indices == nxt[:, None]).any(-1).all()  # every sample lies in the top 3
    for j in range(4):
        rows = slice(j * n, (j + 1) * n)
        idx, vals = top.indices[j * n], top.values[j * n]
        counts = torch.bincount(nxt[rows], minlength=8).double()[idx]
        for t, must_fit in ((tau, True), (1.0, False)):
            p = torch.softmax(vals / t, 0)
            z_scores = (counts - n * p) / torch.sqrt(n * p * (1 - p))
            if must_fit:
                assert z_scores.abs().max() < 4, (j, counts, n * p)
            else:  # the design can tell tau = 0.7 from no temperature at all
                assert z_scores.abs().max() > 8, (j, counts, n * p)
