"""``rnnkit compose``: folk tunes from a character LM trained on tunes (``--preset folk``)."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from rnnkit.cli.common import OneLineParser, UsageError, bounded, seed_type
from rnnkit.cli.outputs import add_overwrite_option, check_output_folder, check_outputs
from rnnkit.errors import RnnkitError

if TYPE_CHECKING:
    from rnnkit.apps.compose import Composed

EPILOG = """examples:
  rnnkit train lm --preset folk --out runs/folk     # 20 minutes on 2 cores
  rnnkit compose --checkpoint runs/folk --meter 6/8 --key G --n 5 --out tunes
  rnnkit compose --checkpoint runs/folk --format midi --seed 3 --out tunes
"""


def add_parser(subparsers: argparse._SubParsersAction) -> OneLineParser:
    """Register ``rnnkit compose``."""
    p = subparsers.add_parser(
        "compose",
        help="write folk tunes (ABC, MIDI, MusicXML) with a language model trained on tunes",
        description="Prime the model with M:/L:/K: header lines, sample tunes, check each with "
        "music21 (parses? bars of the meter? ends on the tonic?) and write them.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--checkpoint", type=Path, required=True, help="checkpoint directory")
    p.add_argument("--meter", help="M: of the tunes (default: the training tunes' commonest)")
    p.add_argument("--key", help="K: of the tunes (default: the training tunes' commonest)")
    p.add_argument("--unit", help="L: of the tunes (default: the training tunes' for the meter)")
    p.add_argument("--n", type=bounded(int, 1, 10_000), default=5, help="how many tunes")
    p.add_argument("--seed", type=seed_type(), default=0, help="tune i is drawn with seed + i")
    p.add_argument("--temperature", type=bounded(float, 0.0, 100.0, open_low=True), default=1.0)
    p.add_argument("--max-length", type=bounded(int, 1, 10**6), default=2000,
                   help="most characters of one tune's body")  # fmt: skip
    p.add_argument("--format", choices=("abc", "midi", "musicxml"), default="abc",
                   help="files to write besides each tune's .abc")  # fmt: skip
    p.add_argument("--out", type=Path, default=Path("tunes"), help="folder for the files")
    add_overwrite_option(p)
    p.set_defaults(run=run_compose)
    return p


def run_compose(args: argparse.Namespace) -> None:
    from rnnkit.apps.compose import compose, header, unseen, write_tune
    from rnnkit.apps.language_model import prime_ids
    from rnnkit.checkpoint import load, model_format
    from rnnkit.data.abc import load_record
    from rnnkit.data.abc_checks import summarise
    from rnnkit.tasks.language_model import FORMAT

    require_music21()
    check_output_folder(args.out, "--out")  # before the model loads
    if (kind := model_format(args.checkpoint)) != FORMAT:
        raise UsageError(f"{args.checkpoint} is a {kind} checkpoint; compose needs a language "
                         "model trained on tunes (rnnkit train lm --preset folk)")  # fmt: skip
    record = load_record(args.checkpoint)
    if record is None:  # a model of other text would not write ABC
        raise UsageError(f"{args.checkpoint}: not trained on tunes (no tunes.json); train one "
                         "with rnnkit train lm --preset folk")  # fmt: skip
    meter = args.meter or next(iter(record["meters"]), "4/4")
    key = args.key or next(iter(record["keys"]), "G")
    head = header(meter, key, args.unit, record.get("units"))
    model = load(args.checkpoint)
    if model.vocab is None or model.unit != "char":
        raise UsageError(f"{args.checkpoint}: compose needs a character model with its vocabulary")
    try:
        prime_ids(model.vocab, head)
    except RnnkitError as e:
        raise UsageError(f"--meter/--key/--unit: the model cannot read this header: {e}") from None
    for gap in unseen(args.checkpoint, meter, key):  # the model may still write something
        print(f"warning: the model saw no tunes with {gap}; composing anyway", file=sys.stderr)
    names = [args.out / f"tune_{i:03d}" for i in range(1, args.n + 1)]
    suffixes = [".abc"] + ([f".{'mid' if args.format == 'midi' else 'musicxml'}"]
                           if args.format != "abc" else [])  # fmt: skip
    check_outputs([(n.with_suffix(s), "--out") for n in names for s in suffixes]
                  + [(args.out / "report.json", "--out")], overwrite=args.overwrite)  # fmt: skip
    tunes = compose(model, head, args.n, seed=args.seed, temperature=args.temperature,
                    max_length=args.max_length)  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    for number, (name, tune) in enumerate(zip(names, tunes, strict=True), 1):
        write_tune(name, number, tune, "abc")
        extra = write_tune(name, number, tune, args.format) if args.format != "abc" else None
        print(describe(name.with_suffix(".abc"), tune, extra, args.format))
    summary = summarise([t.check for t in tunes])
    report = {"header": head, "temperature": args.temperature, "seed": args.seed,
              "summary": summary, "tunes": [{"text": t.text, "finished": t.finished,
                                             **asdict(t.check)} for t in tunes]}  # fmt: skip
    (args.out / "report.json").write_text(json.dumps(report, indent=1), "utf-8")
    print(f"{summary['parse']:.0%} parse in music21; {summary['bars_match']:.0%} of their "
          f"{summary['bars']} bars match the meter; {summary['end_on_tonic']:.0%} end on the "
          f"tonic; report: {args.out / 'report.json'}")  # fmt: skip


def require_music21() -> None:
    """One line naming the extra when music21 is missing (before any work)."""
    from rnnkit.data.abc import MUSIC_EXTRA

    try:
        import music21  # noqa: F401
    except ImportError:
        raise UsageError(MUSIC_EXTRA) from None


def describe(path: Path, tune: Composed, extra: Path | None, fmt: str) -> str:
    """One line per tune: the file and what music21 made of it."""
    c = tune.check
    if not c.parses:
        return f"{path}: music21 cannot read it ({c.error})"
    tonic = "ends on the tonic" if c.ends_on_tonic else "does not end on the tonic"
    cut = "" if tune.finished else ", cut at --max-length"
    written = f"; {extra}" if extra else ""
    if extra is None and fmt != "abc":
        written = f"; no {fmt} file: music21 cannot write this tune"
    return (f"{path}: {c.matching}/{c.bars} bars match the meter, {tonic}, pitches "
            f"{c.low}-{c.high}{cut}{written}")  # fmt: skip
