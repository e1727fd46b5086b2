"""The language model as a step function: tokens and state in, log-probabilities and state out."""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from rnnkit.export.graph import Graph


class LanguageModelStep(nn.Module):
    """``(tokens (B,), h (L, B, H)[, c]) -> (log_probs (B, V), h, [c])``: one ``model.step``.

    One step needs no loop over time in the graph, so every path of the model exports: the
    native kernel and rnnkit's generic loop (zoneout in eval mode, ...) alike.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = copy.deepcopy(model).eval()

    def forward(self, tokens: Tensor, h: Tensor, c: Tensor | None = None) -> tuple[Tensor, ...]:
        log_probs, state = self.model.step(tokens, h if c is None else (h, c))
        return (log_probs, *state) if isinstance(state, tuple) else (log_probs, state)


def language_model_graphs(model: nn.Module) -> list[Graph]:
    """One file: the step function, dynamic in the batch."""
    config, B = model.config, 2
    state = ["h", "c"] if config.cell == "lstm" else ["h"]
    zeros = torch.zeros(config.num_layers, B, config.hidden_size)
    tokens = torch.zeros(B, dtype=torch.long)
    dynamic: dict[str, dict[int, str]] = {"tokens": {0: "B"}, "log_probs": {0: "B"}}
    for name in state:
        dynamic[name] = dynamic[f"{name}_out"] = {1: "B"}
    return [
        Graph(
            LanguageModelStep(model),
            (tokens, *[zeros] * len(state)),
            ["tokens", *state],
            ["log_probs", *[f"{n}_out" for n in state]],
            dynamic,
        )
    ]
