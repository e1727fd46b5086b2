"""rnnkit: recurrent neural networks on PyTorch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rnnkit.layers import GRU, LSTM, RNN

__version__ = "0.1.0"

__all__ = ["GRU", "LSTM", "RNN", "__version__", "load"]


def load(directory: str | Path, *, map_location: str = "cpu") -> Any:
    """Load any rnnkit model directory (``config.json`` + ``model.safetensors``).

    The ``format`` in ``config.json`` picks the model class; see :func:`rnnkit.checkpoint.load`.
    """
    from rnnkit.checkpoint import load as load_model  # imports the tasks only when asked

    return load_model(directory, map_location=map_location)
