"""What every PNG plot shares: matplotlib on the file-only backend, and writing the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rnnkit.errors import RnnkitError


def pyplot() -> Any:
    """matplotlib's pyplot on the file-only Agg backend, or a one-line error naming the extra."""
    try:
        import matplotlib
    except ModuleNotFoundError:
        raise RnnkitError('plots need matplotlib: pip install "rnnkit[plot]"') from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_png(fig: Any, path: str | Path, *, dpi: int = 110) -> Path:
    """Lay out ``fig``, write it as PNG to ``path`` (one-line error if it cannot), close it."""
    path = Path(path)
    fig.tight_layout()
    try:
        fig.savefig(path, format="png", dpi=dpi)
    except OSError as e:
        raise RnnkitError(f"{path}: cannot write the plot ({e.strerror or e})") from None
    finally:
        pyplot().close(fig)
    return path
