"""Seq2seq: decoding (greedy, beam) and the generated tasks."""

import datetime as dt
import itertools
import math

import pytest
import torch

from adlab.nn.recurrent import copy_weights
from adlab.sequences.seq2seq import (
    BOS_ID,
    DATE_ALPHABET,
    EOS_ID,
    PAD_ID,
    Seq2Seq,
    beam_search,
    beam_search_steps,
    date_pairs,
    greedy_decode,
    greedy_steps,
    make_batch,
    reverse_pairs,
    seq2seq_loss,
    sort_pairs,
    task_vocab,
)

# ---- a hand-built decoder where greedy decoding is not optimal
# tokens: 0 = a, 1 = b, 2 = <eos>. First step: a 0.6, b 0.4. After a: a 0.55, b 0.45.
# After b: a 0.9, b 0.1. After two tokens: <eos> for sure. Greedy: "aa" (0.33); best: "ba" (0.36).
A, B_, E = 0, 1, 2
EPS = 1e-9
TABLE = {
    (): [0.6, 0.4, EPS],
    (A,): [0.55, 0.45, EPS],
    (B_,): [0.9, 0.1, EPS],
}


def table_step(tokens, state):
    """state (1, N, t): the prefix of each beam (batch on dim 1, like torch's RNN states)."""
    prefixes = [tuple(int(x) for x in row) for row in state[0]]
    new_prefixes = [p if t == -1 else p + (int(t),) for p, t in zip(prefixes, tokens.tolist())]
    rows = [TABLE.get(p, [EPS, EPS, 1.0]) for p in new_prefixes]
    logp = torch.log(torch.tensor(rows, dtype=torch.float64))
    logp = logp - torch.logsumexp(logp, -1, keepdim=True)
    width = max(len(p) for p in new_prefixes)
    new_state = torch.tensor([list(p) + [0] * (width - len(p)) for p in new_prefixes], dtype=torch.long)[None]
    return logp, new_state


def start_state():
    return torch.zeros(1, 1, 0, dtype=torch.long)


BOS_TABLE = -1  # the table decoder ignores the <bos> token


def brute_force_best(max_len=3):
    best, best_lp = None, -math.inf
    for L in range(1, max_len + 1):
        for seq in itertools.product([A, B_, E], repeat=L):
            if E in seq[:-1]:
                continue
            lp, prefix = 0.0, ()
            for t in seq:
                p = TABLE.get(prefix, [EPS, EPS, 1.0])
                lp += math.log(p[t] / sum(p))
                prefix += (t,)
            if seq[-1] == E and lp > best_lp:
                best, best_lp = list(seq[:-1]), lp
    return best, best_lp


def test_beam_finds_the_argmax_where_greedy_does_not():
    best, best_lp = brute_force_best()
    assert best == [B_, A]
    greedy = greedy_steps(table_step, start_state(), BOS_TABLE, E, max_len=5)
    assert greedy == [[A, A]]
    hyps = beam_search_steps(table_step, start_state(), BOS_TABLE, E, beam_width=2, max_len=5)
    assert hyps[0].tokens == best and hyps[0].finished
    assert math.isclose(hyps[0].log_prob, best_lp, rel_tol=1e-9)
    assert math.isclose(hyps[0].score, best_lp / 3, rel_tol=1e-9)  # length 3 counting <eos>
    # width 1 is greedy
    assert beam_search_steps(table_step, start_state(), BOS_TABLE, E, beam_width=1, max_len=5)[0].tokens == greedy[0]


def _model(fast=True, seed=0):
    torch.manual_seed(seed)
    return Seq2Seq(12, 9, d_embed=8, d_hidden=16, num_layers=2, fast=fast).eval()


def test_beam_width_one_equals_greedy_on_a_random_model():
    model = _model()
    g = torch.Generator().manual_seed(0)
    for _ in range(6):
        src = torch.randint(4, 12, (int(torch.randint(1, 8, (1,), generator=g)),), generator=g)
        greedy = greedy_decode(model, src[None], max_len=12)[0]
        hyp = beam_search(model, src, beam_width=1, max_len=12)[0]
        assert hyp.tokens == greedy
        wide = beam_search(model, src, beam_width=5, max_len=12)
        assert len(wide) <= 5 and [h.score for h in wide] == sorted((h.score for h in wide), reverse=True)


def test_teacher_forcing_equals_stepwise_decoding_and_padding_is_ignored():
    model = _model()
    src = torch.tensor([[5, 6, 7, PAD_ID], [8, 9, 10, 11]])
    lengths = torch.tensor([3, 4])
    tgt_in = torch.tensor([[BOS_ID, 4, 5], [BOS_ID, 6, 7]])
    logits = model(src, tgt_in, lengths)
    assert logits.shape == (2, 3, 9)
    # the padded source gives the same result as the unpadded one alone
    alone = model(src[:1, :3], tgt_in[:1])
    torch.testing.assert_close(logits[:1], alone, rtol=1e-5, atol=1e-5)
    # teacher forcing = feeding the true tokens one step at a time
    state = model.encode(src, lengths)
    for t in range(3):
        logp, state = model.decode_step(tgt_in[:, t], state)
        torch.testing.assert_close(logp, torch.log_softmax(logits[:, t], -1), rtol=1e-5, atol=1e-5)


