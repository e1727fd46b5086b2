"""Reading lines with CTC: handwritten digit lines -> CNN columns -> BiLSTM -> CTC.

What ``rnnkit train ctc`` does with ``--source handwriting``: split
scikit-learn's 1,797 scanned digits into training, validation and test scans (disjoint,
stratified by digit), write lines of ``min_digits``–``max_digits`` digits with random widths,
gaps and slant (:mod:`rnnkit.data.digit_lines`; test lines only from test scans), train a
:class:`~rnnkit.tasks.ctc.CTCRecognizer` with the one Trainer (best checkpoint by validation
sequence accuracy), and report on the test lines: sequence accuracy (the whole string right)
and character error rate (edit distance / length, summed over the lines), greedy and prefix
beam. With ``compare_minutes`` the attention reader of ``rnnkit train digits``
(:class:`~rnnkit.tasks.context_to_sequence.ContextToSequence`) is trained on the same training
lines for that long and read the same test lines, padded to its fixed width.

With ``--source speech`` (the ``speech`` preset) the lines are digit strings spoken by
espeak-ng (:mod:`rnnkit.data.speech`): training, validation and test utterances each in their
own voices (the test voices' accents and speakers are never heard in training), read as
(40, T) log-mel "images", one column per 10 ms. The report gives the word error rate (a word
is a digit: edits / digits) in place of the character error rate; there is no attention
comparison.

With ``--data LIST`` (the ``recordings`` preset) the utterances are a user's WAV files, listed
as ``file<TAB>transcript`` (:func:`rnnkit.data.speech.list_recordings`): the alphabet is
derived from the list's transcripts unless given (and then recorded in ``run.json``), the
files are split into training, validation and test by file with the run's seed (or the
validation and test lists are given), and everything else is as for ``--source speech``.

With ``raml_tau`` > 0 the training transcripts are drawn afresh for every batch from RAML's
payoff distribution around the real ones (:func:`rnnkit.training.raml.collate`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch

from rnnkit.apps import digits as digit_app
from rnnkit.apps.runs import Job, Preset, Run
from rnnkit.apps.seq2seq import Fitted, fit
from rnnkit.data import speech
from rnnkit.data.digit_lines import DigitLines, digit_lines, max_line_width, pad_lines
from rnnkit.data.digits import SIZE, split_scans
from rnnkit.data.padded import BucketBatches, iter_batches
from rnnkit.data.pair_batches import pad
from rnnkit.errors import DataError
from rnnkit.options import option
from rnnkit.tasks.context_to_sequence import ContextToSequence, ImageBatch, digit_vocab
from rnnkit.tasks.ctc import FRAME, CTCConfig, CTCRecognizer, LineBatch
from rnnkit.tasks.pretrained import write_json
from rnnkit.tasks.seq2seq import ATTENTIONS
from rnnkit.training import raml
from rnnkit.training.metrics import edit_distance
from rnnkit.training.trainer import Trainer

Lines = DigitLines | speech.Utterances  # .images (H, W_i), .labels, len()

REPORT_NAME = "report.json"
COMPARE_DIR = "attention"  # OUT/attention: the attention reader trained for comparison
SOURCES = ("handwriting", "speech")  # what the recogniser reads
ALPHABETS = {"handwriting": "0123456789", "speech": speech.DIGITS}
HEIGHTS = {"handwriting": SIZE, "speech": speech.N_MELS}  # image rows: pixels, mel bands
ERRORS = {"handwriting": "cer", "speech": "wer"}  # the error rate reported (a spoken word: a digit)
SPLIT_HINTS = ("lower --valid-fraction and --test-fraction, or list more files",
               "raise --valid-fraction or give --valid-file",
               "raise --test-fraction or give --test-file")  # fmt: skip

# speech and a user's recordings train the same recogniser the same way; 8 channels: 40 mel
# bands x 100 frames/s make a CNN of 32 cost most (3.7x slower steps)
SPEECH_MODEL = {"channels": 8, "hidden_size": 128, "num_layers": 2}
SPEECH_TRAINING = {"batch_size": 32, "lr": 2e-3, "max_minutes": 12.0, "eval_every": 250,
                   "schedule": "cosine", "warmup_steps": 100, "clip_norm": 5.0}  # fmt: skip

PRESETS: dict[str, Preset] = {
    "handwriting": Preset(
        "CNN columns -> BiLSTM 2x128 -> CTC, 10 minutes; the attention reader 10 minutes",
        data={"compare_minutes": 10.0},
        model={"channels": 32, "hidden_size": 128, "num_layers": 2},
        training={"batch_size": 32, "lr": 2e-3, "max_minutes": 10.0, "eval_every": 250,
                  "schedule": "cosine", "warmup_steps": 100, "clip_norm": 5.0},
    ),
    "speech": Preset(
        "spoken digit strings (espeak-ng, unseen test voices): CNN -> BiLSTM 2x128 -> CTC, "
        "12 minutes",
        data={"source": "speech", "train_lines": 6000, "valid_lines": 500, "test_lines": 1000},
        model=SPEECH_MODEL, training=SPEECH_TRAINING,
    ),
    "recordings": Preset(
        "your recordings (--data LIST, file<TAB>transcript): CNN -> BiLSTM 2x128 -> CTC, "
        "12 minutes",
        data={"source": "speech"}, model=SPEECH_MODEL, training=SPEECH_TRAINING,
    ),
    "tiny": Preset(
        "tiny CNN and BiLSTM, 20 steps, few lines: smoke tests",
        data={"train_lines": 64, "valid_lines": 16, "test_lines": 16},
        model={"channels": 4, "hidden_size": 8, "num_layers": 1},
        training={"batch_size": 8, "lr": 1e-2, "max_steps": 20, "eval_every": 10},
    ),
}  # fmt: skip


@dataclass(frozen=True)
class CTCTask:
    """The lines to read, and what to compare with."""

    source: str = option("handwriting", "what to read: lines of handwritten digits, or digit "
                         "strings spoken by espeak-ng", choices=SOURCES)  # fmt: skip
    min_digits: int = option(3, "fewest digits in a line", low=1, high=32)
    max_digits: int = option(8, "most digits in a line", low=1, high=32)
    train_lines: int = option(40_000, "training lines (from training scans or voices)", low=1,
                              high=10**7)  # fmt: skip
    valid_lines: int = option(1000, "validation lines (from validation scans or voices)", low=1,
                              high=10**6)  # fmt: skip
    test_lines: int = option(2000, "test lines (from test scans or voices)", low=1, high=10**6)
    beam_size: int = option(8, "prefix beam width of the test report", low=1, high=1000)
    compare_minutes: float = option(0.0, "minutes to train the attention reader of 'train "
                                    "digits' on the same lines, for comparison (0: none)",
                                    low=0.0, high=10_000.0)  # fmt: skip
    compare_attention: str = option("general", "the attention reader's attention over its CNN "
                                    "columns ('train digits --attention')",
                                    choices=ATTENTIONS)  # fmt: skip
    # a user's recordings in place of generated lines (--data)
    data_path: str | None = None  # a file<TAB>transcript list of WAV files (--data)
    valid_file: str | None = option(None, "recordings: a file<TAB>transcript list for validation "
                                    "(default: split off --data)")  # fmt: skip
    test_file: str | None = option(None, "recordings: a file<TAB>transcript list for the test "
                                   "report (default: split off --data)")  # fmt: skip
    valid_fraction: float = option(0.1, "recordings: share of --data's files for validation",
                                   low=0.0, high=0.5)  # fmt: skip
    test_fraction: float = option(0.1, "recordings: share of --data's files for the test report",
                                  low=0.0, high=0.5)  # fmt: skip
    alphabet: str | None = option(None, "recordings: the labels, one character each (default: "
                                  "from --data's transcripts; digits as figures or words give "
                                  "0123456789)")  # fmt: skip
    raml_tau: float = option(0.0, "RAML: train on transcripts sampled at edit distance e with "
                             "weight exp(-e/tau), rescaled (rnnkit.training.raml; 0: maximum "
                             "likelihood)", low=0.0, high=10.0)  # fmt: skip

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {', '.join(SOURCES)}, got {self.source!r}")
        if self.min_digits > self.max_digits:
            raise ValueError(f"min_digits must be <= max_digits, got {self.min_digits} > "
                             f"{self.max_digits}")  # fmt: skip
        if self.source != "handwriting" and self.compare_minutes > 0:  # images of ink only
            raise ValueError(f"compare_minutes applies to handwriting only (0 with --preset "
                             f"speech), got {self.compare_minutes:g} with source "
                             f"{self.source!r}")  # fmt: skip
        self.check_recordings()

    def check_recordings(self) -> None:
        """The options of ``--data`` need it, and it needs the speech source."""
        given = [name for name in ("valid_file", "test_file", "alphabet")
                 if getattr(self, name) is not None]  # fmt: skip
        if self.data_path is None and given:
            raise ValueError(f"{given[0]} applies to recordings: give --data LIST")
        if self.data_path is not None and self.source != "speech":
            raise ValueError(f"--data holds recordings: source must be 'speech', got "
                             f"{self.source!r}")  # fmt: skip
        if self.valid_fraction + self.test_fraction >= 1.0:
            raise ValueError(f"valid_fraction + test_fraction must be < 1, got "
                             f"{self.valid_fraction} + {self.test_fraction}")  # fmt: skip
        if self.alphabet is not None and (
            not self.alphabet or len(set(self.alphabet)) != len(self.alphabet)
        ):
            raise ValueError(f"alphabet must be distinct characters, got {self.alphabet!r}")


#: ``rnnkit train ctc`` for the run lifecycle (:mod:`rnnkit.apps.runs`); the lines are
#: regenerated from the recorded seed on ``--resume``
JOB = Job("ctc", CTCTask, CTCConfig, sizes=("alphabet", "image_height", "source"),
          presets=PRESETS, metrics=CTCRecognizer.METRICS,
          files=("data_path", "valid_file", "test_file"),
          probe=(ALPHABETS["handwriting"], SIZE))  # fmt: skip


def make_lines(task: CTCTask, seed: int) -> tuple[Lines, Lines, Lines]:
    """Train, validation and test lines, each from its own scans or voices (and its own
    seed), or a user's recordings split by file (:func:`recorded_lines`)."""
    if task.data_path is not None:
        return recorded_lines(task, seed)
    counts = (task.train_lines, task.valid_lines, task.test_lines)
    if task.source == "speech":
        return tuple(
            speech.spoken_digits(split, count, seed=seed * 3 + k, min_digits=task.min_digits,
                                 max_digits=task.max_digits)
            for k, (split, count) in enumerate(zip(speech.SPLITS, counts, strict=True))
        )  # fmt: skip
    scans = split_scans(seed=seed)
    return tuple(
        digit_lines(part, count, min_digits=task.min_digits, max_digits=task.max_digits,
                    seed=seed * 3 + k)
        for k, (part, count) in enumerate(zip(scans, counts, strict=True))
    )  # fmt: skip


