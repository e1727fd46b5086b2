"""The number sorter (the course's bonus challenge): integer lists in, the same lists sorted out.

What ``rnnkit train sort`` does: generate seeded training lists (lengths ``min_length`` to
``max_length``, numbers in ``[low, high]``), train up to three encoder–decoders on them with the
one Trainer — ``plain`` (the decoder sees only the encoder's final state), ``attention``
(Luong's general attention with input feeding) and ``pointer`` (the output points at source
positions, Vinyals et al. 2015) — each into its own directory, and report on fresh lists of
every length from 1 to ``report_length``, including lengths never seen in training:

- exact-sequence accuracy: the output is the sorted list;
- token accuracy: positions of the sorted list the output gets right;
- permutation rate: the output is a rearrangement of the input (nothing lost or invented).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch

from rnnkit.apps.runs import Job, Preset, Run, start
from rnnkit.apps.seq2seq import SIZES, Fitted, eval_batches, fit, pair_batches
from rnnkit.data.pair_batches import PairEncoder
from rnnkit.data.pairs import Pair
from rnnkit.data.synthetic import sorting_examples
from rnnkit.errors import CheckpointError
from rnnkit.options import option
from rnnkit.tasks.pretrained import CONFIG_NAME, read_json, write_json
from rnnkit.tasks.seq2seq import Seq2Seq, Seq2SeqConfig

REPORT_NAME = "report.json"
#: model name -> the Seq2SeqConfig fields that make it that model
MODELS: dict[str, dict[str, Any]] = {
    "plain": {"attention": "none", "output": "vocab"},
    "attention": {"attention": "general", "output": "vocab"},
    "pointer": {"attention": "none", "output": "pointer", "pointer_once": True},
}
#: model name -> what it is, said as its training starts
ABOUT = {
    "plain": "the decoder sees only the encoder's final state",
    "attention": "Luong's general attention with input feeding",
    "pointer": "the output points at source positions (Vinyals et al. 2015)",
}
PRESETS: dict[str, Preset] = {
    "default": Preset(
        "BiLSTM 128 encoder, LSTM 128 decoder, 5 minutes per model",
        model={"embedding_size": 64, "hidden_size": 128, "dropout": 0.0},
        training={"batch_size": 64, "lr": 2e-3, "max_minutes": 5.0, "eval_every": 250,
                  "schedule": "cosine", "warmup_steps": 100},
    ),
    "tiny": Preset(
        "16 units, 20 steps per model: smoke tests",
        model={"embedding_size": 8, "hidden_size": 16},
        training={"batch_size": 8, "lr": 1e-2, "max_steps": 20, "eval_every": 10},
    ),
}  # fmt: skip


@dataclass(frozen=True)
class SortTask:
    """The lists to sort."""

    low: int = option(0, "smallest number", low=-10**9, high=10**9)
    high: int = option(99, "largest number", low=-10**9, high=10**9)
    min_length: int = option(1, "shortest training list", low=1, high=1000)
    max_length: int = option(10, "longest training list", low=1, high=1000)
    train_examples: int = option(100_000, "training lists generated", low=1, high=10**8)
    valid_examples: int = option(1000, "validation lists (training lengths)", low=1, high=10**7)
    report_length: int = option(20, "report lengths 1..N (longer than max: unseen)", low=1,
                                high=1000)  # fmt: skip
    report_examples: int = option(200, "fresh lists per length in the report", low=1,
                                  high=10**6)  # fmt: skip

    def __post_init__(self) -> None:
        if self.low > self.high:
            raise ValueError(f"low must be <= high, got {self.low} > {self.high}")
        if self.min_length > self.max_length:
            raise ValueError(f"min_length must be <= max_length, got {self.min_length} > "
                             f"{self.max_length}")  # fmt: skip


#: ``rnnkit train sort`` for the run lifecycle (:mod:`rnnkit.apps.runs`); each model of a run
#: is a run of its own in ``OUT/<model>`` (:func:`sorter_runs`)
JOB = Job("sort", SortTask, Seq2SeqConfig, sizes=SIZES, presets=PRESETS,
          metrics=Seq2Seq.METRICS, probe=(5, 5))  # fmt: skip


def sorter_runs(models: list[str], run: Run, *, overwrite: bool = False) -> dict[str, Run]:
    """One run per model, into ``OUT/<model>``: the run's settings with the model's own fields
    (:data:`MODELS`), each directory checked before any of them trains."""
    return {
        name: start(JOB, run.out / name, replace(run.config, model={**run.config.model,
                    **MODELS[name]}), overwrite=overwrite)
        for name in models
    }  # fmt: skip


def as_pairs(examples: list[tuple[list[int], list[int]]]) -> list[Pair]:
    """Number lists -> token pairs (each number one token)."""
    return [Pair(tuple(map(str, s)), tuple(map(str, t))) for s, t in examples]


def lists(task: SortTask, count: int, lo: int, hi: int, seed: int) -> list[Pair]:
    g = torch.Generator().manual_seed(seed)
    examples = sorting_examples(count, low=task.low, high=task.high, min_length=lo,
                                max_length=hi, generator=g)  # fmt: skip
    return as_pairs(examples)


# -- evaluation -------------------------------------------------------------------------


@dataclass
class LengthScores:
    length: int
    exact: float
    token: float
    permutation: float


def score_sorting(model: Seq2Seq, pairs: list[Pair], **options: Any) -> tuple[float, float, float]:
    """(exact-sequence accuracy, token accuracy, permutation rate) of ``model`` on ``pairs``."""
    sources = [p.source for p in pairs]
    outputs = [n[0].tokens for n in model.translate(sources, **options)]
    exact = token = perm = total = 0
    for pair, out in zip(pairs, outputs, strict=True):
        exact += list(out) == list(pair.target)
        token += sum(a == b for a, b in zip(out, pair.target, strict=False))  # may be short
        total += len(pair.target)
        perm += sorted(out) == sorted(pair.source)
    n = max(len(pairs), 1)
    return exact / n, token / max(total, 1), perm / n


def evaluate_sorter(
    model: Seq2Seq, task: SortTask, *, seed: int, **options: Any
) -> list[LengthScores]:
    """Scores on ``report_examples`` fresh lists of each length 1..``report_length``."""
    rows = []
    for length in range(1, task.report_length + 1):
        pairs = lists(task, task.report_examples, length, length, seed=10_000 + seed + length)
        rows.append(LengthScores(length, *score_sorting(model, pairs, **options)))
    return rows


def report_table(results: dict[str, list[LengthScores]], max_trained: int) -> str:
    """Per-length exact / token / permutation figures, the models side by side."""
    names = list(results)
    lines = ["length  " + "  ".join(f"{n:^26}" for n in names),
             "        " + "  ".join(f"{'exact':>8} {'token':>8} {'perm':>8}" for _ in names)]
    for i, row in enumerate(next(iter(results.values()))):
        mark = " " if row.length <= max_trained else "*"
        scores = [results[n][i] for n in names]
        cells = "  ".join(f"{s.exact:>8.1%} {s.token:>8.1%} {s.permutation:>8.1%}" for s in scores)
        lines.append(f"{row.length:>5}{mark}  {cells}")
    lines.append("* longer than any training list")
    return "\n".join(lines)


# -- training ---------------------------------------------------------------------------


@dataclass
class SortRun:
    fitted: dict[str, Fitted]
    results: dict[str, list[LengthScores]]
    best: str


def train_sorters(
    runs: dict[str, Run], out_dir: str | Path, *, progress: bool = True,
    say: Callable[[str], Any] = print,
) -> SortRun:  # fmt: skip
    """Train each model's run (:func:`sorter_runs`), report all of them side by side in
    ``out_dir``; ``say`` gets a line naming each model as its training starts."""
    out_dir = Path(out_dir)
    first = next(iter(runs.values())).config
    task, config = first.data, first.training
    train = lists(task, task.train_examples, task.min_length, task.max_length, config.seed)
    valid = lists(task, task.valid_examples, task.min_length, task.max_length, config.seed + 1)
    fitted, results = {}, {}
    for i, (name, run) in enumerate(runs.items(), start=1):
        say(f"training {name} ({i} of {len(runs)}): {ABOUT[name]}")
        encoder = PairEncoder.build([p.source for p in train], [p.target for p in train],
                                    pointer=run.config.model["output"] == "pointer")  # fmt: skip
        torch.manual_seed(config.seed)
        target_size = 0 if encoder.target is None else len(encoder.target)
        # the input tokenisation travels with the model, so every entry point reads numbers
        info = {"job": "sort", "source_tokens": "numbers", "target_tokens": "space",
                **asdict(task)}  # fmt: skip
        model = Seq2Seq(JOB.model_config(run.config, len(encoder.source), target_size), encoder,
                        task=info)  # fmt: skip
        fitted[name] = fit(model, pair_batches(encoder, train, config),
                           eval_batches(encoder, valid), run, progress=progress,
                           label=name)  # fmt: skip
        results[name] = evaluate_sorter(fitted[name].model, task, seed=config.seed)
    models = list(runs)
    best = max(models, key=lambda n: fitted[n].best_valid)  # chosen on validation only
    write_json(out_dir / REPORT_NAME, {
        "best": best, "task": asdict(task),
        "models": {n: {"best_valid_sequence_accuracy": f.best_valid, "steps": f.steps,
                       "wall_seconds": f.wall_seconds,
                       "lengths": [asdict(r) for r in results[n]]} for n, f in fitted.items()},
    })  # fmt: skip
    return SortRun(fitted, results, best)


def sorter_directory(path: str | Path) -> Path:
    """A model directory, or a ``train sort`` run directory (-> its best model's)."""
    path = Path(path)
    if (path / CONFIG_NAME).is_file() or not (path / REPORT_NAME).is_file():
        return path
    best = read_json(path / REPORT_NAME, "not a sort run").get("best")
    if best not in MODELS:
        raise CheckpointError(f"{path / REPORT_NAME}: no best model recorded")
    return path / best
