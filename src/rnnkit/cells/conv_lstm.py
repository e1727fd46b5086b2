"""Convolutional LSTM (Shi et al., 2015): convolutions replace the LSTM's matrix products."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.cells.base import RecurrentCell
from rnnkit.cells.state import LSTMState, State
from rnnkit.checks import check_bool, check_size


def check_kernel_size(value: int | tuple[int, int]) -> tuple[int, int]:
    """Validate a 'same'-padding kernel size: a positive odd int or a pair of them."""
    pair = (value, value) if isinstance(value, int) else value
    ok = isinstance(pair, (tuple, list)) and len(pair) == 2
    ok = ok and all(isinstance(k, int) and not isinstance(k, bool) and k > 0 for k in pair)
    if not ok or not all(k % 2 == 1 for k in pair):
        raise ValueError(
            f"kernel_size must be a positive odd int or a pair of them ('same' padding), "
            f"got {value!r}"
        )
    return (pair[0], pair[1])


def check_spatial_size(value: tuple[int, int] | None) -> tuple[int, int] | None:
    """Validate an optional (H, W) pair of positive ints."""
    if value is None:
        return None
    if not isinstance(value, (tuple, list, torch.Size)) or len(value) != 2:
        raise ValueError(f"spatial_size must be a pair (H, W), got {value!r}")
    return (check_size("spatial_size[0]", value[0]), check_size("spatial_size[1]", value[1]))


def conv_over_leading(x: Tensor, weight: Tensor, bias: Tensor | None, padding: tuple) -> Tensor:
    """'same' 2-D convolution of x (..., C, H, W) -> (..., O, H, W), any leading dims."""
    y = F.conv2d(x.reshape(-1, *x.shape[-3:]), weight, bias, padding=padding)
    return y.reshape(*x.shape[:-3], *y.shape[-3:])


class ConvCell(RecurrentCell):
    """Bookkeeping shared by the convolutional cells: init and spatially sized zero states.

    Subclasses set ``kernel_size`` (kh, kw) and ``spatial_size`` ((H, W) or None).
    """

    kernel_size: tuple[int, int]
    spatial_size: tuple[int, int] | None

    def reset_parameters(self) -> None:
        """Every parameter uniform(-1/sqrt(Hc kh kw), 1/sqrt(Hc kh kw))."""
        bound = 1.0 / math.sqrt(self.hidden_size * self.kernel_size[0] * self.kernel_size[1])
        for param in self.parameters():
            nn.init.uniform_(param, -bound, bound)

    def zero_map(
        self,
        batch_size: int,
        spatial_size: tuple[int, int] | None,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> Tensor:
        """Zeros (B, Hc, H, W); (H, W) defaults to the cell's ``spatial_size``."""
        size = check_spatial_size(spatial_size) or self.spatial_size
        if size is None:
            name = type(self).__name__
            raise ValueError(f"initial_state needs spatial_size=(H, W) for a {name}, got None")
        return torch.zeros(batch_size, self.hidden_size, *size, device=device, dtype=dtype)

    def zero_state(self, x: Tensor) -> State:
        """Zero state matching one input step x (B, C, H, W)."""
        size = (x.shape[-2], x.shape[-1])
        return self.initial_state(x.shape[0], spatial_size=size, device=x.device, dtype=x.dtype)


