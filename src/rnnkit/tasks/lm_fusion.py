"""A character language model from ``rnnkit train lm`` as the LM of CTC shallow fusion.

:class:`rnnkit.decoding.ctc.LMFusion` needs a step whose state has the batch on dim 0, the
token that starts a line, and the LM token of each CTC label. :func:`label_fusion` builds it
from a trained :class:`~rnnkit.tasks.LanguageModel` with :class:`~rnnkit.tasks.lm_step.LMStep`
(the fast step, whose per-layer cell states are batch-first).
"""

from __future__ import annotations

from collections.abc import Sequence

from rnnkit.decoding.ctc import LMFusion
from rnnkit.errors import CheckpointError
from rnnkit.tasks.language_model import LanguageModel
from rnnkit.tasks.lm_step import LMStep


def label_fusion(
    model: LanguageModel, labels: Sequence[str | None], *, bos: str = "\n"
) -> LMFusion:
    """The fusion LM over CTC ``labels`` (their text; ``None`` at the blank).

    A character LM reads lines, so ``bos`` (a line break) starts each prefix. A label the LM
    never saw gets no LM token, and prefix beam search never proposes it; one line names them
    all when no label at all is known.
    """
    vocab = model.vocab
    if vocab is None or vocab.unit != "char":
        raise CheckpointError("--lm needs a character language model (rnnkit train lm)")
    model.eval()
    if not LMStep.applies(model):
        raise CheckpointError("--lm: this language model's layers have no one-step form "
                              "(bidirectional, projected or adaptive output)")  # fmt: skip
    step = LMStep(model)
    tokens = [None if label is None else vocab.stoi.get(label) for label in labels]
    if all(t is None for t in tokens):
        known = [label for label in labels if label is not None]
        raise CheckpointError(f"--lm: the language model knows none of the labels {known}")
    if bos not in vocab.stoi:
        raise CheckpointError(f"--lm: the language model never saw the line start {bos!r}")
    return LMFusion(step, step.initial_state(1), vocab.stoi[bos], tokens)
