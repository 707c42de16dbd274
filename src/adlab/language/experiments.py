"""Registered claims of lecture 7, deep learning for NLP.

The experiments live in three modules, imported here so that the catalog registers them all:

- :mod:`adlab.language.experiments_lm`: ``language.gpt-char``, ``language.gradient-path``,
  ``language.attention-maps``;
- :mod:`adlab.language.experiments_bert`: ``language.bert-finetune``, ``language.contextual-senses``;
- :mod:`adlab.language.experiments_word2vec`: ``language.word2vec``.
"""

from adlab.language import experiments_lm  # noqa: F401
from adlab.language import experiments_bert  # noqa: F401
from adlab.language import experiments_word2vec  # noqa: F401
