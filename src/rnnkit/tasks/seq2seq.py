"""Encoder–decoder models: sequence to sequence, and context to sequence.

:class:`Seq2Seq` reads a source sequence ``x_1..x_S`` and writes a target ``y_1..y_T``::

    m_1..m_S, (h_S, c_S) = Encoder(E_src[x_1..x_S])  any cell, layers, bidirectional
    s_0 = Bridge(h_S, c_S)                          tanh(W_h h_S) (and W_c c_S): the start
    o_t, s_t = Decoder(E_tgt[y_{t-1}], s_{t-1}, m)  a cell, or an attention decoder cell
    p(y_t | y_<t, x) = softmax(W_o o_t)             a vocabulary output, or
                     = softmax_j(score(o_t, m_j))   a pointer over source positions

with ``y_0 = <s>`` and the target ending in ``</s>``. The attention decoder cell
(:class:`~rnnkit.cells.AttentionDecoderCell`) looks back at the encoder outputs ``m`` at every
step (Bahdanau et al. 2014; Luong et al. 2015, with input feeding). The pointer output (Vinyals
et al. 2015) makes the attention distribution over the source positions the output distribution:
position 0 is a learned end-of-sequence slot, and the token fed back at the next step is the
embedding of the source token pointed at.

:class:`ContextToSequence` replaces the encoder by any module that turns an input (an image)
into a context vector, fed into the decoder's first hidden state (as in image captioning,
Karpathy & Fei-Fei 2015); with attention it may also return a memory to look at.

Training is teacher-forced through :class:`~rnnkit.layers.Recurrent` (the one time loop);
generation goes through :mod:`rnnkit.decoding` over :meth:`decode_step`, so greedy, sampling
and beam search work on every model here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.cells import AttentionDecoderCell, AttentionState, LSTMState
from rnnkit.cells.state import PerExample, as_rows
from rnnkit.checks import check_choice
from rnnkit.data.pair_batches import PairBatch, PairEncoder
from rnnkit.data.pairs import split_tokens
from rnnkit.data.synthetic import parse_numbers
from rnnkit.decoding import Hypothesis, beam_search, greedy, sample
from rnnkit.decoding.scheduled import scheduled_sampling_forward
from rnnkit.errors import CheckpointError
from rnnkit.layers import Attention, Recurrent
from rnnkit.layers.stacks import make_cell, recurrent_stack
from rnnkit.options import PROBABILITY, option
from rnnkit.tasks.pretrained import Pretrained, size_problem

FORMAT = "rnnkit.seq2seq/1"
#: encoder and decoder cells: rows of :data:`rnnkit.layers.stacks.CELLS`
SEQ2SEQ_CELLS = ("lstm", "gru")
ATTENTIONS = ("none", "additive", "dot", "general")
OUTPUTS = ("vocab", "pointer")
IGNORE = -100  # target positions past the end of a sequence
#: How a model reads a user's input (``task["source_tokens"]``): every character, whitespace-
#: separated words, or whitespace-separated integers in the sorter's range (each one token)
INPUT_TOKENS = ("char", "space", "numbers")


def input_tokens(task: dict[str, Any]) -> str:
    """The input tokenisation a model's ``task`` records (one of :data:`INPUT_TOKENS`).

    Checkpoints written before it was recorded default to what their job read: numbers for
    the sorter, characters otherwise.
    """
    return task.get("source_tokens", "numbers" if task.get("job") == "sort" else "char")


def check_input_task(task: dict[str, Any]) -> None:
    """A ``task`` that can read input: a known tokenisation, and a range for numbers."""
    tokens = check_choice("source_tokens", input_tokens(task), INPUT_TOKENS)
    if tokens == "numbers" and not all(type(task.get(k)) is int for k in ("low", "high")):
        raise ValueError("a model reading numbers needs its integer range (task low, high)")


@dataclass(frozen=True)
class Seq2SeqConfig:
    """Architecture of a :class:`Seq2Seq` model."""

    source_vocab_size: int
    target_vocab_size: int  # 0 with a pointer output
    cell: str = option("lstm", "encoder and decoder cell", choices=tuple(SEQ2SEQ_CELLS))
    embedding_size: int = option(64, "token embedding width", low=1, high=65536)
    hidden_size: int = option(128, "encoder units per direction and decoder units", low=1,
                              high=65536)  # fmt: skip
    num_layers: int = option(1, "stacked encoder layers", low=1, high=64)
    bidirectional: bool = option(True, "read the source in both directions")
    attention: str = option("general", "attention scorer, or none", choices=ATTENTIONS)
    input_feeding: bool = option(True, "feed the last attentional state back (Luong 2015)")
    output: str = option("vocab", "a target vocabulary, or a pointer at source positions",
                         choices=OUTPUTS)  # fmt: skip
    pointer_once: bool = option(False, "a pointer points at each source position at most "
                                "once (its outputs permute the source)")  # fmt: skip
    dropout: float = option(0.2, "dropout on embeddings and decoder outputs", **PROBABILITY)

    def __post_init__(self) -> None:
        for name, value, choices in (
            ("cell", self.cell, SEQ2SEQ_CELLS),
            ("attention", self.attention, ATTENTIONS),
            ("output", self.output, OUTPUTS),
        ):
            if value not in choices:
                raise ValueError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
        if self.source_vocab_size < 3:
            raise ValueError(f"source_vocab_size must be >= 3, got {self.source_vocab_size}")
        if self.attention == "dot" and self.bidirectional:
            raise ValueError("dot attention needs encoder outputs as wide as the decoder: "
                             "use a unidirectional encoder or general attention")  # fmt: skip
        if self.pointer_once and self.output != "pointer":
            raise ValueError("pointer_once needs output='pointer'")
        if self.output == "vocab" and self.target_vocab_size < 5:
            raise ValueError(f"target_vocab_size must be >= 5, got {self.target_vocab_size}")


class DecoderState(NamedTuple):
    """Everything a decoding step needs, batch-first so beam search can reorder it whole.

    ``cell`` is the decoder cell's state (an :class:`~rnnkit.cells.AttentionState` with
    attention, which carries the encoder memory). With a pointer output, ``inputs`` (B, S+1, E)
    is what each position feeds back, ``keys`` the pointer's prepared keys and ``mask``
    (B, S+1) the valid positions (position 0, the end, always is), and ``pointed`` (B, S) the
    last step's pointer distribution over the source positions; otherwise they are None.
    The constant fields may be held once per example (:meth:`shared`).
    """

    cell: Any
    inputs: Tensor | PerExample | None = None
    keys: Tensor | PerExample | None = None
    mask: Tensor | PerExample | None = None
    pointed: Tensor | None = None  # pointer: the last step's distribution over positions 1..S

    def shared(self) -> DecoderState:
        """The encoder memory, the pointer's inputs, keys and mask held once per example.

        :class:`~rnnkit.cells.state.PerExample`: beam search keeps one copy per example, not
        one per hypothesis; a pointer that points once turns its mask into rows when it strikes
        the first position (:meth:`Seq2Seq.fed_back`).
        """
        cell = self.cell.shared() if isinstance(self.cell, AttentionState) else self.cell
        inputs, keys, mask = (
            PerExample(t) if isinstance(t, Tensor) else t
            for t in (self.inputs, self.keys, self.mask)
        )
        return self._replace(cell=cell, inputs=inputs, keys=keys, mask=mask)


class Decoder(nn.Module):
    """The decoder's cell, plain or with attention, unrolled by :class:`Recurrent`."""

    def __init__(
        self,
        cell: str,
        input_size: int,
        hidden_size: int,
        *,
        memory_size: int | None,
        attention: str,
        input_feeding: bool,
    ) -> None:
        super().__init__()
        self.attends = attention != "none"
        if self.attends:
            feed = hidden_size if input_feeding else 0
            scorer = Attention(hidden_size, memory_size, kind=attention)
            inner = make_cell(cell, input_size + feed, hidden_size)
            self.cell = AttentionDecoderCell(inner, scorer, input_feeding=input_feeding)
        else:
            self.cell = make_cell(cell, input_size, hidden_size)
        self.rnn = Recurrent(self.cell, batch_first=True)
        self.memory_cell = cell == "lstm"

    def start(self, h: Tensor, c: Tensor | None, memory: Tensor | None, mask: Tensor | None):
        """The first state: the bridged ``h`` (and ``c``), and the memory to attend to."""
        inner = LSTMState(h, c) if self.memory_cell else h
        return self.cell.start(memory, mask, inner) if self.attends else inner