def test_fast_and_slow_seq2seq_agree():
    fast, slow = _model(fast=True), _model(fast=False)
    slow.load_state_dict({k: v for k, v in fast.state_dict().items() if "coder." not in k}, strict=False)
    copy_weights(fast.encoder, slow.encoder)
    copy_weights(fast.decoder, slow.decoder)
    src = torch.randint(4, 12, (3, 5))
    tgt = torch.randint(4, 9, (3, 4))
    torch.testing.assert_close(fast(src, tgt), slow(src, tgt), rtol=1e-5, atol=1e-5)


def _parse_source(s):
    """Every way datetime can read s with the task's formats: they must all agree."""
    dates = set()
    for fmt in ("%d %B %Y", "%d/%m/%y", "%B %d, %Y", "%d %b %Y", "%d.%m.%Y", "%d/%m/%Y"):
        try:
            dates.add(dt.datetime.strptime(s, fmt).date())
        except ValueError:
            pass
    return dates


def test_date_task_is_correct_and_deterministic():
    pairs = date_pairs(2000, torch.Generator().manual_seed(0))
    assert pairs == date_pairs(2000, torch.Generator().manual_seed(0))
    assert pairs != date_pairs(2000, torch.Generator().manual_seed(1))
    styles = set()
    for src, tgt in pairs:
        target = dt.datetime.strptime(tgt, "%Y-%m-%d").date()
        assert _parse_source(src) == {target}, (src, tgt)
        assert dt.date(1970, 1, 1) <= target <= dt.date(2049, 12, 31)
        assert set(src) <= set(DATE_ALPHABET)
        styles.add("/" in src and len(src) == 8)
    assert styles == {True, False}  # all formats occur, including the two-digit years


def test_reverse_and_sort_tasks():
    g = torch.Generator().manual_seed(0)
    for s, t in reverse_pairs(50, g, min_len=2, max_len=6):
        assert t == s[::-1] and 2 <= len(s) <= 6
    for s, t in sort_pairs(50, g):
        assert t == "".join(sorted(s))
    assert reverse_pairs(5, torch.Generator().manual_seed(3)) == reverse_pairs(5, torch.Generator().manual_seed(3))


def test_make_batch_and_loss():
    v = task_vocab(DATE_ALPHABET)
    pairs = [("3 March 2021", "2021-03-03"), ("03/03/21", "2021-03-03")]
    batch = make_batch(pairs, v, v)
    assert batch.src.shape == (2, 12) and batch.src_lengths.tolist() == [12, 8]
    assert batch.src[1, 8:].eq(PAD_ID).all()
    assert batch.tgt_in[0, 0] == BOS_ID and batch.tgt_out[0, -1] == EOS_ID
    assert v.decode(batch.tgt_out[0, :-1]) == "2021-03-03"
    torch.testing.assert_close(batch.tgt_in[:, 1:], batch.tgt_out[:, :-1])
    model = Seq2Seq(len(v), len(v), 8, 16)
    loss = seq2seq_loss(model(batch.src, batch.tgt_in, batch.src_lengths), batch.tgt_out)
    assert loss.ndim == 0 and math.isfinite(loss.item())
    with pytest.raises(ValueError, match="specials"):
        from adlab.sequences.text import CharVocab

        make_batch(pairs, CharVocab(DATE_ALPHABET), v)


def test_seq2seq_learns_to_reverse():
    """A smoke-sized training run: teacher forcing learns reversal of short strings."""
    torch.manual_seed(0)
    alphabet = "abcd"
    v = task_vocab(alphabet)
    model = Seq2Seq(len(v), len(v), d_embed=16, d_hidden=64)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(0)
    for _ in range(120):
        batch = make_batch(reverse_pairs(32, g, alphabet, 2, 4), v, v)
        loss = seq2seq_loss(model(batch.src, batch.tgt_in, batch.src_lengths), batch.tgt_out)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    test = reverse_pairs(100, torch.Generator().manual_seed(99), alphabet, 2, 4)
    batch = make_batch(test, v, v)
    outs = greedy_decode(model, batch.src, batch.src_lengths, max_len=8)
    acc = sum(v.decode(o) == t for o, (_, t) in zip(outs, test)) / len(test)
    assert acc > 0.95
    assert v.decode(beam_search(model, v.encode_tensor("abcd"), beam_width=3)[0].tokens) == "dcba"
