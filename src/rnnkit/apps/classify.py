"""The sequence-classification job: labelled texts -> splits -> vocabulary -> model -> report.

What ``rnnkit train classify`` does, top to bottom: read the corpus (TSV/CSV/JSONL or a folder
per label), drop repeated texts and split it stratified by label (or read the given validation
and test files), build the tokenizer's vocabulary on the training split, train a
:class:`~rnnkit.tasks.SequenceClassifier` with the one Trainer (best checkpoint by validation
loss), and report the test split beside TF-IDF + linear baselines trained on the same split.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from rnnkit.data.padded import TRUNCATE_KEEP, BucketBatches, iter_batches
from rnnkit.data.records import FORMATS, LabelledCorpus, read_labelled
from rnnkit.data.splits import split_corpus
from rnnkit.data.tokenize import TOKENIZER_KINDS, TextEncoder, Tokenizer, TokenVocab
from rnnkit.errors import CheckpointError, DataError
from rnnkit.options import option
from rnnkit.tasks.classifier import ClassifierConfig, SequenceClassifier
from rnnkit.tasks.pretrained import write_json
from rnnkit.training.checkpoint import load_run_record, save_run_record
from rnnkit.training.config import TrainConfig
from rnnkit.training.metrics import ClassificationReport
from rnnkit.training.trainer import Trainer, in_eval_mode

REPORT_NAME = "report.json"
BALANCE = ("none", "weights", "sampling")


@dataclass(frozen=True)
class ClassifyData:
    """Where the examples come from and how texts become token ids."""

    format: str | None = option(None, "input format (default: from the path)", choices=FORMATS)
    text_column: str | None = option(None, "text column: header name or 0-based index")
    label_column: str | None = option(None, "label column: header name or 0-based index")
    no_header: bool = option(False, "TSV/CSV files have no header row")
    valid_file: str | None = option(None, "validation examples (default: split off --data)")
    test_file: str | None = option(None, "test examples (default: split off --data)")
    valid_fraction: float = option(0.1, "share of --data for validation", low=0.0, high=0.5)
    test_fraction: float = option(0.2, "share of --data for the test report", low=0.0, high=0.5)
    keep_duplicates: bool = option(
        False, "keep repeated texts (default: drop them before splitting)"
    )
    encoding_fallback: str = option("latin-1", "encoding of files that are not UTF-8; none: error")
    tokenizer: str = option(
        "word", "word: the regex in docs; char: characters", choices=TOKENIZER_KINDS
    )
    keep_case: bool = option(False, "do not lower-case texts")
    digits_as_zero: bool = option(
        False, "write every digit as 0: numbers of one shape share a token"
    )
    min_freq: int = option(1, "rarer training tokens become <unk>", low=1, high=10**9)
    max_vocab: int | None = option(
        None, "vocabulary size cap (with <pad> and <unk>)", low=3, high=10**8
    )
    max_length: int | None = option(
        None, "truncate longer texts to this many tokens", low=1, high=10**7
    )
    truncate: str = option("head", "what a truncated text keeps", choices=TRUNCATE_KEEP)
    balance: str = option(
        "none", "imbalanced classes: class weights or balanced sampling", choices=BALANCE
    )
    no_baseline: bool = option(False, "skip the TF-IDF + linear baselines (scikit-learn)")

    def column(self, value: str | None) -> str | int | None:
        return int(value) if value is not None and value.isdecimal() else value

    def read(self, path: str | Path) -> LabelledCorpus:
        return read_labelled(
            path,
            format=self.format,
            text_column=self.column(self.text_column),
            label_column=self.column(self.label_column),
            header=False if self.no_header else None,
            encoding_fallback=None if self.encoding_fallback == "none" else self.encoding_fallback,
        )


#: name -> (ClassifyData fields, ClassifierConfig fields, TrainConfig fields, description)
PRESETS: dict[str, tuple[dict, dict, dict, str]] = {
    "default": (
        {},
        {"cell": "lstm", "bidirectional": True, "pooling": "max", "hidden_size": 128},
        {"batch_size": 32, "lr": 2e-3, "max_minutes": 5.0, "eval_every": 100, "clip_norm": 5.0},
        "BiLSTM with max pooling over words, 5 minutes",
    ),
    "sms-spam": (
        {"no_header": True, "tokenizer": "word", "max_length": 100},
        {
            "cell": "lstm", "bidirectional": True, "pooling": "max", "embedding_size": 100,
            "hidden_size": 128, "dropout": 0.4,
        },
        {"batch_size": 32, "lr": 3e-3, "max_minutes": 3.0, "eval_every": 100, "clip_norm": 5.0},
        "SMS Spam Collection (label<TAB>text): word BiLSTM, max pooling, 3 minutes",
    ),
    "tiny": (
        {},
        {"hidden_size": 16, "embedding_size": 8, "pooling": "mean"},
        {"batch_size": 8, "lr": 1e-2, "max_steps": 20, "eval_every": 10},
        "16 units, 20 steps: smoke tests",
    ),
}  # fmt: skip


@dataclass
class Prepared:
    """The splits, encoded, with what built them."""

    labels: list[str]
    encoder: TextEncoder
    train: LabelledCorpus
    valid: LabelledCorpus
    test: LabelledCorpus
    notes: list[str] = field(default_factory=list)

    def encoded(self, corpus: LabelledCorpus) -> tuple[list[list[int]], list[int]]:
        index = {label: i for i, label in enumerate(self.labels)}
        return [self.encoder(t) for t in corpus.texts], [index[y] for y in corpus.labels]


@dataclass
class ClassifyRun:
    """What a finished run reports (``as_dict`` is what ``report.json`` holds)."""

    model: SequenceClassifier
    test: ClassificationReport
    baselines: dict[str, ClassificationReport]
    steps: int
    wall_seconds: float
    sizes: dict[str, int]
    notes: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "test": self.test.as_dict(),
            "baselines": {k: v.as_dict() for k, v in self.baselines.items()},
            "steps": self.steps,
            "wall_seconds": self.wall_seconds,
            "sizes": self.sizes,
            "notes": self.notes,
        }

    def text(self) -> str:
        rows = [("rnnkit " + self.model.config.cell, self.test), *self.baselines.items()]
        spam = _positive_class(self.test.labels)
        head = f"{'model':<34}{'accuracy':>9}{'macro F1':>9}{'MCC':>8}{spam + ' F1':>12}"
        lines = [head] + [
            f"{name:<34}{r.accuracy:>9.2%}{r.macro_f1:>9.4f}{r.mcc:>8.4f}"
            f"{r.f1[r.labels.index(spam)]:>12.4f}"
            for name, r in rows
        ]
        return "\n".join(
            [*self.notes, "", *lines, "", self.test.table(), "", self.test.confusion_table()]
        )


def _positive_class(labels: list[str]) -> str:
    """The class whose F1 the summary shows: 'spam' if there is one, else the rarer-named last."""
    return "spam" if "spam" in labels else labels[-1]


def prepare(data_path: str | Path, data: ClassifyData, *, seed: int) -> Prepared:
    """Read and split the corpus, build the tokenizer's vocabulary on the training split."""
    corpus = data.read(data_path)
    notes = [corpus.summary()]
    train, valid, test, removed = split_corpus(  # a split given as a file is not cut from --data
        corpus,
        valid_fraction=0.0 if data.valid_file else data.valid_fraction,
        test_fraction=0.0 if data.test_file else data.test_fraction,
        seed=seed,
        dedupe_texts=not data.keep_duplicates,
    )
    if data.valid_file is not None:
        valid = data.read(data.valid_file)
    if data.test_file is not None:
        test = data.read(data.test_file)
    if removed:
        notes.append(f"{removed} repeated texts dropped before splitting")
    labels = train.label_set()
    for name, part in (("validation", valid), ("test", test)):
        _check_known_labels(part, labels, name)
    if len(valid) == 0:
        raise DataError(
            f"{data_path}: no validation examples; raise --valid-fraction or give --valid-file"
        )
    tokenizer = Tokenizer(
        data.tokenizer, lowercase=not data.keep_case, digits_as_zero=data.digits_as_zero
    )
    vocab = TokenVocab.build(
        (tokenizer(t) for t in train.texts), min_freq=data.min_freq, max_size=data.max_vocab
    )
    encoder = TextEncoder(tokenizer, vocab, data.max_length, data.truncate)
    notes.append(
        f"split: {len(train)} train / {len(valid)} valid / {len(test)} test; "
        f"vocabulary {len(vocab)} {data.tokenizer} tokens"
    )
    return Prepared(labels, encoder, train, valid, test, notes)