def recorded_lines(task: CTCTask, seed: int) -> tuple[Lines, Lines, Lines]:
    """A user's recordings (``task.data_path``), split by file with ``seed`` unless the
    validation and test lists are given, labelled over ``task.alphabet`` (every line of every
    list checked before any audio is read)."""
    listed = speech.list_recordings(task.data_path)
    given = [speech.list_recordings(f) if f else None for f in (task.valid_file, task.test_file)]
    alphabet = task.alphabet or speech.derive_alphabet(listed)
    for lines in (listed, *given):  # every transcript, in the lists' order
        speech.label_recordings(lines or [], alphabet)
    parts = speech.split_recordings(
        listed, valid_fraction=0.0 if given[0] else task.valid_fraction,
        test_fraction=0.0 if given[1] else task.test_fraction, seed=seed,
    )  # fmt: skip
    parts = [own or part for own, part in zip([None, *given], parts, strict=True)]
    for name, part, hint in zip(("training", "validation", "test"), parts, SPLIT_HINTS,
                                strict=True):  # fmt: skip
        if not part:
            raise DataError(f"{task.data_path}: no {name} recordings ({hint})")
    labels = [speech.label_recordings(part, alphabet) for part in parts]
    return tuple(
        speech.read_recordings(part, labelled, n_mels=speech.N_MELS, min_frames=FRAME)
        for part, labelled in zip(parts, labels, strict=True)
    )  # fmt: skip


