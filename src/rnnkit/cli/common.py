"""What every command shares: the one-line parser, the usage error, bounded option types."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rnnkit.checks import check_unicode
from rnnkit.errors import RnnkitError
from rnnkit.serve.limits import ServeLimits


class UsageError(RnnkitError):
    """A bad command-line value."""


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports errors as one line and exits with status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {one_line(message)}\n")


def one_line(message: str) -> str:
    """An error message on one line: a line end inside it (from a file name, say) shown as
    ``\\n``."""
    return message.replace("\r", "\\r").replace("\n", "\\n")


def bounded(
    kind: type,
    low: float | None = None,
    high: float | None = None,
    *,
    open_low: bool = False,
    open_high: bool = False,
) -> Callable[[str], float]:
    """An argparse type that parses ``kind`` and checks it lies in [low, high].

    ``open_low``/``open_high`` exclude the bound: ``bounded(float, 0.0, 1.0, open_low=True)``
    takes (0.0, 1.0]. The error quotes the range, e.g. ``must be in [0.0, 1.0), got 1.5``.
    """

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {kind.__name__}, got {text!r}") from None
        if not math.isfinite(value):  # NaN passes every comparison below
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
        too_low = low is not None and (value <= low if open_low else value < low)
        too_high = high is not None and (value >= high if open_high else value > high)
        if too_low or too_high:
            upper = "inf" if high is None else high
            left = "(" if open_low else "["
            right = ")" if open_high or high is None else "]"
            raise argparse.ArgumentTypeError(f"must be in {left}{low}, {upper}{right}, got {text}")
        return value

    parse.__name__ = kind.__name__
    return parse


#: the largest ``--seed``: every generator rnnkit seeds (torch, NumPy, Python) takes [0, 2**32)
SEED_MAX = 2**32 - 1
#: the largest ``--beam``; wider beams only cost memory (``B * K`` hypotheses)
BEAM_MAX = 10_000
#: what ``rnnkit serve`` allows one request by default bounds one command-line input too: a
#: decoder's memory grows with the input's length times the output's (attention, beams)
_SERVE = ServeLimits()
#: the longest ``--max-length`` a decoder runs to
LENGTH_MAX = _SERVE.max_length
#: the most characters of one input of ``translate``, ``classify`` or ``tag``
INPUT_CHARS_MAX = _SERVE.max_input_chars


def check_inputs(texts: Iterable[tuple[str, str]]) -> None:
    """Each (where, text) input of a command: text that can be printed (a byte that was not
    UTF-8 comes from argv or stdin as a lone surrogate) and at most :data:`INPUT_CHARS_MAX`
    characters; ``where`` names it (``TEXT 2``, ``words.txt:7``)."""
    for where, text in texts:
        try:
            check_unicode(where, text)
        except ValueError as e:
            raise UsageError(str(e)) from None
        if len(text) > INPUT_CHARS_MAX:
            raise UsageError(f"{where}: {len(text):,} characters, more than the "
                             f"{INPUT_CHARS_MAX:,} one input may hold (as in `rnnkit serve`); "
                             "split it")  # fmt: skip


def numbered(texts: Iterable[str], prefix: str) -> list[tuple[str, str]]:
    """``[("TEXT 1", a), ("TEXT 2", b)]`` (``prefix`` ``"TEXT "``; ``"words.txt:"`` numbers
    lines): inputs named for :func:`check_inputs`."""
    return [(f"{prefix}{i}", text) for i, text in enumerate(texts, 1)]


def seed_type() -> Callable[[str], float]:
    """The argparse type of every ``--seed``: an integer in [0, :data:`SEED_MAX`]."""
    return bounded(int, 0, SEED_MAX)


def flag(name: str) -> str:
    """The option that sets ``name``: ``warmup_steps`` -> ``--warmup-steps``."""
    return "--" + name.replace("_", "-")


def add_run_options(parser: argparse.ArgumentParser, out: str) -> None:
    """What every ``rnnkit train`` command takes: where the run goes, its seed, the bar."""
    parser.add_argument("--out", type=Path, default=Path(out), help="checkpoint directory")
    parser.add_argument("--overwrite", action="store_true", help="replace a checkpoint in --out")
    parser.add_argument("--seed", type=seed_type(), default=0)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def check_out_free(out: Path, *, overwrite: bool) -> None:
    """Refuse to start a fresh run over a checkpoint, unless ``--overwrite`` (the lifecycle's
    check: :func:`rnnkit.apps.runs.check_out_free`)."""
    from rnnkit.apps.runs import check_out_free as check

    check(out, overwrite=overwrite)


@contextmanager
def process_group() -> Iterator[Any]:
    """Join torchrun's process group when ``WORLD_SIZE > 1`` (data parallel); leave it after.

    Yields this process's ``Workers`` (rank 0 prints the results).
    """
    import torch.distributed as dist

    from rnnkit.training.distributed import init_from_environment

    workers = init_from_environment()
    try:
        yield workers
    finally:
        if workers.world_size > 1:
            dist.destroy_process_group()


def add_decoding_options(parser: argparse.ArgumentParser) -> None:
    """How a sequence-to-sequence command decodes: beam (1 = greedy), n-best, penalties."""
    from rnnkit.decoding import LENGTH_PENALTIES

    group = parser.add_argument_group("decoding")
    group.add_argument("--beam", type=int, default=5, help="beam size; 1: greedy")
    group.add_argument("--n-best", type=int, default=1, help="outputs per input (<= --beam)")
    group.add_argument("--length-penalty", choices=LENGTH_PENALTIES, default="none")
    group.add_argument("--alpha", type=float, default=0.6, help="GNMT length-penalty exponent")
    group.add_argument("--max-length", type=int, help="most output tokens (default: 2 S + 10)")
    group.add_argument("--plot-attention", type=Path, metavar="FILE",
                       help="save the first output's attention heatmap as PNG")  # fmt: skip
    group.add_argument("--sample", action="store_true",
                       help="sample instead of searching (with the three options below)")
    group.add_argument("--temperature", type=bounded(float, 0.0, 100.0), default=1.0)
    group.add_argument("--top-k", type=bounded(int, 1, 10**6), help="sample from the k most likely")
    group.add_argument("--top-p", type=bounded(float, 0.0, 1.0, open_low=True),
                       help="sample from the smallest set with this mass")  # fmt: skip
    group.add_argument("--seed", type=seed_type(), default=0, help="seeds --sample")


def decoding_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of ``translate`` that :func:`add_decoding_options` gathered."""
    check_beam(args.beam)
    if not 1 <= args.n_best <= args.beam:
        raise UsageError(f"--n-best must be in [1, --beam={args.beam}], got {args.n_best}")
    if args.max_length is not None and not 1 <= args.max_length <= LENGTH_MAX:
        raise UsageError(f"--max-length must be in [1, {LENGTH_MAX}], got {args.max_length}")
    if not 0 <= args.alpha <= 10:  # NaN fails too
        raise UsageError(f"--alpha must be in [0, 10], got {args.alpha}")
    if args.sample:
        import torch

        return {"method": "sample", "temperature": args.temperature, "top_k": args.top_k,
                "top_p": args.top_p, "max_length": args.max_length,
                "generator": torch.Generator().manual_seed(args.seed)}  # fmt: skip
    if args.beam == 1:
        return {"method": "greedy", "max_length": args.max_length}
    return {"method": "beam", "beam_size": args.beam, "n_best": args.n_best,
            "length_penalty": args.length_penalty, "alpha": args.alpha,
            "max_length": args.max_length}  # fmt: skip


