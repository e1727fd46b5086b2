"""rnnkit: recurrent neural networks on PyTorch."""

from rnnkit.layers import GRU, LSTM, RNN

__version__ = "0.1.0"

__all__ = ["GRU", "LSTM", "RNN", "__version__"]
