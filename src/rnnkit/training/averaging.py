r"""Non-monotonically triggered averaged SGD, NT-ASGD (Merity, Keskar & Socher 2017).

Training runs plain SGD. At each validation, with ``v_1 .. v_k`` the validation losses
before the current one ``v`` and ``n`` the non-monotone window (``nt_asgd_window``)::

    switch to averaging  iff  k > n  and  v > min(v_1, ..., v_{k-n})

(worse than the best loss from before the last ``n`` validations; checked until it fires).
From the switch on, the running mean of the raw weights after each update is kept::

    avg_m = avg_{m-1} + (w_m - avg_{m-1}) / m     = (w_1 + ... + w_m) / m

which is ``torch.optim.ASGD(t0=0, lambd=0)``'s ``ax``, as in Merity's code. Validation and
the saved best model use the averaged weights; training continues on the raw weights.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["NTASGD", "nt_asgd_triggered"]


def nt_asgd_triggered(previous: Sequence[float], loss: float, window: int) -> bool:
    """Whether ``loss`` fires the trigger, given the validation losses ``previous`` before it."""
    return len(previous) > window and loss > min(previous[:-window])


class NTASGD:
    """The trigger's history and the running mean of ``model``'s parameters after the switch.

    The optimiser is a plain ``torch.optim.SGD`` (see :meth:`sgd`); the trainer calls
    :meth:`observe` at each validation, :meth:`update` after each update and validates inside
    :meth:`averaged`.
    """

    def __init__(self, model: nn.Module, window: int) -> None:
        self.params = list(model.parameters())  # tied weights appear once
        self.window = window
        self.losses: list[float] = []  # validation losses so far (lower is better)
        self.average: list[Tensor] | None = None  # None until the switch
        self.count = 0  # updates averaged

    @property
    def active(self) -> bool:
        return self.average is not None

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

    @contextmanager
    def averaged(self) -> Iterator[None]:
        """Within the block the model holds the averaged weights (once there is a mean)."""
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

    def state_dict(self) -> tuple[dict[str, Any], dict[str, Tensor]]:
        """(JSON meta, tensors ``nt_asgd.{i}``): the history, the count and the mean."""
        meta = {"losses": self.losses, "active": self.active, "count": self.count}
        tensors = {f"nt_asgd.{i}": t for i, t in enumerate(self.average or [])}
        return meta, tensors

    def load_state_dict(self, meta: dict[str, Any], tensors: dict[str, Tensor]) -> None:
        self.losses, self.count = [float(v) for v in meta["losses"]], int(meta["count"])
        self.average = None
        if meta["active"]:
            saved = (tensors[f"nt_asgd.{i}"] for i in range(len(self.params)))
            self.average = [t.to(p.device).clone() for t, p in zip(saved, self.params, strict=True)]
