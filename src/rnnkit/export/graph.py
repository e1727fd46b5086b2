"""What one ONNX file holds: a module, example inputs, names and dynamic axes."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import torch.utils._pytree as pytree
from torch import Tensor, nn

from rnnkit.export.generic import prepare_generic
from rnnkit.export.padded import PaddedRecurrent, is_native


@dataclass
class Graph:
    """One file's worth: ``module(*inputs)`` -> a tuple of tensors named ``output_names``.

    ``dynamic`` maps an input or output name to its dynamic axes ({dim: name}); ``suffix``
    ("encoder", "decoder") joins the file name when a model needs more than one file.
    """

    module: nn.Module
    inputs: tuple[Tensor, ...]
    input_names: list[str]
    output_names: list[str]
    dynamic: dict[str, dict[int, str]] = field(default_factory=dict)
    suffix: str = ""


def with_padded_layers(model: nn.Module, names: list[str]) -> nn.Module:
    """A copy of ``model`` whose recurrent layers ``names`` (dotted paths) export with lengths.

    A native layer becomes ONNX recurrent nodes with ``sequence_lens``
    (:class:`PaddedRecurrent`); one on rnnkit's generic path gets scripted time loops
    (:func:`~rnnkit.export.generic.prepare_generic`).
    """
    model = copy.deepcopy(model).eval()
    for name in names:
        owner, _, leaf = name.rpartition(".")
        parent = model.get_submodule(owner) if owner else model
        layer = getattr(parent, leaf)
        if is_native(layer):
            setattr(parent, leaf, PaddedRecurrent(layer, f"{type(model).__name__}.{name}"))
        else:
            prepare_generic(layer)
    return model


class FlatState:
    """A nested state (NamedTuples, tensors, None) <-> its tensors, named by their field path."""

    def __init__(self, example: Any) -> None:
        flat, self.spec = pytree.tree_flatten_with_path(example)
        self.slots = [i for i, (_, leaf) in enumerate(flat) if isinstance(leaf, Tensor)]
        self.size = len(flat)
        self.names = [_path_name(flat[i][0]) for i in self.slots]

    def flatten(self, state: Any) -> list[Tensor]:
        leaves = pytree.tree_leaves(state)
        return [leaves[i] for i in self.slots]

    def unflatten(self, tensors: list[Tensor]) -> Any:
        leaves: list[Any] = [None] * self.size
        for i, t in zip(self.slots, tensors, strict=True):
            leaves[i] = t
        return pytree.tree_unflatten(leaves, self.spec)


def _path_name(path: tuple) -> str:
    """(GetAttrKey('cell'), GetAttrKey('h')) -> "cell.h"."""
    return ".".join(str(getattr(k, "name", getattr(k, "idx", k))) for k in path)
