"""Lecture 7, deep learning for NLP.

Modules:

- :mod:`adlab.language.tokenizers`: characters, words with a frequency cut, byte-level BPE.
- :mod:`adlab.language.word2vec`: skip-gram with negative sampling, nearest neighbours, analogies.
- :mod:`adlab.language.procrustes`: orthogonal map between two embedding spaces, translation accuracy.
- :mod:`adlab.language.gpt`: GPT-style decoder language model with KV-cache generation.
- :mod:`adlab.language.bert`: BERT-style encoder, masked LM (80/10/10), next-sentence prediction, fine-tuning.
- :mod:`adlab.language.charlm`: character windows, the parameter-matched LSTM baseline, bits per character.
- :mod:`adlab.language.corpus`: spoken lines, next-sentence pairs, play passages, the senses of "will".
- :mod:`adlab.language.loop`: the step-counted, checkpointed training loop of the experiments.
- :mod:`adlab.language.probes`: gradient-path Jacobian norms, attention weights, cluster purity.
- :mod:`adlab.language.experiments`: the registered claims (``language.*``).

The attention, transformer blocks and position encodings they are built from
live in :mod:`adlab.nn` (``attention``, ``transformer``, ``positions``).
"""
