r"""Weight averaging: NT-ASGD (Merity, Keskar & Socher 2017) and an exponential moving average.

Both keep an average of the raw weights beside them; validation and the saved best model use
the average, training continues on the raw weights. Both offer ``update`` (after each
update), ``observe`` (at each validation), ``averaged`` (a block in which the model holds the
average) and ``state_dict`` / ``load_state_dict`` for exact resume.

**NT-ASGD**: non-monotonically triggered averaged SGD.

Training runs plain SGD. At each validation, with ``v_1 .. v_k`` the validation losses
before the current one ``v`` and ``n`` the non-monotone window (``nt_asgd_window``)::

    switch to averaging  iff  k > n  and  v > min(v_1, ..., v_{k-n})

(worse than the best loss from before the last ``n`` validations; checked until it fires).
From the switch on, the running mean of the raw weights after each update is kept::

    avg_m = avg_{m-1} + (w_m - avg_{m-1}) / m     = (w_1 + ... + w_m) / m

which is ``torch.optim.ASGD(t0=0, lambd=0)``'s ``ax``, as in Merity's code. Validation and
the saved best model use the averaged weights; training continues on the raw weights.

**EMA** (``--ema-decay d``, with any optimiser; Polyak & Juditsky 1992 for averaging in general,
the decay warm-up of TensorFlow's ``ExponentialMovingAverage(num_updates=...)``)::

    ema_1 = w_1;   ema_m = d_m ema_{m-1} + (1 - d_m) w_m,   d_m = min(d, m / (m + 9))

so the first updates, far from where training settles, are forgotten quickly (d_2 = 2/11)
and ``d`` governs from m ≈ 9 d / (1 - d) on (about 900 updates for d = 0.99).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["EMA", "NTASGD", "nt_asgd_triggered"]


def nt_asgd_triggered(previous: Sequence[float], loss: float, window: int) -> bool:
    """Whether ``loss`` fires the trigger, given the validation losses ``previous`` before it."""
    return len(previous) > window and loss > min(previous[:-window])


class _Averaged:
    """The model's parameters and their average: swap in for validation, save, load."""

    NAME = ""  # prefix of the saved tensors

    def __init__(self, model: nn.Module) -> None:
        self.params = list(model.parameters())  # tied weights appear once
        self.average: list[Tensor] | None = None
        self.count = 0  # updates averaged

    @property
    def active(self) -> bool:
        return self.average is not None

    @contextmanager
    def averaged(self) -> Iterator[None]:
        """Within the block the model holds the averaged weights (once there is an average)."""
        if self.average is None or self.count == 0:
            yield
            return
        with torch.no_grad():
            raw = [p.detach().clone() for p in self.params]
            for p, avg in zip(self.params, self.average, strict=True):
                p.copy_(avg)
        try:
            yield
        finally:
            with torch.no_grad():
                for p, w in zip(self.params, raw, strict=True):
                    p.copy_(w)

    def _tensors(self) -> dict[str, Tensor]:
        return {f"{self.NAME}.{i}": t for i, t in enumerate(self.average or [])}

    def _load_average(self, tensors: dict[str, Tensor]) -> None:
        saved = (tensors[f"{self.NAME}.{i}"] for i in range(len(self.params)))
        self.average = [t.to(p.device).clone() for t, p in zip(saved, self.params, strict=True)]


class EMA(_Averaged):
    """An exponential moving average of ``model``'s parameters (see the module docstring)."""

    NAME = "ema"

    def __init__(self, model: nn.Module, decay: float) -> None:
        super().__init__(model)
        if not 0.0 < decay < 1.0:
            raise ValueError(f"ema decay must be in (0, 1), got {decay!r}")
        self.decay = decay

    def observe(self, loss: float) -> bool:
        """Nothing to trigger: the average runs from the first update."""
        return False

    @torch.no_grad()
    def update(self) -> None:
        """Fold the weights after an update into the average."""
        self.count += 1
        m = self.count
        if self.average is None:
            self.average = [p.detach().clone() for p in self.params]
            return
        d = min(self.decay, m / (m + 9))
        torch._foreach_lerp_(self.average, self.params, 1.0 - d)  # no_grad: no graph

    def state_dict(self) -> tuple[dict[str, Any], dict[str, Tensor]]:
        """(JSON meta, tensors ``ema.{i}``)."""
        return {"count": self.count, "decay": self.decay}, self._tensors()

    def load_state_dict(self, meta: dict[str, Any], tensors: dict[str, Tensor]) -> None:
        self.count = int(meta["count"])
        self.average = None
        if self.count:
            self._load_average(tensors)


class NTASGD(_Averaged):
    """The trigger's history and the running mean of ``model``'s parameters after the switch.

    The optimiser is a plain ``torch.optim.SGD`` (see :meth:`sgd`); the trainer calls
    :meth:`observe` at each validation, :meth:`update` after each update and validates inside
    :meth:`averaged`.
    """

    NAME = "nt_asgd"

    def __init__(self, model: nn.Module, window: int) -> None:
        super().__init__(model)  # the average stays None until the switch
        self.window = window
        self.losses: list[float] = []  # validation losses so far (lower is better)

    def sgd(self, lr: float, momentum: float = 0.0) -> torch.optim.SGD:
        """The SGD the raw weights train with, before and after the switch."""
        return torch.optim.SGD(self.params, lr=lr, momentum=momentum)

    def observe(self, loss: float) -> bool:
        """Feed a validation loss; True when averaging starts now."""
        switch = not self.active and nt_asgd_triggered(self.losses, loss, self.window)
        self.losses.append(loss)
        if switch:
            self.average = [torch.zeros_like(p) for p in self.params]
        return switch

    @torch.no_grad()
    def update(self) -> None:
        """Add the weights after an update to the mean (nothing before the switch)."""
        if self.average is None:
            return
        self.count += 1
        for avg, p in zip(self.average, self.params, strict=True):
            if self.count == 1:
                avg.copy_(p)
            else:
                avg.add_(p - avg, alpha=1.0 / self.count)

    def state_dict(self) -> tuple[dict[str, Any], dict[str, Tensor]]:
        """(JSON meta, tensors ``nt_asgd.{i}``): the history, the count and the mean."""
        meta = {"losses": self.losses, "active": self.active, "count": self.count}
        return meta, self._tensors()

    def load_state_dict(self, meta: dict[str, Any], tensors: dict[str, Tensor]) -> None:
        self.losses, self.count = [float(v) for v in meta["losses"]], int(meta["count"])
        self.average = None
        if meta["active"]:
            self._load_average(tensors)
