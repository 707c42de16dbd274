"""BERT-style encoder: 80/10/10 masking, MLM loss at init, NSP and fine-tuning heads."""

import math

import pytest
import torch

from adlab.language.bert import (
    BertClassifier,
    BertConfig,
    BertEncoder,
    BertForPretraining,
    mask_tokens,
    pack_pair,
)

PAD, UNK, CLS, SEP, MASK = 0, 1, 2, 3, 4
SPECIAL = (PAD, UNK, CLS, SEP, MASK)
V = 60


def _batch(B=400, T=250, seed=0):
    """Sequences [CLS] ... [SEP] ... [SEP] [PAD]... of ordinary tokens 5..V-1 (100k positions by default)."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, V, (B, T), generator=g)
    ids[:, 0], ids[:, T // 2], ids[:, -20] = CLS, SEP, SEP
    ids[:, -19:] = PAD
    return ids


def test_masking_statistics_follow_the_15_80_10_10_rule():
    ids = _batch()
    corrupted, labels = mask_tokens(ids, MASK, V, SPECIAL, torch.Generator().manual_seed(1))
    ordinary = ~torch.isin(ids, torch.tensor(SPECIAL))
    selected = labels != -100
    n_sel = selected.sum().item()
    assert abs(n_sel / ordinary.sum().item() - 0.15) < 0.005
    masked = (corrupted == MASK) & selected
    kept = (corrupted == ids) & selected
    replaced = selected & ~masked & ~kept
    # a random replacement equals the original with probability 1/55, counted as "kept"
    p_same = 1 / (V - len(SPECIAL))
    assert abs(masked.sum().item() / n_sel - 0.80) < 0.015
    assert abs(replaced.sum().item() / n_sel - 0.10 * (1 - p_same)) < 0.015
    assert abs(kept.sum().item() / n_sel - (0.10 + 0.10 * p_same)) < 0.015
    # random replacements are ordinary tokens, spread over the vocabulary
    assert not torch.isin(corrupted[replaced], torch.tensor(SPECIAL)).any()
    assert len(torch.unique(corrupted[replaced])) == V - len(SPECIAL)


def test_special_tokens_are_never_selected_and_labels_are_minus_100_elsewhere():
    ids = _batch(B=100)
    corrupted, labels = mask_tokens(ids, MASK, V, SPECIAL, torch.Generator().manual_seed(2))
    special = torch.isin(ids, torch.tensor(SPECIAL))
    assert torch.equal(corrupted[special], ids[special])
    assert (labels[special] == -100).all()
    selected = labels != -100
    assert torch.equal(labels[selected], ids[selected])
    assert torch.equal(corrupted[~selected], ids[~selected])  # unselected tokens are untouched


def test_masking_is_reproducible_with_a_generator():
    ids = _batch(B=10)
    a = mask_tokens(ids, MASK, V, SPECIAL, torch.Generator().manual_seed(3))
    b = mask_tokens(ids, MASK, V, SPECIAL, torch.Generator().manual_seed(3))
    assert all(torch.equal(x, y) for x, y in zip(a, b))


def test_pack_pair():
    ids, seg = pack_pair([10, 11], [12], CLS, SEP)
    assert ids == [CLS, 10, 11, SEP, 12, SEP]
    assert seg == [0, 0, 0, 0, 1, 1]


def _cfg(**kw):
    base = dict(vocab_size=V, max_len=32, n_layer=2, n_head=4, d_model=32, dropout=0.0)
    base.update(kw)
    return BertConfig(**base)


def test_mlm_loss_at_init_is_close_to_log_vocab():
    torch.manual_seed(0)
    cfg = _cfg(vocab_size=300)
    model = BertForPretraining(cfg).eval()
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 300, (16, 32), generator=g)
    ids[:, 0] = CLS
    corrupted, labels = mask_tokens(ids, MASK, 300, SPECIAL, g)
    out = model(corrupted, mlm_labels=labels, nsp_labels=torch.randint(0, 2, (16,), generator=g))
    assert out.mlm_logits.shape == (16, 32, 300) and out.nsp_logits.shape == (16, 2)
    assert abs(out.mlm_loss.item() - math.log(300)) < 0.1
    assert abs(out.nsp_loss.item() - math.log(2)) < 0.05
    torch.testing.assert_close(out.loss, out.mlm_loss + out.nsp_loss)


def test_mlm_head_is_tied_to_the_token_embedding():
    model = BertForPretraining(_cfg())
    n_tok = model.encoder.tok_emb.weight.numel()
    names = [n for n, p in model.named_parameters() if p.numel() == n_tok and p.dim() == 2]
    assert names == ["encoder.tok_emb.weight"]


def test_encoder_is_bidirectional_and_ignores_padding():
    torch.manual_seed(1)
    enc = BertEncoder(_cfg()).double().eval()
    ids = torch.tensor([[CLS, 7, 8, 9, SEP, PAD, PAD]])
    h = enc(ids)
    # changing a later token changes the first output (bidirectional)
    h2 = enc(torch.tensor([[CLS, 7, 8, 10, SEP, PAD, PAD]]))
    assert (h[0, 0] - h2[0, 0]).abs().max() > 1e-6
    # changing what sits in a padded slot changes nothing at the real positions
    h3 = enc(torch.tensor([[CLS, 7, 8, 9, SEP, PAD, 33]]), attention_mask=ids != PAD)
    torch.testing.assert_close(h3[0, :5], h[0, :5], rtol=1e-10, atol=1e-10)
    # segments matter
    h4 = enc(ids, segment_ids=torch.tensor([[0, 0, 0, 1, 1, 1, 1]]))
    assert not torch.allclose(h4[0, :5], h[0, :5])


@pytest.mark.parametrize("freeze", [False, True])
def test_fine_tuning_updates_all_weights_unless_frozen(freeze):
    torch.manual_seed(2)
    pre = BertForPretraining(_cfg())
    clf = BertClassifier(pre.encoder, n_classes=3, pooler=pre.pooler, freeze_encoder=freeze)
    before = {n: p.detach().clone() for n, p in clf.named_parameters()}
    opt = torch.optim.SGD([p for p in clf.parameters() if p.requires_grad], lr=0.1)
    ids = torch.randint(5, V, (8, 12))
    ids[:, 0] = CLS
    logits, loss = clf(ids, labels=torch.randint(0, 3, (8,)))
    assert logits.shape == (8, 3)
    loss.backward()
    opt.step()
    changed = {n for n, p in clf.named_parameters() if not torch.equal(p, before[n])}
    encoder = {n for n in before if n.startswith("encoder.")}
    # every encoder weight moves, except embedding rows of tokens absent from the batch (their gradient is 0)
    enc_changed = changed & encoder
    if freeze:
        assert not enc_changed
    else:
        assert enc_changed == encoder
    assert {"head.weight", "head.bias"} <= changed


def test_mean_pooling_ignores_padding():
    torch.manual_seed(3)
    enc = BertEncoder(_cfg()).double().eval()
    clf = BertClassifier(enc, n_classes=3, pooling="mean").double().eval()
    ids = torch.randint(5, V, (1, 6))
    ids[0, 0] = CLS
    padded = torch.cat([ids, torch.zeros(1, 3, dtype=torch.long)], dim=1)  # pad id 0
    logits, _ = clf(ids)
    logits_pad, _ = clf(padded)
    torch.testing.assert_close(logits, logits_pad)
    # and it is the head applied to the mean of the token vectors
    manual = clf.head(enc(ids).mean(1))
    torch.testing.assert_close(logits, manual)
    with pytest.raises(ValueError):
        BertClassifier(enc, n_classes=3, pooling="max")


def test_a_finished_pretraining_is_reused_exactly_and_mismatches_are_refused(tmp_path):
    from adlab.core import runner
    from adlab.core.errors import ConfigError

    runner.run("language.bert-finetune", preset="smoke", out=tmp_path / "finetune", device="cpu")
    own = runner.run("language.contextual-senses", preset="smoke", out=tmp_path / "own", device="cpu")
    reused = runner.run("language.contextual-senses", preset="smoke", out=tmp_path / "reused", device="cpu",
                        overrides={"pretrained": str(tmp_path / "finetune")})
    # pretraining is deterministic given its settings and seed: the reused encoder is the same one
    a, b = own.results["metrics"], reused.results["metrics"]
    assert {k: v for k, v in a.items() if k != "pretrain_seconds"} == {k: v for k, v in b.items() if k != "pretrain_seconds"}
    assert not (tmp_path / "reused" / "checkpoint" / "bert").exists()  # nothing was pretrained
    # and the loaded weights are the source's final checkpoint, not a fresh initialisation
    from adlab.core import checkpoint as ckpt
    from adlab.core.context import RunContext
    from adlab.core.registry import REGISTRY
    from adlab.language.experiments_bert import pretrain_bert

    cfg = REGISTRY.get("language.contextual-senses").config("smoke", {"pretrained": str(tmp_path / "finetune")})
    ctx = RunContext(out=tmp_path / "direct", experiment="test", preset="smoke", seed=0, device=torch.device("cpu"))
    model, _, run = pretrain_bert(cfg, ctx)
    saved, state = ckpt.load(tmp_path / "finetune" / "checkpoint" / "bert")
    assert run.steps == state["step"] == cfg.steps
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, saved[f"model.{k}"], rtol=0, atol=0)
    torch.manual_seed(0)
    fresh = type(model)(model.cfg)
    assert not torch.equal(fresh.encoder.tok_emb.weight, model.encoder.tok_emb.weight)
    with pytest.raises(ConfigError, match="d_model 16 there, 32 here"):
        runner.run("language.contextual-senses", preset="smoke", out=tmp_path / "x", device="cpu",
                   overrides={"pretrained": str(tmp_path / "finetune"), "d_model": 32})
    with pytest.raises(ConfigError, match="seed 0 there, 1 here"):
        runner.run("language.contextual-senses", preset="smoke", out=tmp_path / "y", device="cpu", seed=1,
                   overrides={"pretrained": str(tmp_path / "finetune")})
    with pytest.raises(ConfigError, match="no readable config.json"):
        runner.run("language.contextual-senses", preset="smoke", out=tmp_path / "z", device="cpu",
                   overrides={"pretrained": str(tmp_path / "missing")})
    assert not any((tmp_path / d).exists() for d in "xyz")  # refused runs leave no folder


def test_bf16_pretraining_on_the_cpu_follows_fp32_and_is_not_mixed_with_it(tmp_path):
    """``amp=True``: pretraining in bf16 autocast ends at the fp32 loss within bf16's precision, and a
    bf16 run refuses to reuse an fp32 pretraining (the encoders differ)."""
    from adlab.core import runner
    from adlab.core.errors import ConfigError

    loss = {}
    for amp in (False, True):
        r = runner.run("language.bert-finetune", preset="smoke", out=tmp_path / str(amp), device="cpu", overrides={"amp": amp})
        loss[amp] = r.results["metrics"]["pretrain_final_loss"]
    assert loss[True] == pytest.approx(loss[False], rel=0.02)
    assert loss[True] != loss[False]  # it did run in another precision
    with pytest.raises(ConfigError, match="amp False there, True here"):
        runner.run("language.contextual-senses", preset="smoke", out=tmp_path / "mixed", device="cpu",
                   overrides={"pretrained": str(tmp_path / "False"), "amp": True})
    assert not (tmp_path / "mixed").exists()
    # and with the default (fp32) the fp32 pretraining is reused
    runner.run("language.contextual-senses", preset="smoke", out=tmp_path / "reused", device="cpu",
               overrides={"pretrained": str(tmp_path / "False")})
    assert not (tmp_path / "reused" / "checkpoint" / "bert").exists()


def _perturbed(model, seed):
    """float64 eval copy with every parameter moved by N(0, 0.1^2): no zero biases, no near-uniform logits."""
    model = model.double().eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return model


def _padded_pairs(B=6, T=14, seed=0):
    """[CLS] A [SEP] B [SEP] [PAD]... with a different length (and so padding) in each row, and segment ids."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.full((B, T), PAD)
    segs = torch.zeros(B, T, dtype=torch.long)
    for i in range(B):
        n = T - 2 * i  # real tokens in row i: 14, 12, ..., 4
        ids[i, :n] = torch.randint(5, V, (n,), generator=g)
        ids[i, 0], ids[i, n // 2], ids[i, n - 1] = CLS, SEP, SEP
        segs[i, n // 2 + 1 : n] = 1
    assert (ids == PAD).any() and not (ids == PAD).all(-1).any()
    return ids, segs, g


@pytest.mark.parametrize("norm", ["pre", "post"])
def test_pretraining_loss_equals_the_models_loss(norm):
    from adlab.language.experiments_bert import pretraining_loss

    torch.manual_seed(4)
    model = _perturbed(BertForPretraining(_cfg(norm=norm, max_len=16)), seed=5)
    ids, segs, g = _padded_pairs()
    corrupted, labels = mask_tokens(ids, MASK, V, SPECIAL, g, select_prob=0.3)
    assert (labels != -100).sum() >= 5 and (labels[ids == PAD] == -100).all()
    nsp = torch.tensor([0, 1, 1, 0, 1, 0])
    out = model(corrupted, segs, mlm_labels=labels, nsp_labels=nsp)
    got = pretraining_loss(model, (corrupted, segs, labels, nsp))
    assert got.dtype == torch.float64
    torch.testing.assert_close(got, out.loss, rtol=1e-12, atol=1e-12)
    # and that loss is the closed form: mean CE over the selected positions + CE of the NSP logits
    sel = labels != -100
    mlm = -torch.log_softmax(out.mlm_logits[sel], -1).gather(1, labels[sel][:, None]).mean()
    nsp_ce = -torch.log_softmax(out.nsp_logits, -1).gather(1, nsp[:, None]).mean()
    torch.testing.assert_close(got, mlm + nsp_ce, rtol=1e-12, atol=1e-12)


def test_cls_pooling_reads_the_first_position():
    torch.manual_seed(6)
    enc = BertEncoder(_cfg(max_len=16))
    clf = _perturbed(BertClassifier(enc, n_classes=3, pooling="cls"), seed=7)
    ids, segs, _ = _padded_pairs()
    logits, _ = clf(ids, segs)
    with torch.no_grad():
        h = clf.encoder(ids, segs)
        expected = clf.head(clf.pooler(h[:, 0]))
        other = clf.head(clf.pooler(h[:, 1]))
    torch.testing.assert_close(logits, expected, rtol=1e-12, atol=1e-12)
    assert (logits - other).abs().max() > 1e-3  # another position would be told apart


def test_pretraining_heads_read_cls_for_nsp_and_every_position_for_mlm():
    torch.manual_seed(8)
    model = _perturbed(BertForPretraining(_cfg(max_len=16)), seed=9)
    ids, segs, _ = _padded_pairs()
    out = model(ids, segs)
    with torch.no_grad():
        h = model.encoder(ids, segs)  # (B, T, d)
        nsp = model.nsp_head(model.pooler(h[:, 0]))
        mlm = model.mlm_transform(h) @ model.encoder.tok_emb.weight.T + model.mlm_bias
        other = model.nsp_head(model.pooler(h[:, 1]))
    assert out.mlm_logits.shape == (6, 14, V) and out.nsp_logits.shape == (6, 2)
    torch.testing.assert_close(out.nsp_logits, nsp, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(out.mlm_logits, mlm, rtol=1e-12, atol=1e-12)
    assert (out.nsp_logits - other).abs().max() > 1e-3
    assert model.mlm_bias.abs().min() > 0  # the bias term is exercised


def test_new_classifier_layers_get_berts_initialisation_and_a_given_pooler_is_kept():
    torch.manual_seed(0)
    enc = BertEncoder(BertConfig(vocab_size=50, max_len=16, n_layer=1, n_head=2, d_model=256))
    fresh = BertClassifier(enc, n_classes=3, pooling="cls")
    for layer in (fresh.pooler[0], fresh.head):
        assert layer.weight.std().item() == pytest.approx(0.02, rel=0.1)  # torch's default would be ~0.036 at width 256
        assert torch.count_nonzero(layer.bias) == 0
    given = torch.nn.Sequential(torch.nn.Linear(256, 256), torch.nn.Tanh())
    w = given[0].weight.clone()
    assert torch.equal(BertClassifier(enc, n_classes=3, pooler=given).pooler[0].weight, w)
