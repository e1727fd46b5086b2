r"""Predicting the next frames of an image sequence: convolutional or fully connected LSTMs.

``FramesModel`` reads ``T_in`` frames and predicts the next ``T_out`` (Shi et al. 2015, the
encoder–forecaster of their Fig. 3)::

    x_t  = space_to_depth(frame_t, p)             (B, p² , H/p, W/p)   patches as channels
    encoder:    s = Stacked(cells)(x_1 … x_{T_in})                        its final states
    forecaster: o = Stacked(cells)(0 … 0, initial state s)               T_out steps, no input
    logits_t = depth_to_space(Conv1x1(o_t), p)     (B, 1, H, W)          ŷ_t = σ(logits_t)

with convolutional cells (``convlstm``: :class:`~rnnkit.cells.ConvLSTMCell`; ``convgru``:
:class:`~rnnkit.cells.ConvGRUCell`), or, as the fully connected baseline Shi et al. compared
against (``fc-lstm``), an LSTM over each flattened frame (``H W`` inputs) with a linear read-out.
The loss is the binary cross-entropy of ``ŷ`` against the true frames (pixels in [0, 1]); the
report's error is the squared error summed over a frame's pixels, averaged over frames (the
Moving-MNIST "per-frame MSE").

Shapes: ``frames`` (B, T_in + T_out, H, W) float in [0, 1]; ``predict`` returns
(B, T_out, H, W) probabilities.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.cells.conv_gru import ConvGRUCell
from rnnkit.cells.conv_lstm import ConvLSTMCell
from rnnkit.layers.recurrent import Recurrent
from rnnkit.layers.rnn import LSTM
from rnnkit.layers.stacked import Stacked
from rnnkit.options import option
from rnnkit.tasks.pretrained import Pretrained

FORMAT = "rnnkit.frames/1"
MODELS = ("convlstm", "convgru", "fc-lstm")


@dataclass(frozen=True)
class FramesConfig:
    """Architecture of a :class:`FramesModel`; ``canvas`` and the frame counts come from the
    data."""

    canvas: int  # H = W of a frame
    frames_in: int
    frames_out: int
    model: str = option("convlstm", "the recurrent core", choices=MODELS)
    hidden_channels: int = option(64, "conv models: channels per layer", low=1, high=4096)
    kernel_size: int = option(5, "conv models: odd kernel size", low=1, high=31)
    patch: int = option(4, "conv models: p x p pixels per position (space to depth)", low=1,
                        high=64)  # fmt: skip
    hidden_size: int = option(1024, "fc-lstm: units per layer", low=1, high=65536)
    num_layers: int = option(2, "stacked recurrent layers in the encoder and the forecaster",
                             low=1, high=16)  # fmt: skip

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {', '.join(MODELS)}, got {self.model!r}")
        if self.model != "fc-lstm" and self.canvas % self.patch:
            raise ValueError(f"patch {self.patch} does not divide the {self.canvas}-pixel canvas")
        if self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd ('same' padding), got {self.kernel_size}")
        for name in ("canvas", "frames_in", "frames_out"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


class FramesModel(Pretrained):
    """The encoder–forecaster of the module docstring."""

    FORMAT, KIND = FORMAT, "frames"
    CONFIG = FramesConfig
    METRICS = ("mse", "bce")  # what evaluate() measures; the first picks the best model

    def __init__(self, config: FramesConfig) -> None:
        super().__init__()
        self.config = config
        if config.model == "fc-lstm":
            D, H, L = config.canvas**2, config.hidden_size, config.num_layers
            self.encoder = LSTM(D, H, num_layers=L, batch_first=True)
            self.forecaster = LSTM(1, H, num_layers=L, batch_first=True)
            self.readout = nn.Linear(H, D)
        else:
            channels = config.patch**2
            self.encoder = self._conv_stack(channels)
            self.forecaster = self._conv_stack(1)
            self.readout = nn.Conv2d(config.hidden_channels, channels, kernel_size=1)

    def _conv_stack(self, first_channels: int) -> Stacked:
        c = self.config
        cell = ConvLSTMCell if c.model == "convlstm" else ConvGRUCell
        sizes = [first_channels] + [c.hidden_channels] * (c.num_layers - 1)
        return Stacked([
            Recurrent(cell(size, c.hidden_channels, kernel_size=c.kernel_size), batch_first=True)
            for size in sizes
        ])  # fmt: skip

    def forward(self, inputs: Tensor) -> Tensor:
        """(B, T_in, H, W) frames -> (B, T_out, H, W) logits of the next frames."""
        c, (B, _, H, W) = self.config, inputs.shape
        if c.model == "fc-lstm":
            _, state = self.encoder(inputs.flatten(2))  # (B, T_in, H W)
            zeros = inputs.new_zeros(B, c.frames_out, 1)
            out, _ = self.forecaster(zeros, state)  # (B, T_out, H_lstm)
            return self.readout(out).unflatten(2, (H, W))
        x = F.pixel_unshuffle(inputs.unsqueeze(2).flatten(0, 1), c.patch)  # (B T, p², h, w)
        _, state = self.encoder(x.unflatten(0, (B, -1)))
        zeros = x.new_zeros(B, c.frames_out, 1, *x.shape[-2:])
        out, _ = self.forecaster(zeros, state)  # (B, T_out, Hc, h, w)
        logits = self.readout(out.flatten(0, 1))  # (B T_out, p², h, w)
        return F.pixel_shuffle(logits, c.patch).reshape(B, c.frames_out, H, W)

    def split(self, frames: Tensor) -> tuple[Tensor, Tensor]:
        """(B, T, H, W) -> the observed frames and the ones to predict."""
        n = self.config.frames_in
        return frames[:, :n], frames[:, n : n + self.config.frames_out]

    @torch.no_grad()
    def predict(self, inputs: Tensor) -> Tensor:
        """(B, T_in, H, W) -> (B, T_out, H, W) predicted frames in [0, 1]."""
        was_training = self.training
        self.eval()
        predicted = self(inputs).sigmoid()
        self.train(was_training)
        return predicted

    # -- the Trainer's contract -------------------------------------------------------

    def loss(self, batch: Tensor) -> tuple[Tensor, dict[str, Any]]:
        """Binary cross-entropy per pixel of the predicted frames."""
        inputs, targets = self.split(batch)
        loss = F.binary_cross_entropy_with_logits(self(inputs), targets)
        return loss, {"tokens": targets.numel()}

    def evaluate(self, batches: Iterable[Tensor]) -> dict[str, float]:
        """Per-frame squared error (summed over pixels) and per-pixel cross-entropy."""
        se = bce = frames = pixels = 0.0
        for batch in batches:
            inputs, targets = self.split(batch)
            logits = self(inputs)
            se += (logits.sigmoid() - targets).pow(2).sum().item()
            bce += F.binary_cross_entropy_with_logits(logits, targets, reduction="sum").item()
            frames += targets.shape[0] * targets.shape[1]
            pixels += targets.numel()
        return {"mse": se / frames, "bce": bce / pixels}

    # -- checkpoints ----------------------------------------------------------------

    @classmethod
    def from_checkpoint_config(cls, raw: dict[str, Any]) -> FramesModel:
        return cls(FramesConfig(**raw["model"]))


def per_frame_mse(predicted: Tensor, targets: Tensor) -> float:
    """Squared error summed over each frame's pixels, averaged over frames and sequences."""
    return (predicted - targets).pow(2).sum((-2, -1)).mean().item()
