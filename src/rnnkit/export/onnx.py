"""``rnnkit export --format onnx``: every model kind that ``rnnkit.load`` opens, as ONNX files.

Exporter: torch's TorchScript-based ``torch.onnx.export(..., dynamo=False)`` at opset
:data:`OPSET`. In torch 2.13 the dynamo exporter freezes the time axis of a bidirectional
``nn.LSTM`` (its output only accepts the example's length) and takes ~30 s per model, while
the TorchScript exporter maps recurrent layers onto ONNX's native ``LSTM``/``GRU``/``RNN``
operators with dynamic batch and time axes. Padded batches go through those operators'
``sequence_lens`` (:mod:`rnnkit.export.padded`), never through a PackedSequence; layers on
rnnkit's generic path (other cells, zoneout, residual connections) become an ONNX ``Loop`` over
the time steps (:mod:`rnnkit.export.generic`).
"""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from rnnkit.export.classifier import classifier_graphs
from rnnkit.export.ctc import ctc_graphs
from rnnkit.export.encoder_decoder import context_graphs, seq2seq_graphs
from rnnkit.export.generic import clear_loops, scripted_loops
from rnnkit.export.graph import Graph
from rnnkit.export.language_model import language_model_graphs
from rnnkit.export.padded import ExportError
from rnnkit.export.tagger import tagger_graphs
from rnnkit.export.traceable import traceable_generic_path

OPSET = 17
EXPORTER = f"torch.onnx.export(dynamo=False), opset {OPSET}"
#: model class name -> its graphs (one file, or encoder + decoder)
GRAPHS: dict[str, Callable[[nn.Module], list[Graph]]] = {
    "LanguageModel": language_model_graphs,
    "SequenceClassifier": classifier_graphs,
    "Tagger": tagger_graphs,
    "Seq2Seq": seq2seq_graphs,
    "ContextToSequence": context_graphs,
    "CTCRecognizer": ctc_graphs,
}


def model_graphs(model: nn.Module) -> list[Graph]:
    """The graphs that export ``model``; a clear error for a kind with none."""
    build = GRAPHS.get(type(model).__name__)
    if build is None:
        raise ExportError(
            f"{type(model).__name__} has no ONNX export (exported kinds: {', '.join(GRAPHS)}); "
            "the long-range benchmark models are experiments, not deployable models"
        )
    return build(model)


def graph_path(out: Path, graph: Graph) -> Path:
    """``model.onnx`` -> ``model.onnx`` or, for a part, ``model.encoder.onnx``."""
    if not graph.suffix:
        return out
    return out.with_name(f"{out.stem}.{graph.suffix}{out.suffix or '.onnx'}")


def export_onnx(model: nn.Module, out: str | Path) -> list[Path]:
    """Write ``model`` (eval mode) as ONNX at ``out`` (plus ``.encoder``/``.decoder`` parts)."""
    if importlib.util.find_spec("onnx") is None:
        raise ExportError("exporting needs the onnx package: pip install 'rnnkit[onnx]'")
    out = Path(out)
    paths = []
    try:
        for graph in model_graphs(model):
            path = graph_path(out, graph)
            write_graph(graph, path)
            paths.append(path)
    finally:
        clear_loops()
    return paths


def write_graph(graph: Graph, path: Path) -> None:
    """One ``torch.onnx.export`` call, torch's exporter warnings silenced."""
    with torch.no_grad(), warnings.catch_warnings(), traceable_generic_path(), scripted_loops():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            graph.module.eval(),
            graph.inputs,
            str(path),
            dynamo=False,
            opset_version=OPSET,
            input_names=graph.input_names,
            output_names=graph.output_names,
            dynamic_axes=graph.dynamic,
        )