def _check_known_labels(corpus: LabelledCorpus, labels: list[str], name: str) -> None:
    unknown = sorted(set(corpus.labels) - set(labels))
    if unknown:
        raise DataError(
            f"{corpus.source}: {name} label {unknown[0]!r} never occurs in the training data "
            f"(known: {', '.join(labels)})"
        )


def class_weights(labels: list[int], num_classes: int) -> list[float]:
    """``n / (K * n_k)``: each class weighs the same in the loss (scikit-learn's 'balanced')."""
    counts = Counter(labels)
    return [
        len(labels) / (num_classes * counts[k]) if counts[k] else 0.0 for k in range(num_classes)
    ]


def train_classifier(
    data_path: str | Path,
    data: ClassifyData,
    model_fields: dict[str, Any],
    train_config: TrainConfig,
    out_dir: str | Path,
    *,
    progress: bool = True,
    resume: bool = False,
) -> ClassifyRun | None:
    """Train on ``data_path``, keep the best model by validation loss in ``out_dir``, report.

    Under data parallelism only rank 0 reports; the other ranks return None.
    """
    prepared = prepare(data_path, data, seed=train_config.seed)
    train_x, train_y = prepared.encoded(prepared.train)
    valid_x, valid_y = prepared.encoded(prepared.valid)
    k = len(prepared.labels)
    weights = class_weights(train_y, k)
    torch.manual_seed(train_config.seed)
    config = ClassifierConfig(
        len(prepared.encoder.vocab),
        k,
        **model_fields,
        class_weights=tuple(weights) if data.balance == "weights" else None,
    )
    model = SequenceClassifier(config, prepared.encoder, prepared.labels)
    source = BucketBatches(
        train_x,
        train_y,
        train_config.batch_size,
        seed=train_config.seed,
        sampler_weights=[weights[y] for y in train_y] if data.balance == "sampling" else None,
    )
    valid = list(iter_batches(valid_x, valid_y, train_config.eval_batch_size * 4))
    trainer = Trainer(model, source, valid, train_config, out_dir=out_dir, progress=progress)
    if resume:
        trainer.resume()
    elif trainer.workers.is_main:
        record = {"data_path": str(Path(data_path).resolve()), "data": asdict(data)}
        save_run_record(
            out_dir, "classify", {**record, "model": model_fields, "training": asdict(train_config)}
        )
    start = time.monotonic()
    trainer.fit()
    wall = time.monotonic() - start
    if not trainer.workers.is_main:  # rank 0 reports (OUT may be on its disk only)
        return None
    best = SequenceClassifier.from_pretrained(out_dir)
    report = evaluate_classifier(best, prepared.test)
    baselines = tfidf_baselines(prepared.train, prepared.test) if not data.no_baseline else {}
    sizes = {"train": len(train_x), "valid": len(valid_x), "test": len(prepared.test)}
    run = ClassifyRun(best, report, baselines, trainer.step, wall, sizes, prepared.notes)
    write_json(Path(out_dir) / REPORT_NAME, run.as_dict())
    return run


