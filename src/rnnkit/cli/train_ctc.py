"""``rnnkit train ctc``: read lines of handwritten digits, or spoken digit strings, with a
CNN + BiLSTM trained by CTC."""

from __future__ import annotations

import argparse
from pathlib import Path

from rnnkit.apps.ctc import ERRORS, JOB, PRESETS
from rnnkit.cli.common import UsageError, add_run_options, duration
from rnnkit.cli.options import STREAM_ONLY, add_config_options, add_training_options, open_run

EPILOG = """examples:
  rnnkit train ctc --preset handwriting --out runs/ctc-hw
  rnnkit train ctc --compare-minutes 0 --max-minutes 5 --out runs/ctc-quick   # no comparison
  rnnkit train ctc --resume runs/ctc-hw --max-minutes 12    # continue a killed run exactly
  rnnkit recognise --checkpoint runs/ctc-hw line.png
  rnnkit train ctc --preset speech --out runs/ctc-speech   # spoken digits, unseen test voices
  rnnkit transcribe --checkpoint runs/ctc-speech digits.wav
  rnnkit train ctc --data corpus/train.tsv --out runs/ctc-mine   # your WAVs: file<TAB>transcript
  rnnkit train ctc --data train.tsv --valid-file dev.tsv --test-file test.tsv --alphabet " abc"
  rnnkit evaluate --checkpoint runs/ctc-mine --data corpus/other.tsv
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "ctc",
        help="train a CTC recogniser (CNN -> BiLSTM -> CTC) of handwritten or spoken digits",
        description="Lines of 3-8 digits are written with scikit-learn's scanned 8x8 digits "
        "(random width, gaps and slant; training, validation and test lines from disjoint "
        "scans); a small CNN reads each line column by column into a bidirectional LSTM, "
        "trained with connectionist temporal classification. Reports sequence accuracy and "
        "character error rate on the test lines, greedy and prefix beam, and beside them the "
        "attention reader of `rnnkit train digits` trained on the same lines "
        "(--compare-minutes; trained afresh, also after --resume). With --source speech (--preset "
        "speech) the lines are digit strings spoken by espeak-ng as words, training, "
        "validation and test utterances each in their own voices (the test accents and "
        "speakers are never heard in training), read as 40 log-mel bands every 10 ms; the "
        "report gives the word error rate (a word is a digit). With --data LIST (preset "
        "recordings) it trains on your own WAV files, listed as file<TAB>transcript lines "
        "(paths relative to the list), resampled to 16 kHz mono; the alphabet comes from the "
        "transcripts (or --alphabet), and the files are split by file into training, "
        "validation and test with --seed (or --valid-file and --test-file are given).",
        epilog=EPILOG
        + "\npresets:\n"
        + "\n".join(f"  {n:12s} {p.description}" for n, p in PRESETS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--preset", choices=sorted(PRESETS),
                   help="default: recordings with --data, handwriting without")  # fmt: skip
    p.add_argument("--data", type=Path, metavar="LIST",
                   help="your recordings: a file<TAB>transcript list of WAV files")  # fmt: skip
    add_run_options(p, "runs/ctc")
    add_config_options(p.add_argument_group("lines"), JOB.data)
    add_config_options(p.add_argument_group("model"), JOB.model, skip=JOB.sizes)
    add_training_options(p, skip=STREAM_ONLY)  # no truncated BPTT, no decoder to feed
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from rnnkit.apps.ctc import train_ctc

    data = {}
    if args.resume is None:
        args.preset = preset_for(args)
        data = {"data_path": str(args.data), "source": "speech"} if args.data else {}
    run_ = open_run(args, JOB, data=data)  # --resume: the lines are regenerated or reread
    result = train_ctc(run_, progress=not args.no_progress)
    fitted = result.fitted
    beam = run_.config.data.beam_size
    print(f"best valid sequence accuracy {fitted.best_valid:.2%} after {fitted.steps} steps, "
          f"{duration(fitted.wall_seconds)}; checkpoint: {run_.out}")  # fmt: skip
    error = ERRORS[run_.config.data.source]
    lines = "recordings" if run_.config.data.data_path else "lines"
    what = {"cer": "character error rate", "wer": "word error rate"}[error]
    for name, got in (("greedy", result.greedy), (f"prefix beam {beam}", result.beam)):
        print(f"test {lines}, {name}: sequence accuracy {got['sequence_accuracy']:.2%}, "
              f"{what} {got[error]:.2%}")  # fmt: skip
    if (att := result.attention) is not None:
        print(
            f"attention reader (train digits --attention {att['attention']}, "
            f"{att['minutes']:g} min, {att['steps']} steps), same test lines: sequence accuracy "
            f"{att['sequence_accuracy']:.2%}, character error rate {att['cer']:.2%}"
        )


def preset_for(args: argparse.Namespace) -> str:
    """``--preset``, by default ``recordings`` with ``--data`` and ``handwriting`` without;
    ``--data`` with a preset or source of handwriting, or ``recordings`` without ``--data``, is
    refused in one line."""
    if args.data is None:
        if args.preset == "recordings":
            raise UsageError("--preset recordings trains on your recordings: give --data LIST "
                             "(a file<TAB>transcript list of WAV files)")  # fmt: skip
        return args.preset or "handwriting"
    if args.preset == "handwriting" or args.source == "handwriting":
        given = "--preset" if args.preset == "handwriting" else "--source"
        raise UsageError(f"--data {args.data}: recordings are speech; {given} handwriting "
                         "reads generated lines of ink (use --preset recordings, speech or "
                         "tiny)")  # fmt: skip
    return args.preset or "recordings"
