"""Attention heatmaps: output tokens as rows, input tokens as columns, saved as PNG."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from torch import Tensor

from rnnkit.viz.figures import pyplot, save_png


def plot_attention(
    weights: Tensor,
    rows: Sequence[str],
    columns: Sequence[str],
    path: str | Path,
    *,
    title: str | None = None,
) -> Path:
    """Save a heatmap of ``weights`` (len(rows), len(columns)) to ``path`` (PNG)."""
    if tuple(weights.shape) != (len(rows), len(columns)):
        raise ValueError(f"weights are {tuple(weights.shape)}, labels {len(rows)} x {len(columns)}")
    plt = pyplot()
    size = (max(3.0, 0.35 * len(columns) + 1.5), max(2.5, 0.35 * len(rows) + 1.2))
    fig, ax = plt.subplots(figsize=size)
    image = ax.imshow(weights.detach().float().cpu().numpy(), cmap="viridis", vmin=0.0,
                      vmax=1.0, aspect="auto")  # fmt: skip
    ax.set_xticks(range(len(columns)), labels=list(columns), rotation=90)
    ax.set_yticks(range(len(rows)), labels=list(rows))
    ax.set_xlabel("input")
    ax.set_ylabel("output")
    if title:
        ax.set_title(title)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    return save_png(fig, path, dpi=120)
