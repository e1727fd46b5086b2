"""``rnnkit train longrange``: one cell on a long-range benchmark, or the whole table."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from rnnkit.apps.longrange import CELL_PRESETS, JOB, PRESETS, LongRangeTask, cell_preset
from rnnkit.apps.longrange_table import REPRODUCTION_ROWS
from rnnkit.apps.runs import Preset
from rnnkit.cli.common import UsageError, add_run_options, bounded, check_out_free
from rnnkit.cli.options import (
    STREAM_ONLY,
    add_config_options,
    add_training_options,
    cli_fields,
    config_overrides,
    open_run,
    option_string,
)
from rnnkit.cli.outputs import check_output
from rnnkit.errors import RnnkitError
from rnnkit.tasks.longrange import TASK_METRICS, LongRangeConfig
from rnnkit.training.config import TrainConfig

EPILOG = """examples:
  rnnkit train longrange --task adding --cell irnn --T 200 --out runs/adding-irnn
  rnnkit train longrange --task copy --cell lstm --max-minutes 20 --out runs/copy-lstm
  rnnkit train longrange --task ntm-copy --cell ntm --out runs/ntm
  rnnkit train longrange --resume runs/adding-irnn --max-minutes 30
  rnnkit train longrange --reproduce docs/longrange-table.md --minutes-per-row 10 \\
      --out runs/longrange                    # every row of docs/longrange.md, one by one
"""
DEFAULT_CELL = "lstm"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "longrange",
        help="long-range benchmarks: adding, copy memory, sequential digits, NTM copy",
        description="Train one cell (tanh RNN, IRNN, LSTM, GRU, NTM) on a long-range task "
        "with fresh generated batches, and report the best model's validation metric "
        "against the memoryless baseline and the training sequences it took to first pass "
        "the task's solved threshold (docs/longrange.md). --reproduce runs every row of the "
        "comparison table instead and writes it as Markdown.",
        epilog=EPILOG
        + "\ntask presets (default T, model, training):\n"
        + "\n".join(f"  {n:9s} {p.description}" for n, p in PRESETS.items())
        + "\nchanged for one cell:\n"
        + "\n".join(f"  {t:9s} {c}: {changes_text(*ch)}" for (t, c), ch in CELL_PRESETS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_run_options(p, "runs/longrange")
    add_config_options(p.add_argument_group("task"), LongRangeTask)
    add_config_options(p.add_argument_group("model"), LongRangeConfig)
    add_training_options(p, skip=STREAM_ONLY)
    p.add_argument("--log-state-gradients", action="store_true",
                   help="log ‖∂L_T/∂h_t‖ for every t at each validation into metrics.jsonl "
                   "(adding, digits; `rnnkit plot state-gradients` draws them)")  # fmt: skip
    table = p.add_argument_group("the reproduction table")
    table.add_argument("--reproduce", type=Path, metavar="FILE.md",
                       help="train every row of the table (OUT/<task>-T<T>-<cell>) with each "
                       "task's preset, and write the table to FILE.md")  # fmt: skip
    table.add_argument(
        "--minutes-per-row",
        type=bounded(float, 0.01, 100000.0),
        default=10.0,
        metavar="M",
        help="--reproduce: training minutes per row (default 10)",
    )
    table.add_argument("--jobs", type=bounded(int, 1, 64), default=1, metavar="N",
                       help="--reproduce: rows trained at once, each in its own process with "
                       "its share of the CPU threads (default 1)")  # fmt: skip
    table.add_argument("--rows", metavar="ROWS",
                       help="--reproduce: only these comma-separated tasks or rows "
                       "(e.g. adding,digits-T64-irnn; default: all); the table keeps the "
                       "other rows already in --out")  # fmt: skip
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    if args.reproduce is not None:
        return run_table(args)
    for name, default in (("rows", None), ("jobs", 1)):
        if getattr(args, name) != default:
            raise UsageError(f"--{name} needs --reproduce")
    if args.resume is not None:
        run_ = open_run(args, JOB)
    else:
        task = args.task or "adding"
        cell = args.cell or DEFAULT_CELL
        model, training = cell_preset(task, cell)
        preset = Preset("", data=PRESETS[task].data, model=model, training=training)
        try:
            run_ = open_run(args, JOB, preset=preset, model={"cell": cell},
                            data={"state_gradients": args.log_state_gradients},
                            metrics=TASK_METRICS.get(task, ()))  # fmt: skip
        except RnnkitError as e:
            raise UsageError(str(e).replace("cell 'ntm'", "--cell ntm")) from None
    from rnnkit.apps.longrange import train_run

    report = train_run(run_, progress=not args.no_progress)
    print(report.line())
    print(f"best checkpoint and report.json: {run_.out}")


def given_options(args: argparse.Namespace) -> list[str]:
    """The task, model and training options given on the command line."""
    names = []
    for config_cls in (LongRangeTask, LongRangeConfig, TrainConfig):
        given = config_overrides(args, config_cls)
        names += [option_string(f, how) for f, how in cli_fields(config_cls) if f.name in given]
    return names


def run_table(args: argparse.Namespace) -> None:
    """``--reproduce FILE.md``: every row, each task's preset, ``--minutes-per-row`` each."""
    from rnnkit.apps.longrange_table import reproduce

    given = given_options(args) + (["--resume"] if args.resume is not None else [])
    given += ["--log-state-gradients"] if args.log_state_gradients else []
    if given:
        raise UsageError(f"--reproduce trains every row with its task's preset; leave out "
                         f"{', '.join(given)}")  # fmt: skip
    rows = chosen_rows(args.rows)
    check_output(args.reproduce, "--reproduce", overwrite=args.overwrite)
    for row in rows:
        check_out_free(args.out / row.name, overwrite=args.overwrite)
    hours = math.ceil(len(rows) / args.jobs) * args.minutes_per_row / 60
    print(f"{len(rows)} rows, {args.minutes_per_row:g} training minutes each, {args.jobs} at "
          f"a time (about {hours:.1f} h); table: {args.reproduce}", file=sys.stderr)  # fmt: skip
    reproduce(rows, args.minutes_per_row, args.out, table=args.reproduce, seed=args.seed,
              progress=not args.no_progress, jobs=args.jobs)  # fmt: skip
    print(f"table: {args.reproduce}")


def changes_text(model: dict, training: dict) -> str:
    """A cell's changes to its task's preset, e.g. ``lr 0.0001``."""
    return ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in {**model, **training}.items())


def chosen_rows(names: str | None) -> list:
    """The reproduction rows named by ``--rows``: tasks or row names (all rows when not given)."""
    if names is None:
        return list(REPRODUCTION_ROWS)
    wanted = {n.strip() for n in names.split(",") if n.strip()}
    known = {row.task for row in REPRODUCTION_ROWS} | {row.name for row in REPRODUCTION_ROWS}
    if not wanted or not wanted <= known:
        raise UsageError(f"--rows must list tasks ({', '.join(sorted(PRESETS))}) or rows "
                         f"(e.g. {REPRODUCTION_ROWS[-1].name}), got {names!r}")  # fmt: skip
    return [row for row in REPRODUCTION_ROWS if {row.task, row.name} & wanted]
