"""``rnnkit transcribe``: spoken digit strings in WAV files -> digits, with a speech CTC model."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from rnnkit.cli.common import BEAM_MAX, UsageError, add_lm_fusion_options, bounded, lm_fusion

if TYPE_CHECKING:
    import torch

EPILOG = """examples:
  rnnkit transcribe --checkpoint runs/ctc-speech digits.wav          # any rate, mono or stereo
  rnnkit transcribe --checkpoint runs/ctc-speech --beam 8 a.wav b.wav
  espeak-ng -w said.wav "three one four" && rnnkit transcribe --checkpoint runs/ctc-speech said.wav
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "transcribe",
        help="transcribe spoken digits in WAV files (`rnnkit train ctc --preset speech`)",
        description="Prints the digits said in each file, one line per file. A file is PCM "
        "WAV (8-, 16-, 24- or 32-bit integers, any rate, any number of channels); it is "
        "mixed down to mono, resampled to 16 kHz and read as the log-mel frames the model "
        "was trained on.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--checkpoint", type=Path, required=True,
                   help="a `train ctc --source speech` run directory")  # fmt: skip
    p.add_argument("wavs", nargs="+", type=Path, metavar="FILE.wav", help="WAV files")
    p.add_argument("--beam", type=bounded(int, 1, BEAM_MAX), default=1,
                   help="prefix beam width; 1: best path (greedy)")  # fmt: skip
    add_lm_fusion_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from rnnkit.checkpoint import load
    from rnnkit.tasks.ctc import CTCRecognizer

    model = load(args.checkpoint)
    if not isinstance(model, CTCRecognizer) or model.config.source != "speech":
        kind = "a handwriting" if isinstance(model, CTCRecognizer) else "not a speech"
        raise UsageError(f"{args.checkpoint}: {kind} model; transcribe needs one trained with "
                         "`rnnkit train ctc --preset speech` (use `rnnkit recognise` for "
                         "images)")  # fmt: skip
    frames = [read_frames(path, model.config.image_height) for path in args.wavs]
    for digits in model.recognise(
        frames, beam_size=args.beam, **lm_fusion(args, model.config.alphabet)
    ):
        print(digits)


def read_frames(path: Path, n_mels: int) -> torch.Tensor:
    """``path`` as the (n_mels, T) log-mel "image" the model reads; one-line errors."""
    from rnnkit.data.speech import wav_features
    from rnnkit.tasks.ctc import FRAME

    frames = wav_features(path, n_mels=n_mels).T  # (n_mels, T); a bad WAV: one DataError line
    if frames.shape[1] < FRAME:
        raise UsageError(f"{path}: too short to transcribe ({frames.shape[1]} frames of 10 ms; "
                         f"at least {FRAME} needed)")  # fmt: skip
    return frames.contiguous()
