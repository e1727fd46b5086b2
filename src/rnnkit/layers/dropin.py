"""The machinery behind the drop-ins: torch's parameters, the native kernel or rnnkit's loop."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from rnnkit.cells.base import RecurrentCell
from rnnkit.cells.state import map_state
from rnnkit.checks import check_bool, check_choice, check_range
from rnnkit.layers.bidirectional import MERGES, Bidirectional
from rnnkit.layers.fused.checkpoint import check_checkpoint_every
from rnnkit.layers.lengths import check_lengths, repack, unpack
from rnnkit.layers.pickling import reduce_drop_in
from rnnkit.layers.recurrent import Recurrent
from rnnkit.layers.stacked import Stacked
from rnnkit.layers.torch_layout import join_hidden, layer_directions, split_hidden, suffix
from rnnkit.regularizers import RecurrentDropout, VariationalDropout, WeightDrop, Zoneout

CellFactory = Callable[[int, int], RecurrentCell]


def _check_zoneout(value: float | tuple[float, float], has_c: bool) -> tuple[float, float]:
    """``zoneout=p`` or ``(p_h, p_c)`` -> (p_h, p_c)."""
    if isinstance(value, tuple) and has_c and len(value) == 2:
        p, p_c = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        p = p_c = value
    else:
        valid = "a probability or a pair (p_h, p_c)" if has_c else "a probability"
        raise ValueError(f"zoneout must be {valid}, got {value!r}")
    return check_range("zoneout", p, 0.0, 1.0), check_range("zoneout", p_c, 0.0, 1.0)


@contextmanager
def _private_stream() -> Iterator[None]:
    """Leave torch's global CPU stream as it was, so a drop-in consumes it as ``torch.nn`` does.

    Inside, the stream is reseeded from a hash of its current state: the cells' extra tensors
    are seeded and deterministic, yet not the numbers the next module will draw.
    """
    state = torch.get_rng_state()
    seed = int.from_bytes(hashlib.blake2b(state.numpy().tobytes(), digest_size=8).digest())
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed >> 1)  # manual_seed takes < 2**63
        yield


class DropIn:
    """Mixin for a ``torch.nn.RNNBase`` subclass: rnnkit's extras on torch's parameters.

    The module keeps torch's constructor arguments, parameters, state dict and return
    values (``(h_n, c_n)`` layout, PackedSequence in -> PackedSequence out). Extra
    keyword options, all off by default:

    - ``cell``: an rnnkit cell class or factory ``(input_size, hidden_size) -> cell`` used
      for every layer and direction (e.g. ``LayerNormLSTMCell``, or
      ``functools.partial(GRUCell, reset_after=False)``).
    - ``zoneout``: probability of keeping each unit of h (and, for the LSTM, of c; a pair
      ``(p_h, p_c)`` sets them apart) at every step (:class:`Zoneout`).
    - ``recurrent_dropout``: dropout on the candidate, one mask per sequence
      (:class:`RecurrentDropout`).
    - ``variational_dropout``: one mask per sequence on every layer's input and on the
      recurrent h (:class:`VariationalDropout`); the last layer's output is not dropped
      (torch's ``dropout`` still acts between layers).
    - ``weight_drop``: DropConnect on every ``weight_hh*``, one mask per batch
      (:class:`WeightDrop`).
    - ``residual``: add each layer's input to its output from the second layer on.
    - ``merge``: ``"concat"``, ``"sum"``, ``"mean"`` or ``"mul"``: how the two directions
      of every layer combine (bidirectional only). With a non-concat merge the layers above
      the first take H inputs, so their ``weight_ih_l{k}*`` are (G, H), not torch's (G, 2H).
    - ``force_generic``: run rnnkit's loop even where the native kernel could.
    - ``checkpoint_every``: K, gradient checkpointing over time in every layer (see
      :class:`Recurrent`); takes the generic path whenever gradients are recorded.
    - ``fused``: train on rnnkit's fused CPU kernel (one autograd Function over the whole
      sequence, batched backward) instead of torch's. The same values to float rounding,
      not bit for bit, so it is an explicit opt-in: by default a drop-in given only torch's
      options runs torch's kernel and trains bit for bit as the torch module would. The
      Elman RNN has no fused kernel (``fused=True`` is refused there), nor has
      ``proj_size``.

    ``forward(input, hx=None, *, lengths=None)``: ``lengths`` (B,) makes a padded input
    behave like a packed one (output zero past each length, final state each sequence's own).

    Which path runs: with no extra, torch's ``forward`` (the native kernel); ``weight_drop``
    alone stays native (the dropped weights are handed to the kernel);
    ``recurrent_dropout``/``variational_dropout`` take the generic path in training only
    (they are the identity in eval); ``cell``, ``zoneout``, ``residual``, ``merge`` and
    ``force_generic`` always take it. ``fused=True`` (and :class:`FusedLSTM`) takes the
    generic path, with its fused kernel, for CPU inputs whenever gradients are recorded,
    even without extras; inference and CUDA stay native. ``proj_size`` works only on the
    native path. The generic path is a :class:`Stacked` of :class:`Recurrent` /
    :class:`Bidirectional` layers over template cells that own no tensors: at each call they
    get this module's parameters through ``torch.func.functional_call`` (the same tensors, no
    copies).

    State dict: the cell parameter (or buffer) ``name`` of layer k, direction d is stored
    here as ``{name with '.' -> '_'}_l{k}`` (``+ '_reverse'`` for d = 1: torch's rule,
    :func:`~rnnkit.layers.torch_layout.suffix`), so the default cells use exactly torch's
    keys (``weight_ih_l0``, ``bias_hh_l1_reverse``, ...): a model trained with any
    regularizer loads into ``torch.nn.LSTM``. A ``cell`` adds its own keys
    (``LayerNormLSTMCell``: ``bias_l0``, ``norm_ih_weight_l0``, ``norm_hh_bias_l0``, ...),
    and torch's parameters that the cell lacks are removed.

    In third-party code: construction draws from torch's global random stream exactly what
    the torch.nn module draws (rnnkit's own tensors come from a private stream seeded from
    it). Pickling (``torch.save(model)``, see :mod:`rnnkit.layers.pickling`): a drop-in given
    only torch's options pickles as the torch class it stands for, so a script that
    allow-lists ``torch.nn.LSTM``/``GRU``/``RNN`` for weights-only ``torch.load`` loads it;
    what comes back is that torch module (same weights and numbers), without rnnkit's class
    and ``forward(..., lengths=)``. With any rnnkit option (``fused``, ``weight_drop``,
    ``zoneout``, ``cell``, ...) it pickles as itself and keeps every option; a weights-only
    load then needs ``rnnkit.safe_globals()``. ``copy.deepcopy`` always keeps the class.
    """

    #: Train on the fused kernel without being asked (:class:`FusedLSTM`); else ``fused=True``.
    prefer_fused_on_cpu: bool = False
    # What a drop-in pickled before ``fused`` existed lacks: torch's kernel, its own class.
    fused: bool = False
    _torch_only: bool = False
    _rnnkit_attributes: tuple[str, ...] = ()

    def __init__(
        self,
        *args: Any,
        cell: CellFactory | None = None,
        zoneout: float | tuple[float, float] = 0.0,
        recurrent_dropout: float = 0.0,
        variational_dropout: float = 0.0,
        weight_drop: float = 0.0,
        residual: bool = False,
        merge: str = "concat",
        force_generic: bool = False,
        checkpoint_every: int | None = None,
        fused: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        torchs = set(self.__dict__)  # what a pickle standing in for the torch class keeps
        self.__dict__["_template"] = None  # unregistered: no second copy in state_dict
        if cell is not None and not callable(cell):
            raise ValueError(f"cell must be a RecurrentCell class or factory, got {cell!r}")
        self.zoneout = _check_zoneout(zoneout, self.mode == "LSTM")
        self.recurrent_dropout = check_range("recurrent_dropout", recurrent_dropout, 0.0, 1.0)
        self.variational_dropout = check_range("variational_dropout", variational_dropout, 0.0, 1.0)
        self.residual = check_bool("residual", residual)
        self.merge = check_choice("merge", merge, MERGES)
        self.force_generic = check_bool("force_generic", force_generic)
        self.checkpoint_every = check_checkpoint_every(checkpoint_every)
        weight_drop = check_range("weight_drop", weight_drop, 0.0, 1.0)
        self.weight_drop = WeightDrop(weight_drop) if weight_drop else None
        if merge != "concat" and not self.bidirectional:
            raise ValueError(f"merge={merge!r} needs bidirectional=True")
        if cell is None and self.recurrent_dropout and self.mode.startswith("RNN"):
            raise ValueError("the Elman RNN has no candidate: recurrent_dropout does not apply")
        self.cell_factory = cell
        self._structural = bool(
            force_generic or cell or any(self.zoneout) or residual or merge != "concat"
        )
        self._train_only = bool(self.recurrent_dropout or self.variational_dropout)
        self._torch_layout = True
        self.fused = self._check_fused(check_bool("fused", fused))
        generic = bool(self._structural or self._train_only or self.checkpoint_every)
        if generic and self.proj_size > 0:
            raise ValueError(
                f"proj_size={self.proj_size} runs only on the native kernel; drop the "
                "options that need rnnkit's loop (cell, zoneout, dropouts, residual, "
                "merge, checkpoint_every)"
            )
        self._torch_only = not (generic or self.fused or self.weight_drop is not None)
        if self.proj_size == 0 and (generic or self.fused):
            with _private_stream():  # torch's __init__ alone draws from the global stream
                self._build(kwargs.get("device"), kwargs.get("dtype"))
        own = [name for name in self.__dict__ if name not in torchs]
        self.__dict__["_rnnkit_attributes"] = (*own, "_rnnkit_attributes")  # a tuple pickles

    def _check_fused(self, fused: bool) -> bool:
        """``fused`` or the class's default; refused where no fused kernel would run."""
        if fused and self.cell_factory is None and self.mode.startswith("RNN"):
            raise ValueError(
                "fused=True: rnnkit has no fused kernel for the Elman RNN; torch's native "
                "kernel (the default) is its fast path"
            )
        if fused and self.proj_size > 0:
            raise ValueError(f"fused=True needs proj_size=0, got proj_size={self.proj_size}")
        return fused or self.prefer_fused_on_cpu

    # ----- construction of the generic path -----

    def _default_cell(self, input_size: int) -> RecurrentCell:
        raise NotImplementedError

    def _make_cell(self, input_size: int) -> RecurrentCell:
        if self.cell_factory is None:
            return self._default_cell(input_size)
        made = self.cell_factory(input_size, self.hidden_size)
        if not isinstance(made, RecurrentCell) or made.hidden_size != self.hidden_size:
            raise ValueError(
                f"cell(input_size, hidden_size) must build a RecurrentCell with hidden_size="
                f"{self.hidden_size}, got {made!r}"
            )
        state = made.initial_state(1)
        if self.mode == "LSTM" and (isinstance(state, Tensor) or len(state) < 2):
            raise ValueError(
                f"the LSTM drop-in needs a cell with an (h, c) state; {type(made).__name__} "
                "has a single tensor: use rnnkit.GRU or rnnkit.RNN with it"
            )
        return made

    def _recurrent(self, input_size: int, reverse: bool) -> Recurrent:
        vd, (p_h, p_c) = self.variational_dropout, self.zoneout
        return Recurrent(
            self._make_cell(input_size),
            reverse=reverse,
            input_dropout=VariationalDropout(vd) if vd else None,
            state_dropout=VariationalDropout(vd) if vd else None,
            recurrent_dropout=RecurrentDropout(self.recurrent_dropout)
            if self.recurrent_dropout
            else None,
            zoneout=Zoneout(p_h, p_c=p_c) if p_h or p_c else None,
            checkpoint_every=self.checkpoint_every,
        )

    def _build(self, device: Any, dtype: Any) -> None:
        H = self.hidden_size
        between = 2 * H if self.bidirectional and self.merge == "concat" else H
        layers = []
        for k in range(self.num_layers):
            size = self.input_size if k == 0 else between
            layer = self._recurrent(size, reverse=False)
            if self.bidirectional:
                layer = Bidirectional(layer, self._recurrent(size, True), merge=self.merge)
            layers.append(layer)
        template = Stacked(layers, dropout=float(self.dropout), residual=self.residual)
        template.train(self.training)
        self.__dict__["_template"] = template
        self._adopt(device, dtype)

    def _cells(self) -> list[tuple[str, RecurrentCell, str]]:
        """(path in the template, cell, torch's name suffix) for every layer and direction."""
        out = []
        for k, d in layer_directions(self.num_layers, self.bidirectional):
            side = ("forward_layer.", "backward_layer.")[d] if self.bidirectional else ""
            path = f"layers.{k}.{side}cell"
            out.append((path, self._template.get_submodule(path), suffix(k, d)))
        return out

    def _adopt(self, device: Any, dtype: Any) -> None:
        """Register the template cells' tensors here (torch's where they fit) and empty them."""
        self._tensor_map: list[tuple[str, str]] = []  # (path in the template, name here)
        used = set()
        for path, cell, sfx in self._cells():
            for name, param in list(cell.named_parameters()):
                own = name.replace(".", "_") + sfx
                mine = self._parameters.get(own)
                if mine is None or mine.shape != param.shape:
                    setattr(self, own, nn.Parameter(param.detach().to(device=device, dtype=dtype)))
                    self._torch_layout = False
                self._tensor_map.append((f"{path}.{name}", own))
                used.add(own)
            for name, buffer in list(cell.named_buffers()):
                owner, _, leaf = name.rpartition(".")
                persistent = leaf not in cell.get_submodule(owner)._non_persistent_buffers_set
                own = name.replace(".", "_") + sfx
                if own in self._parameters:  # a fixed tensor here (EchoStateCell's weight_ih)
                    delattr(self, own)
                    self._torch_layout = False
                self.register_buffer(own, buffer.to(device=device), persistent=persistent)
                self._tensor_map.append((f"{path}.{name}", own))
        for own in [n for n in self._parameters if n not in used]:
            delattr(self, own)  # torch's parameters the cells do not have
            self._torch_layout = False
        for path, _ in self._tensor_map:
            owner, _, leaf = path.rpartition(".")
            module = self._template.get_submodule(owner)
            table = module._parameters if leaf in module._parameters else module._buffers
            table[leaf] = None
        self._init_flat_weights()

    def flatten_parameters(self) -> None:
        """torch's cuDNN flattening, when the parameters are still torch's layout."""
        if self.__dict__.get("_torch_layout", True):  # called by torch's __init__ too
            super().flatten_parameters()

    # ----- pickling and copies (rnnkit.layers.pickling) -----

    def __reduce_ex__(self, protocol: Any) -> Any:
        """As the torch class when only torch's options are set, else as this class."""
        return reduce_drop_in(self, protocol)

    def __deepcopy__(self, memo: dict) -> DropIn:
        """A copy of this class, options included: only a pickle stands in for torch's."""
        copied = type(self).__new__(type(self))
        memo[id(self)] = copied
        copied.__setstate__(copy.deepcopy(self.__getstate__(), memo))
        return copied

    def __copy__(self) -> DropIn:
        copied = type(self).__new__(type(self))
        copied.__setstate__(self.__getstate__())
        return copied

    def train(self, mode: bool = True) -> DropIn:
        super().train(mode)
        if self._template is not None:
            self._template.train(mode)
        return self

    # ----- forward -----

    def forward(
        self, input: Tensor | PackedSequence, hx: Any = None, *, lengths: Any = None
    ) -> tuple[Tensor | PackedSequence, Any]:
        """torch's forward, plus ``lengths`` (B,) for a padded input (output zero past them)."""
        if isinstance(input, PackedSequence) and lengths is not None:
            raise ValueError("pass lengths or a PackedSequence, not both")
        if self._generic_now() or self._fused_now(input):
            return self._generic_forward(input, hx, lengths)
        return self._native_forward(input, hx, lengths)

    def _generic_now(self) -> bool:
        """Whether this call takes rnnkit's loop (dropouts alone are off in eval)."""
        if self._template is None:
            return False
        checkpointing = bool(self.checkpoint_every) and torch.is_grad_enabled()
        return self._structural or (self.training and self._train_only) or checkpointing

    def _fused_now(self, input: Tensor | PackedSequence) -> bool:
        """Whether the generic path runs because its fused kernel beats the native one here.

        Only when gradients are recorded: the fused kernel wins by its batched backward; a
        forward pass alone is as fast or faster on the native kernel.
        """
        if not (self.fused and self._template is not None):
            return False
        data = input.data if isinstance(input, PackedSequence) else input
        return data.is_cpu and torch.is_grad_enabled()

    def _native_forward(self, input: Any, hx: Any, lengths: Any) -> tuple[Any, Any]:
        dropping = nullcontext()
        if self.weight_drop is not None:
            self.weight_drop.reset()  # one mask per batch
            dropping = self.weight_drop.applied(self)
        with dropping:
            if lengths is None:
                return super().forward(input, hx)
            t_dim, b_dim = (1, 0) if self.batch_first else (0, 1)
            T = input.shape[t_dim]
            lengths = check_lengths(lengths, T, input.shape[b_dim], torch.device("cpu"))
            packed = pack_padded_sequence(
                input, lengths, batch_first=self.batch_first, enforce_sorted=False
            )
            output, hidden = super().forward(packed, hx)
            output, _ = pad_packed_sequence(output, self.batch_first, total_length=T)
            return output, hidden

    def _generic_forward(self, input: Any, hx: Any, lengths: Any) -> tuple[Any, Any]:
        packed = input if isinstance(input, PackedSequence) else None
        batched = packed is not None or input.dim() == 3
        if packed is not None:
            if hx is not None:
                self.check_forward_args(packed.data, hx, packed.batch_sizes)
            x, lengths = unpack(packed)  # (T, B, D)
        else:
            if input.dim() not in (2, 3):
                raise ValueError(f"{self.mode}: expected a 2-D or 3-D input, got {input.dim()}-D")
            if not batched:
                input = input.unsqueeze(0 if self.batch_first else 1)
                hx = None if hx is None else map_state(lambda t: t.unsqueeze(1), hx)
            if hx is not None:
                self.check_forward_args(input, hx, None)
            x = input.transpose(0, 1) if self.batch_first else input  # (T, B, D)
        cells = [cell for _, cell, _ in self._cells()]
        state = None if hx is None else split_hidden(hx, cells, bidirectional=self.bidirectional)
        output, finals = functional_call(
            self._template, self._tensors(), (x, state), {"lengths": lengths}
        )
        hidden = join_hidden(finals, lstm=self.mode == "LSTM", bidirectional=self.bidirectional)
        if packed is not None:
            return repack(output, lengths, packed), hidden
        if self.batch_first:
            output = output.transpose(0, 1)
        if not batched:
            output = output.squeeze(0 if self.batch_first else 1)
            hidden = map_state(lambda t: t.squeeze(1), hidden)
        return output, hidden

    def _tensors(self) -> dict[str, Tensor]:
        """This module's tensors under the template's names (recurrent weights dropped)."""
        dropped = {}
        if self.weight_drop is not None:
            self.weight_drop.reset()  # one mask per batch
            dropped = self.weight_drop.dropped(self)
        return {path: dropped.get(own, getattr(self, own)) for path, own in self._tensor_map}

    def extra_repr(self) -> str:
        extras = [super().extra_repr()]
        if self.cell_factory is not None:
            extras.append(f"cell={getattr(self.cell_factory, '__name__', self.cell_factory)}")
        names = ("recurrent_dropout", "variational_dropout", "residual", "force_generic", "fused")
        for name in names:
            if getattr(self, name):
                extras.append(f"{name}={getattr(self, name)}")
        if any(self.zoneout):
            extras.append(f"zoneout={self.zoneout}")
        if self.merge != "concat":
            extras.append(f"merge={self.merge!r}")
        return ", ".join(extras)
