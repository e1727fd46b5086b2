"""rnnkit: recurrent neural networks on PyTorch."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rnnkit.layers import GRU, LSTM, RNN

__version__ = "0.1.0"

__all__ = ["GRU", "LSTM", "RNN", "__version__", "load", "safe_globals"]


def __getattr__(name: str) -> Any:
    """The drop-in layers load torch on first use, so ``rnnkit.reference`` stays NumPy-only."""
    if name in ("GRU", "LSTM", "RNN"):
        return getattr(importlib.import_module("rnnkit.layers"), name)
    raise AttributeError(f"module 'rnnkit' has no attribute {name!r}")


def load(directory: str | Path, *, map_location: str = "cpu") -> Any:
    """Load any rnnkit model directory (``config.json`` + ``model.safetensors``).

    The ``format`` in ``config.json`` picks the model class; see :func:`rnnkit.checkpoint.load`.
    """
    from rnnkit.checkpoint import load as load_model  # imports the tasks only when asked

    return load_model(directory, map_location=map_location)


def safe_globals() -> list:
    """The classes ``torch.load`` (weights only) needs for a pickled model with rnnkit drop-ins.

    Use ``with torch.serialization.safe_globals([*your_classes, *rnnkit.safe_globals()])``;
    see :func:`rnnkit.layers.pickling.safe_globals`.
    """
    from rnnkit.layers.pickling import safe_globals as drop_in_globals  # imports torch

    return drop_in_globals()
