"""``rnnkit recognise``: read images of lines with a trained CTC recogniser."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rnnkit.cli.common import BEAM_MAX, UsageError, add_lm_fusion_options, bounded, lm_fusion

if TYPE_CHECKING:
    import torch

EPILOG = """examples:
  rnnkit recognise --checkpoint runs/ctc-hw line.png          # dark ink on light paper, any height
  rnnkit recognise --checkpoint runs/ctc-hw --beam 8 a.npy b.png
"""

SUFFIXES = (".png", ".npy")
MAX_COLUMNS = 100_000  # widest line (after scaling to the model's height) read in one piece


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "recognise",
        help="read images of lines with a CTC recogniser (`rnnkit train ctc`)",
        description="Prints the text of each image, one line per image. A PNG is made grey "
        "and, when its background is light, inverted (the model reads bright ink on black); "
        "a .npy holds a 2-D array of ink in [0, 1]. Each image is scaled to the model's "
        "height, keeping its aspect ratio.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--checkpoint", type=Path, required=True, help="a `train ctc` run directory")
    p.add_argument("images", nargs="+", type=Path, metavar="IMAGE", help=".png or .npy files")
    p.add_argument("--beam", type=bounded(int, 1, BEAM_MAX), default=1,
                   help="prefix beam width; 1: best path (greedy)")  # fmt: skip
    add_lm_fusion_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from rnnkit.checkpoint import load
    from rnnkit.tasks.ctc import CTCRecognizer

    for path in args.images:  # every file checked before the model loads
        if path.suffix.lower() not in SUFFIXES:
            raise UsageError(f"{path}: unsupported image type (use {' or '.join(SUFFIXES)})")
    model = load(args.checkpoint)
    if not isinstance(model, CTCRecognizer):
        raise UsageError(f"{args.checkpoint}: not a CTC recogniser (train one with "
                         "`rnnkit train ctc`)")  # fmt: skip
    if model.config.source != "handwriting":  # its "images" are log-mel frames of speech
        raise UsageError(f"{args.checkpoint}: a {model.config.source} model; use `rnnkit "
                         "transcribe` for WAV files")  # fmt: skip
    height = model.config.image_height
    images = [read_image(path, height) for path in args.images]
    for text in model.recognise(
        images, beam_size=args.beam, **lm_fusion(args, model.config.alphabet)
    ):
        print(text)


def read_image(path: Path, height: int) -> torch.Tensor:
    """``path`` as (height, W) ink in [0, 1], scaled to ``height`` rows; one-line errors."""
    import torch
    import torch.nn.functional as F

    ink = read_png(path) if path.suffix.lower() == ".png" else read_npy(path)
    if ink.ndim != 2 or min(ink.shape) < 1:
        raise UsageError(f"{path}: expected a 2-D grey image, got shape {ink.shape}")
    rows, cols = ink.shape
    width = round(cols * height / rows)
    if width < 2 or width > MAX_COLUMNS:
        raise UsageError(f"{path}: a {rows}x{cols} image is {width} columns wide at the model's "
                         f"height {height}; expected 2 to {MAX_COLUMNS}")  # fmt: skip
    image = torch.from_numpy(np.ascontiguousarray(ink, dtype=np.float32))
    if (rows, cols) == (height, width):
        return image
    scaled = F.interpolate(image[None, None], size=(height, width), mode="bilinear",
                           align_corners=False, antialias=True)  # fmt: skip
    return scaled[0, 0].clamp(0.0, 1.0)


def read_png(path: Path) -> np.ndarray:
    """A PNG as grey ink in [0, 1]: bright on dark, inverted when the background is light."""
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise UsageError('reading PNG images needs Pillow: pip install "rnnkit[plot]"') from None
    try:
        with Image.open(path) as image:
            grey = np.asarray(image.convert("L"), dtype=np.float32) / 255.0  # (H, W)
    except (UnidentifiedImageError, OSError, ValueError) as e:
        if isinstance(e, FileNotFoundError):
            raise UsageError(f"{path}: no such file") from None
        raise UsageError(f"{path}: not a readable PNG image ({e})") from None
    # the border is the paper: light paper means dark ink, which the model sees as bright
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    return 1.0 - grey if border.mean() > 0.5 else grey


def read_npy(path: Path) -> np.ndarray:
    """A .npy of ink in [0, 1] (no pickled objects)."""
    try:
        ink = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except (OSError, ValueError) as e:
        raise UsageError(f"{path}: not a readable .npy array ({e})") from None
    if not np.issubdtype(ink.dtype, np.number) or np.issubdtype(ink.dtype, np.complexfloating):
        raise UsageError(f"{path}: expected numbers, got dtype {ink.dtype}")
    ink = ink.astype(np.float32)
    if ink.size and not (np.isfinite(ink).all() and ink.min() >= 0.0 and ink.max() <= 1.0):
        raise UsageError(f"{path}: ink values must be finite and in [0, 1]")
    return ink
