"""Context to sequence: an image (or any input) -> a context vector -> a token sequence.

The decoder of :mod:`rnnkit.tasks.seq2seq` starts from a context instead of an encoded
source sequence (Karpathy & Fei-Fei 2015 feed an image's CNN vector to the first step)::

    z, m = ContextEncoder(image)       z: (B, Z) the context; m: (B, W', M) feature columns
    s_0  = Bridge(z)                   tanh(W_h z) (and W_c z): the decoder's first state
    o_t, s_t = Decoder(E[y_{t-1}], s_{t-1}, m)
    p(y_t | y_<t, image) = softmax(W_o o_t)

``m`` is only read with ``attention`` other than ``none``. The built-in context encoder is
:class:`ColumnCNN`, a small CNN for rows of 8x8 digit scans; any module with the same
``forward(images, widths) -> (z, m, mask)`` can replace it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.data.pair_batches import BOS_ID, EOS_ID, pad
from rnnkit.data.tokenize import TokenVocab
from rnnkit.errors import CheckpointError
from rnnkit.options import PROBABILITY, option
from rnnkit.tasks.pretrained import Pretrained, size_problem
from rnnkit.tasks.seq2seq import (
    ATTENTIONS,
    SEQ2SEQ_CELLS,
    Bridge,
    Decoder,
    DecoderState,
    GeneratorMixin,
)

FORMAT = "rnnkit.context_to_sequence/1"


@dataclass(frozen=True)
class ContextConfig:
    """Architecture of a :class:`ContextToSequence` model over images of height x width."""

    target_vocab_size: int
    image_height: int = 8
    image_width: int = 48
    channels: int = option(32, "CNN channels", low=1, high=4096)
    context_size: int = option(256, "context vector width", low=1, high=65536)
    cell: str = option("lstm", "decoder cell", choices=tuple(SEQ2SEQ_CELLS))
    embedding_size: int = option(32, "token embedding width", low=1, high=65536)
    hidden_size: int = option(128, "decoder units", low=1, high=65536)
    attention: str = option("none", "attention over the CNN's columns, or none",
                            choices=ATTENTIONS)  # fmt: skip
    input_feeding: bool = option(True, "feed the last attentional state back (Luong 2015)")
    dropout: float = option(0.2, "dropout on the context, embeddings and outputs", **PROBABILITY)

    def __post_init__(self) -> None:
        if self.cell not in SEQ2SEQ_CELLS:
            raise ValueError(f"cell must be one of {', '.join(SEQ2SEQ_CELLS)}, got {self.cell!r}")
        if self.attention not in ATTENTIONS:
            raise ValueError(f"attention must be one of {', '.join(ATTENTIONS)}")
        if self.image_height % 2 or self.image_width % 2:
            raise ValueError("image_height and image_width must be even (one 2x2 pooling)")


class ColumnCNN(nn.Module):
    """Images (B, 1, Hi, Wi) -> context (B, Z), feature columns (B, Wi/2, C·Hi/2), their mask.

    conv3x3 -> ReLU -> conv3x3 -> ReLU -> 2x2 max-pool; the context is a linear map of the
    whole flattened feature map (so it knows where each digit sits), the columns are what an
    attention decoder reads. ``widths`` (B,) counts the 8-pixel digit slots actually used.
    """

    def __init__(self, config: ContextConfig) -> None:
        super().__init__()
        C = config.channels
        self.features = nn.Sequential(
            nn.Conv2d(1, C, 3, padding=1), nn.ReLU(),
            nn.Conv2d(C, C, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )  # fmt: skip
        h, w = config.image_height // 2, config.image_width // 2
        self.context = nn.Linear(C * h * w, config.context_size)
        self.column_size = C * h

    def forward(self, images: Tensor, widths: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        f = self.features(images)  # (B, C, h, w)
        z = torch.relu(self.context(f.flatten(1)))  # (B, Z)
        columns = f.flatten(1, 2).transpose(1, 2)  # (B, w, C·h)
        used = widths.to(images.device)[:, None] * 4  # a digit is 8 pixels = 4 pooled columns
        mask = torch.arange(columns.shape[1], device=images.device)[None, :] < used
        return z, columns, mask


@dataclass
class ImageBatch:
    """Images and their target ids (0-padded, without BOS/EOS), as in a :class:`PairBatch`."""

    images: Tensor  # (B, 1, H, W)
    widths: Tensor  # (B,) digit slots used
    target: Tensor | None
    target_lengths: Tensor | None
    index: Tensor

    def __len__(self) -> int:
        return self.images.shape[0]


def digit_vocab() -> TokenVocab:
    """The digit strings' target vocabulary: <pad>, <unk>, <s>, </s>, 0..9."""
    vocab = TokenVocab(["<s>", "</s>", *"0123456789"])
    assert (vocab.stoi["<s>"], vocab.stoi["</s>"]) == (BOS_ID, EOS_ID)
    return vocab


