r"""Professor forcing (Lamb, Goyal, Zhang, Zhang, Courville & Bengio, 2016).

The same language model runs twice from the same start (state ``s_0``, first token ``x_0``):

- teacher forced: step ``t`` reads the ground truth ``x_t``; hidden states ``h^{tf}_{1:T}``;
- free running: step ``t >= 1`` reads the model's own previous output; hidden states
  ``h^{fr}_{1:T}``.

A discriminator ``D`` (:class:`HiddenStateDiscriminator`) reads a whole hidden-state sequence
and outputs the logit of "teacher forced". With :math:`\sigma` the logistic sigmoid and means
over the batch:

.. math::
    L_D   = -\tfrac12 \big[\log \sigma(D(h^{tf})) + \log(1 - \sigma(D(h^{fr})))\big]
    L_{adv} = -\log \sigma(D(h^{fr}))
              \;\big[ - \log(1 - \sigma(D(h^{tf}))) \text{ if teacher\_forced\_adversarial} \big]
    L_G   = \mathrm{NLL}(\text{teacher-forced logits}, y) + \lambda\, L_{adv}

``L_D`` trains only ``D`` (it reads detached hidden states); ``L_G`` trains only the language
model (``D``'s parameters are frozen while it is computed), so the two updates never mix.

Free running stays differentiable through the recurrence: ``h^{fr}_t`` depends on the
weights and on ``h^{fr}_{t-1}``. What is fed back is an option (``free_running``):

- ``"sample"`` (default, as in the paper): a token drawn from ``softmax(logits_{t-1})``; the
  draw itself has no gradient, its embedding row and the recurrence do;
- ``"soft"``: the expected embedding ``softmax(logits_{t-1}) @ E`` (E: the (V, E) embedding
  matrix), differentiable all the way through the output layer, but an input the model
  never sees when sampling.

The model is a :class:`rnnkit.tasks.LanguageModel` (``embedding``, ``dropout``, ``rnn``,
``proj``); its hidden states are the top recurrent layer's outputs, before the projection.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.cells.state import map_state
from rnnkit.checks import check_choice, check_range, check_size
from rnnkit.decoding.sampling import sample_token
from rnnkit.tasks.language_model import LanguageModel

FREE_RUNNING = ("sample", "soft")
POOLING = ("mean", "last")


class HiddenStateDiscriminator(nn.Module):
    r"""Logit that a hidden-state sequence (B, T, H) came from teacher forcing -> (B,).

    .. math::
        a_{1:T} = \mathrm{BiGRU}(h_{1:T})                          \quad (B, T, 2G)
        p = \tfrac1T \sum_t a_t \;\; (\text{mean}) \quad\text{or}\quad
            [\overrightarrow{a}_T ; \overleftarrow{a}_1] \;\; (\text{last})   \quad (B, 2G)
        D = w_2^\top \mathrm{ReLU}(W_1 p + b_1) + b_2               \quad (B,)

    Layout: ``rnn = nn.GRU(H, G, bidirectional=True, batch_first=True)``,
    ``hidden = nn.Linear(2G, G)`` (W_1, b_1), ``out = nn.Linear(G, 1)`` (w_2, b_2);
    torch's default initialisation.

    Args:
        input_size: H, the size of the hidden states it reads.
        hidden_size: G, units per GRU direction and in the MLP.
        pooling: ``"mean"`` over time or ``"last"`` (final state of each direction).
    """

    def __init__(self, input_size: int, hidden_size: int, *, pooling: str = "mean") -> None:
        super().__init__()
        check_size("input_size", input_size)
        check_size("hidden_size", hidden_size)
        self.pooling = check_choice("pooling", pooling, POOLING)
        self.rnn = nn.GRU(input_size, hidden_size, bidirectional=True, batch_first=True)
        self.hidden = nn.Linear(2 * hidden_size, hidden_size)
        self.out = nn.Linear(hidden_size, 1)

    def forward(self, h: Tensor) -> Tensor:
        a, last = self.rnn(h)  # (B, T, 2G), (2, B, G)
        p = a.mean(1) if self.pooling == "mean" else torch.cat([last[0], last[1]], -1)  # (B, 2G)
        return self.out(torch.relu(self.hidden(p)))[:, 0]  # (B,)


class Passes(NamedTuple):
    """The two runs of the model from the same start."""

    logits: Tensor  # (B, T, V) teacher-forced outputs
    teacher: Tensor  # (B, T, H) teacher-forced hidden states
    free: Tensor  # (B, T, H) free-running hidden states
    state: Any  # final state of the teacher-forced run


def hidden_states(model: LanguageModel, tokens: Tensor, state: Any = None) -> tuple[Tensor, Any]:
    """Teacher-forced top-layer outputs: tokens (B, T) -> ((B, T, H), state), before ``proj``."""
    return model.rnn(model.dropout(model.embedding(tokens)), state)


def free_running_states(
    model: LanguageModel,
    first: Tensor,
    state: Any,
    steps: int,
    *,
    feedback: str = "sample",
    generator: torch.Generator | None = None,
) -> Tensor:
    """Run ``steps`` steps from ``first`` (B,) feeding back the model's output -> (B, T, H)."""
    emb, outs = model.embedding(first), []  # (B, E)
    for t in range(steps):
        out, state = model.rnn(model.dropout(emb)[:, None], state)  # (B, 1, H)
        outs.append(out[:, 0])
        if t + 1 < steps:
            logits = model.proj(model.dropout(out[:, 0]))  # (B, V)
            if feedback == "soft":
                emb = logits.softmax(-1) @ model.embedding.weight  # (B, E)
            else:
                emb = model.embedding(sample_token(logits.detach(), generator=generator))
    return torch.stack(outs, 1)  # (B, T, H)


