"""The sequence-classification job: labelled texts -> splits -> vocabulary -> model -> report.

What ``rnnkit train classify`` does, top to bottom: read the corpus (TSV/CSV/JSONL, a folder
per label, or raw email), drop repeated texts and split it stratified by label (or read the
given validation and test files), read the length cap and vocabulary settings the run leaves
open off the training split (:mod:`rnnkit.apps.plan`), print the plan, train a
:class:`~rnnkit.tasks.SequenceClassifier` with the one Trainer (best checkpoint by validation
loss), and report the test split beside TF-IDF + linear baselines trained on the same split.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from rnnkit.apps import plan
from rnnkit.apps.plan import LONG_TEXT_CAP, MAX_VOCAB
from rnnkit.apps.runs import Job, Preset, Run, begin
from rnnkit.data.email import DEFAULT_FIELDS as DEFAULT_EMAIL_FIELDS
from rnnkit.data.padded import TRUNCATE_KEEP, BucketBatches, iter_batches, pad_batch
from rnnkit.data.records import FORMATS, LabelledCorpus, read_labelled
from rnnkit.data.splits import split_corpus
from rnnkit.data.tokenize import TOKENIZER_KINDS, TextEncoder, Tokenizer, TokenVocab
from rnnkit.errors import DataError
from rnnkit.options import option
from rnnkit.tasks.classifier import ClassifierConfig, SequenceClassifier
from rnnkit.tasks.input_words import apply_word_vectors
from rnnkit.tasks.language_model import LanguageModel
from rnnkit.tasks.pretrained import write_json
from rnnkit.tasks.transfer import lm_stream, load_encoder
from rnnkit.training.config import TrainConfig
from rnnkit.training.metrics import ClassificationReport
from rnnkit.training.trainer import Trainer, in_eval_mode

REPORT_NAME = "report.json"
ENCODER_LM = "encoder_lm"  # where --lm-finetune-minutes keeps the fine-tuned LM, inside OUT
#: ULMFiT's LM fine-tuning (Howard & Ruder 2018, §3.2): slanted triangular lr, Adam
LM_FINETUNE = {"batch_size": 32, "bptt": 70, "lr": 2e-3, "schedule": "slanted",
               "eval_every": 100, "clip_norm": 0.25}  # fmt: skip
BALANCE = ("none", "weights", "sampling")


@dataclass(frozen=True)
class ClassifyData:
    """Where the examples come from and how texts become token ids.

    ``None`` for ``max_length``, ``truncate`` or ``max_vocab`` means *read it off
    the training split* (:mod:`rnnkit.apps.plan`); the run records the values it derived.
    """

    data_path: str | None = None  # the labelled file or folder (--data)
    format: str | None = option(
        None, "input format (default: from the path; email when files look like messages)",
        choices=FORMATS,
    )
    email_fields: str = option(
        ",".join(DEFAULT_EMAIL_FIELDS), "email: header fields kept before the body, comma-separated"
    )
    strict: bool = option(False, "a skipped file or record (binary, unparsable) is an error")
    text_column: str | None = option(None, "text column: header name or 0-based index")
    label_column: str | None = option(None, "label column: header name or 0-based index")
    no_header: bool = option(False, "TSV/CSV files have no header row")
    valid_file: str | None = option(None, "validation examples (default: split off --data)")
    test_file: str | None = option(None, "test examples (default: split off --data)")
    valid_fraction: float = option(0.1, "share of --data for validation", low=0.0, high=0.5)
    test_fraction: float = option(0.2, "share of --data for the test report", low=0.0, high=0.5)
    split_seed: int | None = option(
        None, "seed of the validation and test splits (default: --seed), to vary the model's "
        "seed on fixed splits", low=0, high=2**32 - 1,
    )  # fmt: skip
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
        None, f"vocabulary size cap, <pad> and <unk> included (default: {MAX_VOCAB:,})",
        low=3, high=10**8,
    )
    max_length: int | None = option(
        None, "truncate longer texts to this many tokens (default: the 99th percentile of the "
        f"training texts, at most {LONG_TEXT_CAP})", low=1, high=10**7,
    )
    truncate: str | None = option(
        None, "what a truncated text keeps (default: head_tail when the cap cuts any text)",
        choices=TRUNCATE_KEEP,
    )
    balance: str = option(
        "none", "imbalanced classes: class weights or balanced sampling", choices=BALANCE
    )
    no_baseline: bool = option(False, "skip the TF-IDF + linear baselines (scikit-learn)")
    word_vectors: str | None = option(
        None, "pretrained word vectors for the embedding: word2vec (text or .bin), GloVe or "
        "fastText .vec (the embedding size follows the file)",
    )  # fmt: skip
    freeze_word_vectors: bool = option(False, "keep the --word-vectors embedding fixed")
    encoder: str | None = option(
        None, "start the embedding and recurrent layers from this rnnkit train lm checkpoint "
        "(ULMFiT; the classifier takes its cell, sizes and tokens, unidirectional)",
    )  # fmt: skip
    lm_finetune_minutes: float = option(
        0.0, "ULMFiT's second stage: first train the --encoder LM on the training texts for "
        "this many minutes (kept in OUT/encoder_lm)", low=0.0, high=1e5,
    )  # fmt: skip

    def __post_init__(self) -> None:
        if self.lm_finetune_minutes and self.encoder is None:
            raise ValueError("lm_finetune_minutes fine-tunes the --encoder LM: give --encoder")
        if self.valid_fraction + self.test_fraction >= 1.0:
            raise ValueError(
                f"valid_fraction + test_fraction must be < 1, got {self.valid_fraction} + "
                f"{self.test_fraction}"
            )

    def email_field_names(self) -> tuple[str, ...]:
        return tuple(f.strip() for f in self.email_fields.split(","))

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
            email_fields=self.email_field_names(),
            strict=self.strict,
        )


PRESETS: dict[str, Preset] = {
    # chosen on the validation splits of SpamAssassin and the SMS collection (docs): max
    # pooling beat concat pooling on both (valid loss 0.027 vs 0.038 and 0.022 vs 0.045)
    "default": Preset(
        "word BiLSTM with max pooling, 8 minutes; lengths and vocabulary read off the data",
        model={"cell": "lstm", "bidirectional": True, "pooling": "max", "embedding_size": 100,
               "hidden_size": 128, "dropout": 0.4},
        training={"batch_size": 32, "lr": 3e-3, "max_minutes": 8.0, "eval_every": 100,
                  "clip_norm": 5.0},
    ),
    "sms-spam": Preset(
        "SMS Spam Collection (label<TAB>text): word BiLSTM, max pooling, 3 minutes",
        data={"no_header": True, "tokenizer": "word", "max_length": 100, "truncate": "head"},
        model={"cell": "lstm", "bidirectional": True, "pooling": "max", "embedding_size": 100,
               "hidden_size": 128, "dropout": 0.4},
        training={"batch_size": 32, "lr": 3e-3, "max_minutes": 3.0, "eval_every": 100,
                  "clip_norm": 5.0},
    ),
    "tiny": Preset(
        "16 units, 20 steps: smoke tests",
        model={"hidden_size": 16, "embedding_size": 8, "pooling": "mean"},
        training={"batch_size": 8, "lr": 1e-2, "max_steps": 20, "eval_every": 10},
    ),
}  # fmt: skip

#: ``rnnkit train classify`` for the run lifecycle (:mod:`rnnkit.apps.runs`)
JOB = Job(
    "classify", ClassifyData, ClassifierConfig,
    sizes=("vocab_size", "num_classes", "class_weights"), presets=PRESETS,
    metrics=SequenceClassifier.METRICS,
    files=("data_path", "valid_file", "test_file", "word_vectors", "encoder"),
    probe=(2, 2),
)  # fmt: skip


@dataclass
class Prepared:
    """The splits, encoded, with what built them."""

    data: ClassifyData  # the settings, every derived one filled in
    labels: list[str]
    encoder: TextEncoder
    train: LabelledCorpus
    valid: LabelledCorpus
    test: LabelledCorpus
    lengths: list[int]  # tokens per training text, before the cap
    notes: list[str] = field(default_factory=list)

    def encoded(self, corpus: LabelledCorpus) -> tuple[list[list[int]], list[int]]:
        index = {label: i for i, label in enumerate(self.labels)}
        return [self.encoder(t) for t in corpus.texts], [index[y] for y in corpus.labels]

    def cut_share(self) -> float:
        """The share of training texts the length cap cuts."""
        cap = self.data.max_length or math.inf
        return sum(n > cap for n in self.lengths) / max(1, len(self.lengths))

    def plan(
        self, model: SequenceClassifier, config: TrainConfig, x: list[list[int]], y: list[int]
    ) -> plan.Plan:
        """Sizes, settings and the epochs ``config``'s budget covers at the model's speed on a
        batch of the encoded training texts ``x`` (labels ``y``) nearest the median length."""
        vocab = len(self.encoder.vocab)
        order = plan.median_batch([len(ids) for ids in x], config.batch_size)
        batch = pad_batch([x[i] for i in order], [y[i] for i in order], order)
        speed = plan.batch_speed(model, batch, sum(len(x[i]) for i in order))
        return plan.Plan.of(
            self.lengths, vocab, self.data.max_length, batch_size=config.batch_size,
            max_steps=config.max_steps, max_minutes=config.max_minutes, tokens_per_second=speed,
        )  # fmt: skip


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
    epochs: float = 0.0  # passes over the training split
    cut_share: float = 0.0  # training texts the length cap cut

    def as_dict(self) -> dict[str, Any]:
        return {
            "test": self.test.as_dict(),
            "baselines": {k: v.as_dict() for k, v in self.baselines.items()},
            "steps": self.steps,
            "epochs": self.epochs,
            "wall_seconds": self.wall_seconds,
            "sizes": self.sizes,
            "notes": self.notes,
            "verdict": self.verdict(),
        }

    def name(self) -> str:
        """The model as the table names it: ``rnnkit BiLSTM, concat pooling``."""
        config = self.model.config
        cell = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}.get(config.cell, config.cell)
        return f"rnnkit {'Bi' if config.bidirectional else ''}{cell}, {config.pooling} pooling"

    def verdict(self) -> str | None:
        """A plain sentence when the model ends below a baseline, with a possible cause: too
        few epochs, a cap that cut most texts, or else a training set small for the model."""
        if not self.baselines:
            return None
        name, best = max(self.baselines.items(), key=lambda kv: kv[1].accuracy)
        gap = best.accuracy - self.test.accuracy
        if gap <= 0:
            return None
        if self.epochs < 2:
            cause = (f"it saw the training texts only {self.epochs:.1f} times; raise "
                     "--max-minutes (or lower --max-length)")  # fmt: skip
        elif self.cut_share > 0.5:
            cause = (f"the length cap cut {self.cut_share:.0%} of the training texts; what "
                     "decides may lie in the part it dropped (raise --max-length)")  # fmt: skip
        else:
            cause = (f"{self.sizes['train']:,} training texts are few for a recurrent model, "
                     "and n-gram counts are a strong signal on this data")  # fmt: skip
        return (f"the recurrent model is {gap:.2%} below {name} on this test split; "
                f"possible cause: {cause}")  # fmt: skip

    def text(self) -> str:
        rows = [(self.name(), self.test), *self.baselines.items()]
        spam = _positive_class(self.test.labels)
        head = f"{'model':<36}{'accuracy':>9}{'macro F1':>9}{'MCC':>8}{spam + ' F1':>12}"
        lines = [head] + [
            f"{name:<36}{r.accuracy:>9.2%}{r.macro_f1:>9.4f}{r.mcc:>8.4f}"
            f"{r.f1[r.labels.index(spam)]:>12.4f}"
            for name, r in rows
        ]
        verdict = self.verdict()
        lines += [f"note: {verdict}"] if verdict else []
        return "\n".join(
            [*self.notes, "", *lines, "", self.test.table(), "", self.test.confusion_table()]
        )


def _positive_class(labels: list[str]) -> str:
    """The class whose F1 the summary shows: 'spam' if there is one, else the rarer-named last."""
    return "spam" if "spam" in labels else labels[-1]


def prepare(data: ClassifyData, *, seed: int) -> Prepared:
    """Read and split the corpus (with ``data.split_seed``, else ``seed``), fill in what
    ``data`` leaves to the data (lengths, vocabulary), build the tokenizer's vocabulary on the
    training split."""
    corpus = data.read(data.data_path)
    notes = [corpus.summary()]
    train, valid, test, removed = split_corpus(  # a split given as a file is not cut from --data
        corpus,
        valid_fraction=0.0 if data.valid_file else data.valid_fraction,
        test_fraction=0.0 if data.test_file else data.test_fraction,
        seed=seed if data.split_seed is None else data.split_seed,
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
        _check_known_labels(part, labels, name, Counter(corpus.labels))
    if len(valid) == 0:
        raise DataError(
            f"{data.data_path}: no validation examples; raise --valid-fraction or give "
            "--valid-file"
        )
    tokenizer = Tokenizer(
        data.tokenizer, lowercase=not data.keep_case, digits_as_zero=data.digits_as_zero
    )
    tokens = [tokenizer(t) for t in train.texts]
    data = derived(data, tokens)
    vocab = TokenVocab.build(tokens, min_freq=data.min_freq, max_size=data.max_vocab)
    encoder = TextEncoder(tokenizer, vocab, data.max_length, data.truncate)
    notes.append(f"split: {len(train)} train / {len(valid)} valid / {len(test)} test")
    lengths = [len(t) for t in tokens]
    return Prepared(data, labels, encoder, train, valid, test, lengths, notes)


def derived(data: ClassifyData, tokens: list[list[str]]) -> ClassifyData:
    """``data`` with each setting it leaves open (None) read off the tokenized training texts
    (the rules of :mod:`rnnkit.apps.plan`)."""
    lengths = [len(t) for t in tokens]
    cap = data.max_length or plan.length_cap(lengths)
    return replace(
        data,
        max_length=cap,
        truncate=data.truncate or plan.truncation(lengths, cap),
        max_vocab=data.max_vocab or plan.MAX_VOCAB,
    )


def _check_known_labels(
    corpus: LabelledCorpus, labels: list[str], name: str, read: Counter[str] | None = None
) -> None:
    """Every label of a held-out split occurs in training; ``read``: the labels of --data, to
    tell a split cut from too few texts from a label that --data never has."""
    unknown = sorted(set(corpus.labels) - set(labels))
    if unknown and read and unknown[0] in read:
        n = read[unknown[0]]
        raise DataError(
            f"{corpus.source}: too few texts to split: label {unknown[0]!r} has {n}, none left "
            f"for training (give more texts, or lower --valid-fraction and --test-fraction)"
        )
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
    run: Run, *, progress: bool = True, say: Callable[[str], Any] = print
) -> ClassifyRun | None:
    """Train on the run's data, keep the best model by validation loss in ``run.out``, report.

    ``say`` gets the plan (sizes, derived settings, the epochs the budget covers) before
    training. Under data parallelism only rank 0 reports; the other ranks return None.
    """
    train_config, out_dir = run.config.training, run.out
    prepared = prepare(run.config.data, seed=train_config.seed)
    data = prepared.data
    run = replace(run, config=replace(run.config, data=data))  # run.json: the derived values
    train_x, train_y = prepared.encoded(prepared.train)
    valid_x, valid_y = prepared.encoded(prepared.valid)
    k = len(prepared.labels)
    weights = class_weights(train_y, k)
    torch.manual_seed(train_config.seed)
    balanced = tuple(weights) if data.balance == "weights" else None
    config = JOB.model_config(run.config, len(prepared.encoder.vocab), k, class_weights=balanced)
    model = SequenceClassifier(config, prepared.encoder, prepared.labels)
    if data.word_vectors:
        coverage = apply_word_vectors(model, data.word_vectors, freeze=data.freeze_word_vectors)
        prepared.notes.append(coverage.line(data.word_vectors))
    if data.encoder:
        lm = LanguageModel.from_pretrained(data.encoder)
        if data.lm_finetune_minutes:
            lm = finetune_lm(lm, prepared, data.lm_finetune_minutes, Path(out_dir) / ENCODER_LM,
                             seed=train_config.seed, progress=progress)  # fmt: skip
        coverage = load_encoder(model, lm)
        prepared.notes.append("encoder: the language model's recurrent layers copied")
        prepared.notes.append(coverage.line(data.encoder, "encoder"))
    source = BucketBatches(
        train_x,
        train_y,
        train_config.batch_size,
        seed=train_config.seed,
        sampler_weights=[weights[y] for y in train_y] if data.balance == "sampling" else None,
    )
    valid = list(iter_batches(valid_x, valid_y, train_config.eval_batch_size * 4))
    trainer = Trainer(model, source, valid, train_config, out_dir=out_dir, progress=progress)
    if trainer.workers.is_main:
        sizes_and_speed = prepared.plan(model, train_config, train_x, train_y)
        for line in [*prepared.notes, *sizes_and_speed.lines()]:
            say(line)
    begin(trainer, run)
    start = time.monotonic()
    trainer.fit()
    wall = time.monotonic() - start
    if not trainer.workers.is_main:  # rank 0 reports (OUT may be on its disk only)
        return None
    best = SequenceClassifier.from_pretrained(out_dir)
    report = evaluate_classifier(best, prepared.test)
    baselines = tfidf_baselines(prepared.train, prepared.test) if not data.no_baseline else {}
    sizes = {"train": len(train_x), "valid": len(valid_x), "test": len(prepared.test)}
    epochs = trainer.step * train_config.batch_size / max(1, len(train_x))
    run_ = ClassifyRun(best, report, baselines, trainer.step, wall, sizes, prepared.notes,
                       epochs, prepared.cut_share())  # fmt: skip
    write_json(Path(out_dir) / REPORT_NAME, run_.as_dict())
    return run_


def finetune_lm(
    lm: LanguageModel, prepared: Prepared, minutes: float, out: Path, *, seed: int,
    progress: bool,
) -> LanguageModel:  # fmt: skip
    """ULMFiT's second stage: ``lm`` trained on the training texts (as the classifier tokenizes
    them), with the slanted triangular schedule, the best by validation texts kept in ``out``.
    A run resumed after this stage finished reads it back instead of training again."""
    if (out / "config.json").exists():
        return LanguageModel.from_pretrained(out)
    tokens = prepared.encoder.tokenizer
    train = lm_stream(lm, [tokens(t) for t in prepared.train.texts])
    valid = lm_stream(lm, [tokens(t) for t in prepared.valid.texts])
    batch = max(1, min(LM_FINETUNE["batch_size"], len(train) // (LM_FINETUNE["bptt"] + 1)))
    config = TrainConfig(**{**LM_FINETUNE, "batch_size": batch}, max_minutes=minutes, seed=seed)
    Trainer(lm, train, valid, config, out_dir=out, progress=progress).fit()
    return LanguageModel.from_pretrained(out)


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
