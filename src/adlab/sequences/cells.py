"""The recurrent cells of lecture 6, re-exported from :mod:`adlab.nn.recurrent` (where other lectures share them)."""

from adlab.nn.recurrent import (
    GRUCell,
    LSTMCell,
    RNN,
    RNNCell,
    cell_from_torch,
    cell_to_torch,
    copy_weights,
)

__all__ = ["RNNCell", "LSTMCell", "GRUCell", "RNN", "cell_to_torch", "cell_from_torch", "copy_weights"]