def check_beam(beam: int) -> None:
    """``--beam`` in [1, :data:`BEAM_MAX`] (every command that searches takes one)."""
    if beam < 1:
        raise UsageError(f"--beam must be >= 1, got {beam}")
    if beam > BEAM_MAX:
        raise UsageError(f"--beam must be <= {BEAM_MAX}, got {beam}")


def save_attention_plot(path: Path, translation: Any, source: list[str]) -> None:
    """The heatmap of one output's attention (a model without attention: a clear error)."""
    from rnnkit.viz.attention import plot_attention

    if translation.attention is None:
        raise UsageError("--plot-attention: this model has no attention to plot")
    rows = [*translation.tokens, "</s>"][: translation.attention.shape[0]]
    path.parent.mkdir(parents=True, exist_ok=True)  # as every other plot option does
    plot_attention(translation.attention[: len(rows), : len(source)], rows, source, path)
    print(f"attention heatmap: {path}", file=sys.stderr)


def duration(seconds: float) -> str:
    """``"42 s"`` under a minute, else ``"3.5 min"`` (a short run is not "0.0 min")."""
    return f"{seconds:.0f} s" if seconds < 60 else f"{seconds / 60:.1f} min"


def require_encoder(model: Any, checkpoint: Path, command: str) -> None:
    """A model saved without its encoder (tokenizer, vocabularies) reads no text: one line."""
    if getattr(model, "encoder", True) is None:
        raise UsageError(f"{checkpoint}/config.json: field encoder: missing; `rnnkit {command}` "
                         "needs the model's tokenizer and vocabularies")  # fmt: skip


def model_names(text: str, known: Sequence[str]) -> list[str]:
    """``--models a,b``: distinct names from ``known``, in the order given (one line if not)."""
    models = [m.strip() for m in text.split(",") if m.strip()]
    if not models or any(m not in known for m in models) or len(set(models)) < len(models):
        raise UsageError(f"--models must list distinct names from {', '.join(known)}, "
                         f"got {text!r}")  # fmt: skip
    return models


def add_lm_fusion_options(parser: argparse.ArgumentParser) -> None:
    """``--lm DIR --lm-weight λ --length-bonus β``: a character LM fused into CTC decoding."""
    parser.add_argument("--lm", type=Path, metavar="DIR",
                        help="a character LM (rnnkit train lm) fused into prefix beam search")
    parser.add_argument("--lm-weight", type=bounded(float, 0.0, 10.0), default=None,
                        help="λ: weight of the LM's log-probability (default 0.5)")
    parser.add_argument("--length-bonus", type=bounded(float, -10.0, 10.0), default=None,
                        help="β: added per label, against the LM's cost (default 0)")  # fmt: skip


def lm_fusion(args: argparse.Namespace, labels: Sequence[str]) -> dict[str, Any]:
    """``recognise``'s keyword arguments for the fusion options given (none: {})."""
    if args.lm is None:
        if args.lm_weight is not None or args.length_bonus is not None:
            raise UsageError("--lm-weight and --length-bonus weigh a language model: give --lm")
        return {}
    from rnnkit.checkpoint import load
    from rnnkit.tasks.language_model import LanguageModel
    from rnnkit.tasks.lm_fusion import label_fusion

    lm = load(args.lm)
    if not isinstance(lm, LanguageModel):
        raise UsageError(f"--lm {args.lm}: not a language model (rnnkit train lm)")
    weight = 0.5 if args.lm_weight is None else args.lm_weight
    bonus = 0.0 if args.length_bonus is None else args.length_bonus
    return {"lm": label_fusion(lm, [None, *labels]), "lm_weight": weight, "length_bonus": bonus}
