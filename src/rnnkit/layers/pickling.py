"""What a pickled drop-in holds, for ``torch.load``'s weights-only unpickler.

``torch.save(model)`` pickles whole modules. Since torch 2.6 ``torch.load`` is weights-only
by default and refuses any class it was not told about; scripts allow-list torch's classes
(pytorch/examples' ``word_language_model`` lists ``torch.nn.modules.rnn.LSTM``, ``GRU``
and ``RNN``), so a drop-in must not need more than the module it replaces:

- ``rnnkit.LSTM``/``GRU``/``RNN`` given only torch's options pickle as ``torch.nn.LSTM``/
  ``GRU``/``RNN``: torch's attributes and parameters, none of rnnkit's (:func:`reduce_drop_in`).
  The load gives that torch module, which computes what the drop-in computed (it ran torch's
  kernel); lost are rnnkit's class and its ``forward(..., lengths=)``.
- With any rnnkit option (``fused``, ``weight_drop``, ``zoneout``, ``cell``, ...), and for
  :class:`FusedLSTM` or a user's subclass, a drop-in pickles as its own class with every
  option; on the generic path also its template (the :class:`Stacked` of :class:`Recurrent`
  / :class:`Bidirectional` layers and their cells, which own no tensors), its regularizers
  and its ``cell`` factory (a class or a ``functools.partial``). A weights-only load needs
  :func:`safe_globals`; without it torch refuses, naming the rnnkit class.
"""

from __future__ import annotations

import functools
import inspect
from types import ModuleType
from typing import Any

from torch import nn

import rnnkit.cells
import rnnkit.regularizers

#: torch modules that rnnkit's cells and layers hold as submodules, and those a drop-in
#: given only torch's options pickles as.
_TORCH_MODULES = [nn.ModuleList, nn.LayerNorm, nn.Linear, nn.LSTM, nn.GRU, nn.RNN]

#: The torch classes the drop-ins stand for.
_STAND_INS = (nn.LSTM, nn.GRU, nn.RNN)


def torch_twin(module: nn.Module) -> type | None:
    """The torch class ``module`` pickles as, or None to pickle as its own class.

    Only ``rnnkit.LSTM``/``GRU``/``RNN`` themselves (a subclass such as :class:`FusedLSTM`
    keeps its class) with no rnnkit option set: their state is then exactly torch's.
    """
    twin = type(module).__bases__[-1]  # rnnkit.GRU(DropIn, nn.GRU): nn.GRU
    return twin if twin in _STAND_INS and module._torch_only else None


def _placeholder_args(twin: type) -> tuple:
    """Positional arguments that build a 1x1 ``twin`` on the meta device.

    It draws nothing from torch's random stream and allocates nothing; ``__setstate__``
    then replaces all of it (sizes, options, parameters) with the pickled state.
    """
    nonlinearity = ("tanh",) if twin is nn.RNN else ()  # nn.RNN's fourth argument
    # input_size, hidden_size, num_layers, [nonlinearity,] bias, batch_first, dropout,
    # bidirectional, proj_size, device
    return (1, 1, 1, *nonlinearity, True, False, 0.0, False, 0, "meta")


def reduce_drop_in(module: nn.Module, protocol: Any) -> tuple:
    """``__reduce_ex__`` of a drop-in: torch's class and torch's attributes where it can.

    The stand-in is ``twin(*placeholder)`` then ``__setstate__(torch's state)``: a weights-
    only unpickler calls an allow-listed class, while pickle's ``__newobj__`` would insist
    on the object's own class.
    """
    twin = torch_twin(module)
    if twin is None:
        return object.__reduce_ex__(module, protocol)  # nn.Module's: by its own class
    state = module.__getstate__()  # RNNBase's: the __dict__ without weak references
    for name in module._rnnkit_attributes:
        del state[name]
    return twin, _placeholder_args(twin), state


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
    regularizers), the torch classes a drop-in with only torch's options pickles as, and
    ``functools.partial`` for a ``cell=partial(...)`` factory; the classes of the user's
    own model (and torch modules other than ``ModuleList``, ``LayerNorm``, ``Linear``,
    ``LSTM``, ``GRU`` and ``RNN``) are the user's to add.
    """
    from rnnkit.layers.bidirectional import Bidirectional  # the drop-ins import this module
    from rnnkit.layers.recurrent import Recurrent
    from rnnkit.layers.rnn import GRU, LSTM, RNN, FusedLSTM
    from rnnkit.layers.stacked import Stacked

    layers = [LSTM, GRU, RNN, FusedLSTM, Stacked, Recurrent, Bidirectional]
    cells = _module_classes(rnnkit.cells)
    regularizers = _module_classes(rnnkit.regularizers)
    return [*layers, *cells, *regularizers, *_TORCH_MODULES, functools.partial]
