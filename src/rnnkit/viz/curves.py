"""Training and validation curves of one or more runs, from their ``metrics.jsonl`` (PNG).

Left panel: the training loss (solid) and, where the run measured it, the validation loss in
the same units (dashed: ``valid_loss`` or ``valid_nats``). Right panel: the monitored
validation metric (the one in the ``best_valid_*`` key) or the one asked for. One colour per
run, so several runs overlay.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnnkit.checks import check_regular_file
from rnnkit.errors import RnnkitError
from rnnkit.training.metrics_log import METRICS_NAME
from rnnkit.viz.figures import pyplot, save_png

X_AXES = ("step", "elapsed_s", "tokens")  # what the horizontal axis can be
VALID_LOSSES = ("valid_loss", "valid_nats")  # validation losses in the training loss's units

Series = list[tuple[float, float]]  # (x, y) points


@dataclass(frozen=True)
class RunCurves:
    """One run's curves: the training loss and every numeric validation metric."""

    name: str  # the legend label
    train: Series  # (x, training loss)
    valid: dict[str, Series] = field(default_factory=dict)  # "valid_X" -> (x, value)
    monitor: str | None = None  # "valid_X" of the run's best_valid_X key

    def valid_loss(self) -> str | None:
        """The validation metric in the training loss's units, if the run has one."""
        return next((k for k in VALID_LOSSES if k in self.valid), None)


def metrics_records(path: Path) -> list[dict[str, Any]]:
    """The JSON records of a metrics file; a torn last line (a run still writing) is skipped."""
    try:
        check_regular_file(path, "a metrics file")  # a named pipe would block the read
        text = path.read_text("utf-8")
    except ValueError as e:
        raise RnnkitError(str(e)) from None
    except FileNotFoundError:
        raise RnnkitError(f"{path}: not found (is {path.parent} a training run?)") from None
    except (OSError, UnicodeDecodeError) as e:
        raise RnnkitError(f"{path}: cannot read ({e})") from None
    lines = text.split("\n")
    records = []
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line) if line.strip() else None
        except (ValueError, RecursionError):  # bad JSON, or nested deeper than the stack
            if number == len(lines):  # no newline yet: the trainer is writing this line
                break
            raise RnnkitError(f"{path}:{number}: not a JSON record") from None
        if isinstance(record, dict):
            records.append(record)
    return records


def read_curves(run_dir: str | Path, *, x: str = "step", name: str | None = None) -> RunCurves:
    """The curves of ``RUN_DIR/metrics.jsonl`` against ``x`` (one of :data:`X_AXES`)."""
    path = Path(run_dir) / METRICS_NAME
    train: Series = []
    valid: dict[str, Series] = {}
    monitor = None
    for r in metrics_records(path):
        if x not in r:
            continue
        if r.get("kind") == "train" and _number(r.get("loss")):
            train.append((r[x], r["loss"]))
        elif r.get("kind") == "valid":
            for key, value in r.items():
                if key.startswith("valid_") and _number(value):
                    valid.setdefault(key, []).append((r[x], value))
                elif key.startswith("best_valid_"):
                    monitor = key.removeprefix("best_")
    if not train and not valid:
        raise RnnkitError(f"{path}: no train or valid records to plot")
    return RunCurves(name or Path(run_dir).name or str(run_dir), train, valid, monitor)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def right_metric(runs: Sequence[RunCurves], metric: str | None) -> str | None:
    """The right panel's metric: ``metric`` (checked), else the first run's monitored one."""
    found = sorted({key for run in runs for key in run.valid})
    if metric is not None:
        key = metric if metric.startswith("valid_") else f"valid_{metric}"
        if key not in found:
            raise RnnkitError(f"--metric {metric!r}: the runs have {', '.join(found) or 'none'}")
        return key
    monitor = next((run.monitor for run in runs if run.monitor), None)
    return None if monitor in (None, *VALID_LOSSES) else monitor


def figure(runs: Sequence[RunCurves], *, x: str = "step", metric: str | None = None) -> Any:
    """The matplotlib figure: loss panel, and the validation-metric panel when there is one."""
    plt = pyplot()
    right = right_metric(runs, metric)
    fig, axes = plt.subplots(1, 2 if right else 1, figsize=(11 if right else 6, 4), squeeze=False)
    loss_ax = axes[0][0]
    for i, run in enumerate(runs):
        colour = f"C{i % 10}"
        if run.train:
            loss_ax.plot(*zip(*run.train, strict=True), color=colour, label=f"{run.name} train")
        if (key := run.valid_loss()) is not None:
            loss_ax.plot(*zip(*run.valid[key], strict=True), color=colour, linestyle="--",
                         marker=".", label=f"{run.name} {key}")  # fmt: skip
        if right and right in run.valid:
            axes[0][1].plot(*zip(*run.valid[right], strict=True), color=colour, marker=".",
                            label=run.name)  # fmt: skip
    loss_ax.set(xlabel=x, ylabel="loss (nats)", title="training (solid) and validation (dashed)")
    loss_ax.legend(fontsize="small")
    if right:
        axes[0][1].set(xlabel=x, ylabel=right, title=right)
        axes[0][1].legend(fontsize="small")
    fig.tight_layout()
    return fig


def plot_curves(
    runs: Sequence[RunCurves], path: str | Path, *, x: str = "step", metric: str | None = None
) -> Path:
    """Save the curves of ``runs`` overlaid to ``path`` (PNG)."""
    fig = figure(runs, x=x, metric=metric)
    return save_png(fig, path)