class Bridge(nn.Module):
    """Encoder summary (B, M) -> the decoder's first ``h = tanh(W_h m)`` (and ``c = W_c m``)."""

    def __init__(self, size: int, hidden_size: int, *, memory_cell: bool) -> None:
        super().__init__()
        self.h = nn.Linear(size, hidden_size)
        self.c = nn.Linear(size, hidden_size) if memory_cell else None

    def forward(self, h: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        return torch.tanh(self.h(h)), None if self.c is None else self.c(c if c is not None else h)


@dataclass
class Translation:
    """One output of :meth:`Seq2Seq.translate`: tokens, scores, attention (steps, S) or None."""

    tokens: list[str]
    score: float
    log_prob: float
    attention: Tensor | None = None


class GeneratorMixin:
    """Teacher-forced loss, evaluation and decoding, shared by both encoder–decoder models.

    A subclass provides ``start(batch) -> DecoderState``, ``embed_targets(ids, state)``,
    ``output_log_probs(o, state)``, ``gold(batch) -> (inputs, outputs)``, ``decoder``,
    ``dropout``, ``bos`` and ``eos``.
    """

    METRICS = ("sequence_accuracy", "loss", "token_accuracy")
    pointing = False  # a pointer output (Seq2Seq may set it)
    #: probability of feeding the gold token while training; below 1 the Trainer's scheduled
    #: sampling (Bengio et al. 2015) feeds the model's own sampled token otherwise
    teacher_prob: float = 1.0

    def forward(self, batch: Any) -> tuple[Tensor, Tensor]:
        """Teacher forcing: log-probabilities (B, T+1, V) and the gold outputs (B, T+1)."""
        state = self.start(batch)
        inputs, outputs = self.gold(batch)
        if self.training and self.teacher_prob < 1.0:
            log_probs, _ = scheduled_sampling_forward(
                self.decode_step, inputs, state, self.teacher_prob
            )
            return log_probs, outputs
        x = self.dropout(self.embed_targets(inputs, state))  # (B, T+1, E)
        o, _ = self.decoder.rnn(x, state.cell)  # (B, T+1, H)
        return self.output_log_probs(self.dropout(o), state, inputs), outputs

    def loss(self, batch: Any) -> tuple[Tensor, dict[str, Any]]:
        """Mean negative log-likelihood per target token (the end token included)."""
        log_probs, gold = self(batch)
        loss = F.nll_loss(log_probs.flatten(0, 1), gold.flatten(), ignore_index=IGNORE)
        return loss, {"tokens": int((gold != IGNORE).sum())}

    def decode_step(self, tokens: Tensor, state: DecoderState) -> tuple[Tensor, DecoderState]:
        """The :mod:`rnnkit.decoding` step: tokens (N,) -> log-probabilities (N, V), state.

        The same step as teacher forcing's (dropout included in training mode), so scheduled
        sampling can unroll it too.
        """
        state = self.fed_back(tokens, state)
        x = self.dropout(self.embed_targets(tokens[:, None], state)[:, 0])  # (N, E)
        o, cell = self.decoder.cell(x, state.cell)
        log_probs = self.output_log_probs(self.dropout(o)[:, None], state)[:, 0]
        pointed = log_probs[:, 1:].exp() if state.inputs is not None else None
        return log_probs, state._replace(cell=cell, pointed=pointed)

    def fed_back(self, tokens: Tensor, state: DecoderState) -> DecoderState:
        """The state once ``tokens`` (N,) are read (a model may note what was emitted)."""
        return state

    def attention_of(self, state: DecoderState) -> Tensor:
        """Where the last step looked (N, S): the pointer's distribution, else the attention."""
        return state.pointed if state.pointed is not None else state.cell.weights

    @torch.no_grad()
    def generate(
        self,
        batch: Any,
        *,
        method: str = "greedy",
        max_length: int,
        beam_size: int = 5,
        n_best: int = 1,
        **options: Any,
    ) -> list[list[Hypothesis]]:
        """Decode a batch: ``method`` greedy, sample or beam; n-best lists, best first."""
        state = self.start(batch).shared()  # the memory once per example, not per hypothesis
        common = dict(batch_size=len(batch), bos=self.bos, eos=self.eos, max_length=max_length)
        if self.decoder.attends or self.pointing:
            common["attention"] = self.attention_of
        if method == "beam":
            return beam_search(self.decode_step, state, beam_size=beam_size, n_best=n_best,
                               **common, **options)  # fmt: skip
        decode = {"greedy": greedy, "sample": sample}.get(method)
        if decode is None:
            raise ValueError(f"method must be greedy, sample or beam, got {method!r}")
        return [[h] for h in decode(self.decode_step, state, **common, **options)]

    @torch.no_grad()
    def evaluate(self, batches: Iterable[Any]) -> dict[str, float]:
        """Greedy exact-sequence accuracy, and teacher-forced loss and token accuracy."""
        was_training = self.training
        self.eval()
        nll = tokens = right_tokens = right_sequences = sequences = 0
        for batch in batches:
            log_probs, gold = self(batch)
            valid = gold != IGNORE
            nll += float(F.nll_loss(log_probs[valid], gold[valid], reduction="sum"))
            tokens += int(valid.sum())
            right_tokens += int((log_probs.argmax(-1).eq(gold) & valid).sum())
            longest = int(batch.target_lengths.max()) + 1
            for hyps, want in zip(
                self.generate(batch, max_length=longest), self.targets(batch), strict=True
            ):
                right_sequences += hyps[0].tokens == want
            sequences += len(batch)
        self.train(was_training)
        return {
            "sequence_accuracy": right_sequences / max(sequences, 1),
            "loss": nll / max(tokens, 1),
            "token_accuracy": right_tokens / max(tokens, 1),
        }

    @staticmethod
    def targets(batch: Any) -> list[list[int]]:
        """Each example's gold target ids, unpadded."""
        rows, lengths = batch.target.tolist(), batch.target_lengths.tolist()
        return [row[:n] for row, n in zip(rows, lengths, strict=True)]

    def teacher_inputs(self, target: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """(B, T) gold ids -> decoder inputs ``[bos, y_1..y_T]`` and outputs ``[y_1..y_T, eos]``."""
        B, T = target.shape
        inputs = torch.cat([target.new_full((B, 1), self.bos), target], 1)  # (B, T+1)
        outputs = torch.cat([target, target.new_full((B, 1), IGNORE)], 1)
        positions = torch.arange(T + 1, device=target.device)
        outputs[positions[None, :] == lengths[:, None]] = self.eos
        outputs[positions[None, :] > lengths[:, None]] = IGNORE
        inputs[positions[None, :] > lengths[:, None]] = self.bos  # never read by the loss
        return inputs, outputs


class Seq2Seq(GeneratorMixin, Pretrained):
    """Encoder–decoder over token sequences; see the module docstring for the equations.

    ``encoder`` (a :class:`~rnnkit.data.pair_batches.PairEncoder`: the vocabularies) and
    ``task`` (JSON facts of the job that trained it, such as the number sorter's range) travel
    with the model into its checkpoint, so :meth:`translate` needs nothing else.
    """

    FORMAT, KIND = FORMAT, "sequence-to-sequence model"
    CONFIG = Seq2SeqConfig

    def __init__(
        self,
        config: Seq2SeqConfig,
        encoder: PairEncoder | None = None,
        *,
        task: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.config, self.encoder = config, encoder
        self.task = dict(task or {})  # what the job needs to know again (e.g. a number range)
        check_input_task(self.task)
        if encoder is not None and encoder.pointer != (config.output == "pointer"):
            raise ValueError("the pair encoder's pointer mode must match config.output")
        E, H = config.embedding_size, config.hidden_size
        self.source_embedding = nn.Embedding(config.source_vocab_size, E, padding_idx=0)
        self.rnn = recurrent_stack(
            config.cell, E, H, num_layers=config.num_layers, bidirectional=config.bidirectional,
            dropout=config.dropout, fused=True,  # an LSTM trains on the fused kernels (FusedLSTM)
        )  # fmt: skip
        memory = H * (2 if config.bidirectional else 1)
        self.bridge = Bridge(memory, H, memory_cell=config.cell == "lstm")
        self.decoder = Decoder(config.cell, E, H, memory_size=memory, attention=config.attention,
                               input_feeding=config.input_feeding)  # fmt: skip
        self.dropout = nn.Dropout(config.dropout)
        self.pointing = config.output == "pointer"
        if self.pointing:
            self.go = nn.Parameter(torch.randn(E) * 0.1)  # the input that says "start"
            self.end = nn.Parameter(torch.randn(memory) * 0.1)  # the key that says "stop"
            self.pointer = Attention(H, memory, kind="additive")
        else:
            self.target_embedding = nn.Embedding(config.target_vocab_size, E)
            self.out = nn.Linear(H, config.target_vocab_size)
        self.bos, self.eos = (0, 0) if self.pointing else (2, 3)

    # -- the model ----------------------------------------------------------------------

    def encode(self, source: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor, Tensor, Any]:
        """Source ids (B, S) -> embeddings, memory (B, S, M), mask (B, S), final encoder state."""
        embedded = self.source_embedding(source)  # (B, S, E)
        memory, final = self.rnn(self.dropout(embedded), lengths=lengths)
        mask = torch.arange(source.shape[1], device=source.device) < lengths[:, None]
        return embedded, memory, mask, final

    def summary(self, final: Any) -> tuple[Tensor, Tensor | None]:
        """The last encoder layer's final h (and c), both directions joined: (B, M)."""
        h, c = final if isinstance(final, tuple) else (final, None)
        dirs = 2 if self.config.bidirectional else 1
        join = lambda s: torch.cat(list(s[-dirs:]), dim=-1)  # noqa: E731
        return join(h), None if c is None else join(c)

    def start(self, batch: PairBatch) -> DecoderState:
        """Encode the source and build the decoder's first state."""
        embedded, memory, mask, final = self.encode(batch.source, batch.source_lengths)
        h, c = self.bridge(*self.summary(final))
        cell = self.decoder.start(h, c, memory, mask)
        if not self.pointing:
            return DecoderState(cell)
        B = memory.shape[0]
        inputs = torch.cat([self.go.expand(B, 1, -1), embedded], 1)  # (B, S+1, E)
        keys = self.pointer.prepare(torch.cat([self.end.expand(B, 1, -1), memory], 1))
        return DecoderState(cell, inputs, keys, F.pad(mask, (1, 0), value=True))

    def embed_targets(self, ids: Tensor, state: DecoderState) -> Tensor:
        """(B, T) target ids -> (B, T, E): embeddings, or the pointed-at source embeddings."""
        if not self.pointing:
            return self.target_embedding(ids)
        inputs = state.inputs
        if isinstance(inputs, PerExample):  # (B', S+1, E): each example's K rows gather at once
            picked = inputs.grouped(ids).flatten(1)  # (B', K*T)
            E = inputs.tensor.shape[-1]
            return inputs.tensor.gather(1, picked[..., None].expand(-1, -1, E)).view(*ids.shape, E)
        E = inputs.shape[-1]
        return inputs.gather(1, ids[..., None].expand(-1, -1, E))

    def output_log_probs(
        self, o: Tensor, state: DecoderState, inputs: Tensor | None = None
    ) -> Tensor:
        """(B, T, H) decoder outputs -> (B, T, V) log-probabilities (V = S+1 for a pointer).

        ``inputs`` (B, T): the tokens fed at each step when teacher forcing (a pointer that
        points once masks the positions fed so far); None when decoding step by step.
        """
        if not self.pointing:
            return self.out(o).log_softmax(-1)
        if isinstance(state.keys, PerExample):
            return self.point_shared(o, state)
        scores = self.pointer.scores(o, state.keys)  # (B, T, S+1)
        allowed = self.pointable(state.mask, inputs)
        return scores.masked_fill(~allowed, float("-inf")).log_softmax(-1)

    def point_shared(self, o: Tensor, state: DecoderState) -> Tensor:
        """One decoding step's (N, 1, H) outputs -> (N, 1, S+1), with the keys held per example.

        Each example's K rows score at once against its keys (B', S+1, A); the mask is held per
        example, or by row once a pointer that points once has struck positions.
        """
        keys, mask = state.keys, state.mask
        scores = self.pointer.scores(keys.grouped(o[:, 0]), keys.tensor)  # (B', K, S+1)
        allowed = mask.tensor[:, None] if isinstance(mask, PerExample) else keys.grouped(mask)
        log_probs = scores.masked_fill(~allowed, float("-inf")).log_softmax(-1)
        return log_probs.flatten(0, 1)[:, None]  # (N, 1, S+1)

    def pointable(self, mask: Tensor, inputs: Tensor | None) -> Tensor:
        """Positions each step may point at: (B, T, S+1), or (B, 1, S+1) without ``inputs``."""
        if inputs is None or not self.config.pointer_once:
            return mask[:, None]
        used = F.one_hot(inputs, mask.shape[1]).cumsum(1) > 0  # (B, T, S+1): fed up to t
        used[..., 0] = False  # the end is never used up
        return mask[:, None] & ~used

    def fed_back(self, tokens: Tensor, state: DecoderState) -> DecoderState:
        """A pointer that points once strikes the position just fed from its mask."""
        if not (self.pointing and self.config.pointer_once):
            return state
        mask = as_rows(state.mask)  # (N, S+1): each row strikes its own positions
        hit = F.one_hot(tokens, mask.shape[1]).bool() & (tokens > 0)[:, None]
        return state._replace(mask=mask & ~hit)

    def gold(self, batch: PairBatch) -> tuple[Tensor, Tensor]:
        return self.teacher_inputs(batch.target, batch.target_lengths)

    # -- prediction ---------------------------------------------------------------------

    def batches(self, sources: Sequence[Sequence[str]], batch_size: int) -> Iterable[PairBatch]:
        if self.encoder is None:
            raise CheckpointError("this model has no vocabularies (pair encoder)")
        for lo in range(0, len(sources), batch_size):
            order = list(range(lo, min(lo + batch_size, len(sources))))
            yield self.encoder.batch(sources, None, order)

    def read_input(self, text: str) -> tuple[str, ...]:
        """A user's input -> source tokens, split as the model was trained (every entry point
        reads input through here, so a sorter gets numbers wherever it is asked).

        Raises:
            ValueError: one line, for a sorter's word that is not an integer in its range.
        """
        tokens = input_tokens(self.task)
        if tokens != "numbers":
            return split_tokens(text, tokens)
        numbers = parse_numbers(text.split(), low=self.task["low"], high=self.task["high"])
        return tuple(map(str, numbers))  # written as in training: "+07" is "7"

    def unknown_tokens(self, sources: Sequence[Sequence[str]]) -> int:
        """How many source tokens are not in the source vocabulary (they read as ``<unk>``)."""
        known = self.encoder.source.stoi
        return sum(t not in known for tokens in sources for t in tokens)

    @torch.no_grad()
    def translate(
        self,
        sources: Sequence[Sequence[str]],
        *,
        method: str = "greedy",
        beam_size: int = 5,
        n_best: int = 1,
        max_length: int | None = None,
        batch_size: int = 64,
        **options: Any,
    ) -> list[list[Translation]]:
        """The n-best target tokens of each source (lists of tokens), best first.

        ``max_length`` defaults to twice the longest source plus 10 tokens; ``options`` go to
        the decoder (``length_penalty``, ``alpha``, ``min_length``, ``no_repeat_ngram``,
        ``temperature``, ``top_k``, ``top_p``, ``generator``).
        """
        was_training = self.training
        self.eval()
        if max_length is None:
            max_length = 2 * max((len(s) for s in sources), default=1) + 10
        result: list[list[Translation]] = []
        for batch in self.batches(sources, batch_size):
            hyps = self.generate(batch, method=method, max_length=max_length,
                                 beam_size=beam_size, n_best=n_best, **options)  # fmt: skip
            for i, nbest in zip(batch.index.tolist(), hyps, strict=True):
                result.append([self.translation(sources[i], h) for h in nbest])
        self.train(was_training)
        return result

    def translation(self, source: Sequence[str], hyp: Hypothesis) -> Translation:
        tokens = self.encoder.decode(source, hyp.tokens)
        weights = None if hyp.attention is None else hyp.attention[:, : max(len(source), 1)]
        return Translation(tokens, hyp.score, hyp.log_prob, weights)  # without padding

    # -- checkpoints --------------------------------------------------------------------

    def extras_problem(self) -> str | None:
        if self.encoder is None:
            return None
        config, encoder = self.config, self.encoder
        if (encoder.target is None) != (config.output == "pointer"):
            found = "null" if encoder.target is None else "a vocabulary"
            return f"field encoder.target: {found} does not fit model.output {config.output!r}"
        problem = size_problem("encoder.source", len(encoder.source), "tokens",
                               "source_vocab_size", config.source_vocab_size)  # fmt: skip
        if problem is None and encoder.target is not None:
            problem = size_problem("encoder.target", len(encoder.target), "tokens",
                                   "target_vocab_size", config.target_vocab_size)  # fmt: skip
        return problem

    def checkpoint_extras(self) -> dict[str, Any]:
        extras: dict[str, Any] = {"task": self.task}
        if self.encoder is not None:
            extras["encoder"] = self.encoder.to_dict()
        return extras

    @classmethod
    def from_checkpoint_config(cls, raw: dict[str, Any]) -> Seq2Seq:
        encoder = PairEncoder.from_dict(raw["encoder"]) if "encoder" in raw else None
        return cls(Seq2SeqConfig(**raw["model"]), encoder, task=raw.get("task"))
