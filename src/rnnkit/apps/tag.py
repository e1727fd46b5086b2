"""The tagging job: CoNLL-U treebank -> vocabularies -> Tagger -> dev-chosen checkpoint -> report.

What ``rnnkit train tag`` does, top to bottom: read the training and development files (and a
test file), build the word, character and tag vocabularies on the training sentences, print
the plan (:mod:`rnnkit.apps.plan`: sentence lengths, vocabularies, the epochs the budget
covers), train a :class:`~rnnkit.tasks.Tagger` with the one Trainer (best checkpoint by dev
accuracy), and report the test file: accuracy over all words and over words unseen in
training, per-tag scores and the most frequent confusions.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch

from rnnkit.apps import plan
from rnnkit.apps.runs import Job, Preset, Run, begin
from rnnkit.data.conllu import COLUMNS, Sentence, read_conllu
from rnnkit.data.padded import BucketBatches, iter_batches
from rnnkit.data.tagging import UNSEEN_TAG, TaggingEncoder
from rnnkit.errors import CheckpointError, DataError
from rnnkit.tasks.input_words import apply_word_vectors
from rnnkit.tasks.language_model import LanguageModel
from rnnkit.tasks.pretrained import write_json
from rnnkit.tasks.tagger import Tagger, TaggerConfig
from rnnkit.training.config import TrainConfig
from rnnkit.training.metrics import ClassificationReport
from rnnkit.training.trainer import Trainer

REPORT_NAME = "report.json"
TAG_COLUMNS = ("UPOS", "XPOS", "FEATS")

PRESETS: dict[str, Preset] = {
    "ud-ewt": Preset(
        "UD English-EWT: word + character BiLSTM, 2x200 BiLSTM, 18 minutes",
        model={"hidden_size": 200, "num_layers": 2, "dropout": 0.33, "word_dropout": 0.1},
        training={"batch_size": 64, "lr": 2e-3, "max_minutes": 18.0, "eval_every": 250,
                  "schedule": "cosine", "warmup_steps": 100},
    ),
    "quick": Preset(
        "1x100 BiLSTM, 3 minutes: a first look",
        model={"hidden_size": 100, "num_layers": 1, "char_hidden_size": 32},
        training={"batch_size": 32, "lr": 2e-3, "max_minutes": 3.0, "eval_every": 100},
    ),
    "tiny": Preset(
        "16 units, 20 steps: smoke tests",
        model={"hidden_size": 16, "num_layers": 1, "word_embedding_size": 16,
               "char_embedding_size": 8, "char_hidden_size": 8},
        training={"batch_size": 4, "lr": 1e-2, "max_steps": 20, "eval_every": 10},
    ),
}  # fmt: skip


@dataclass(frozen=True)
class TagData:
    """The treebank files (absolute paths in run.json) and the column to predict."""

    train: str  # CoNLL-U training sentences
    dev: str  # CoNLL-U sentences to choose the checkpoint on
    test: str | None = None  # CoNLL-U sentences to report on
    column: str = "UPOS"  # one of TAG_COLUMNS
    word_vectors: str | None = None  # pretrained vectors for the word embedding
    freeze_word_vectors: bool = False  # keep them fixed
    char_lm_forward: str | None = None  # contextual string embeddings: a character LM ...
    char_lm_backward: str | None = None  # ... and one trained on reversed text (train lm)

    def __post_init__(self) -> None:
        if self.column not in TAG_COLUMNS:
            raise ValueError(f"column must be one of {', '.join(TAG_COLUMNS)}, got {self.column!r}")
        if (self.char_lm_forward is None) != (self.char_lm_backward is None):
            raise ValueError("contextual string embeddings need two character LMs: forward "
                             "and backward")  # fmt: skip


#: ``rnnkit train tag`` for the run lifecycle (:mod:`rnnkit.apps.runs`)
JOB = Job(
    "tag", TagData, TaggerConfig, sizes=("word_vocab_size", "char_vocab_size", "num_tags"),
    presets=PRESETS, metrics=Tagger.METRICS,
    files=("train", "dev", "test", "word_vectors", "char_lm_forward", "char_lm_backward"),
    probe=(2, 2, 2),
)  # fmt: skip


@dataclass
class Treebank:
    """Sentences of one file: their words and the gold column."""

    path: str
    sentences: list[Sentence]
    column: str

    @property
    def words(self) -> list[list[str]]:
        return [s.words for s in self.sentences]

    @property
    def tags(self) -> list[list[str]]:
        return [s.column(self.column) for s in self.sentences]


def read_treebank(path: str | Path, column: str) -> Treebank:
    if column not in COLUMNS:
        raise DataError(f"--column must be one of {', '.join(COLUMNS)}, got {column!r}")
    bank = Treebank(str(path), read_conllu(path), column)
    if all(tag == "_" for tags in bank.tags for tag in tags):  # nothing to learn or score
        raise DataError(f"{path}: column {column} is '_' (unspecified) for every word; "
                        f"pick another --column (one of {', '.join(TAG_COLUMNS)})")  # fmt: skip
    return bank


@dataclass
class TagReport:
    """How a tagger does on a treebank (``as_dict`` is JSON)."""

    accuracy: float
    oov_accuracy: float
    words: int
    oov_words: int
    unseen_tags: int  # gold words whose tag the model never saw (all counted as errors)
    per_tag: ClassificationReport
    confusions: list[tuple[str, str, int]]  # (gold, predicted, count), most frequent first

    def as_dict(self) -> dict[str, Any]:
        fields = asdict(self)
        fields["per_tag"] = self.per_tag.as_dict()
        return fields

    def text(self) -> str:
        lines = [
            f"accuracy {self.accuracy:.2%} over {self.words:,} words; "
            f"on words unseen in training {self.oov_accuracy:.2%} ({self.oov_words:,} words)",
        ]
        if self.unseen_tags:
            lines.append(f"{self.unseen_tags} gold tags never seen in training (counted wrong)")
        lines += ["", self.per_tag.table(), "", "most frequent confusions (gold -> predicted):"]
        lines += [f"  {g:>8} -> {p:<8} {n}" for g, p, n in self.confusions]
        return "\n".join(lines)


def evaluate_tagger(model: Tagger, bank: Treebank, *, top: int = 10) -> TagReport:
    """Word accuracy, accuracy on out-of-vocabulary words, per-tag scores, top confusions."""
    encoder = model.encoder
    predicted = model.predict_ids(bank.words)
    gold = [encoder.tag_ids(tags) for tags in bank.tags]
    unseen_names = sorted({t for tags in bank.tags for t in tags if t not in encoder.tags})
    names = [*encoder.tags, *unseen_names]
    extra = {n: len(encoder.tags) + i for i, n in enumerate(unseen_names)}
    y_true, y_pred, oov_right, oov = [], [], 0, 0
    for words, tags, gold_ids, pred_ids in zip(bank.words, bank.tags, gold, predicted, strict=True):
        word_ids = encoder.word_ids(words)
        for word_id, name, g, p in zip(word_ids, tags, gold_ids, pred_ids, strict=True):
            y_true.append(extra[name] if g == UNSEEN_TAG else g)
            y_pred.append(p)
            if word_id == 1:  # <unk>: not in the training vocabulary
                oov += 1
                oov_right += g == p
    report = ClassificationReport.from_predictions(y_true, y_pred, names)
    confusions = [
        (names[i], names[j], n)
        for i, row in enumerate(report.confusion)
        for j, n in enumerate(row)
        if i != j and n
    ]
    confusions.sort(key=lambda c: -c[2])
    return TagReport(
        report.accuracy,
        oov_right / max(oov, 1),
        len(y_true),
        oov,
        sum(g == UNSEEN_TAG for ids in gold for g in ids),
        report,
        confusions[:top],
    )


@dataclass
class TagRun:
    model: Tagger
    best_dev_accuracy: float
    test: TagReport | None
    steps: int
    wall_seconds: float


def tag_plan(model: Tagger, train: Treebank, config: TrainConfig) -> plan.Plan:
    """Sentences, their lengths, the vocabularies, and the epochs ``config``'s budget covers at
    the speed of a training batch of median-length sentences."""
    encoder, lengths = model.encoder, [len(s) for s in train.words]
    order = plan.median_batch(lengths, config.batch_size)
    batch = encoder.batch(train.words, train.tags, order)
    speed = plan.batch_speed(model, batch, sum(lengths[i] for i in order))
    sizes = plan.Plan.of(
        lengths, len(encoder.words), None, batch_size=config.batch_size,
        max_steps=config.max_steps, max_minutes=config.max_minutes, tokens_per_second=speed,
    )  # fmt: skip
    named = (("words", len(encoder.words)), ("characters", len(encoder.chars)),
             ("tags", len(encoder.tags)))  # fmt: skip
    return replace(sizes, unit="sentences", vocabularies=named)


def train_tagger(
    run: Run, *, progress: bool = True, say: Callable[[str], Any] = print
) -> TagRun | None:
    """Train on the run's training file, keep the best model by dev accuracy in ``run.out``,
    report the test file (a run from :func:`rnnkit.apps.runs.start` or ``resume``).

    ``say`` gets the plan (sentences, lengths, vocabularies, the epochs the budget covers)
    before training. Under data parallelism only rank 0 reports; the other ranks return None.
    """
    data, train_config, out_dir = run.config.data, run.config.training, run.out
    char_lms = None  # checked before the treebanks are read: a wrong directory fails at once
    if data.char_lm_forward is not None:
        char_lms = load_char_lms(data.char_lm_forward, data.char_lm_backward)
    train, dev = read_treebank(data.train, data.column), read_treebank(data.dev, data.column)
    test = read_treebank(data.test, data.column) if data.test is not None else None
    encoder = TaggingEncoder.build(train.words, train.tags)
    torch.manual_seed(train_config.seed)
    sizes = (len(encoder.words), len(encoder.chars), len(encoder.tags))
    model = Tagger(JOB.model_config(run.config, *sizes), encoder, column=data.column,
                   char_lms=char_lms)  # fmt: skip
    if data.word_vectors:
        coverage = apply_word_vectors(model, data.word_vectors, freeze=data.freeze_word_vectors)
        say(coverage.line(data.word_vectors))
    source = BucketBatches(
        train.words,  # with collate, the sequences only give the lengths to bucket by
        train.tags,
        train_config.batch_size,
        seed=train_config.seed,
        collate=lambda order: encoder.batch(train.words, train.tags, order),
    )
    dev_batches = list(
        iter_batches(
            dev.words,
            dev.tags,
            128,
            collate=lambda order: encoder.batch(dev.words, dev.tags, order),
        )
    )
    trainer = Trainer(model, source, dev_batches, train_config, out_dir=out_dir, progress=progress)
    if trainer.workers.is_main:
        for line in tag_plan(model, train, train_config).lines():
            say(line)
    begin(trainer, run)
    start = time.monotonic()
    trainer.fit()
    wall = time.monotonic() - start
    if not trainer.workers.is_main:  # rank 0 reports (OUT may be on its disk only)
        return None
    best = Tagger.from_pretrained(out_dir)
    report = evaluate_tagger(best, test) if test is not None else None
    run = TagRun(best, -trainer.best_valid, report, trainer.step, wall)
    record = {"best_dev_accuracy": run.best_dev_accuracy, "steps": run.steps,
              "wall_seconds": wall, "test": report.as_dict() if report else None}  # fmt: skip
    write_json(Path(out_dir) / REPORT_NAME, record)
    return run


def load_char_lms(forward: str, backward: str) -> tuple[LanguageModel, LanguageModel]:
    """The two character LMs of ``--char-lm FWD_DIR,BWD_DIR``, each checked (one line naming
    its directory): a language model, of characters, read forwards (FWD) or reversed (BWD)."""
    from rnnkit.checkpoint import model_format
    from rnnkit.tasks.language_model import FORMAT as LM_FORMAT

    models = []
    for role, directory in (("forward", forward), ("backward", backward)):
        where = f"--char-lm {role} LM {directory}"
        if not Path(directory).is_dir():
            raise CheckpointError(f"{where}: no such directory")
        if (kind := model_format(directory)) != LM_FORMAT:
            raise CheckpointError(f"{where}: a {kind} checkpoint, not a language model "
                                  "(rnnkit train lm)")  # fmt: skip
        lm = LanguageModel.from_pretrained(directory)
        if lm.unit != "char":
            raise CheckpointError(f"{where}: a {lm.unit}-level language model; contextual "
                                  "string embeddings need a character LM (train lm --level "
                                  "char)")  # fmt: skip
        if lm.reverse and role == "forward":
            raise CheckpointError(f"{where}: trained on reversed text (train lm --reverse), a "
                                  "backward LM; give --char-lm FWD_DIR,BWD_DIR")  # fmt: skip
        if not lm.reverse and role == "backward":
            raise CheckpointError(
                f"{where}: not trained on reversed text; the backward LM needs train lm "
                "--reverse (--char-lm FWD_DIR,BWD_DIR)"
            )
        models.append(lm)
    return models[0], models[1]
