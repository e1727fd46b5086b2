"""The public fused functions check shapes before the kernels index raw pointers; NaN inputs.

A (1, H) mask broadcasts in torch but the compiled kernels read it as (B, H), past its end;
``fused_lstm``/``fused_gru`` must refuse it with a ValueError before any kernel runs. The
NaN test builds the kernels with UBSan's float-cast check (converting NaN to an integer is
undefined behaviour) and runs NaN and infinite inputs through them.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest
import torch

from rnnkit.layers.fused import LSTMMasks, fused_gru, fused_lstm, kernels

T, B, H = 5, 3, 4
KERNELS_CPP = Path(kernels.__file__).with_name("_kernels.cpp")


def lstm_args():
    g = torch.Generator().manual_seed(0)
    gx = torch.randn(T, B, 4 * H, generator=g)
    h0, c0 = torch.randn(2, B, H, generator=g)
    return gx, h0, c0, torch.randn(4 * H, H, generator=g)


class NoKernel:
    """Stands in for the kernel module: any call is a failure (shapes come first)."""

    def __getattr__(self, name):
        raise AssertionError(f"kernel {name} reached")


BAD_MASKS = {
    "candidate (1, H)": (LSTMMasks(candidate=torch.ones(1, H)), "masks.candidate", r"\(3, 4\)"),
    "state (H,)": (LSTMMasks(state=torch.ones(H)), "masks.state", r"\(3, 4\)"),
    "zone_h (1, B, H)": (LSTMMasks(zone_h=torch.ones(1, B, H)), "masks.zone_h", r"\(5, 3, 4\)"),
    "zone_h (T, 1, H)": (LSTMMasks(zone_h=torch.ones(T, 1, H)), "masks.zone_h", r"\(5, 3, 1\)"),
    "zone_h a list": (LSTMMasks(zone_h=[0.5]), "masks.zone_h", "a tensor or None"),
}


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("case", list(BAD_MASKS))
def test_broadcastable_masks_are_refused_before_the_kernels(kind, case, monkeypatch):
    masks, name, detail = BAD_MASKS[case]
    gx, h0, c0, w = lstm_args()
    monkeypatch.setattr(kernels, "module", NoKernel())
    with pytest.raises(ValueError, match=f"fused_{kind}: {name} must .*{detail}"):
        if kind == "lstm":
            fused_lstm(gx, h0, c0, w, masks=masks)
        else:
            fused_gru(gx[..., : 3 * H], h0, w[: 3 * H], None, masks=masks)


def test_zone_c_is_checked_for_the_lstm():
    gx, h0, c0, w = lstm_args()
    with pytest.raises(ValueError, match=r"masks.zone_c must have shape \(5, 3, 4\) or"):
        fused_lstm(gx, h0, c0, w, masks=LSTMMasks(zone_c=torch.ones(T, B, 2 * H)))


def test_parameters_and_state_must_fit_gx():
    gx, h0, c0, w = lstm_args()
    cases = [
        (lambda: fused_lstm(gx[0], h0, c0, w), r"gx must be a \(T, B, 4H\) tensor, got \(3, 16\)"),
        (lambda: fused_lstm(gx, h0[:2], c0, w), r"gx must be \(T, B, 4H\) for h0 .* = \(2, 4\)"),
        (lambda: fused_lstm(gx, h0, c0[:, :1], w), r"c0 must have shape \(3, 4\), got \(3, 1\)"),
        (lambda: fused_lstm(gx, h0, None, w), r"c0 must have shape \(3, 4\), got NoneType"),
        (lambda: fused_lstm(gx, h0, c0, w.t()), r"weight_hh must have shape \(16, 4\)"),
        (lambda: fused_lstm(gx, h0, c0, w, bias=torch.ones(1)), r"bias must have shape \(16,\)"),
        (lambda: fused_lstm(gx, h0, c0, w, peephole=torch.ones(H)), r"peephole .* \(3, 4\)"),
        (
            lambda: fused_lstm(gx, h0, c0, w, norm_c=(torch.ones(1), torch.zeros(H), 1e-5)),
            r"norm_c gain must have shape \(4,\), got \(1,\)",
        ),
        (lambda: fused_gru(gx, h0, w[: 3 * H], None), r"fused_gru: gx must be \(T, B, 3H\)"),
        (
            lambda: fused_gru(gx[..., : 3 * H], h0, w[: 3 * H], torch.ones(1)),
            r"fused_gru: bias_hh must have shape \(12,\), got \(1,\)",
        ),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()


def test_valid_shapes_still_run_and_agree_with_expanded_masks():
    """The full-shape masks a caller would write instead of (1, H) give the torch-op result."""
    gx, h0, c0, w = lstm_args()
    mask = (torch.rand(1, H, generator=torch.Generator().manual_seed(1)) > 0.5).float() * 2
    full = LSTMMasks(candidate=mask.expand(B, H).contiguous())
    out, h, c = fused_lstm(gx, h0, c0, w, masks=full)
    kernels.ENABLED = False
    try:
        ref = fused_lstm(gx, h0, c0, w, masks=LSTMMasks(candidate=mask.expand(B, H)))
    finally:
        kernels.ENABLED = True
    torch.testing.assert_close((out, h, c), ref)


def _python_include() -> Path | None:
    include = Path(sysconfig.get_paths()["include"])
    return include if (include / "Python.h").exists() else None


def _ubsan_kernels(tmp_path: Path):
    """``_kernels.cpp`` built with UBSan's float-cast check (reporting, not aborting), loaded."""
    so = tmp_path / "_kernels.so"
    flags = ["-O0", "-std=c++17", "-fPIC", "-shared", "-fsanitize=float-cast-overflow"]
    build = subprocess.run(
        ["g++", *flags, f"-I{_python_include()}", str(KERNELS_CPP), "-o", str(so)],
        capture_output=True,
        text=True,
    )
    if build.returncode != 0:
        pytest.skip(f"UBSan build failed: {build.stderr[-300:]}")
    spec = importlib.util.spec_from_file_location("_kernels", so)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(kernels.module is None, reason="compiled kernels not built")
@pytest.mark.skipif(shutil.which("g++") is None or _python_include() is None, reason="no g++")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_nan_input_is_defined_behaviour_under_ubsan(dtype, tmp_path, monkeypatch, capfd):
    """NaN in gives NaN out where it flows, and UBSan reports no NaN-to-int conversion."""
    monkeypatch.setattr(kernels, "module", _ubsan_kernels(tmp_path))
    gx = torch.zeros(4, 2, 12, dtype=dtype)
    gx[1, 0, 0], gx[1, 0, 5], gx[2, 1, 9] = float("nan"), float("inf"), -float("inf")
    h0, w = torch.zeros(2, 3, dtype=dtype), torch.full((12, 3), 0.1, dtype=dtype)
    gx.requires_grad_(True)
    out, _, _ = fused_lstm(gx, h0, h0, w)
    out.sum().backward()
    gru_out, _ = fused_gru(gx[..., :9].detach(), h0, w[:9], None)
    assert "runtime error" not in capfd.readouterr().err
    for o in (out, gru_out):  # unit 0 at step 1, then every unit through W_hh
        assert torch.isnan(o[1, 0, 0]) and torch.isnan(o[2:, 0]).all()
        assert not torch.isnan(o[:1]).any() and not torch.isnan(o[1, 0, 1:]).any()
    assert not torch.isnan(out[:, 1]).any()  # the infinities saturate, they do not poison