class ConvLSTMCell(ConvCell):
    r"""Convolutional LSTM (Shi et al., 2015, "Convolutional LSTM Network: A Machine Learning
    Approach for Precipitation Nowcasting", eq. 3).

    .. math::
        a_t = W_{ih} * X_t + b_{ih} + W_{hh} * H_{t-1} + b_{hh}
        i_t, f_t, g_t, o_t = \mathrm{split}_4(a_t)  \text{ (along channels)}
        i_t \mathrel{+}= W_{ci} \odot C_{t-1}, \quad f_t \mathrel{+}= W_{cf} \odot C_{t-1}
        C_t = \sigma(f_t) \odot C_{t-1} + \sigma(i_t) \odot \tanh(g_t)
        o_t \mathrel{+}= W_{co} \odot C_t
        H_t = \sigma(o_t) \odot \tanh(C_t)

    :math:`*` is 2-D cross-correlation with 'same' zero padding (``F.conv2d``, odd kernels,
    stride 1), :math:`\odot` the Hadamard product; the three peephole lines apply only with
    ``peephole=True``. Sizes are channels: ``input_size`` = C and ``hidden_size`` = Hc.

    Shapes: input X_t (B, C, H, W); state ``LSTMState(h, c)``, each (B, Hc, H, W).
    Parameters: ``weight_ih`` (4Hc, C, kh, kw), ``weight_hh`` (4Hc, Hc, kh, kw), packed
    (i | f | g | o) along dim 0 like ``torch.nn.LSTMCell`` (a 1x1 kernel is exactly an
    ``LSTMCell`` at every pixel); ``bias_ih``, ``bias_hh`` (4Hc,) when ``bias``; peepholes
    ``weight_ci``, ``weight_cf``, ``weight_co`` (Hc, H, W) when ``peephole`` -- they are
    per-position, so the cell is then tied to ``spatial_size``. Init: every parameter
    uniform(-1/sqrt(Hc kh kw), 1/sqrt(Hc kh kw)), torch's RNN init with the recurrent
    fan-in Hc kh kw in place of H. ``project_input`` is the input convolution (hoistable over
    (T, B, C, H, W)). The candidate :math:`\tanh(g_t)` passes through ``self.candidate``.

    Args:
        input_channels: C, channels of X_t.
        hidden_channels: Hc, channels of H_t and C_t.
        kernel_size: odd int or (kh, kw) pair of odd ints.
        peephole: add the Hadamard peephole terms (needs ``spatial_size``).
        bias: use ``bias_ih`` and ``bias_hh``.
        spatial_size: (H, W) of the maps; required with ``peephole``, optional otherwise
            (then the default for :meth:`initial_state`).
    """

    def __init__(
        self,
        input_channels: int,
        hidden_channels: int,
        *,
        kernel_size: int | tuple[int, int] = 3,
        peephole: bool = False,
        bias: bool = True,
        spatial_size: tuple[int, int] | None = None,
    ) -> None:
        super().__init__(input_channels, hidden_channels)
        self.kernel_size = check_kernel_size(kernel_size)
        self.padding = (self.kernel_size[0] // 2, self.kernel_size[1] // 2)
        self.peephole = check_bool("peephole", peephole)
        self.bias = check_bool("bias", bias)
        self.spatial_size = check_spatial_size(spatial_size)
        if peephole and self.spatial_size is None:
            raise ValueError(
                "peephole=True needs spatial_size=(H, W) for its per-position weights, got None"
            )
        C, Hc, (kh, kw) = input_channels, hidden_channels, self.kernel_size
        self.weight_ih = nn.Parameter(torch.empty(4 * Hc, C, kh, kw))
        self.weight_hh = nn.Parameter(torch.empty(4 * Hc, Hc, kh, kw))
        self.bias_ih = nn.Parameter(torch.empty(4 * Hc)) if bias else None
        self.bias_hh = nn.Parameter(torch.empty(4 * Hc)) if bias else None
        peep_shape = (Hc, *self.spatial_size) if peephole else None
        for name in ("weight_ci", "weight_cf", "weight_co"):
            param = nn.Parameter(torch.empty(peep_shape)) if peep_shape else None
            self.register_parameter(name, param)
        self.reset_parameters()

    def initial_state(
        self,
        batch_size: int,
        *,
        spatial_size: tuple[int, int] | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> LSTMState:
        """Zero ``LSTMState(h, c)``, each (B, Hc, H, W); (H, W) defaults to ``spatial_size``."""
        h = self.zero_map(batch_size, spatial_size, device=device, dtype=dtype)
        return LSTMState(h, torch.zeros_like(h))

    def project_input(self, x: Tensor) -> Tensor:
        """W_ih * x + b_ih: (..., C, H, W) -> (..., 4Hc, H, W)."""
        return conv_over_leading(x, self.weight_ih, self.bias_ih, self.padding)

    def step(self, gx: Tensor, state: LSTMState) -> tuple[Tensor, LSTMState]:
        """One step from ``gx = W_ih * x_t + b_ih`` (B, 4Hc, H, W) and ``LSTMState(h, c)``."""
        h, c = state
        if self.peephole and tuple(c.shape[-2:]) != self.spatial_size:
            raise ValueError(
                f"peephole weights are for spatial size {self.spatial_size}, "
                f"got maps of size {tuple(c.shape[-2:])}"
            )
        gates = gx + F.conv2d(h, self.weight_hh, self.bias_hh, padding=self.padding)
        i, f, g, o = gates.chunk(4, dim=-3)  # (B, Hc, H, W) each
        if self.peephole:
            i = i + self.weight_ci * c
            f = f + self.weight_cf * c
        c = f.sigmoid() * c + i.sigmoid() * self.candidate(g.tanh())  # (B, Hc, H, W)
        if self.peephole:
            o = o + self.weight_co * c
        h = o.sigmoid() * c.tanh()  # (B, Hc, H, W)
        return h, LSTMState(h, c)

    def num_parameters(self) -> int:
        """4Hc kh kw (C + Hc) weights, 8Hc biases, 3 Hc H W peepholes (when enabled)."""
        C, Hc, (kh, kw) = self.input_size, self.hidden_size, self.kernel_size
        count = 4 * Hc * kh * kw * (C + Hc) + (8 * Hc if self.bias else 0)
        if self.peephole:
            count += 3 * Hc * self.spatial_size[0] * self.spatial_size[1]
        return count

    def extra_repr(self) -> str:
        return (
            f"{self.input_size}, {self.hidden_size}, kernel_size={self.kernel_size}, "
            f"peephole={self.peephole}, bias={self.bias}, spatial_size={self.spatial_size}"
        )