def image_batch(
    images: Tensor, widths: Tensor, labels: Sequence[str] | None, order: list[int],
    vocab: TokenVocab,
) -> ImageBatch:  # fmt: skip
    """The batch of images at positions ``order``, labels (digit strings) encoded."""
    index = torch.tensor(order)
    target = lengths = None
    if labels is not None:
        target, lengths = pad([vocab.encode(labels[i]) for i in order])
    return ImageBatch(images[index], widths[index], target, lengths, index)


class ContextToSequence(GeneratorMixin, Pretrained):
    """Context vector -> token sequence; see the module docstring."""

    FORMAT, KIND = FORMAT, "context-to-sequence model"
    CONFIG = ContextConfig

    def __init__(
        self,
        config: ContextConfig,
        vocab: TokenVocab | None = None,
        *,
        context_encoder: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.config, self.vocab = config, vocab
        self.context_encoder = context_encoder or ColumnCNN(config)
        memory = getattr(self.context_encoder, "column_size", None)
        self.bridge = Bridge(config.context_size, config.hidden_size,
                             memory_cell=config.cell == "lstm")  # fmt: skip
        self.decoder = Decoder(config.cell, config.embedding_size, config.hidden_size,
                               memory_size=memory, attention=config.attention,
                               input_feeding=config.input_feeding)  # fmt: skip
        self.embedding = nn.Embedding(config.target_vocab_size, config.embedding_size)
        self.out = nn.Linear(config.hidden_size, config.target_vocab_size)
        self.dropout = nn.Dropout(config.dropout)
        self.bos, self.eos = BOS_ID, EOS_ID

    def start(self, batch: ImageBatch) -> DecoderState:
        z, memory, mask = self.context_encoder(batch.images, batch.widths)
        h, c = self.bridge(self.dropout(z))
        return DecoderState(self.decoder.start(h, c, memory, mask))

    def embed_targets(self, ids: Tensor, state: DecoderState) -> Tensor:
        return self.embedding(ids)

    def output_log_probs(
        self, o: Tensor, state: DecoderState, inputs: Tensor | None = None
    ) -> Tensor:
        return self.out(o).log_softmax(-1)

    def gold(self, batch: ImageBatch) -> tuple[Tensor, Tensor]:
        return self.teacher_inputs(batch.target, batch.target_lengths)

    @torch.no_grad()
    def read(
        self, images: Tensor, widths: Tensor, *, batch_size: int = 256, **options: Any
    ) -> list[str]:
        """The best string for each image (``options`` go to :meth:`generate`)."""
        if self.vocab is None:
            raise CheckpointError("this model has no target vocabulary")
        was_training = self.training
        self.eval()
        out: list[str] = []
        options.setdefault("max_length", int(widths.max()) + 2)
        for lo in range(0, images.shape[0], batch_size):
            order = list(range(lo, min(lo + batch_size, images.shape[0])))
            batch = image_batch(images, widths, None, order, self.vocab)
            for nbest in self.generate(batch, **options):
                out.append("".join(self.vocab.decode(nbest[0].tokens)))
        self.train(was_training)
        return out

    def extras_problem(self) -> str | None:
        if self.vocab is None:
            return None
        return size_problem("vocab", len(self.vocab), "tokens", "target_vocab_size",
                            self.config.target_vocab_size)  # fmt: skip

    def checkpoint_extras(self) -> dict[str, Any]:
        return {} if self.vocab is None else {"vocab": self.vocab.to_dict()}

    @classmethod
    def from_checkpoint_config(cls, raw: dict[str, Any]) -> ContextToSequence:
        vocab = TokenVocab.from_dict(raw["vocab"]) if "vocab" in raw else None
        return cls(ContextConfig(**raw["model"]), vocab)
