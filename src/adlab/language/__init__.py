"""Lecture 7, deep learning for NLP.

Modules:

- :mod:`adlab.language.tokenizers`: characters, words with a frequency cut, byte-level BPE.
- :mod:`adlab.language.word2vec`: skip-gram with negative sampling, nearest neighbours, analogies.
- :mod:`adlab.language.procrustes`: orthogonal map between two embedding spaces, translation accuracy.
- :mod:`adlab.language.gpt`: GPT-style decoder language model with KV-cache generation.
- :mod:`adlab.language.bert`: BERT-style encoder, masked LM (80/10/10), next-sentence prediction, fine-tuning.

The attention, transformer blocks and position encodings they are built from
live in :mod:`adlab.nn` (``attention``, ``transformer``, ``positions``).
"""
