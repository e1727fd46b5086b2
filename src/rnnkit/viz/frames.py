"""Pictures of frame prediction: a PNG strip and an animated GIF of one test sequence.

The strip has one row per kind of frame: the observed frames, the true next frames, and each
model's predicted frames; the GIF plays the observed frames, then the truth beside each
model's prediction. Both need matplotlib (the ``plot`` extra; Pillow comes with it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnkit.errors import RnnkitError
from rnnkit.viz.figures import pyplot, save_png

STRIP_NAME, GIF_NAME = "frames.png", "frames.gif"


def strip_rows(result: Any, index: int = 0) -> list[tuple[str, np.ndarray]]:
    """(name, (T, H, W) frames) rows: observed, truth, then each model's prediction."""
    sequence = result.test[index : index + 1]
    first = next(iter(result.models.values())).config
    seen, truth = sequence[:, : first.frames_in], sequence[:, first.frames_in :]
    rows = [("observed", seen[0].numpy()), ("truth", truth[0].numpy())]
    for name, model in result.models.items():
        rows.append((name, model.predict(seen)[0].numpy()))
    return rows


def save_strip(rows: list[tuple[str, np.ndarray]], path: Path) -> Path:
    plt = pyplot()
    width = max(len(frames) for _, frames in rows)
    fig, axes = plt.subplots(len(rows), width, figsize=(width * 0.9, len(rows) * 1.0),
                             squeeze=False)  # fmt: skip
    for r, (name, frames) in enumerate(rows):
        for c in range(width):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c < len(frames):
                ax.imshow(frames[c], cmap="gray", vmin=0.0, vmax=1.0)
            else:
                ax.axis("off")
        axes[r][0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
    return save_png(fig, path)


def save_gif(rows: list[tuple[str, np.ndarray]], path: Path, *, scale: int = 3) -> Path:
    """Observed frames (the other panels blank), then truth and predictions side by side."""
    try:
        from PIL import Image
    except ModuleNotFoundError:
        raise RnnkitError('the GIF needs Pillow: pip install "rnnkit[plot]"') from None
    (_, seen), *after = rows
    H, W = seen.shape[1:]
    blank = np.zeros((H, W), dtype=np.float32)
    panels = [[frame] + [blank] * len(after) for frame in seen]
    panels += [[blank] + [frames[t] for _, frames in after] for t in range(len(after[0][1]))]
    images = []
    for frame in panels:
        row = np.concatenate([np.pad(p, 1, constant_values=0.5) for p in frame], axis=1)
        pixels = (np.kron(row, np.ones((scale, scale))) * 255).clip(0, 255).astype(np.uint8)
        images.append(Image.fromarray(pixels, mode="L"))
    images[0].save(path, save_all=True, append_images=images[1:], duration=200, loop=0)
    return path


def write_pictures(result: Any, out: str | Path) -> list[Path]:
    """The strip and the GIF of the first test sequence in ``out``; [] without matplotlib."""
    try:
        pyplot()
    except RnnkitError:
        return []
    with torch.no_grad():
        rows = strip_rows(result)
    out = Path(out)
    return [save_strip(rows, out / STRIP_NAME), save_gif(rows, out / GIF_NAME)]
