"""Convolutional GRU (Ballas et al., 2016, after Shi et al., 2015's ConvLSTM)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.cells.conv_lstm import (
    ConvCell,
    check_kernel_size,
    check_spatial_size,
    conv_over_leading,
)
from rnnkit.checks import check_bool


class ConvGRUCell(ConvCell):
    r"""Convolutional GRU (Ballas, Yao, Pal & Courville, 2016, "Delving Deeper into Convolutional
    Networks for Learning Video Representations", eq. 4-7; convolutions in place of the GRU's
    matrix products as in Shi et al., 2015).

    .. math::
        a_t = W_{ih} * X_t + b_{ih}, \quad
        r_t = \sigma(a_{t,r} + W_{hr} * H_{t-1} + b_{hr}), \quad
        z_t = \sigma(a_{t,z} + W_{hz} * H_{t-1} + b_{hz})
        n_t = \tanh(a_{t,n} + W_{hn} * (r_t \odot H_{t-1}) + b_{hn})
            \quad \text{(reset\_after=False, the paper's form)}
        n_t = \tanh(a_{t,n} + r_t \odot (W_{hn} * H_{t-1} + b_{hn}))
            \quad \text{(reset\_after=True, torch.nn.GRUCell's form)}
        H_t = (1 - z_t) \odot n_t + z_t \odot H_{t-1}

    :math:`*` is 2-D cross-correlation with 'same' zero padding (``F.conv2d``, odd kernels,
    stride 1); :math:`a_{t,r}, a_{t,z}, a_{t,n}` are the three Hc-channel slices of
    :math:`a_t`. :math:`z_t` is torch's "keep" gate; the paper writes the same update with
    :math:`1 - z_t` (equivalent up to the sign of the z parameters). Sizes are channels:
    ``input_size`` = C and ``hidden_size`` = Hc.

    Shapes: input X_t (B, C, H, W); state H_t (B, Hc, H, W). Parameters: ``weight_ih``
    (3Hc, C, kh, kw), ``weight_hh`` (3Hc, Hc, kh, kw), packed (r | z | n) along dim 0 like
    ``torch.nn.GRUCell`` (with ``reset_after=True`` a 1x1 kernel is exactly a ``GRUCell`` at
    every pixel); ``bias_ih``, ``bias_hh`` (3Hc,) when ``bias``. Init: every parameter
    uniform(-1/sqrt(Hc kh kw), 1/sqrt(Hc kh kw)), torch's RNN init with the recurrent fan-in
    Hc kh kw in place of H. ``project_input`` is the input convolution (hoistable over
    (T, B, C, H, W)). The candidate :math:`n_t` passes through ``self.candidate``.

    Args:
        input_channels: C, channels of X_t.
        hidden_channels: Hc, channels of H_t.
        kernel_size: odd int or (kh, kw) pair of odd ints.
        bias: use ``bias_ih`` and ``bias_hh``.
        reset_after: apply the reset gate after the recurrent convolution (torch's form,
            one recurrent convolution per step) instead of before it (the paper's form).
        spatial_size: optional (H, W), the default for :meth:`initial_state`.
    """

    def __init__(
        self,
        input_channels: int,
        hidden_channels: int,
        *,
        kernel_size: int | tuple[int, int] = 3,
        bias: bool = True,
        reset_after: bool = False,
        spatial_size: tuple[int, int] | None = None,
    ) -> None:
        super().__init__(input_channels, hidden_channels)
        self.kernel_size = check_kernel_size(kernel_size)
        self.padding = (self.kernel_size[0] // 2, self.kernel_size[1] // 2)
        self.bias = check_bool("bias", bias)
        self.reset_after = check_bool("reset_after", reset_after)
        self.spatial_size = check_spatial_size(spatial_size)
        C, Hc, (kh, kw) = input_channels, hidden_channels, self.kernel_size
        self.weight_ih = nn.Parameter(torch.empty(3 * Hc, C, kh, kw))
        self.weight_hh = nn.Parameter(torch.empty(3 * Hc, Hc, kh, kw))
        self.bias_ih = nn.Parameter(torch.empty(3 * Hc)) if bias else None
        self.bias_hh = nn.Parameter(torch.empty(3 * Hc)) if bias else None
        self.reset_parameters()

    def initial_state(
        self,
        batch_size: int,
        *,
        spatial_size: tuple[int, int] | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> Tensor:
        """Zero H_0 (B, Hc, H, W); (H, W) defaults to the cell's ``spatial_size``."""
        return self.zero_map(batch_size, spatial_size, device=device, dtype=dtype)

    def project_input(self, x: Tensor) -> Tensor:
        """W_ih * x + b_ih: (..., C, H, W) -> (..., 3Hc, H, W)."""
        return conv_over_leading(x, self.weight_ih, self.bias_ih, self.padding)

    def _recurrent_conv(self, h: Tensor, rows: slice) -> Tensor:
        """W_hh[rows] * h + b_hh[rows]: the recurrent convolution for some gate channels."""
        bias = None if self.bias_hh is None else self.bias_hh[rows]
        return F.conv2d(h, self.weight_hh[rows], bias, padding=self.padding)

    def step(self, gx: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """One step from ``gx = W_ih * x_t + b_ih`` (B, 3Hc, H, W) and H_{t-1} (B, Hc, H, W)."""
        h, Hc = state, self.hidden_size
        xr, xz, xn = gx.chunk(3, dim=-3)  # (B, Hc, H, W) each
        if self.reset_after:
            hr, hz, hn = self._recurrent_conv(h, slice(0, 3 * Hc)).chunk(3, dim=-3)
            r = torch.sigmoid(xr + hr)
            n = torch.tanh(xn + r * hn)
        else:
            hr, hz = self._recurrent_conv(h, slice(0, 2 * Hc)).chunk(2, dim=-3)
            r = torch.sigmoid(xr + hr)
            n = torch.tanh(xn + self._recurrent_conv(r * h, slice(2 * Hc, 3 * Hc)))
        z = torch.sigmoid(xz + hz)
        h = (1 - z) * self.candidate(n) + z * h  # (B, Hc, H, W)
        return h, h

    def num_parameters(self) -> int:
        """3Hc kh kw (C + Hc) weights and 6Hc biases (when enabled)."""
        C, Hc, (kh, kw) = self.input_size, self.hidden_size, self.kernel_size
        return 3 * Hc * kh * kw * (C + Hc) + (6 * Hc if self.bias else 0)

    def extra_repr(self) -> str:
        return (
            f"{self.input_size}, {self.hidden_size}, kernel_size={self.kernel_size}, "
            f"bias={self.bias}, reset_after={self.reset_after}"
        )
