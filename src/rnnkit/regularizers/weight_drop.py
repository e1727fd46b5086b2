"""DropConnect on weights, one mask per batch (Wan et al., 2013; Merity et al., 2017)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from fnmatch import fnmatchcase
from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.checks import check_probability
from rnnkit.regularizers.masks import check_mask_shape, dropout_mask


class WeightDrop(nn.Module):
    r"""DropConnect on named weights (by default the recurrent matrices ``weight_hh*``).

    Wan et al., "Regularization of Neural Networks using DropConnect" (ICML 2013), applied
    to the hidden-to-hidden weights of an LSTM by Merity, Keskar & Socher, "Regularizing and
    Optimizing LSTM Language Models" (ICLR 2018, AWD-LSTM):

    .. math::
        \tilde W_{hh} = M \odot W_{hh}, \qquad M \in \{0, 1/(1-p)\}^{\text{shape}(W_{hh})}

    One mask per weight is drawn on first use after :meth:`reset` and used for every time
    step (and every sequence) of the batch; :class:`~rnnkit.layers.Recurrent` and
    :meth:`forward` reset per call, so each batch gets a new mask. Inverted scaling
    ``1/(1-p)`` as in AWD-LSTM, so eval (or ``p == 0``) uses the weights unchanged.
    The parameters themselves are never modified: the dropped tensors replace them only
    for the duration of a call (:meth:`applied`), and gradients flow to the parameters.

    On ``torch.nn.LSTM``/``GRU``/``RNN`` (and rnnkit's drop-ins) the native kernel runs with
    the dropped weight list. When the module's weights live in one flat buffer (cuDNN's
    ``flatten_parameters``), the dropped weights are laid out in a fresh buffer with the same
    offsets, so the kernel finds them contiguous and neither copies nor warns.

    Args:
        p: drop probability in [0, 1).
        names: fnmatch patterns; a parameter is dropped when its full dotted name or its
            own name (the last component) matches one of them.

    Example:
        >>> lstm = torch.nn.LSTM(8, 16, num_layers=2)
        >>> drop = WeightDrop(0.5)  # matches weight_hh_l0 and weight_hh_l1
        >>> output, (h_n, c_n) = drop(lstm, torch.randn(5, 3, 8))
    """

    def __init__(self, p: float, *, names: Sequence[str] = ("weight_hh*",)) -> None:
        super().__init__()
        self.p = check_probability("p", p)
        names = (names,) if isinstance(names, str) else tuple(names)
        if not names or not all(isinstance(n, str) and n for n in names):
            raise ValueError(f"names must be non-empty strings, got {names!r}")
        self.names = names
        self.masks: dict[str, Tensor] = {}

    def reset(self) -> None:
        """Forget the masks: the next use draws new ones."""
        self.masks = {}

    def matches(self, name: str) -> bool:
        """Whether the parameter called ``name`` is dropped."""
        leaf = name.rpartition(".")[2]
        return any(fnmatchcase(name, pat) or fnmatchcase(leaf, pat) for pat in self.names)

    def dropped(self, module: nn.Module) -> dict[str, Tensor]:
        """``{name: mask * parameter}`` for the matched parameters (empty in eval or p = 0)."""
        if not self.training or self.p == 0.0:
            return {}
        out = {}
        for name, param in module.named_parameters():
            if not self.matches(name):
                continue
            if name not in self.masks:
                self.masks[name] = dropout_mask(param.shape, self.p, param)
            check_mask_shape(f"WeightDrop[{name}]", self.masks[name], param.shape)
            out[name] = param * self.masks[name]
        if not out:
            raise ValueError(
                f"WeightDrop names {self.names!r} match no parameter of "
                f"{type(module).__name__}: {[n for n, _ in module.named_parameters()]}"
            )
        return out

    @contextmanager
    def applied(self, module: nn.Module) -> Iterator[None]:
        """Within the block, ``module`` computes with the dropped weights."""
        dropped = self.dropped(module)
        if not dropped:
            yield
        elif isinstance(module, nn.RNNBase):
            with native_weights(module, dropped):
                yield
        else:
            with substituted(module, dropped):
                yield

    def forward(self, module: nn.Module, *args: Any, **kwargs: Any) -> Any:
        """New masks, then ``module(*args, **kwargs)`` with the dropped weights."""
        self.reset()
        with self.applied(module):
            return module(*args, **kwargs)

    def extra_repr(self) -> str:
        return f"p={self.p}, names={self.names!r}"


@contextmanager
def substituted(module: nn.Module, tensors: dict[str, Tensor]) -> Iterator[None]:
    """Within the block, the parameters named in ``tensors`` (dotted names) are replaced."""
    saved = []
    try:
        for name, tensor in tensors.items():
            prefix, _, leaf = name.rpartition(".")
            owner = module.get_submodule(prefix)
            saved.append((owner, leaf, owner._parameters[leaf]))
            owner._parameters[leaf] = tensor  # type: ignore[assignment]
        yield
    finally:
        for owner, leaf, param in reversed(saved):
            owner._parameters[leaf] = param


@contextmanager
def native_weights(module: nn.RNNBase, tensors: dict[str, Tensor]) -> Iterator[None]:
    """Within the block, torch's RNN kernel of ``module`` runs with ``tensors`` swapped in.

    ``torch.nn.LSTM.forward`` passes ``module._flat_weights`` to the kernel; the list is
    swapped (the parameters stay), after refreshing it so that torch does not rebuild it.
    """
    module._update_flat_weights()
    params = list(module._flat_weights)
    weights = [tensors.get(n, p) for n, p in zip(module._flat_weights_names, params, strict=True)]
    module._flat_weights = same_layout(params, weights)
    try:
        yield
    finally:
        module._flat_weights = params


def same_layout(params: list[Tensor], weights: list[Tensor]) -> list[Tensor]:
    """``weights`` as views of one new buffer laid out like ``params``' shared buffer.

    When every parameter is a contiguous view of one storage (cuDNN's flat weights), the
    result has the same offsets in a fresh buffer, so the kernel takes them as flat weights
    without a copy or the "not part of single contiguous chunk of memory" warning. Otherwise
    ``weights`` is returned as is.
    """
    first = params[0]
    if len({p.untyped_storage().data_ptr() for p in params}) != 1:
        return weights
    pieces, pos = [], 0
    for i in sorted(range(len(params)), key=lambda i: params[i].storage_offset()):
        p, w = params[i], weights[i]
        if not p.is_contiguous() or p.storage_offset() < pos:
            return weights
        if p.storage_offset() > pos:
            pieces.append(w.new_zeros(p.storage_offset() - pos))
        pieces.append(w.reshape(-1))
        pos = p.storage_offset() + p.numel()
    total = first.untyped_storage().nbytes() // first.element_size()
    if total > pos:
        pieces.append(first.new_zeros(total - pos))
    buffer = torch.cat(pieces)  # (total,)
    return [buffer.as_strided(p.shape, p.stride(), p.storage_offset()) for p in params]