def evaluate_classifier(
    model: SequenceClassifier, corpus: LabelledCorpus, *, batch_size: int = 128
) -> ClassificationReport:
    """The model's scores on a labelled corpus (labels must be known to the model)."""
    _check_known_labels(corpus, model.labels, "evaluation")
    index = {label: i for i, label in enumerate(model.labels)}
    x = [model.encoder(t) for t in corpus.texts]
    y = [index[label] for label in corpus.labels]
    logits, labels = in_eval_mode(model, lambda: model.logits(iter_batches(x, y, batch_size)))
    loss = torch.nn.functional.cross_entropy(logits, labels).item()
    return ClassificationReport.from_predictions(
        labels.tolist(), logits.argmax(-1).tolist(), model.labels, loss=loss
    )


def tfidf_baselines(train: LabelledCorpus, test: LabelledCorpus) -> dict[str, ClassificationReport]:
    """TF-IDF word 1-2-grams + logistic regression and + a linear SVM (scikit-learn)."""
    try:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.svm import LinearSVC
    except ImportError:
        return {}
    labels = sorted(set(train.labels))
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    x_train, x_test = vectorizer.fit_transform(train.texts), vectorizer.transform(test.texts)
    index = {label: i for i, label in enumerate(labels)}
    y_train, y_test = [index[y] for y in train.labels], [index[y] for y in test.labels]
    reports = {}
    for name, estimator in (
        ("tf-idf 1-2-grams + logistic regr.", LogisticRegression(max_iter=1000, C=10.0)),
        ("tf-idf 1-2-grams + linear SVM", LinearSVC()),
    ):
        predicted = estimator.fit(x_train, y_train).predict(x_test).tolist()
        reports[name] = ClassificationReport.from_predictions(y_test, predicted, labels)
    return reports


def load_run(out_dir: str | Path) -> tuple[Path, ClassifyData, dict, dict]:
    """(data path, data options, model fields, TrainConfig fields) a run was started with."""
    record = load_run_record(out_dir, "classify")
    try:
        data = ClassifyData(**record["data"])
        return Path(record["data_path"]), data, dict(record["model"]), dict(record["training"])
    except (ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"{out_dir}: invalid run record ({e})") from None
