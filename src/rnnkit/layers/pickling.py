"""What a pickled drop-in holds, for ``torch.load``'s weights-only unpickler.

``torch.save(model)`` pickles whole modules. A drop-in on the native path pickles only its
own class; one on the generic path also pickles its template (the :class:`Stacked` of
:class:`Recurrent` / :class:`Bidirectional` layers and their cells, which own no tensors),
its regularizers and its ``cell`` factory (a class or a ``functools.partial``). Since torch
2.6 ``torch.load`` is weights-only by default and refuses any class it was not told about.
"""

from __future__ import annotations

import functools
import inspect
from types import ModuleType

from torch import nn

import rnnkit.cells
import rnnkit.regularizers
from rnnkit.layers.bidirectional import Bidirectional
from rnnkit.layers.recurrent import Recurrent
from rnnkit.layers.rnn import GRU, LSTM, RNN, FusedLSTM
from rnnkit.layers.stacked import Stacked

#: torch modules that rnnkit's cells and layers hold as submodules.
_TORCH_MODULES = [nn.ModuleList, nn.LayerNorm, nn.Linear]


def _module_classes(package: ModuleType) -> list[type]:
    """The ``nn.Module`` classes a package exports (cells, regularizers)."""
    found = (getattr(package, name) for name in package.__all__)
    return [obj for obj in found if inspect.isclass(obj) and issubclass(obj, nn.Module)]


def safe_globals() -> list:
    """Everything a pickled ``rnnkit.LSTM``/``GRU``/``RNN`` needs to load with weights only.

    Example:
        >>> torch.save(model, "model.pt")  # a model holding rnnkit drop-ins
        >>> with torch.serialization.safe_globals([MyModel, nn.Embedding, *rnnkit.safe_globals()]):
        ...     model = torch.load("model.pt")

    The list covers the drop-ins on every path (native, generic, any rnnkit cell, the
    regularizers) and ``functools.partial`` for a ``cell=partial(...)`` factory; the
    classes of the user's own model (and torch modules other than ``ModuleList``,
    ``LayerNorm`` and ``Linear``) are the user's to add.
    """
    layers = [LSTM, GRU, RNN, FusedLSTM, Stacked, Recurrent, Bidirectional]
    cells = _module_classes(rnnkit.cells)
    regularizers = _module_classes(rnnkit.regularizers)
    return [*layers, *cells, *regularizers, *_TORCH_MODULES, functools.partial]
