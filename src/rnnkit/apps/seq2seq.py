"""The sequence-to-sequence job: source/target pairs -> vocabularies -> Seq2Seq -> report.

What ``rnnkit train seq2seq`` does, top to bottom: read a pairs file (``source<TAB>target``;
tokens by characters or by whitespace) or build the CMU Pronouncing Dictionary's pairs, split
them so that no source sits in two splits (a source with several targets, such as a word with
several pronunciations, keeps them all together), build the vocabularies on the training pairs,
print the plan (:mod:`rnnkit.apps.plan`: pair lengths, vocabularies, the epochs the budget
covers), train a :class:`~rnnkit.tasks.Seq2Seq` with the one Trainer (best checkpoint by greedy
exact-sequence accuracy on validation), and report the test split with greedy decoding and
with beam search: sequence error rate (WER for pronunciations: a word is right when the output
equals any of its references) and token error rate (PER: edit distance to the closest reference
over that reference's length, summed over the split).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch

from rnnkit.apps import plan
from rnnkit.apps.runs import Job, Preset, Run, begin
from rnnkit.data.cmudict import load_cmudict, split_words
from rnnkit.data.padded import BucketBatches, iter_batches
from rnnkit.data.pair_batches import BOS, EOS, PairEncoder, pointer_positions
from rnnkit.data.pairs import PAIR_TOKENS, Pair, read_pairs
from rnnkit.errors import DataError
from rnnkit.options import option
from rnnkit.tasks.input_words import apply_word_vectors
from rnnkit.tasks.pretrained import Pretrained, write_json
from rnnkit.tasks.seq2seq import Seq2Seq, Seq2SeqConfig, input_tokens
from rnnkit.training import raml
from rnnkit.training.config import TrainConfig
from rnnkit.training.metrics import edit_distance
from rnnkit.training.trainer import Trainer

REPORT_NAME = "report.json"
VALID_CAP = 3000  # validation pairs decoded at each evaluation during training

PRESETS: dict[str, Preset] = {
    "cmudict": Preset(
        "CMU Pronouncing Dictionary G2P: BiLSTM 256 encoder, attention decoder, 18 minutes",
        model={"embedding_size": 64, "hidden_size": 256, "attention": "general", "dropout": 0.1},
        training={"batch_size": 128, "lr": 2e-3, "max_minutes": 18.0, "eval_every": 500,
                  "schedule": "cosine", "warmup_steps": 200},
    ),
    "default": Preset(
        "BiLSTM 128 encoder, general attention, 10 minutes",
        training={"batch_size": 64, "lr": 2e-3, "max_minutes": 10.0, "eval_every": 300},
    ),
    "tiny": Preset(
        "16 units, 20 steps: smoke tests",
        model={"embedding_size": 8, "hidden_size": 16},
        training={"batch_size": 4, "lr": 1e-2, "max_steps": 20, "eval_every": 10},
    ),
}  # fmt: skip
#: Seq2SeqConfig fields the job sets from the data
SIZES = ("source_vocab_size", "target_vocab_size")


@dataclass(frozen=True)
class PairData:
    """Where the pairs come from and how lines become tokens."""

    path: str | None = None  # source<TAB>target pairs; None: the CMU Pronouncing Dictionary
    source_tokens: str = option("char", "source tokens: characters or whitespace-separated",
                                choices=PAIR_TOKENS)  # fmt: skip
    target_tokens: str = option("space", "target tokens: characters or whitespace-separated",
                                choices=PAIR_TOKENS)  # fmt: skip
    valid_file: str | None = option(None, "validation pairs (default: split off --data)")
    test_file: str | None = option(None, "test pairs (default: split off --data)")
    valid_fraction: float = option(0.05, "share of the sources for validation", low=0.0,
                                   high=0.5)  # fmt: skip
    test_fraction: float = option(0.1, "share of the sources for the test report", low=0.0,
                                  high=0.5)  # fmt: skip
    raml_tau: float = option(
        0.0, "RAML: train on targets sampled at edit distance e with weight exp(-e/tau), "
        "rescaled (rnnkit.training.raml; 0: maximum likelihood)", low=0.0, high=10.0,
    )  # fmt: skip
    word_vectors: str | None = option(
        None, "pretrained vectors for the source embedding: word2vec (text or .bin), GloVe or "
        "fastText .vec (the embedding size follows the file)",
    )  # fmt: skip
    freeze_word_vectors: bool = option(False, "keep the --word-vectors embedding fixed")


#: ``rnnkit train seq2seq`` for the run lifecycle (:mod:`rnnkit.apps.runs`)
JOB = Job("seq2seq", PairData, Seq2SeqConfig, sizes=SIZES, presets=PRESETS,
          metrics=Seq2Seq.METRICS, files=("path", "valid_file", "test_file", "word_vectors"),
          probe=(5, 5))  # fmt: skip


@dataclass
class PairSplits:
    train: list[Pair]
    valid: list[Pair]
    test: list[Pair]


def split_by_source(pairs: list[Pair], data: PairData, seed: int) -> PairSplits:
    """Seeded split in which every pair of one source lands in the same split."""
    keys = sorted({"\x1f".join(p.source) for p in pairs})
    train, valid, test = split_words(
        keys, seed=seed, valid=data.valid_fraction, test=data.test_fraction
    )
    where = {k: i for i, part in enumerate((train, valid, test)) for k in part}
    parts: list[list[Pair]] = [[], [], []]
    for pair in pairs:
        parts[where["\x1f".join(pair.source)]].append(pair)
    return PairSplits(*parts)


def read_splits(data: PairData, seed: int) -> PairSplits:
    """The pairs of ``data.path`` (or of CMUdict when it is None), split per ``data``."""
    path = data.path
    if path is None:
        entries = load_cmudict()
        pairs = [Pair(tuple(w), p) for w in sorted(entries) for p in entries[w]]
    else:
        pairs = read_pairs(path, source_tokens=data.source_tokens,
                           target_tokens=data.target_tokens)  # fmt: skip
    splits = split_by_source(pairs, data, seed)
    read = lambda f: read_pairs(f, source_tokens=data.source_tokens,  # noqa: E731
                                target_tokens=data.target_tokens)  # fmt: skip
    if data.valid_file is not None:
        splits.valid = read(data.valid_file)
    if data.test_file is not None:
        splits.test = read(data.test_file)
    for name in ("train", "valid"):
        if not getattr(splits, name):
            raise DataError(f"the {name} split is empty; give more pairs or a --{name}-file")
    return splits


# -- evaluation -------------------------------------------------------------------------


@dataclass
class PairReport:
    """Error rates of one decoding method on a split (``as_dict`` is JSON)."""

    method: str
    sequences: int
    sequence_error_rate: float  # WER for pronunciations
    token_error_rate: float  # PER for pronunciations
    unknown_source_tokens: int
    examples: list[tuple[str, str, str]]  # (source, output, closest reference), a few

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        return (
            f"{self.method:>12}: sequence error {self.sequence_error_rate:.2%}, "
            f"token error {self.token_error_rate:.2%} over {self.sequences:,} sources"
        )


def group_references(pairs: Sequence[Pair]) -> dict[tuple[str, ...], list[tuple[str, ...]]]:
    """Source -> every target it has (its references), in first-seen order."""
    groups: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
    for pair in pairs:
        refs = groups.setdefault(tuple(pair.source), [])
        if tuple(pair.target) not in refs:
            refs.append(tuple(pair.target))
    return groups


def score_outputs(
    outputs: Sequence[Sequence[str]], references: Sequence[Sequence[Sequence[str]]]
) -> tuple[int, int, int, list[int]]:
    """(wrong sequences, token edits, reference tokens, closest reference per output)."""
    wrong = edits = length = 0
    closest = []
    for out, refs in zip(outputs, references, strict=True):
        distances = [edit_distance(out, ref) for ref in refs]
        best = min(range(len(refs)), key=lambda i: (distances[i], len(refs[i])))
        wrong += distances[best] > 0
        edits += distances[best]
        length += len(refs[best])
        closest.append(best)
    return wrong, edits, length, closest


def evaluate_pairs(
    model: Seq2Seq, pairs: Sequence[Pair], *, method: str = "greedy", beam_size: int = 5,
    show: int = 5, **options: Any,
) -> PairReport:  # fmt: skip
    """Decode every distinct source once and score it against all of its references."""
    groups = group_references(pairs)
    sources, references = list(groups), list(groups.values())
    outputs = [
        nbest[0].tokens
        for nbest in model.translate(sources, method=method, beam_size=beam_size, **options)
    ]
    wrong, edits, length, closest = score_outputs(outputs, references)
    joiner = "" if input_tokens(model.task) == "char" else " "
    examples = [
        (joiner.join(s), " ".join(o), " ".join(r[c]))
        for s, o, r, c in zip(sources[:show], outputs, references, closest, strict=False)
    ]
    name = method if method != "beam" else f"beam {beam_size}"
    return PairReport(name, len(sources), wrong / max(len(sources), 1), edits / max(length, 1),
                      model.unknown_tokens(sources), examples)  # fmt: skip


# -- training ---------------------------------------------------------------------------


@dataclass
class Fitted:
    """A finished training run: the best model (reloaded from disk) and how it got there."""

    model: Any
    best_valid: float  # of the monitored metric
    steps: int
    wall_seconds: float


def fit(
    model: Pretrained, source: BucketBatches, valid: list[Any], run: Run, *, progress: bool = True,
    make_plan: Callable[[], plan.Plan] | None = None, say: Callable[[str], Any] = print,
    label: str = "",
) -> Fitted | None:  # fmt: skip
    """Train with the one Trainer, keep the best checkpoint, reload it (rank 0; else None).

    ``make_plan``'s plan (measured on rank 0 only) is said line by line before training starts;
    ``label`` names the model on the progress bar.
    """
    out_dir = run.out
    trainer = Trainer(model, source, valid, run.config.training, out_dir=out_dir,
                      progress=progress, label=label)  # fmt: skip
    if make_plan is not None and trainer.workers.is_main:
        for line in make_plan().lines():
            say(line)
    begin(trainer, run)
    start = time.monotonic()
    trainer.fit()
    wall = time.monotonic() - start
    if not trainer.workers.is_main:
        return None
    best = type(model).from_pretrained(out_dir)
    return Fitted(best, -trainer.best_valid, trainer.step, wall)


def pair_batches(
    encoder: PairEncoder, pairs: Sequence[Pair], config: TrainConfig, *, raml_tau: float = 0.0
) -> BucketBatches:
    """Training batches (bucketed by source length) over ``pairs``; with ``raml_tau`` > 0 each
    batch's targets are drawn afresh from RAML's payoff distribution around the gold ones."""
    sources = [p.source for p in pairs]
    targets = [p.target for p in pairs]
    collate = lambda order: encoder.batch(sources, targets, order)  # noqa: E731
    if raml_tau > 0:
        vocabulary = [t for t in encoder.target.itos[2:] if t not in (BOS, EOS)]
        drawn = lambda targets, order: encoder.batch(sources, targets, order)  # noqa: E731
        collate = raml.collate(drawn, targets, vocabulary, raml_tau, config.seed)
    return BucketBatches(sources, targets, config.batch_size, seed=config.seed, collate=collate)


def pair_plan(
    model: Seq2Seq, encoder: PairEncoder, pairs: Sequence[Pair], config: TrainConfig
) -> plan.Plan:
    """Pairs, source and target lengths, the vocabularies, and the epochs ``config``'s budget
    covers at the speed of a training batch of median-length pairs (a token: one source or
    target token)."""
    sources, targets = [p.source for p in pairs], [p.target for p in pairs]
    lengths = [len(s) + len(t) for s, t in zip(sources, targets, strict=True)]
    order = plan.median_batch(lengths, config.batch_size)
    speed = plan.batch_speed(model, encoder.batch(sources, targets, order),
                             sum(lengths[i] for i in order))  # fmt: skip
    sizes = plan.Plan.of(
        lengths, len(encoder.source), None, batch_size=config.batch_size,
        max_steps=config.max_steps, max_minutes=config.max_minutes, tokens_per_second=speed,
    )  # fmt: skip
    sides = tuple(
        (side, plan.percentile(n, 50), plan.percentile(n, 95))
        for side, n in (("source", [len(s) for s in sources]),
                        ("target", [len(t) for t in targets]))
    )  # fmt: skip
    named = [("source", len(encoder.source))]
    named += [] if encoder.target is None else [("target", len(encoder.target))]
    return replace(sizes, unit="pairs", vocabularies=tuple(named), sides=sides)


def eval_batches(encoder: PairEncoder, pairs: Sequence[Pair], size: int = 256) -> list[Any]:
    sources, targets = [p.source for p in pairs], [p.target for p in pairs]
    collate = lambda order: encoder.batch(sources, targets, order)  # noqa: E731
    return list(iter_batches(sources, targets, size, collate=collate))


def check_pointable(pairs: Sequence[Pair]) -> None:
    """A pointer output can only copy: every target token must occur in its source."""
    for i, pair in enumerate(pairs, start=1):
        if pointer_positions(pair.source, pair.target) is None:
            raise DataError(f"--output pointer: training pair {i} has a target token that is "
                            "not in its source")  # fmt: skip


@dataclass
class PairRun:
    fitted: Fitted
    reports: list[PairReport]


def train_pairs(
    splits: PairSplits, run: Run, *, beam_size: int = 5, progress: bool = True,
    say: Callable[[str], Any] = print,
) -> PairRun | None:  # fmt: skip
    """Train on ``splits.train``, choose on ``splits.valid``, report ``splits.test`` (the
    splits of ``run``'s data: :func:`read_splits`); ``say`` gets the plan before training."""
    data, config, out_dir = run.config.data, run.config.training, run.out
    pointer = run.config.model.get("output") == "pointer"
    encoder = PairEncoder.build(
        [p.source for p in splits.train], [p.target for p in splits.train], pointer=pointer
    )
    if pointer:
        check_pointable(splits.train)
        if data.raml_tau:
            raise DataError("--raml-tau: a pointer output can only copy its source; RAML's "
                            "edited targets would not be in it")  # fmt: skip
    torch.manual_seed(config.seed)
    target_size = 0 if encoder.target is None else len(encoder.target)
    task = {"job": "seq2seq", "source_tokens": data.source_tokens,
            "target_tokens": data.target_tokens}  # fmt: skip
    model = Seq2Seq(JOB.model_config(run.config, len(encoder.source), target_size), encoder,
                    task=task)  # fmt: skip
    if data.word_vectors:
        coverage = apply_word_vectors(model, data.word_vectors, freeze=data.freeze_word_vectors)
        say(coverage.line(data.word_vectors))
    source = pair_batches(encoder, splits.train, config, raml_tau=data.raml_tau)
    valid = eval_batches(encoder, splits.valid[:VALID_CAP])
    fitted = fit(model, source, valid, run, progress=progress, say=say,
                 make_plan=lambda: pair_plan(model, encoder, splits.train, config))  # fmt: skip
    if fitted is None:
        return None
    reports = []
    if splits.test:
        reports = [
            evaluate_pairs(fitted.model, splits.test, method="greedy"),
            evaluate_pairs(fitted.model, splits.test, method="beam", beam_size=beam_size),
        ]
    write_json(Path(out_dir) / REPORT_NAME, {
        "best_valid_sequence_accuracy": fitted.best_valid, "steps": fitted.steps,
        "wall_seconds": fitted.wall_seconds, "test": [r.as_dict() for r in reports],
        "splits": {"train": len(splits.train), "valid": len(splits.valid),
                   "test": len(splits.test)},
    })  # fmt: skip
    return PairRun(fitted, reports)
