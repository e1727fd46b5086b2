"""Shape checks at the public fused functions: the compiled kernels index raw pointers.

A (1, H) mask that torch would broadcast is read by the kernels as (B, H): past its end.
So every tensor is checked against the sizes ``gx`` and ``h0`` fix before any loop runs.
"""

from __future__ import annotations

from torch import Tensor

from rnnkit.layers.fused.lstm import LSTMMasks


def _expect(
    fn: str, name: str, t: Tensor | None, *shapes: tuple[int, ...], optional: bool = True
) -> None:
    """Raise a ValueError unless ``t`` has one of ``shapes`` (or is None, if ``optional``)."""
    if (t is None and optional) or (isinstance(t, Tensor) and tuple(t.shape) in shapes):
        return
    wanted = " or ".join(str(s) for s in shapes)
    raise ValueError(f"{fn}: {name} must have shape {wanted}, got {_shape(t)}")


def _sizes(fn: str, gx: Tensor, h0: Tensor, gates: int) -> tuple[int, int, int]:
    """(T, B, H) from gx (T, B, gates*H) and h0 (B, H), or a ValueError."""
    if not isinstance(gx, Tensor) or gx.dim() != 3:
        raise ValueError(f"{fn}: gx must be a (T, B, {gates}H) tensor, got {_shape(gx)}")
    if not isinstance(h0, Tensor) or h0.dim() != 2:
        raise ValueError(f"{fn}: h0 must be a (B, H) tensor, got {_shape(h0)}")
    T, B, G = gx.shape
    H = h0.shape[1]
    if h0.shape[0] != B or gates * H != G:
        wanted = f"(T, B, {gates}H) for h0 (B, H) = {tuple(h0.shape)}"
        raise ValueError(f"{fn}: gx must be {wanted}, got {tuple(gx.shape)}")
    return T, B, H


def _shape(x: object) -> str:
    return str(tuple(x.shape)) if isinstance(x, Tensor) else type(x).__name__


def _check_masks(fn: str, masks: LSTMMasks, T: int, B: int, H: int) -> None:
    """Masks are (B, H); zone weights a float or (T, B, H) / (T, B, 1): no broadcasting."""
    for name in ("candidate", "state"):
        _expect(fn, f"masks.{name}", _tensor(fn, masks, name), (B, H))
    for name in ("zone_h", "zone_c"):
        _expect(fn, f"masks.{name}", _tensor(fn, masks, name), (T, B, H), (T, B, 1))


def _tensor(fn: str, masks: LSTMMasks, name: str) -> Tensor | None:
    """The mask field as a tensor (None or a float zone weight: None), or a ValueError."""
    value = getattr(masks, name)
    if value is None or isinstance(value, Tensor):
        return value
    if name.startswith("zone") and isinstance(value, (int, float)) and not isinstance(value, bool):
        return None
    raise ValueError(f"{fn}: masks.{name} must be a tensor or None, got {value!r}")


def check_lstm(
    gx: Tensor,
    h0: Tensor,
    c0: Tensor,
    weight_hh: Tensor,
    tensors: dict[str, Tensor | None],
    masks: LSTMMasks,
) -> None:
    """``fused_lstm``'s arguments against gx (T, B, 4H) and h0 (B, H)."""
    fn = "fused_lstm"
    T, B, H = _sizes(fn, gx, h0, 4)
    _expect(fn, "c0", c0, (B, H), optional=False)
    _expect(fn, "weight_hh", weight_hh, (4 * H, H), optional=False)
    sizes = {"bias": (4 * H,), "peephole": (3, H), "norm_hh gain": (4 * H,)}
    sizes.update({"norm_hh bias": (4 * H,), "norm_c gain": (H,), "norm_c bias": (H,)})
    for name, t in tensors.items():
        _expect(fn, name, t, sizes[name])
    _check_masks(fn, masks, T, B, H)


def check_gru(
    gx: Tensor, h0: Tensor, weight_hh: Tensor, bias_hh: Tensor | None, masks: LSTMMasks
) -> None:
    """``fused_gru``'s arguments against gx (T, B, 3H) and h0 (B, H)."""
    fn = "fused_gru"
    T, B, H = _sizes(fn, gx, h0, 3)
    _expect(fn, "weight_hh", weight_hh, (3 * H, H), optional=False)
    _expect(fn, "bias_hh", bias_hh, (3 * H,))
    _check_masks(fn, masks, T, B, H)
