"""A CTC recogniser: an image read column by column -> per-frame labels -> the label string.

Graves et al. (2006) train a recurrent network without any alignment of labels to frames: the
loss sums over every alignment (:class:`rnnkit.layers.ctc.CTCLoss`). Here the frames are the
columns of a line of handwriting::

    f = Columns(image)             (B, 1, H, W) -> (B, T, F), T = W // 2: conv3x3 + batch norm
                                   x 3, pooling 2x2 once, then 2x1 (height only): a frame is
                                   2 columns
    o = BiRNN(f)                   (B, T, 2H), each line read only up to its own T
    log y_t = log_softmax(W o_t)   (B, T, 1 + L): symbol 0 is the blank, 1..L the alphabet

Reading decodes ``log y`` with :func:`rnnkit.decoding.ctc.best_path` (greedy) or
:func:`rnnkit.decoding.ctc.prefix_beam_search`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.data.digit_lines import pad_lines
from rnnkit.data.pair_batches import pad
from rnnkit.decoding.ctc import LMFusion, best_path, prefix_beam_search
from rnnkit.errors import RnnkitError
from rnnkit.layers.ctc import CTCLoss
from rnnkit.layers.stacks import recurrent_stack
from rnnkit.options import PROBABILITY, option
from rnnkit.tasks.pretrained import Pretrained
from rnnkit.training.metrics import edit_distance

FORMAT = "rnnkit.ctc_recognizer/1"
BLANK = 0  # the blank's id; the alphabet's labels are 1..L
CTC_CELLS = ("lstm", "gru")
CTC_SOURCES = ("handwriting", "speech")  # what a recogniser reads (CTCConfig.source)
FRAME = 2  # image columns per frame (the one 2x2 pooling)


@dataclass(frozen=True)
class CTCConfig:
    """Architecture of a :class:`CTCRecognizer` reading images of ``image_height`` rows."""

    alphabet: str  # the labels, ids 1..L in this order (0 is the blank); from the data
    image_height: int = 8
    # what the images are: "handwriting" (lines of ink) or "speech" (log-mel frames), from the
    # data; `recognise` and `transcribe` refuse a model of the other kind by it
    source: str = "handwriting"
    channels: int = option(32, "CNN channels (the last conv has twice as many)", low=1,
                           high=4096)  # fmt: skip
    cell: str = option("lstm", "recurrent cell of the bidirectional stack", choices=CTC_CELLS)
    hidden_size: int = option(128, "BiRNN units per direction", low=1, high=65536)
    num_layers: int = option(2, "stacked bidirectional layers", low=1, high=64)
    dropout: float = option(0.2, "dropout on the frames, between layers and before the output",
                            **PROBABILITY)  # fmt: skip

    def __post_init__(self) -> None:
        if not self.alphabet or len(set(self.alphabet)) != len(self.alphabet):
            raise ValueError(f"alphabet must be distinct characters, got {self.alphabet!r}")
        if self.image_height < 4 or self.image_height % 4:
            raise ValueError(f"image_height must be a multiple of 4 (two poolings in height), "
                             f"got {self.image_height}")  # fmt: skip
        if self.source not in CTC_SOURCES:
            raise ValueError(f"source must be one of {', '.join(CTC_SOURCES)}, got "
                             f"{self.source!r}")  # fmt: skip
        if self.cell not in CTC_CELLS:
            raise ValueError(f"cell must be one of {', '.join(CTC_CELLS)}, got {self.cell!r}")


class Columns(nn.Module):
    """Images (B, 1, H, W) -> frames (B, W // 2, 2C · H/4): a small CNN that pools the width
    once, so each frame sees two columns and a digit spans several frames.

    Every layer's output is zeroed right of each line's width (halved by the pooling), so a
    line's frames are what the convolutions' own zero padding gives it alone: a line reads the
    same in any batch.
    """

    def __init__(self, height: int, channels: int) -> None:
        super().__init__()
        C = channels
        self.features = nn.Sequential(  # batch norm: CTC leaves its all-blank start sooner
            nn.Conv2d(1, C, 3, padding=1, bias=False), nn.BatchNorm2d(C), nn.ReLU(),
            nn.Conv2d(C, C, 3, padding=1, bias=False), nn.BatchNorm2d(C), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(C, 2 * C, 3, padding=1, bias=False), nn.BatchNorm2d(2 * C), nn.ReLU(),
            nn.MaxPool2d((2, 1)),
        )  # fmt: skip
        self.frame_size = 2 * C * (height // 4)

    def forward(self, images: Tensor, widths: Tensor) -> Tensor:
        x = images
        for layer in self.features:
            x = layer(x)
            if isinstance(layer, nn.MaxPool2d):
                kernel = layer.kernel_size
                widths = widths // (kernel if isinstance(kernel, int) else kernel[1])
            inside = torch.arange(x.shape[-1], device=x.device) < widths[:, None]  # (B, W')
            x = x * inside[:, None, None, :]
        return x.flatten(1, 2).transpose(1, 2)  # (B, 2C, H/4, W/2) -> (B, T, 2C·H/4)


@dataclass
class LineBatch:
    """Images of lines, their widths and (when known) their labels as padded ids."""

    images: Tensor  # (B, 1, H, W_max), zero right of each width
    widths: Tensor  # (B,) columns
    targets: Tensor | None  # (B, S) label ids 1..L, 0 past each length
    target_lengths: Tensor | None  # (B,)
    index: Tensor  # (B,) the lines' positions in the dataset

    def __len__(self) -> int:
        return self.images.shape[0]


class CTCRecognizer(Pretrained):
    """CNN columns -> BiRNN -> per-frame labels and blank, trained with CTC (module docstring)."""

    FORMAT, KIND = FORMAT, "CTC recogniser"
    METRICS = ("sequence_accuracy", "cer", "loss")

    def __init__(self, config: CTCConfig) -> None:
        super().__init__()
        self.config = config
        self.columns = Columns(config.image_height, config.channels)
        self.rnn = recurrent_stack(
            config.cell, self.columns.frame_size, config.hidden_size,
            num_layers=config.num_layers, bidirectional=True, dropout=config.dropout,
            fused=True,  # an LSTM trains on rnnkit's fused CPU kernels (FusedLSTM)
        )  # fmt: skip
        self.dropout = nn.Dropout(config.dropout)
        self.out = nn.Linear(2 * config.hidden_size, 1 + len(config.alphabet))
        self.ctc = CTCLoss(blank=BLANK, reduction="mean", zero_infinity=True)

    @staticmethod
    def frames(widths: Tensor) -> Tensor:
        """(B,) image widths -> (B,) frames the model reads of each."""
        return widths // FRAME

    def forward(self, images: Tensor, widths: Tensor) -> tuple[Tensor, Tensor]:
        """Per-frame log-probabilities (B, T, 1 + L) and each line's frames (B,)."""
        x = self.dropout(self.columns(images, widths))  # (B, T, F)
        lengths = self.frames(widths).clamp(max=x.shape[1])
        out, _ = self.rnn(x, lengths=lengths)  # (B, T, 2H)
        return self.out(self.dropout(out)).log_softmax(-1), lengths

    # -- the Trainer's contract -------------------------------------------------------

    def loss(self, batch: LineBatch) -> tuple[Tensor, dict[str, Any]]:
        """CTC loss per label, averaged over the lines (torch's ``"mean"``)."""
        log_probs, lengths = self(batch.images, batch.widths)
        loss = self.ctc(log_probs.transpose(0, 1), batch.targets, lengths, batch.target_lengths)
        return loss, {"tokens": int(batch.target_lengths.sum())}

    @torch.no_grad()
    def evaluate(self, batches: Iterable[LineBatch]) -> dict[str, float]:
        """Greedy (best path) sequence accuracy and character error rate, and CTC loss per
        label."""
        was_training = self.training
        self.eval()
        total = CTCLoss(blank=BLANK, reduction="sum", zero_infinity=True)
        nll = right = lines = edits = labels = 0.0
        for batch in batches:
            log_probs, lengths = self(batch.images, batch.widths)
            nll += float(total(log_probs.transpose(0, 1), batch.targets, lengths,
                               batch.target_lengths))  # fmt: skip
            gold = [t[:n] for t, n in zip(batch.targets.tolist(), batch.target_lengths.tolist(),
                                          strict=True)]  # fmt: skip
            for found, want in zip(best_path(log_probs, lengths, blank=BLANK), gold, strict=True):
                right += found == want
                edits += edit_distance(found, want)
            lines += len(batch)
            labels += int(batch.target_lengths.sum())
        self.train(was_training)
        return {"sequence_accuracy": right / max(lines, 1), "cer": edits / max(labels, 1),
                "loss": nll / max(labels, 1)}  # fmt: skip

    # -- reading ----------------------------------------------------------------------

    def encode(self, text: str) -> list[int]:
        """A label string as ids 1..L (a character outside the alphabet: ValueError)."""
        ids = {c: i for i, c in enumerate(self.config.alphabet, start=1)}
        if unknown := [c for c in text if c not in ids]:
            raise ValueError(f"{unknown[0]!r} is not in the alphabet {self.config.alphabet!r}")
        return [ids[c] for c in text]

    def decode(self, ids: Sequence[int]) -> str:
        """Ids 1..L -> their labels."""
        return "".join(self.config.alphabet[i - 1] for i in ids)

    def batch(self, images: Sequence[Tensor], labels: Sequence[str] | None,
              order: Sequence[int]) -> LineBatch:  # fmt: skip
        """The (H, W_i) images at positions ``order``, right-padded, labels encoded."""
        stacked, widths = pad_lines(images, order)
        targets = lengths = None
        if labels is not None:
            targets, lengths = pad([self.encode(labels[i]) for i in order])
        return LineBatch(stacked, widths, targets, lengths, torch.tensor(list(order)))

    @torch.no_grad()
    def recognise(
        self, images: Sequence[Tensor], *, beam_size: int = 1, batch_size: int = 256,
        lm: LMFusion | None = None, lm_weight: float = 0.0, length_bonus: float = 0.0,
    ) -> list[str]:  # fmt: skip
        """The label string of each (H, W_i) image: best path (``beam_size`` 1, no ``lm``) or
        the best of a prefix beam search, with ``lm`` fused in (:mod:`rnnkit.decoding.ctc`)."""
        self.check_images(images)
        was_training = self.training
        self.eval()
        out: list[str] = []
        for lo in range(0, len(images), batch_size):
            batch = self.batch(images, None, range(lo, min(lo + batch_size, len(images))))
            log_probs, lengths = self(batch.images, batch.widths)
            if beam_size == 1 and lm is None:
                found = best_path(log_probs, lengths, blank=BLANK)
            else:
                fusion = {"lm": lm, "lm_weight": lm_weight, "length_bonus": length_bonus}
                nbest = prefix_beam_search(log_probs, lengths, beam_size=beam_size, blank=BLANK,
                                           **fusion)  # fmt: skip
                found = [hyps[0].tokens if hyps else [] for hyps in nbest]
            out.extend(self.decode(ids) for ids in found)
        self.train(was_training)
        return out

    def check_images(self, images: Sequence[Tensor]) -> None:
        """Each image (H, W) with this model's height and at least one frame of width."""
        for i, image in enumerate(images):
            if image.dim() != 2 or image.shape[0] != self.config.image_height:
                raise RnnkitError(f"image {i}: expected {self.config.image_height} rows "
                                  f"(height, width), got shape {tuple(image.shape)}")  # fmt: skip
            if image.shape[1] < FRAME:
                raise RnnkitError(f"image {i}: at least {FRAME} columns needed, got "
                                  f"{image.shape[1]}")  # fmt: skip

    # -- checkpoints ------------------------------------------------------------------

    @classmethod
    def from_checkpoint_config(cls, raw: dict[str, Any]) -> CTCRecognizer:
        return cls(CTCConfig(**raw["model"]))
