"""The language-modelling job end to end: text -> vocabulary -> model -> Trainer -> checkpoint.

What ``rnnkit train lm`` does: split the text into a leading training part and a trailing
validation part, build the character vocabulary on the training part, train a
:class:`~rnnkit.tasks.LanguageModel` with the one Trainer (best checkpoint by validation loss)
and return an :class:`LMRun`; :func:`generate` then samples from it. ``LM_PRESETS`` are the
named architecture + training settings the command starts from.

A run records how it was started in ``OUT/trainer_state/run.json`` (:mod:`rnnkit.apps.runs`:
the data (files, level, validation split, a SHA-256 of the training text), the architecture
and the training config), so ``rnnkit train lm --resume OUT`` needs nothing else.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from rnnkit.apps.runs import Job, Preset, Run, RunConfig, begin
from rnnkit.data.lm_corpus import LEVELS, LMCorpus, char_corpus
from rnnkit.data.text import split_contiguous
from rnnkit.data.vocab import Vocab
from rnnkit.errors import CheckpointError, DataError
from rnnkit.tasks.language_model import LanguageModel, LanguageModelConfig
from rnnkit.training.distributed import Workers
from rnnkit.training.tbptt import Objective
from rnnkit.training.trainer import Callback, TrainConfig, Trainer, evaluate

LM_PRESETS: dict[str, Preset] = {
    "default": Preset(
        "2x256 LSTM, 15 minutes on a 2-core CPU: ~1.5 nats/char on tinyshakespeare",
        model={"cell": "lstm", "hidden_size": 256, "num_layers": 2, "dropout": 0.1},
        training={
            "batch_size": 64,
            "bptt": 100,
            "lr": 3e-3,
            "schedule": "cosine",  # decays over the time budget to min_lr_ratio * lr
            "warmup_steps": 50,
            "max_minutes": 15.0,
            "eval_every": 250,
        },
    ),
    "quick": Preset(
        "2x128 LSTM, 2 minutes: recognisable text, a first look",
        model={"cell": "lstm", "hidden_size": 128, "num_layers": 2, "dropout": 0.0},
        training={"batch_size": 32, "bptt": 64, "lr": 3e-3, "max_minutes": 2.0, "eval_every": 200},
    ),
    "tiny": Preset(
        "1x32 LSTM, 30 steps: smoke tests",
        model={"cell": "lstm", "hidden_size": 32, "num_layers": 1, "dropout": 0.0},
        training={"batch_size": 8, "bptt": 32, "lr": 1e-2, "max_steps": 30, "eval_every": 10},
    ),
    "wikitext2": Preset(
        "word level: 1x512 LSTM, adaptive softmax, 20 minutes: test ppl ~144 on WikiText-2",
        data={"level": "word"},
        model={
            "cell": "lstm",
            "hidden_size": 512,
            "embedding_size": 256,
            "num_layers": 1,
            "dropout": 0.2,
            "output": "adaptive",
        },
        training={
            "batch_size": 64,
            "bptt": 35,
            "lr": 3e-3,
            "schedule": "cosine",
            "min_lr_ratio": 0.02,  # chosen on valid: 157.2 vs 160.5 at the default 0.1
            "max_minutes": 20.0,
            "eval_every": 400,
            "clip_norm": 0.25,
        },
    ),
    # Contextual string embeddings for the tagger (Akbik et al. 2018; --data-dir
    # ../shared/data/wikitext-2): a forward and a backward character LM, 20 minutes each.
    # 1x256 over 64-wide embeddings (Flair's is 1x2048, trained for a week), by arithmetic,
    # not measured: ~0.4M multiply-adds per character forward (284 characters in train.txt),
    # ~1.2M to train, so 20 minutes at 2 cores' ~36 GFLOP/s cover under one pass over the
    # 10.8M characters; and the tagger runs both LMs over every batch it trains on (64 EWT
    # sentences of ~140 characters: ~6G multiply-adds; 1x512 would be ~3.5 times that).
    "char-forward": Preset(
        "characters of WikiText-2, 1x256 LSTM, 20 minutes: the forward LM of train tag --char-lm",
        data={"level": "char"},
        model=(CHAR_LM := {"cell": "lstm", "hidden_size": 256, "embedding_size": 64,
                           "num_layers": 1, "dropout": 0.1}),
        training=(CHAR_TRAINING := {"batch_size": 64, "bptt": 150, "lr": 3e-3,
                                    "schedule": "cosine", "warmup_steps": 100,
                                    "max_minutes": 20.0, "eval_every": 500,
                                    "eval_batch_size": 64, "clip_norm": 0.5}),
    ),
    "char-backward": Preset(
        "as char-forward on the text reversed: the backward LM of train tag --char-lm",
        data={"level": "char", "reverse": True},
        model=CHAR_LM,
        training=CHAR_TRAINING,
    ),
    # the word-level encoder of train classify --encoder (ULMFiT; --data-dir as wikitext2):
    # wikitext2's recipe at 400 units (a classifier has the encoder's sizes, and fine-tunes
    # faster on 2 cores with 400 than with 512)
    "encoder-wt2": Preset(
        "word level: 1x400 LSTM, adaptive softmax, 20 minutes: for train classify --encoder",
        data={"level": "word"},
        model={"cell": "lstm", "hidden_size": 400, "embedding_size": 200, "num_layers": 1,
               "dropout": 0.2, "output": "adaptive"},
        training={"batch_size": 64, "bptt": 35, "lr": 3e-3, "schedule": "cosine",
                  "min_lr_ratio": 0.02, "max_minutes": 20.0, "eval_every": 400,
                  "clip_norm": 0.25},
    ),
    # FolkRNN (Sturm et al. 2015): characters of the ABC tunes in music21's corpus (about
    # 12,600 after normalising: 2.3M characters), split by tune; for rnnkit compose
    "folk": Preset(
        "folk tunes in ABC (music21's corpus, pip install rnnkit[music]), 2x256 LSTM, 20 minutes",
        data={"level": "char", "tunes": True},
        model={"cell": "lstm", "hidden_size": 256, "num_layers": 2, "dropout": 0.1},
        training={"batch_size": 64, "bptt": 100, "lr": 3e-3, "schedule": "cosine",
                  "warmup_steps": 50, "max_minutes": 20.0, "eval_every": 500},
    ),
}  # fmt: skip


@dataclass(frozen=True)
class LMData:
    """The text(s) a language model reads; files are absolute paths in ``run.json``."""

    level: str = "char"  # tokens: characters or whitespace-separated words (LEVELS)
    text: str | None = None  # one text, split into training and validation (None: bundled)
    train: str | None = None  # word level: the training text
    valid: str | None = None  # word level: the validation text (None: split off train)
    test: str | None = None  # word level: evaluated once, at the end
    data_dir: str | None = None  # word level: a directory with train/valid/test.txt
    valid_fraction: float = 0.1  # the validation share split off a single text
    max_vocab: int | None = None  # word level: most words, <unk> included
    min_freq: int = 1  # word level: rarer words become <unk>
    text_sha256: str | None = None  # of the training text: --resume refuses another text
    reverse: bool = False  # read every text backwards (a backward LM; recorded in its model)
    tunes: bool = False  # ABC tunes split by tune (data/abc.py); no text: music21's folk corpus

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"level must be one of {', '.join(LEVELS)}, got {self.level!r}")
        check_range("valid_fraction", self.valid_fraction, 0.001, 0.5)
        if self.max_vocab is not None:
            check_range("max_vocab", self.max_vocab, 2, 10**7)
        check_range("min_freq", self.min_freq, 1, 10**9)
        if sum(f is not None for f in (self.text, self.train, self.data_dir)) > 1:
            raise ValueError("give one of text, train, data_dir")


def check_range(name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise ValueError(f"{name} must be in [{low}, {high}], got {value!r}")


#: ``rnnkit train lm`` for the run lifecycle (:mod:`rnnkit.apps.runs`)
JOB = Job("lm", LMData, LanguageModelConfig, sizes=("vocab_size",), presets=LM_PRESETS,
          metrics=LanguageModel.METRICS, files=("text", "train", "valid", "test", "data_dir"))
#: presets for word-level models (the others are character-level)
WORD_PRESETS = tuple(name for name, p in LM_PRESETS.items() if p.data.get("level") == "word")


def read_corpus(data: LMData, batch_size: int) -> LMCorpus:
    """The corpus ``data`` names (bundled tinyshakespeare when it names no file)."""
    from rnnkit.data.lm_corpus import read_word_corpus, split_files
    from rnnkit.data.text import SHAKESPEARE, bundled_text, read_text

    if data.tunes:  # held-out tunes as valid and test; the split's seed is fixed, so runs
        from rnnkit.data.abc import tune_corpus  # with other seeds are measured alike

        return tune_corpus(data.text, data.valid_fraction, seed=0)
    if data.level == "char" and data.data_dir is not None:
        return reversed_corpus(char_files(split_files(Path(data.data_dir))), data.reverse)
    if data.level == "char":
        source = data.text if data.text is not None else f"bundled {SHAKESPEARE}"
        text = read_text(Path(data.text)) if data.text is not None else bundled_text()
        text = text[::-1] if data.reverse else text  # split after: valid is the text's start
        check_text_length(text, batch_size, data.valid_fraction, source)
        return char_corpus(text, data.valid_fraction, source)
    files = {"train": data.train or data.text, "valid": data.valid, "test": data.test}
    if data.data_dir is not None:
        files = {**split_files(Path(data.data_dir)), **{k: v for k, v in files.items() if v}}
    if files["train"] is None:
        raise DataError("a word-level model needs --train FILE, --text FILE or --data-dir DIR")
    path = lambda f: None if f is None else Path(f)  # noqa: E731
    corpus = read_word_corpus(
        path(files["train"]),
        path(files.get("valid")),
        path(files.get("test")),
        valid_fraction=data.valid_fraction,
        max_vocab=data.max_vocab,
        min_freq=data.min_freq,
    )
    return reversed_corpus(corpus, data.reverse)


def char_files(files: dict[str, Path]) -> LMCorpus:
    """Characters of a WikiText-style directory: the vocabulary of train.txt (characters
    unseen there are <unk> in valid and test), each file one stream."""
    from rnnkit.data.lm_corpus import digest
    from rnnkit.data.text import read_text
    from rnnkit.data.vocab import CharVocab

    texts = {split: read_text(path) for split, path in files.items()}
    vocab = CharVocab.from_text(texts["train"])
    test = vocab.encode(texts["test"]) if "test" in texts else None
    return LMCorpus(vocab, vocab.encode(texts["train"]), vocab.encode(texts["valid"]), test,
                    digest(*texts.values()), str(files["train"]))  # fmt: skip


def reversed_corpus(corpus: LMCorpus, reverse: bool) -> LMCorpus:
    """Each stream backwards when ``reverse``: characters last to first, or words last to first
    (a line's ``<eos>`` then comes before its words, where the line break was read)."""
    if not reverse:
        return corpus
    test = corpus.test.flip(0) if corpus.test is not None else None
    return replace(corpus, train=corpus.train.flip(0), valid=corpus.valid.flip(0), test=test)


@dataclass
class LMRun:
    """What a finished run reports."""

    model: LanguageModel
    best_valid_nats: float
    steps: int
    wall_seconds: float
    out_dir: Path
    resumed_from: int = 0  # the step a resumed run continued from (0: a fresh run)
    test_nats: float | None = None  # the best model's test loss, when a test stream was given
    tokens: int = 0  # training tokens seen
    tokens_per_second: float = 0.0  # this session's training speed, as metrics.jsonl records it

    @property
    def unit(self) -> str:
        return self.model.unit


def train_char_lm(
    text: str,
    model_fields: dict,
    train_config: TrainConfig,
    out_dir: str | Path,
    *,
    valid_fraction: float = 0.1,
    source: str = "text",
    resume: bool = False,
    **options: Any,
) -> LMRun:
    """Train a character-level LM on ``text`` (first 1 - f for training, last f for validation).

    ``options`` are :func:`train_lm`'s; ``source`` names the text in errors (its file).

    Raises:
        DataError: the text is too short for one training batch and a validation stretch.
    """
    check_text_length(text, train_config.batch_size, valid_fraction, source)
    corpus = char_corpus(text, valid_fraction, source)
    config = RunConfig(LMData(valid_fraction=valid_fraction), JOB.complete_model(model_fields),
                       train_config)  # fmt: skip
    return train_lm(corpus, Run(JOB, config, Path(out_dir), resumed=resume), **options)


def train_lm(
    corpus: LMCorpus,
    run: Run,
    *,
    progress: bool = True,
    callbacks: dict[str, list[Callback]] | None = None,
    objective: Objective | None = None,
) -> LMRun:
    """Train a language model on a corpus (characters or words); the best by validation loss.

    The best model is saved to ``run.out`` and returned, with its test loss when the corpus
    has a test stream (measured once, at the end). A resumed run continues from the newest
    checkpoint in ``run.out/trainer_state``; the corpus must be the one the run started with.
    """
    data, train_config, out_dir = run.config.data, run.config.training, run.out
    if run.resumed and data.text_sha256 not in (None, corpus.digest):
        raise CheckpointError(
            f"{out_dir}: the training text changed since the run started; cannot resume it"
        )
    if not run.resumed:  # recorded, so that a resumed run can check its text
        data = replace(data, text_sha256=corpus.digest)
        run = replace(run, config=replace(run.config, data=data))
    corpus.check_length(train_config.batch_size)
    vocab = corpus.vocab
    torch.manual_seed(train_config.seed)
    model = LanguageModel(JOB.model_config(run.config, vocab_size=len(vocab)), vocab,
                          reverse=data.reverse)  # fmt: skip
    trainer = Trainer(
        model,
        corpus.train,
        corpus.valid,
        train_config,
        out_dir=out_dir,
        progress=progress,
        callbacks=callbacks,
        objective=objective,
    )
    resumed_from = begin(trainer, run)
    is_main = Workers.current().is_main
    if is_main and hasattr(corpus, "save_record"):  # tunes: what compose and serve read
        corpus.save_record(out_dir)
    start = time.monotonic()
    trainer.fit()
    wall = time.monotonic() - start
    best = LanguageModel.from_pretrained(out_dir) if is_main else model  # OUT may be rank 0's
    nats = trainer.best_valid * (math.log(2) if train_config.monitor == "bits" else 1.0)
    test = None
    if corpus.test is not None and is_main:
        test = evaluate(best, corpus.test, batch_size=train_config.eval_batch_size, bptt=100)
    steps, tokens = trainer.step, trainer.tokens
    return LMRun(best, nats, steps, wall, Path(out_dir), resumed_from, test, tokens,
                 trainer.throughput())  # fmt: skip


def check_text_length(text: str, batch_size: int, valid_fraction: float, source: str) -> None:
    """Refuse a text too short to split into ``batch_size`` columns plus a validation stretch.

    The training part needs more than ``batch_size`` characters (each column one input and its
    target), the validation part at least 2 (one input, one target).
    """
    train_text, valid_text = split_contiguous(text, valid_fraction)
    if len(train_text) > batch_size and len(valid_text) >= 2:
        return
    need = max(batch_size + 3, math.ceil((batch_size + 1) / (1.0 - valid_fraction)) - 2)
    while not _long_enough(need, batch_size, valid_fraction):
        need += 1
    raise DataError(
        f"{source}: {len(text)} characters is too short for batch size {batch_size}: it needs "
        f"at least {need} ({batch_size + 1} for training, 2 for validation at valid fraction "
        f"{valid_fraction:g}); give a longer text or a smaller batch size"
    )


def _long_enough(length: int, batch_size: int, valid_fraction: float) -> bool:
    cut = int(length * (1.0 - valid_fraction))  # as split_contiguous cuts
    return cut > batch_size and length - cut >= 2


def generate(
    model: LanguageModel,
    prime: str,
    length: int,
    *,
    temperature: float,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
) -> str:
    """Prime text + ``length`` sampled tokens from a language model with a vocabulary.

    A backward model (``model.reverse``) reads ``prime`` as the end of a text and writes what
    comes before it; the result is in reading order all the same (:func:`reading_order`).
    """
    options = {"temperature": temperature, "top_k": top_k, "top_p": top_p, "seed": seed}
    if model.reverse:
        flipped = reading_order(prime, model.unit)
        return reading_order(flipped + "".join(generate_iter(model, flipped, length, **options)),
                             model.unit)  # fmt: skip
    return prime + "".join(generate_iter(model, prime, length, **options))


def reading_order(text: str, unit: str) -> str:
    """``text`` backwards: its characters, or for words its lines and each line's words (a
    backward model's text <-> reading order; applied twice it gives ``text`` back, but for
    the spacing of words)."""
    if unit == "char":
        return text[::-1]
    return "\n".join(" ".join(line.split()[::-1]) for line in text.split("\n")[::-1])


def generate_iter(
    model: LanguageModel,
    prime: str,
    length: int,
    *,
    temperature: float,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
) -> Iterator[str]:
    """The text sampled after ``prime``, piece by piece as it is drawn (what a page streams).

    A piece is what one token adds: ``decode([previous, token])`` past ``decode([previous])``,
    so a word vocabulary's spaces and ``<eos>`` line breaks fall where decoding the whole
    sequence puts them. Sampling runs :func:`~rnnkit.tasks.lm_step.lm_step`'s step, on one
    thread for small models; the same seed gives the same tokens as ``model.step`` would.
    A prime with unknown symbols and bad options raise here, before the first piece.
    """
    from rnnkit.decoding.sampling import iter_samples
    from rnnkit.tasks.lm_step import generation_threads, lm_step

    ids = prime_ids(model.vocab, prime)  # (P,)
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    tokens = iter_samples(
        lm_step(model),
        ids[None],
        length,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        generator=generator,
        threads=generation_threads(1, model.config.hidden_size),
    )
    return _pieces(model.vocab.decode, int(ids[-1]), tokens)


def prime_ids(vocab: Vocab, prime: str) -> Tensor:
    """(P,) ids of ``prime``; unknown characters raise VocabularyError, unknown words are <unk>.

    A word vocabulary ends every line with ``<eos>``, the last one too; a prime that does not
    end with a line break leaves its last line open, so that ``<eos>`` is dropped.
    """
    ids = vocab.encode(prime, strict=not vocab.separator)  # words: <unk> is a word it knows
    if len(ids) > 1 and not prime.endswith("\n") and vocab.decode(ids[-1:]) == "\n":
        return ids[:-1]
    return ids


def _pieces(
    decode: Callable[[list[int]], str], last: int, tokens: Iterator[Tensor]
) -> Iterator[str]:
    """(1,) tokens -> the text each adds after the one before (``last``: the prime's last)."""
    for token in tokens:
        t = int(token)  # the one host read of a step
        yield decode([last, t])[len(decode([last])) :]
        last = t
