"""Gate saturation: how often each gate is nearly shut or nearly open (inline SVG or PNG).

Karpathy, Johnson & Fei-Fei, "Visualizing and Understanding Recurrent Networks" (2015), Fig. 3:
for every unit of every gate, the fraction of time steps it is left-saturated (< 0.1) against
the fraction it is right-saturated (> 0.9). A forget gate unit high on the y axis remembers for
long stretches; a unit near the origin acts in its linear regime.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from pathlib import Path

import numpy as np
from torch import Tensor

from rnnkit.errors import RnnkitError
from rnnkit.viz.figures import pyplot, save_png

LEFT, RIGHT = 0.1, 0.9  # the saturation thresholds of the paper
LAYER_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")


@dataclass(frozen=True)
class Saturation:
    """Per gate type: the fraction of steps each unit is < 0.1 and > 0.9, each (L, H)."""

    left: dict[str, np.ndarray]
    right: dict[str, np.ndarray]


def gate_saturation(gates: dict[str, Tensor]) -> Saturation:
    """Gate values name -> (L, T, H) to the fractions of the T steps below 0.1 and above 0.9."""
    left = {name: (g < LEFT).double().mean(1).numpy() for name, g in gates.items()}
    right = {name: (g > RIGHT).double().mean(1).numpy() for name, g in gates.items()}
    return Saturation(left, right)


def _panel(name: str, left: np.ndarray, right: np.ndarray, size: int = 200) -> str:
    """One gate type's scatter as an SVG group: x = left-saturated, y = right-saturated."""
    pad, inner = 30, size - 40
    parts = [
        f'<svg class="sat" width="{size}" height="{size}" role="img" '
        f'aria-label="{escape(name)} gate saturation">',
        f'<rect x="{pad}" y="10" width="{inner}" height="{inner}" fill="none" stroke="#999"/>',
        f'<line x1="{pad}" y1="10" x2="{pad + inner}" y2="{10 + inner}" stroke="#ccc"/>',
        f'<text x="{pad + inner / 2}" y="{size - 2}" text-anchor="middle">left-saturated</text>',
        f'<text x="10" y="{10 + inner / 2}" text-anchor="middle" '
        f'transform="rotate(-90 10 {10 + inner / 2})">right-saturated</text>',
        f'<text x="{pad + 4}" y="22">{escape(name)} gate</text>',
        f'<text x="{pad}" y="{size - 14}" text-anchor="middle">0</text>',
        f'<text x="{pad + inner}" y="{size - 14}" text-anchor="middle">1</text>',
        f'<text x="{pad - 4}" y="14" text-anchor="end">1</text>',
    ]
    for layer in range(left.shape[0]):
        colour = LAYER_COLOURS[layer % len(LAYER_COLOURS)]
        for x, y in zip(left[layer], right[layer], strict=True):
            cx, cy = pad + x * inner, 10 + (1 - y) * inner
            parts.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="2.2" fill="{colour}" '
                         f'fill-opacity="0.6"><title>layer {layer}</title></circle>')  # fmt: skip
    parts.append("</svg>")
    return "".join(parts)


def saturation_svg(saturation: Saturation) -> str:
    """Inline SVG: one scatter per gate type, units coloured by layer (empty without gates)."""
    panels = [_panel(n, saturation.left[n], saturation.right[n]) for n in saturation.left]
    if not panels:
        return ""
    layers = next(iter(saturation.left.values())).shape[0]
    legend = " ".join(
        f'<span style="color:{LAYER_COLOURS[k % len(LAYER_COLOURS)]}">● layer {k}</span>'
        for k in range(layers)
    )
    return f'<div class="sat-panels">{"".join(panels)}</div><p>{legend}</p>'


def plot_saturation(saturation: Saturation, path: str | Path) -> Path:
    """The same scatter as a PNG, one panel per gate type."""
    if not saturation.left:
        raise RnnkitError("--saturation-png: this model's cell has no gates (an Elman RNN)")
    plt = pyplot()
    names = list(saturation.left)
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3.3), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        pairs = zip(saturation.left[name], saturation.right[name], strict=True)
        for layer, (x, y) in enumerate(pairs):
            colour = LAYER_COLOURS[layer % len(LAYER_COLOURS)]
            ax.scatter(x, y, s=8, alpha=0.6, color=colour, label=f"layer {layer}")
        ax.plot([0, 1], [1, 0], color="#ccc", linewidth=0.8)
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="left-saturated (< 0.1)", title=f"{name} gate")
    axes[0][0].set_ylabel("right-saturated (> 0.9)")
    axes[0][-1].legend(fontsize="small")
    return save_png(fig, path)
