"""The run's metrics: ``metrics.jsonl`` (one JSON object per line) and TensorBoard if installed.

Each record has a ``kind``: ``train`` (mean training loss over the last ``log_every``
updates, learning rate, gradient norm, throughput: ``tokens_per_s`` counts this process's
updates and time only, so a resumed run's is its own), ``valid`` (validation loss after an
evaluation), ``skip`` (a window dropped for a NaN/Inf loss) or ``stop`` (early stopping).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from rnnkit.durable import fsync_path

METRICS_NAME = "metrics.jsonl"
TENSORBOARD_DIR = "tensorboard"


def _summary_writer(log_dir: Path, purge_step: int | None) -> Any:
    """A TensorBoard ``SummaryWriter``, or None when tensorboard is not installed."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(log_dir), purge_step=purge_step)


class MetricsLog:
    """Appends records to ``OUT/metrics.jsonl`` (and TensorBoard); a no-op without a directory.

    Args:
        out_dir: the run directory, or None to write nothing (e.g. on ranks other than 0).
        tensorboard: also write TensorBoard events to ``OUT/tensorboard`` when installed.
    """

    def __init__(self, out_dir: Path | None, *, tensorboard: bool = True) -> None:
        self.path = out_dir / METRICS_NAME if out_dir is not None else None
        self.tensorboard = tensorboard
        self._writer: Any = None

    def start(self, *, keep_bytes: int = 0, step: int = 0) -> None:
        """Open the log: a fresh run empties it; a resumed one keeps its first ``keep_bytes``.

        The bytes written after the checkpoint being resumed (records of steps that will be
        run again) are cut off, and TensorBoard purges its events after ``step``.
        """
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a+b") as f:
            f.truncate(min(keep_bytes, f.seek(0, os.SEEK_END)))
        if self.tensorboard:
            purge = step + 1 if step else None
            self._writer = _summary_writer(self.path.parent / TENSORBOARD_DIR, purge)

    def size(self) -> int:
        """Bytes written so far, fsync'ed (saved with a checkpoint, to cut the log back on resume).

        The checkpoint that records this size is made durable right after; the records it
        counts must reach the disk first, or a power cut could leave a log shorter than it.
        """
        if self.path is None or not self.path.exists():
            return 0
        fsync_path(self.path)
        return self.path.stat().st_size

    def write(self, record: dict[str, Any]) -> None:
        if self.path is None:
            return
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        if self._writer is not None and "step" in record:
            for key, value in record.items():
                if key not in ("kind", "step") and isinstance(value, (int, float)):
                    self._writer.add_scalar(f"{record['kind']}/{key}", value, record["step"])

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def read_metrics(out_dir: str | Path, kind: str | None = None) -> list[dict[str, Any]]:
    """The records of ``OUT/metrics.jsonl`` (of one ``kind`` if given)."""
    lines = (Path(out_dir) / METRICS_NAME).read_text("utf-8").splitlines()
    records = [json.loads(line) for line in lines if line.strip()]
    return [r for r in records if kind is None or r.get("kind") == kind]
