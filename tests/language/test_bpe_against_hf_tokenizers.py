"""Our byte-level BPE against Hugging Face's `tokenizers` trained on the same text (skipped if it
does not import): the same merges up to tie-breaking, and the same compression."""

import json

import pytest

from adlab.data import shakespeare
from adlab.language.tokenizers import BPETokenizer

hf = pytest.importorskip("tokenizers")

N_MERGES = 300


def _gpt2_byte_decoder() -> dict[str, int]:
    """The printable stand-in character of each byte used by byte-level BPE, inverted (char -> byte)."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars = keep[:]
    n = 0
    for b in range(256):
        if b not in keep:
            keep.append(b)
            chars.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(keep, chars)}


@pytest.fixture(scope="module")
def trained():
    text = shakespeare.load("train")[:300_000]
    ours = BPETokenizer.train(text, 256 + N_MERGES)
    tok = hf.Tokenizer(hf.models.BPE())
    tok.pre_tokenizer = hf.pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    trainer = hf.trainers.BpeTrainer(vocab_size=256 + N_MERGES, min_frequency=2, show_progress=False,
                                     initial_alphabet=hf.pre_tokenizers.ByteLevel.alphabet(), special_tokens=[])
    tok.train_from_iterator([text], trainer)
    return ours, tok


def test_merges_agree_with_hf_up_to_ties(trained):
    ours, tok = trained
    dec = _gpt2_byte_decoder()
    merges = json.loads(tok.to_str())["model"]["merges"]
    pairs = [m.split(" ") if isinstance(m, str) else m for m in merges]
    theirs = [bytes(dec[c] for c in a + b) for a, b in pairs]
    assert len(theirs) == len(ours.vocab) - 256 == N_MERGES
    mine = ours.vocab[256:]
    assert mine[:20] == theirs[:20]  # the most frequent merges have no ties
    assert len(set(mine) & set(theirs)) / N_MERGES >= 0.95


def test_compression_matches_hf_on_held_out_text(trained):
    ours, tok = trained
    held = shakespeare.load("val")[:50_000]
    n_ours, n_hf = len(ours.encode(held)), len(tok.encode(held).ids)
    assert abs(n_ours - n_hf) / n_hf <= 0.02
    assert ours.decode(ours.encode(held)) == held
