"""Feeding a model its own tokens while training: the unroll of scheduled sampling.

Bengio, Vinyals, Jaitly & Shazeer (2015): at each step ``t >= 1`` a coin with
P(heads) = ``teacher_prob`` chooses between the ground-truth input and the model's own token
from step ``t - 1`` (drawn from its softmax, or its argmax). The schedule that decays
``teacher_prob`` over training lives in :mod:`rnnkit.training.scheduled_sampling`; this module
is the part any autoregressive model uses, over the one ``Step`` contract of
:mod:`rnnkit.decoding`, with the one sampler (:func:`~rnnkit.decoding.sampling.sample_token`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from rnnkit.checks import check_choice, check_range
from rnnkit.decoding.sampling import sample_token
from rnnkit.decoding.step import Step

FEEDBACK = ("sample", "argmax")


def feedback_token(
    logits: Tensor, *, feedback: str = "sample", generator: torch.Generator | None = None
) -> Tensor:
    """The model's own next input from its (B, V) logits -> (B,), with no gradient.

    ``"sample"`` draws from ``softmax(logits)`` with :func:`rnnkit.decoding.sample_token` (one
    ``torch.multinomial`` draw per row, using ``generator``); ``"argmax"`` takes the most likely
    token and draws nothing.
    """
    logits = logits.detach()
    if feedback == "argmax":
        return logits.argmax(-1)
    return sample_token(logits, generator=generator)


def mix_inputs(
    truth: Tensor,
    logits: Tensor,
    teacher_prob: float,
    *,
    feedback: str = "sample",
    generator: torch.Generator | None = None,
) -> Tensor:
    """Next inputs (B,): ``truth`` where a coin with P(heads) = ``teacher_prob`` lands heads.

    Random draws, in order: the model's tokens (if ``teacher_prob < 1`` and sampling), then
    the coins ``torch.rand(B) < teacher_prob`` (only if ``0 < teacher_prob < 1``).
    """
    if teacher_prob >= 1.0:
        return truth
    own = feedback_token(logits, feedback=feedback, generator=generator)  # (B,)
    if teacher_prob <= 0.0:
        return own
    coin = torch.rand(truth.shape, generator=generator, device=truth.device) < teacher_prob
    return torch.where(coin, truth, own)


def scheduled_sampling_forward(
    step_fn: Step,
    inputs: Tensor,
    state: Any,
    teacher_prob: float,
    *,
    feedback: str = "sample",
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Any]:
    """Unroll ``step_fn`` over ``inputs`` (B, T), mixing ground truth and the model's tokens.

    Step 0 reads ``inputs[:, 0]``; step ``t >= 1`` reads ``inputs[:, t]`` with probability
    ``teacher_prob`` (per sequence, per step) and otherwise the token fed back from step
    ``t - 1`` (see :func:`mix_inputs`). ``teacher_prob = 1`` is teacher forcing, 0 free running.

    Args:
        step_fn: ``step(tokens (B,), state) -> (logits (B, V), state)``.
        inputs: (B, T) ground-truth input tokens, T >= 1.
        state: the initial state (anything ``step_fn`` accepts, e.g. None).
        teacher_prob: probability of feeding the ground truth, in [0, 1].
        feedback: ``"sample"`` (draw from the softmax) or ``"argmax"``.
        generator: random source of the draws and the coins (None: torch's global one).

    Returns:
        logits (B, T, V) and the final state.
    """
    check_range("teacher_prob", teacher_prob, 0.0, 1.0, high_open=False)
    check_choice("feedback", feedback, FEEDBACK)
    if inputs.dim() != 2 or inputs.shape[1] < 1:
        raise ValueError(f"inputs must be (B, T) with T >= 1, got shape {tuple(inputs.shape)}")
    token, outputs = inputs[:, 0], []
    for t in range(inputs.shape[1]):
        logits, state = step_fn(token, state)  # (B, V)
        outputs.append(logits)
        if t + 1 < inputs.shape[1]:
            token = mix_inputs(
                inputs[:, t + 1], logits, teacher_prob, feedback=feedback, generator=generator
            )
    return torch.stack(outputs, dim=1), state  # (B, T, V)
