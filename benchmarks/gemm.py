"""The per-step recurrent GEMM: ``torch.addmm`` against oneDNN's pre-packed weights.

Forward: ``gx_t + h @ W_hh.T`` with h (B, H), W_hh (G, H); backward: ``dout + dA @ W_hh``
with dA (B, G). This is what ``rnnkit.layers.fused.gemm.StepGEMM`` chooses between.
"""

from __future__ import annotations

import torch
from models import Config
from timing import interleaved

from rnnkit.layers.fused.gemm import _HAS_MKLDNN


def _calls(B: int, K: int, N: int) -> dict[str, object]:
    """``other + x @ W.T`` for x (B, K), W (N, K), timed both ways."""
    x, w, other = torch.randn(B, K), torch.randn(N, K), torch.randn(B, N)
    w_t = w.t()
    calls = {"torch.addmm": lambda: torch.addmm(other, x, w_t)}
    if _HAS_MKLDNN:
        packed = torch.ops.mkldnn._reorder_linear_weight(w, B)
        binary = torch.ops.mkldnn._linear_pointwise.binary
        calls["oneDNN packed"] = lambda: binary(x, other, packed, None, "add")
    return calls


def gemm_rows(configs: list[Config], rounds: int) -> list[tuple[str, str, float, float]]:
    """(shape label, variant, µs per call, GFLOP/s) for the LSTM and GRU step GEMMs."""
    rows = []
    for cfg in configs:
        for family, gates in (("LSTM", 4), ("GRU", 3)):
            G = gates * cfg.H
            for direction, (K, N) in (("forward", (cfg.H, G)), ("backward", (G, cfg.H))):
                label = f"{cfg.name} {family} {direction} [{cfg.B}×{K}]·[{K}×{N}]"
                times = interleaved(_calls(cfg.B, K, N), rounds=rounds, min_time=0.01)
                flops = 2.0 * cfg.B * K * N
                rows += [(label, name, t * 1e6, flops / t / 1e9) for name, t in times.items()]
    return rows


def gemm_table(rows: list[tuple[str, str, float, float]]) -> str:
    lines = [
        "## The per-step recurrent GEMM\n",
        "`StepGEMM` uses oneDNN's packed weights for the forward step (float32, CPU, B ≥ 8) "
        "and `torch.addmm` for the backward step.\n",
        "| step GEMM | variant | µs | GFLOP/s |",
        "| --- | --- | ---: | ---: |",
    ]
    lines += [f"| {label} | {name} | {us:.1f} | {gf:.1f} |" for label, name, us, gf in rows]
    return "\n".join(lines) + "\n\n"
