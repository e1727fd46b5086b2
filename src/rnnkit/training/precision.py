"""Mixed precision: autocast around the forward pass and loss, gradient scaling for fp16.

``fp32`` runs everything in float32. ``bf16`` and ``fp16`` run the model's forward pass and
loss under :func:`torch.autocast`: the ops on autocast's lower-precision list (linear,
matmul, oneDNN's LSTM) compute in the low dtype on cast copies of the weights, while the
parameters, their gradients and the optimiser state stay float32 (nothing is converted, so
checkpoints stay float32). ``fp16`` (CUDA only) also scales the loss before ``backward`` with a
:class:`torch.amp.GradScaler`, so that small gradients do not flush to zero; a step whose
scaled gradients overflow is skipped and the scale lowered. Which op runs in which dtype:
docs/training.md, "Mixed precision".
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch
from torch import nn

from rnnkit.errors import RnnkitError

PRECISIONS = ("fp32", "bf16", "fp16")
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class PrecisionError(RnnkitError, ValueError):
    """The requested precision cannot run on this device."""


def cpu_has_bf16() -> bool:
    """Whether torch's oneDNN computes bfloat16 natively on this CPU (AVX-512 or AMX).

    Without it (an AVX2-only CPU), torch's bf16 matmuls fall back to slow loops and its
    oneDNN LSTM has no bf16 primitive: autocast makes ``torch.nn.LSTM`` fail.
    """
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def check_precision(precision: str, device: torch.device) -> None:
    """Refuse a precision the device cannot run, with a one-line reason."""
    if precision == "fp16" and device.type != "cuda":
        raise PrecisionError(
            f"precision fp16 runs only on CUDA (fp16 autocast with gradient scaling), not on "
            f"{device.type}; use bf16 or fp32"
        )
    if precision == "bf16" and device.type == "cpu" and not cpu_has_bf16():
        capability = torch.backends.cpu.get_cpu_capability()
        raise PrecisionError(
            f"precision bf16 needs a CPU with native bfloat16 (AVX-512 or AMX); this one has "
            f"{capability}: bf16 matmuls run slower than float32 and torch's LSTM has no bf16 "
            "kernel here; use fp32"
        )
    if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise PrecisionError("precision bf16: this CUDA device has no bfloat16; use fp16 or fp32")


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (CPU for a model without any)."""
    first = next(model.parameters(), None)
    return first.device if first is not None else torch.device("cpu")


class Precision:
    """The autocast context and the gradient scaler of one training run.

    Args:
        precision: ``fp32``, ``bf16`` or ``fp16`` (checked against the device).
        device: where the model lives.
        scaler: a gradient scaler to use instead of the default (fp16: a new one; else none).
    """

    def __init__(
        self,
        precision: str,
        device: torch.device | str,
        *,
        scaler: torch.amp.GradScaler | None = None,
    ) -> None:
        device = torch.device(device)
        check_precision(precision, device)
        self.name, self.device_type = precision, device.type
        self.dtype = DTYPES.get(precision)
        if scaler is None and precision == "fp16":
            scaler = torch.amp.GradScaler(device.type)
        self.scaler = scaler

    @classmethod
    def for_model(cls, precision: str, model: nn.Module) -> Precision:
        return cls(precision, model_device(model))

    @property
    def scaling(self) -> bool:
        """Whether gradients are scaled (an overflow then skips the step, not the run)."""
        return self.scaler is not None

    def autocast(self) -> AbstractContextManager:
        """The context the forward pass and loss run in (nothing for fp32)."""
        if self.dtype is None:
            return nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def backward(self, loss: torch.Tensor) -> None:
        """``loss.backward()``, on the scaled loss when gradients are scaled."""
        (loss if self.scaler is None else self.scaler.scale(loss)).backward()

    def unscale(self, optimizer: torch.optim.Optimizer) -> None:
        """Divide the gradients by the scale (before clipping); records any overflow."""
        if self.scaler is not None:
            self.scaler.unscale_(optimizer)

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        """The optimiser step; with a scaler, skipped after an overflow, and the scale updated."""
        if self.scaler is None:
            optimizer.step()
            return
        self.scaler.step(optimizer)
        self.scaler.update()

    def skip(self) -> None:
        """No step this time (a non-finite loss): the scaler still closes the iteration."""
        if self.scaler is not None:
            self.scaler.update()

    def state_dict(self) -> dict[str, Any] | None:
        """The scaler's scale and growth counter (JSON), or None without a scaler."""
        return None if self.scaler is None else self.scaler.state_dict()

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        if self.scaler is not None and state is not None:
            self.scaler.load_state_dict(state)
