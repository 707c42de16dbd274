"""Registered claims of the sequences lecture; the experiments live in three modules by theme.

- :mod:`adlab.sequences.exp_gradients`: ``vanishing-gradients`` (flagship), ``long-range``, ``cost-scaling``;
- :mod:`adlab.sequences.exp_lm`: ``char-lm``, ``samples``;
- :mod:`adlab.sequences.exp_generative`: ``seq2seq``, ``pixel-uncertainty``.
"""

from adlab.sequences import exp_generative, exp_gradients, exp_lm  # noqa: F401  (registers the experiments)