@contextmanager
def frozen(module: nn.Module) -> Iterator[nn.Module]:
    """Temporarily stop gradients into ``module``'s parameters (inputs still get them)."""
    flags = [p.requires_grad for p in module.parameters()]
    for p in module.parameters():
        p.requires_grad_(False)
    try:
        yield module
    finally:
        for p, flag in zip(module.parameters(), flags, strict=True):
            p.requires_grad_(flag)


class ProfessorForcing:
    """Trains a language model with professor forcing (module docstring).

    Args:
        model: the :class:`LanguageModel` (the generator), updated in place.
        discriminator_hidden: G of the :class:`HiddenStateDiscriminator`.
        adversarial_weight: λ, weight of the adversarial loss in the generator's loss, >= 0.
        lr: Adam learning rate of the language model.
        lr_d: Adam learning rate of the discriminator.
        teacher_forced_adversarial: also push teacher-forced states towards "free running".
        free_running: ``"sample"`` or ``"soft"`` feedback (module docstring).
        pooling: the discriminator's pooling, ``"mean"`` or ``"last"``.
        clip_norm: global gradient-norm clipping of each network; None: off.
        discriminator_max_accuracy: update ``D`` only while its batch accuracy is below this.
        adversarial_min_accuracy: use ``L_adv`` only while ``D``'s batch accuracy is above this.
    """

    def __init__(
        self,
        model: LanguageModel,
        *,
        discriminator_hidden: int = 64,
        adversarial_weight: float = 1.0,
        lr: float = 2e-3,
        lr_d: float = 1e-3,
        teacher_forced_adversarial: bool = False,
        free_running: str = "sample",
        pooling: str = "mean",
        clip_norm: float | None = 5.0,
        discriminator_max_accuracy: float | None = None,
        adversarial_min_accuracy: float | None = None,
    ) -> None:
        if not adversarial_weight >= 0.0:
            raise ValueError(f"adversarial_weight must be >= 0, got {adversarial_weight!r}")
        for name, value in (("lr", lr), ("lr_d", lr_d)):
            if not value > 0.0:
                raise ValueError(f"{name} must be > 0, got {value!r}")
        for name, value in (
            ("discriminator_max_accuracy", discriminator_max_accuracy),
            ("adversarial_min_accuracy", adversarial_min_accuracy),
        ):
            if value is not None:
                check_range(name, value, 0.0, 1.0, high_open=False)
        self.model = model
        self.free_running = check_choice("free_running", free_running, FREE_RUNNING)
        self.adversarial_weight = adversarial_weight
        self.teacher_forced_adversarial = teacher_forced_adversarial
        self.clip_norm = clip_norm
        self.discriminator_max_accuracy = discriminator_max_accuracy
        self.adversarial_min_accuracy = adversarial_min_accuracy
        weight = model.proj.weight
        self.discriminator = HiddenStateDiscriminator(
            model.config.hidden_size, discriminator_hidden, pooling=pooling
        ).to(device=weight.device, dtype=weight.dtype)
        self.optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        self.optimizer_d = torch.optim.Adam(self.discriminator.parameters(), lr=lr_d)

    def forward_passes(
        self, x: Tensor, state: Any = None, *, generator: torch.Generator | None = None
    ) -> Passes:
        """Teacher-forced and free-running runs of ``x`` (B, T) from ``state``."""
        teacher, final = hidden_states(self.model, x, state)  # (B, T, H)
        logits = self.model.proj(self.model.dropout(teacher))  # (B, T, V)
        free = free_running_states(
            self.model, x[:, 0], state, x.shape[1], feedback=self.free_running, generator=generator
        )
        return Passes(logits, teacher, free, final)

    def discriminator_loss(self, teacher: Tensor, free: Tensor) -> tuple[Tensor, Tensor]:
        """``L_D`` and ``D``'s accuracy on a pair of (B, T, H) sequences (read detached)."""
        d_tf, d_fr = self.discriminator(teacher.detach()), self.discriminator(free.detach())
        loss = 0.5 * (
            F.binary_cross_entropy_with_logits(d_tf, torch.ones_like(d_tf))
            + F.binary_cross_entropy_with_logits(d_fr, torch.zeros_like(d_fr))
        )
        accuracy = 0.5 * ((d_tf > 0).float().mean() + (d_fr < 0).float().mean())
        return loss, accuracy.detach()

    def adversarial_loss(self, teacher: Tensor, free: Tensor) -> Tensor:
        """``L_adv``: gradients reach the hidden states (the model), never ``D``'s parameters."""
        with frozen(self.discriminator) as d:
            d_fr = d(free)  # (B,)
            loss = F.binary_cross_entropy_with_logits(d_fr, torch.ones_like(d_fr))
            if self.teacher_forced_adversarial:
                d_tf = d(teacher)
                loss = loss + F.binary_cross_entropy_with_logits(d_tf, torch.zeros_like(d_tf))
        return loss

    def losses(
        self,
        x: Tensor,
        y: Tensor,
        state: Any = None,
        *,
        generator: torch.Generator | None = None,
    ) -> dict[str, Tensor]:
        """Losses on chunk (x, y) from ``state``, as scalar tensors.

        Keys: ``nll``, ``generator_adv`` (L_adv), ``generator`` (nll + λ L_adv),
        ``discriminator`` (L_D) and ``d_accuracy``.
        """
        return self._losses(self.forward_passes(x, state, generator=generator), y)

    def _losses(self, passes: Passes, y: Tensor) -> dict[str, Tensor]:
        nll = F.cross_entropy(passes.logits.flatten(0, 1), y.flatten())
        adversarial = self.adversarial_loss(passes.teacher, passes.free)
        d_loss, accuracy = self.discriminator_loss(passes.teacher, passes.free)
        return {
            "nll": nll,
            "generator_adv": adversarial,
            "generator": nll + self.adversarial_weight * adversarial,
            "discriminator": d_loss,
            "d_accuracy": accuracy,
        }

    def train_step(
        self,
        x: Tensor,
        y: Tensor,
        state: Any = None,
        *,
        generator: torch.Generator | None = None,
    ) -> tuple[dict[str, float], Any]:
        """One update of the model and one of ``D`` on chunk (x, y), both (B, T).

        Returns the losses as floats (plus ``adversarial_used``, ``discriminator_updated``) and
        the teacher-forced final state, detached, to carry into the next chunk.
        """
        passes = self.forward_passes(x, state, generator=generator)
        losses = self._losses(passes, y)
        accuracy = losses["d_accuracy"].item()
        use_adv = self.adversarial_min_accuracy is None or accuracy > self.adversarial_min_accuracy
        update_d = (
            self.discriminator_max_accuracy is None or accuracy < self.discriminator_max_accuracy
        )
        self.optimizer.zero_grad(set_to_none=True)
        self.optimizer_d.zero_grad(set_to_none=True)
        (losses["generator"] if use_adv else losses["nll"]).backward()
        self._step(self.model, self.optimizer)
        if update_d:
            losses["discriminator"].backward()
            self._step(self.discriminator, self.optimizer_d)
        metrics = {name: value.item() for name, value in losses.items()}
        metrics |= {"adversarial_used": use_adv, "discriminator_updated": update_d}
        return metrics, map_state(Tensor.detach, passes.state)

    def _step(self, module: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        if self.clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(module.parameters(), self.clip_norm)
        optimizer.step()
