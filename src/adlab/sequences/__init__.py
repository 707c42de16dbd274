"""Lecture 6: sequences and recurrent networks.

Modules (import them by name, e.g. ``from adlab.sequences.ngram import KneserNeyLM``):

- ``cells``: vanilla RNN, LSTM and GRU cells from the lecture's equations, and the
  multi-layer unroller (re-exported from :mod:`adlab.nn.recurrent`);
- ``text``: character and word vocabularies, contiguous batches for truncated BPTT;
- ``ngram``: add-k unigram and interpolated Kneser-Ney n-gram language models, and a
  synthetic Markov source with a known entropy rate;
- ``ngram_fast``: every Kneser-Ney order at once over sorted integer keys (equal to ``ngram``);
- ``lm``: recurrent language models, sampling with temperature and top-k, bits per token;
- ``seq2seq``: LSTM encoder-decoder, teacher forcing, greedy and beam decoding, date /
  reversal / sorting tasks;
- ``pixelcnn``: masked convolutions, PixelCNN and gated PixelCNN over binary images;
- ``wavenet``: dilated causal convolutions, gated residual blocks, mu-law companding;
- ``experiments`` (with ``exp_gradients``, ``exp_lm``, ``exp_generative``): the registered claims.
"""
