"""Regularizers for recurrent networks: explicit objects that own their masks.

Each has ``reset()`` (the next use draws new masks; :class:`rnnkit.layers.Recurrent`
calls it at the start of every forward) and is the identity in eval mode.
"""

from rnnkit.regularizers.activation import activation_penalty
from rnnkit.regularizers.embedding_dropout import EmbeddingDropout
from rnnkit.regularizers.recurrent_dropout import RecurrentDropout
from rnnkit.regularizers.variational import VariationalDropout
from rnnkit.regularizers.weight_drop import WeightDrop
from rnnkit.regularizers.zoneout import Zoneout

__all__ = [
    "EmbeddingDropout", "RecurrentDropout", "VariationalDropout", "WeightDrop", "Zoneout",
    "activation_penalty",
]
