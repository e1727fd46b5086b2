"""ULMFiT's fine-tuning tools over a model's layer groups (Howard & Ruder 2018, §3.2–3.3).

A model that offers ``layer_groups()`` — its parameters in groups from the bottom (the
embedding) to the top (the output layer), e.g. a classifier: embedding, each recurrent layer,
the head — can be fine-tuned with

- **discriminative learning rates**: group ``k`` of ``G`` trains at ``lr / F^(G - 1 - k)``
  (``F = discriminative_lr``; ULMFiT: 2.6), so the pretrained bottom layers move least;
- **gradual unfreezing**: for the first ``unfreeze_every`` updates only the top group trains,
  then the top two, and so on down, one more group every ``unfreeze_every`` updates, until all
  train (ULMFiT: one epoch per stage). Parameters frozen before training (``--freeze-word-
  vectors``) stay frozen.
"""

from __future__ import annotations

from torch import nn

from rnnkit.errors import ConfigError


class LayerGroups:
    """Learning-rate scales and the unfreezing schedule of a model's layer groups."""

    def __init__(
        self, groups: list[list[nn.Parameter]], factor: float, unfreeze_every: int | None
    ) -> None:
        if not groups or not all(groups):
            raise ValueError("layer groups must be non-empty lists of parameters")
        self.groups, self.factor, self.unfreeze_every = groups, factor, unfreeze_every
        self.trainable = {id(p) for g in groups for p in g if p.requires_grad}  # at the start

    @classmethod
    def of(cls, model: nn.Module, factor: float, unfreeze_every: int | None) -> LayerGroups | None:
        """The model's groups, or None when neither tool is asked for; a model without groups
        is refused when one is."""
        if factor == 1.0 and unfreeze_every is None:
            return None
        if not hasattr(model, "layer_groups"):
            raise ConfigError(f"--discriminative-lr and --unfreeze-every need a model with layer "
                              f"groups (classify); a {type(model).__name__} has none")  # fmt: skip
        groups = model.layer_groups()
        grouped = {id(p) for g in groups for p in g}
        if grouped != {id(p) for p in model.parameters()}:
            raise ValueError(f"{type(model).__name__}.layer_groups() must hold every parameter "
                             "once")  # fmt: skip
        return cls(groups, factor, unfreeze_every)

    def lr_scales(self) -> list[float]:
        """``1 / F^(G - 1 - k)`` for each group ``k``, bottom first."""
        top = len(self.groups) - 1
        return [self.factor ** -(top - k) for k in range(len(self.groups))]

    def param_groups(self) -> list[dict]:
        """The optimiser's parameter groups, each with its ``lr_scale``."""
        scales = self.lr_scales()
        return [{"params": g, "lr_scale": s} for g, s in zip(self.groups, scales, strict=True)]

    def unfrozen(self, step: int) -> int:
        """How many groups, counted from the top, train at update ``step`` (0-based)."""
        if self.unfreeze_every is None:
            return len(self.groups)
        return min(len(self.groups), 1 + step // self.unfreeze_every)

    def apply(self, step: int) -> None:
        """Set ``requires_grad`` for update ``step``: the top :meth:`unfrozen` groups train."""
        first = len(self.groups) - self.unfrozen(step)
        for k, group in enumerate(self.groups):
            for p in group:
                p.requires_grad_(k >= first and id(p) in self.trainable)