def settled(run: Run) -> Run:
    """``run`` with its recordings' alphabet derived from ``--data``'s transcripts when not
    given, so that ``run.json`` records it and ``--resume`` reads with the same labels."""
    task = run.config.data
    if task.data_path is None or task.alphabet is not None:
        return run
    alphabet = speech.derive_alphabet(speech.list_recordings(task.data_path))
    return replace(run, config=replace(run.config, data=replace(task, alphabet=alphabet)))


def scores(found: Sequence[str], wanted: Sequence[str], *, error: str = "cer"
           ) -> dict[str, float]:  # fmt: skip
    """Sequence accuracy and the error rate named ``error`` (edits / characters, over all
    lines: the character error rate, or the word error rate when a word is one character)."""
    right = sum(f == w for f, w in zip(found, wanted, strict=True))
    edits = sum(edit_distance(f, w) for f, w in zip(found, wanted, strict=True))
    return {"sequence_accuracy": right / len(wanted),
            error: edits / sum(len(w) for w in wanted)}  # fmt: skip


@dataclass
class CTCRun:
    fitted: Fitted
    greedy: dict[str, float]  # test sequence_accuracy, cer (wer for speech)
    beam: dict[str, float]
    attention: dict[str, Any] | None  # the attention reader's test scores, steps, minutes


