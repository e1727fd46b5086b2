"""Model directories: ``config.json`` (with a ``format``) + ``model.safetensors``.

:func:`load` (also ``rnnkit.load``) opens any rnnkit model directory: the ``format`` in its
``config.json`` names the model class (:data:`MODEL_FORMATS`), whose ``from_pretrained`` reads
the rest, so ``rnnkit.load("runs/lm")`` gives a ``LanguageModel`` and a classifier's directory
a ``SequenceClassifier``. Loading never unpickles (:mod:`rnnkit.tasks.pretrained` writes and
reads the files themselves).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from rnnkit.errors import CheckpointError
from rnnkit.tasks.pretrained import CONFIG_NAME, load_config

__all__ = ["MODEL_FORMATS", "load", "model_class", "model_format"]

#: ``config.json``'s ``format`` -> ``"module:Class"`` of the model that reads it
MODEL_FORMATS: dict[str, str] = {
    "rnnkit.language_model/1": "rnnkit.tasks.language_model:LanguageModel",
    "rnnkit.sequence_classifier/1": "rnnkit.tasks.classifier:SequenceClassifier",
    "rnnkit.tagger/1": "rnnkit.tasks.tagger:Tagger",
    "rnnkit.seq2seq/1": "rnnkit.tasks.seq2seq:Seq2Seq",
    "rnnkit.context_to_sequence/1": "rnnkit.tasks.context_to_sequence:ContextToSequence",
    "rnnkit.long_range/1": "rnnkit.tasks.longrange:LongRangeModel",
    "rnnkit.ctc_recognizer/1": "rnnkit.tasks.ctc:CTCRecognizer",
    "rnnkit.frames/1": "rnnkit.tasks.frames:FramesModel",
}


def model_format(directory: str | Path) -> str:
    """The ``format`` of the model directory's ``config.json``, checked against the known ones.

    Raises:
        CheckpointError: no such directory, no or corrupt ``config.json``, a missing or
            unknown ``format``; one line naming the file.
    """
    config = load_config(directory)
    path = Path(directory) / CONFIG_NAME
    kind = config.get("format")
    if kind is None:
        raise CheckpointError(f"{path}: no 'format' field; not an rnnkit model directory")
    if not isinstance(kind, str) or kind not in MODEL_FORMATS:
        known = ", ".join(sorted(MODEL_FORMATS))
        raise CheckpointError(f"{path}: unknown format {kind!r} (known formats: {known})")
    return kind


def model_class(kind: str) -> type:
    """The model class of a ``format``, imported when first asked for."""
    module_name, _, class_name = MODEL_FORMATS[kind].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name != module_name:
            raise
        raise CheckpointError(f"format {kind!r} needs {module_name}, not in this rnnkit") from None
    return getattr(module, class_name)


def load(directory: str | Path, *, map_location: str = "cpu") -> Any:
    """Load the model saved in ``directory``, whatever its kind.

    Args:
        directory: a model directory written by a model's ``save_pretrained``.
        map_location: the device the weights go to.

    Returns:
        The model (e.g. a :class:`~rnnkit.tasks.LanguageModel`), in eval mode.

    Raises:
        CheckpointError: a missing, incomplete, corrupt or unknown model directory (one line).
    """
    kind = model_format(directory)
    return model_class(kind).from_pretrained(directory, map_location=map_location)
