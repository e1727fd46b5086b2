"""``rnnkit train longrange``: one cell on a long-range benchmark, or the whole table."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from rnnkit.apps.longrange import CELL_PRESETS, PRESETS, LongRangeTask, cell_preset
from rnnkit.apps.longrange_table import REPRODUCTION_ROWS
from rnnkit.checks import check_int
from rnnkit.cli.common import UsageError, add_run_options, bounded, check_out_free
from rnnkit.cli.options import (
    STREAM_ONLY,
    add_config_options,
    add_training_options,
    cli_fields,
    config_overrides,
    option_string,
    resumed_budget,
    run_record,
    train_config,
)
from rnnkit.tasks.longrange import (
    TASK_METRICS,
    LongRangeConfig,
    check_cell_task,
    check_last_step_task,
)
from rnnkit.training.checkpoint import load_run_record
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
        + "\n".join(f"  {n:9s} {d}" for n, (_, _, _, d) in PRESETS.items())
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
        record = load_run_record(args.resume, "longrange")
        with run_record(args.resume):
            task, cell, T = record["task"], record["cell"], record["T"]
            model_fields, valid_sequences = record["model"], record["valid_sequences"]
            state_gradients = record.get("state_gradients", False)
            config = TrainConfig(**resumed_budget(args, record["training"]))
            check_recorded(task, cell, T, model_fields, valid_sequences)
        out = args.resume
    else:
        task_fields = config_overrides(args, LongRangeTask)
        task, T = task_fields.get("task", "adding"), task_fields.get("T")
        valid_sequences = task_fields.get("valid_sequences", LongRangeTask.valid_sequences)
        T, model_fields, cell = check_run(args, task, T)
        state_gradients = args.log_state_gradients
        config, notes = train_config(args, cell_preset(task, cell)[1], metrics=TASK_METRICS[task])
        for note in notes:
            print(note, file=sys.stderr)
        out = args.out
        check_out_free(out, overwrite=args.overwrite)
    from rnnkit.apps.longrange import train_longrange

    report = train_longrange(task, cell, T, model_fields, config, out,
                             valid_sequences=valid_sequences, progress=not args.no_progress,
                             resume=args.resume is not None,
                             state_gradients=state_gradients)  # fmt: skip
    print(report.line())
    print(f"best checkpoint and report.json: {out}")


def check_run(args: argparse.Namespace, task: str, T: int | None) -> tuple[int, dict, str]:
    """(T, LongRangeConfig fields, cell) of a fresh run; bad combinations are one-line errors."""
    from rnnkit.apps.longrange import check_length

    given = config_overrides(args, LongRangeConfig)
    cell = given.pop("cell", DEFAULT_CELL)
    model_fields = {**cell_preset(task, cell)[0], **given}
    try:
        T = check_length(task, T)
        check_cell_task(cell, task)
        LongRangeConfig(task, 1, 1, cell=cell, **model_fields)
        if args.log_state_gradients:
            check_last_step_task(task)
    except ValueError as e:
        raise UsageError(str(e).replace("cell 'ntm'", "--cell ntm")) from None
    return T, model_fields, cell


def check_recorded(task: str, cell: str, T: int, model_fields: dict, valid_sequences: int) -> None:
    """The checks of a fresh run, on what a resumed run recorded (ValueError if they fail)."""
    from rnnkit.apps.longrange import check_length

    if check_length(task, T) != T:
        raise ValueError(f"T must be an integer, got {T!r}")
    check_cell_task(cell, task)
    LongRangeConfig(task, 1, 1, cell=cell, **model_fields)
    check_int("valid_sequences", valid_sequences, 10)


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
