"""The export table: every model kind x (exported, max |onnxruntime - torch| per case).

``python benchmarks/export_table.py`` prints it for tiny seeded models (untrained: equality
needs no training) of every kind and option family that matters to the export: native and
generic paths, bidirectional layers, attention, pointers, CRF. The tests use the same models.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from rnnkit.tasks.classifier import ClassifierConfig, SequenceClassifier
from rnnkit.tasks.context_to_sequence import ContextConfig, ContextToSequence
from rnnkit.tasks.language_model import LanguageModel, LanguageModelConfig
from rnnkit.tasks.longrange import LongRangeConfig, LongRangeModel
from rnnkit.tasks.seq2seq import Seq2Seq, Seq2SeqConfig
from rnnkit.tasks.tagger import Tagger, TaggerConfig

SMALL = {"embedding_size": 4, "hidden_size": 5}
TAGGER = {
    "word_embedding_size": 4,
    "char_embedding_size": 3,
    "char_hidden_size": 3,
    "hidden_size": 5,
}
#: name -> (model class, config); the generic-path language model runs rnnkit's own loop
MODELS = {
    "lm-lstm": (LanguageModel, LanguageModelConfig(11, hidden_size=6, num_layers=2)),
    "lm-gru-zoneout": (
        LanguageModel,
        LanguageModelConfig(11, cell="gru", hidden_size=6, num_layers=2, zoneout=0.2),
    ),
    "lm-lstm-adaptive": (
        LanguageModel,
        LanguageModelConfig(11, hidden_size=8, num_layers=1, output="adaptive", cutoffs=(4,)),
    ),
    "lm-rnn-weight-drop": (
        LanguageModel,
        LanguageModelConfig(11, cell="rnn", hidden_size=6, num_layers=1, weight_drop=0.3),
    ),
    "classifier-bilstm-last": (
        SequenceClassifier,
        ClassifierConfig(12, 3, num_layers=2, bidirectional=True, pooling="last", **SMALL),
    ),
    "classifier-bilstm-concat-ngrams": (  # the classify job's default architecture
        SequenceClassifier,
        ClassifierConfig(12, 3, bidirectional=True, pooling="concat", ngram_buckets=13, **SMALL),
    ),
    "classifier-gru-attention": (
        SequenceClassifier,
        ClassifierConfig(12, 3, cell="gru", pooling="attention", **SMALL),
    ),
    "classifier-birnn-mean": (
        SequenceClassifier,
        ClassifierConfig(12, 3, cell="rnn", bidirectional=True, pooling="mean", **SMALL),
    ),
    "classifier-layer-norm-bilstm": (
        SequenceClassifier,
        ClassifierConfig(12, 3, cell="layer_norm_lstm", bidirectional=True, **SMALL),
    ),
    "classifier-peephole-zoneout": (
        SequenceClassifier,
        ClassifierConfig(12, 3, cell="peephole_lstm", num_layers=2, zoneout=0.2, **SMALL),
    ),
    "tagger-lstm": (Tagger, TaggerConfig(20, 10, 5, **TAGGER, num_layers=2)),
    "tagger-gru-crf": (
        Tagger,
        TaggerConfig(20, 10, 5, cell="gru", **TAGGER, num_layers=1, crf=True),
    ),
    "tagger-gru-residual": (
        Tagger,
        TaggerConfig(20, 10, 5, cell="gru", **TAGGER, num_layers=2, residual=True),
    ),
    "seq2seq-bilstm-general": (Seq2Seq, Seq2SeqConfig(13, 9, num_layers=2, **SMALL)),
    "seq2seq-gru-plain": (
        Seq2Seq,
        Seq2SeqConfig(13, 9, cell="gru", bidirectional=False, attention="none", **SMALL),
    ),
    "seq2seq-pointer-once": (
        Seq2Seq,
        Seq2SeqConfig(
            13, 0, cell="gru", output="pointer", pointer_once=True, attention="additive", **SMALL
        ),
    ),
    "context-lstm": (ContextToSequence, ContextConfig(13, channels=2, context_size=6, **SMALL)),
    "context-gru-attention": (
        ContextToSequence,
        ContextConfig(13, channels=2, context_size=6, cell="gru", attention="general", **SMALL),
    ),
}


def build(name: str, seed: int = 0) -> torch.nn.Module:
    """The model ``name`` with seeded weights, in eval mode."""
    torch.manual_seed(seed)
    kind, config = MODELS[name]
    return kind(config).eval()


#: models the export refuses, each with its one-line reason
REFUSED = {
    "long-range-adding": (LongRangeModel, LongRangeConfig("adding", 2, 1, hidden_size=5)),
}


@dataclass
class Row:
    """One model of the table: exported or refused (``reason``), the max difference per case."""

    name: str
    files: int
    diffs: dict[tuple[int, int], float]
    reason: str = ""


def table_row(name: str, out_dir: Path) -> Row:
    """Export ``name`` into ``out_dir`` and verify it (a refusal is a row with its reason)."""
    from rnnkit.export import ExportError, export_onnx
    from rnnkit.export.verify import verify_onnx

    zoo = {**MODELS, **REFUSED}
    torch.manual_seed(0)
    kind, config = zoo[name]
    model = kind(config).eval()
    try:
        paths = export_onnx(model, out_dir / f"{name}.onnx")
    except ExportError as e:
        return Row(name, 0, {}, str(e))
    return Row(name, len(paths), verify_onnx(model, paths))


def export_table() -> list[Row]:
    """Every row, exported into a temporary folder."""
    with tempfile.TemporaryDirectory() as tmp:
        return [table_row(name, Path(tmp)) for name in [*MODELS, *REFUSED]]