def train_ctc(run: Run, *, progress: bool = True) -> CTCRun:
    """Train on lines of training scans, voices or recordings, choose on validation, report
    the test lines."""
    run = settled(run)
    task, config = run.config.data, run.config.training
    train, valid, test = make_lines(task, config.seed)
    torch.manual_seed(config.seed)
    alphabet = task.alphabet or ALPHABETS[task.source]
    model = CTCRecognizer(JOB.model_config(run.config, alphabet, HEIGHTS[task.source],
                                           task.source))  # fmt: skip
    batch = lambda data: lambda order: model.batch(data.images, data.labels, order)  # noqa: E731
    collate = batch(train) if task.raml_tau == 0 else raml_lines(model, train, task.raml_tau,
                                                                 alphabet, config.seed)
    source = BucketBatches(columns(train), train.labels, config.batch_size, seed=config.seed,
                           collate=collate)  # fmt: skip
    valid_batches = list(iter_batches(columns(valid), valid.labels, 256, collate=batch(valid)))
    fitted = fit(model, source, valid_batches, run, progress=progress)
    error = ERRORS[task.source]
    greedy = scores(fitted.model.recognise(test.images), test.labels, error=error)
    beam = scores(fitted.model.recognise(test.images, beam_size=task.beam_size), test.labels,
                  error=error)  # fmt: skip
    attention = None
    if task.compare_minutes > 0:
        attention = compare_attention(task, config, (train, valid, test), run.out / COMPARE_DIR,
                                      progress=progress)  # fmt: skip
    write_json(Path(run.out) / REPORT_NAME, {
        "best_valid_sequence_accuracy": fitted.best_valid, "steps": fitted.steps,
        "wall_seconds": fitted.wall_seconds, "task": asdict(task),
        "test": {"lines": len(test), "greedy": greedy,
                 "beam": {**beam, "beam_size": task.beam_size}},
        "attention": attention,
    })  # fmt: skip
    return CTCRun(fitted, greedy, beam, attention)


def raml_lines(
    model: CTCRecognizer, train: Lines, tau: float, alphabet: str, seed: int
) -> Callable[[list[int]], LineBatch]:
    """Training batches whose transcripts are drawn from RAML's payoff distribution around the
    real ones (rnnkit.training.raml), afresh for every batch; the images stay as they are."""

    def drawn(labels: Mapping[int, list[str]], order: list[int]) -> LineBatch:
        return model.batch(train.images, {i: "".join(y) for i, y in labels.items()}, order)

    return raml.collate(drawn, train.labels, list(alphabet), tau, seed)


def columns(data: Lines) -> list[range]:
    """One sized item per line, its width: what the batches bucket by."""
    return [range(image.shape[1]) for image in data.images]


# -- the attention reader on the same lines -------------------------------------------------


def compare_attention(
    task: CTCTask, training: Any, lines: tuple[DigitLines, DigitLines, DigitLines], out: Path,
    *, progress: bool,
) -> dict[str, Any]:  # fmt: skip
    """Train ``rnnkit train digits``'s model (its default preset, with
    ``task.compare_attention``) on the same training lines for ``task.compare_minutes``,
    choose on the same validation lines, read the test lines.

    Its CNN maps the whole image to one context vector, so every line is right-padded to the
    widest line the generator can draw. It is trained afresh on every run (no ``--resume``).
    """
    train, valid, test = lines
    width = max_line_width(task.max_digits)
    width += width % 2  # the reader's one 2x2 pooling
    vocab = digit_vocab()
    preset = digit_app.PRESETS["default"]
    config = replace(training, **{**preset.training, "max_minutes": task.compare_minutes,
                                  "max_steps": None, "monitor": None})  # fmt: skip
    torch.manual_seed(training.seed)
    architecture = {**preset.model, "attention": task.compare_attention}
    model = ContextToSequence(digit_app.JOB.model(len(vocab), SIZE, width, **architecture), vocab)
    batch = lambda data: lambda order: fixed_width(data, order, width, vocab)  # noqa: E731
    source = BucketBatches(columns(train), train.labels, config.batch_size, seed=config.seed,
                           collate=batch(train))  # fmt: skip
    valid_batches = list(iter_batches(columns(valid), valid.labels, 256, collate=batch(valid)))
    trainer = Trainer(model, source, valid_batches, config, out_dir=out, progress=progress)
    trainer.fit()
    best = ContextToSequence.from_pretrained(out)
    everything = fixed_width(test, range(len(test)), width, vocab)
    found = best.read(everything.images, everything.widths, max_length=task.max_digits + 1)
    return {**scores(found, test.labels), "steps": trainer.step, "image_width": width,
            "minutes": task.compare_minutes, "attention": task.compare_attention}  # fmt: skip


def fixed_width(data: DigitLines, order: Sequence[int], width: int, vocab: Any) -> ImageBatch:
    """Lines ``order`` as the attention reader's batch: (B, 1, 8, width) images, and as
    "widths" the 8-column slots each line covers (what its attention mask counts)."""
    images, widths = pad_lines(data.images, order, width=width)
    slots = (widths + SIZE - 1) // SIZE  # ceil(width / 8)
    target, lengths = pad([vocab.encode(data.labels[i]) for i in order])
    return ImageBatch(images, slots, target, lengths, torch.tensor(list(order)))
