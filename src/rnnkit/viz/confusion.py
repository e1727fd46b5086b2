"""Confusion matrices of classifiers and taggers, true classes as rows, predictions as columns.

Each cell shows its count; its colour is the count's share of the row (the recall of the row's
class on the diagonal), so rare and frequent classes read alike. PNG via matplotlib (``plot``
extra).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.viz.figures import pyplot, save_png

MAX_ANNOTATED = 30  # above this many classes the counts are not written in the cells


def confusion_figure(
    confusion: Sequence[Sequence[int]], labels: Sequence[str], *, title: str | None = None
) -> Any:
    """The matplotlib figure of a (K, K) count matrix with ``labels`` on both axes."""
    counts = np.asarray(confusion, dtype=np.int64)  # (K, K)
    if counts.shape != (len(labels), len(labels)):
        raise ValueError(f"confusion is {counts.shape}, labels {len(labels)}")
    rows = counts.sum(1, keepdims=True)
    shares = np.divide(counts, rows, out=np.zeros(counts.shape), where=rows > 0)
    plt = pyplot()
    side = max(3.5, 0.42 * len(labels) + 1.8)
    fig, ax = plt.subplots(figsize=(side + 0.8, side))
    image = ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(labels)), labels=list(labels), rotation=90)
    ax.set_yticks(range(len(labels)), labels=list(labels))
    ax.set(xlabel="predicted", ylabel="true", title=title or "confusion matrix")
    if len(labels) <= MAX_ANNOTATED:
        for (i, j), n in np.ndenumerate(counts):
            ax.text(j, i, str(n), ha="center", va="center", fontsize="small",
                    color="white" if shares[i, j] > 0.6 else "black")  # fmt: skip
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    fig.tight_layout()
    return fig


def plot_confusion(
    confusion: Sequence[Sequence[int]],
    labels: Sequence[str],
    path: str | Path,
    *,
    title: str | None = None,
) -> Path:
    """Save the confusion matrix to ``path`` (PNG)."""
    fig = confusion_figure(confusion, labels, title=title)
    return save_png(fig, path)
