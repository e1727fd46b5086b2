"""The long-range reproduction table: many ``train longrange`` rows, one Markdown table.

``rnnkit train longrange --reproduce FILE.md`` trains :data:`REPRODUCTION_ROWS` (each with its
task's preset for its cell, and its minutes) and rewrites the table after every row; with
``jobs`` > 1 the rows run that many at a time in separate processes, the CPU threads split
between them.
"""

from __future__ import annotations

import json
import multiprocessing
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import NamedTuple

import torch

from rnnkit.apps.longrange import (
    REPORT_NAME,
    LongRangeReport,
    cell_preset,
    train_longrange,
)
from rnnkit.tasks.longrange import check_cell_task
from rnnkit.training.config import TrainConfig

TABLE_NAME = "reproduction.md"


class Row(NamedTuple):
    """One row of the reproduction table; ``minutes``: a cap on the run's minutes per row."""

    task: str
    cell: str
    T: int
    minutes: float | None = None

    @property
    def name(self) -> str:
        return f"{self.task}-T{self.T}-{self.cell}"


#: the rows of the issue: adding (Le et al. 2015), copy (Arjovsky et al. 2016), sequential
#: digits (Le et al.'s pixel MNIST, on 8x8 scans), NTM copy (Graves et al. 2014)
REPRODUCTION_ROWS: tuple[Row, ...] = (
    *(Row("adding", cell, 200) for cell in ("tanh", "irnn", "lstm", "gru")),
    *(Row("copy", cell, 100) for cell in ("lstm", "gru")),
    *(Row("digits", cell, 64, minutes=5.0) for cell in ("lstm", "gru", "irnn")),
    *(Row("ntm-copy", cell, 20) for cell in ("ntm", "lstm")),
)
TABLE_HEADER = ("task", "cell", "T", "metric (valid)", "baseline", "solved after",
                "training minutes", "other")  # fmt: skip


def markdown_table(reports: Sequence[LongRangeReport]) -> str:
    """The reports as a Markdown table, one row each."""
    lines = ["| " + " | ".join(TABLE_HEADER) + " |", "|" + " --- |" * len(TABLE_HEADER)]
    for r in reports:
        other = [f"{k} {v:.4f}" for k, v in r.extra.items()] + ([r.note] if r.note else [])
        cells = (r.task, r.cell, str(r.T), f"{r.metric} {r.value:.4f}", f"{r.baseline:.4f}",
                 r.solved_text(), f"{r.minutes:.1f}", "; ".join(other))  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def row_config(row: Row, minutes_per_row: float, seed: int) -> TrainConfig:
    """The preset's TrainConfig for ``row``, its budget the row's minutes."""
    minutes = minutes_per_row if row.minutes is None else min(row.minutes, minutes_per_row)
    fields = {**cell_preset(row.task, row.cell)[1], "max_minutes": minutes, "max_steps": None,
              "seed": seed}  # fmt: skip
    return TrainConfig(**fields)


def train_row(
    row: Row, minutes_per_row: float, out_dir: Path, seed: int, progress: bool
) -> tuple[LongRangeReport, float]:
    """One row into ``OUT/<task>-T<T>-<cell>``: its report and wall minutes."""
    start = time.monotonic()
    report = train_longrange(row.task, row.cell, row.T, cell_preset(row.task, row.cell)[0],
                             row_config(row, minutes_per_row, seed), out_dir / row.name,
                             progress=progress, keep_going=True)  # fmt: skip
    return report, (time.monotonic() - start) / 60


def reproduce(
    rows: Sequence[Row],
    minutes_per_row: float,
    out_dir: str | Path,
    *,
    table: str | Path | None = None,
    seed: int = 0,
    progress: bool = True,
    jobs: int = 1,
) -> list[LongRangeReport]:
    """Train each row for its minutes (into ``OUT/<task>-T<T>-<cell>``), write the table.

    The table (default ``OUT/reproduction.md``) is rewritten after every row that ends, from
    every row's ``report.json`` in ``OUT`` (:func:`saved_reports`), so a long run that is
    stopped keeps the rows it finished, and a run of some rows updates them in the table of
    an earlier run into the same ``OUT``. ``jobs`` > 1 trains
    that many rows at once, each in its own process on ``threads // jobs`` CPU threads (a
    row's minutes are its own process's training time).
    """
    out_dir = Path(out_dir)
    path = Path(table) if table is not None else out_dir / TABLE_NAME
    for row in rows:
        check_cell_task(row.cell, row.task)
    done: dict[int, LongRangeReport] = {}

    def finish(index: int, report: LongRangeReport, minutes: float) -> None:
        done[index] = report
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(markdown_table(saved_reports(out_dir)), "utf-8")
        print(f"{report.line()} [{minutes:.1f} min]", flush=True)

    if jobs <= 1:
        for index, row in enumerate(rows):
            finish(index, *train_row(row, minutes_per_row, out_dir, seed, progress))
    else:
        run_in_processes(rows, minutes_per_row, out_dir, seed, jobs, finish)
    return [done[i] for i in sorted(done)]


def saved_reports(out_dir: Path) -> list[LongRangeReport]:
    """Every ``OUT/<row>/report.json``, in the order of :data:`REPRODUCTION_ROWS`, others last."""
    order = {row.name: i for i, row in enumerate(REPRODUCTION_ROWS)}
    paths = sorted(out_dir.glob(f"*/{REPORT_NAME}"),
                   key=lambda p: (order.get(p.parent.name, len(order)), p.parent.name))  # fmt: skip
    return [LongRangeReport(**json.loads(p.read_text("utf-8"))) for p in paths]


def run_in_processes(
    rows: Sequence[Row], minutes_per_row: float, out_dir: Path, seed: int, jobs: int, finish
) -> None:
    """Rows ``jobs`` at a time in spawned processes; ``finish`` as each ends, in any order."""
    threads = max(1, torch.get_num_threads() // jobs)
    context = multiprocessing.get_context("spawn")  # no forked torch thread pools
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=torch.set_num_threads,
                             initargs=(threads,)) as pool:  # fmt: skip
        running: dict[Future, int] = {
            pool.submit(train_row, row, minutes_per_row, out_dir, seed, False): index
            for index, row in enumerate(rows)
        }
        while running:
            ended, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in ended:
                finish(running.pop(future), *future.result())
