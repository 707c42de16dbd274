"""adlab: the Advanced Deep Learning curriculum as a PyTorch library.

Public import paths are ``adlab.<lecture>.<name>`` (for example
``adlab.foundations.models``); the command-line tool is ``adlab``.
"""

__version__ = "0.1.0"
