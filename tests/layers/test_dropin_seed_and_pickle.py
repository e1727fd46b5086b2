"""Drop-ins inside other people's code: torch's random stream, and whole-model pickling.

A seeded script that swaps ``torch.nn.GRU`` for ``rnnkit.GRU`` must draw the same numbers
afterwards: constructing a drop-in consumes the global stream exactly as torch.nn does. A
script that ``torch.save``s the whole model must load it back with weights-only
``torch.load``: a drop-in given only torch's options as the torch module it stands for, under
the allow-list of torch classes a script already has; one with rnnkit's options as itself,
given ``rnnkit.safe_globals()``.
"""

from __future__ import annotations

import copy
import functools
import inspect
import io
import pickle

import pytest
import torch
from torch import nn
from torch.testing import assert_close

import rnnkit
import rnnkit.cells
from rnnkit.cells import (
    GRUCell,
    LayerNormLSTMCell,
    PeepholeLSTMCell,
    PhasedLSTMCell,
    RecurrentCell,
)
from rnnkit.layers import FusedLSTM

D, H = 3, 4
TORCH_ARGS = {"num_layers", "bidirectional", "batch_first", "dropout", "bias", "proj_size"}
TORCH_ARGS |= {"nonlinearity"}

COMMON = {
    "plain": {},
    "2 layers bi": {"num_layers": 2, "bidirectional": True},
    "no bias": {"bias": False, "num_layers": 2},
    "batch_first dropout": {"batch_first": True, "dropout": 0.3, "num_layers": 2},
    "zoneout": {"zoneout": 0.1},
    "weight_drop": {"weight_drop": 0.3, "num_layers": 2},
    "variational": {"variational_dropout": 0.2, "num_layers": 2},
    "residual merge": {"num_layers": 2, "bidirectional": True, "merge": "sum", "residual": True},
    "force_generic": {"force_generic": True, "num_layers": 3},
    "checkpoint_every": {"checkpoint_every": 2},
}
EXTRA = {
    "LSTM": {
        "proj_size": {"proj_size": 2, "num_layers": 2},
        "recurrent_dropout": {"recurrent_dropout": 0.2},
        "zoneout pair": {"zoneout": (0.1, 0.3), "bidirectional": True},
        "layer_norm cell": {"cell": LayerNormLSTMCell, "num_layers": 2},
        "peephole cell": {"cell": PeepholeLSTMCell, "bidirectional": True},
    },
    "GRU": {
        "recurrent_dropout": {"recurrent_dropout": 0.2},
        "reset before": {"cell": functools.partial(GRUCell, reset_after=False)},
    },
    "RNN": {"relu": {"nonlinearity": "relu", "num_layers": 2}},
}
CASES = [(kind, name) for kind in ("LSTM", "GRU", "RNN") for name in [*COMMON, *EXTRA[kind]]]


def options(kind: str, name: str) -> dict:
    return {**COMMON, **EXTRA[kind]}[name]


def seeded(make):
    """(module, the next torch.rand(5)) after ``torch.manual_seed(0); make()``."""
    torch.manual_seed(0)
    module = make()
    return module, torch.rand(5)


@pytest.mark.filterwarnings("ignore:LSTM with projections")
@pytest.mark.parametrize(("kind", "name"), CASES, ids=[f"{k}-{n}" for k, n in CASES])
def test_construction_consumes_the_stream_as_torch_does(kind, name):
    kw = options(kind, name)
    torch_kw = {k: v for k, v in kw.items() if k in TORCH_ARGS}
    twin, after_twin = seeded(lambda: getattr(nn, kind)(D, H, **torch_kw))
    mine, after_mine = seeded(lambda: getattr(rnnkit, kind)(D, H, **kw))
    assert torch.equal(after_mine, after_twin)
    ours, theirs = mine.state_dict(), twin.state_dict()
    shared = [k for k in theirs if k in ours and ours[k].shape == theirs[k].shape]
    assert len(shared) >= len(theirs) // 2  # a cell or merge may replace some of torch's
    for key in shared:
        assert torch.equal(ours[key], theirs[key]), key


def test_fused_lstm_consumes_the_stream_as_torch_lstm():
    twin, after_twin = seeded(lambda: nn.LSTM(D, H, 2, bidirectional=True))
    mine, after_mine = seeded(lambda: FusedLSTM(D, H, 2, bidirectional=True))
    assert torch.equal(after_mine, after_twin)
    assert all(torch.equal(mine.state_dict()[k], v) for k, v in twin.state_dict().items())


def test_tensors_torch_lacks_are_seeded_too():
    """A merge="sum" layer's (4H, H) weight_ih_l1 is not torch's: it follows the seed alone."""

    def weight(seed: int) -> torch.Tensor:
        torch.manual_seed(seed)
        lstm = rnnkit.LSTM(D, H, num_layers=2, bidirectional=True, merge="sum")
        return lstm.weight_ih_l1.detach()

    assert weight(0).shape == (4 * H, H)
    assert torch.equal(weight(0), weight(0))
    assert not torch.allclose(weight(0), weight(1))


def roundtrip(module: nn.Module, *, trusted: list | None = None) -> nn.Module:
    """``torch.save`` the whole module, then weights-only ``torch.load`` it."""
    buffer = io.BytesIO()
    torch.save(module, buffer)
    buffer.seek(0)
    with torch.serialization.safe_globals(rnnkit.safe_globals() if trusted is None else trusted):
        return torch.load(buffer, weights_only=True)


@pytest.mark.filterwarnings("ignore:LSTM with projections")
@pytest.mark.parametrize(("kind", "name"), CASES, ids=[f"{k}-{n}" for k, n in CASES])
def test_whole_module_survives_a_weights_only_load(kind, name):
    module = getattr(rnnkit, kind)(D, H, **options(kind, name))
    loaded = roundtrip(module)
    torch_only = set(options(kind, name)) <= TORCH_ARGS
    assert type(loaded) is (getattr(nn, kind) if torch_only else type(module))
    assert loaded.state_dict().keys() == module.state_dict().keys()
    for key, value in module.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    x = torch.randn(2, 5, D)
    for mode in (False, True):  # eval, then training with its dropouts under one seed
        module.train(mode), loaded.train(mode)
        torch.manual_seed(1)
        want = module(x)
        torch.manual_seed(1)
        assert_close(loaded(x), want, rtol=0, atol=0)


def test_loading_without_the_list_is_refused_by_torch():
    """With an rnnkit option the list is needed: torch rejects the drop-in's class by name."""
    with pytest.raises(pickle.UnpicklingError, match="rnnkit.layers.rnn.LSTM"):
        roundtrip(rnnkit.LSTM(D, H, zoneout=0.1), trusted=[nn.LSTM])
    with pytest.raises(pickle.UnpicklingError, match="rnnkit.layers.rnn.GRU"):
        roundtrip(rnnkit.GRU(D, H, fused=True), trusted=[nn.GRU])
    with pytest.raises(pickle.UnpicklingError, match="torch.nn.modules.rnn.LSTM"):
        roundtrip(rnnkit.LSTM(D, H), trusted=[])  # torch's own class still needs listing


#: torch's options only: each drop-in must pickle as exactly what torch.nn pickles
TORCH_ONLY = [
    ("LSTM", {"num_layers": 2, "bidirectional": True, "dropout": 0.3}),
    ("LSTM", {"proj_size": 2, "batch_first": True}),
    ("GRU", {"num_layers": 2, "bias": False}),
    ("RNN", {"nonlinearity": "relu", "num_layers": 2, "bidirectional": True}),
]


@pytest.mark.parametrize(("kind", "kw"), TORCH_ONLY, ids=[k for k, _ in TORCH_ONLY])
def test_torch_options_only_pickle_as_the_torch_class(kind, kw):
    """Loads under torch's classes alone, with torch's attributes and numbers, no RNG use."""
    torch.manual_seed(3)
    twin = getattr(nn, kind)(D, H, **kw)
    torch.manual_seed(3)
    module = getattr(rnnkit, kind)(D, H, **kw)
    state = torch.random.get_rng_state()
    loaded = roundtrip(module, trusted=[getattr(nn, kind)])
    assert torch.equal(torch.random.get_rng_state(), state)  # loading draws nothing
    assert type(loaded) is getattr(nn, kind)
    assert vars(loaded).keys() == vars(roundtrip(twin, trusted=[getattr(nn, kind)])).keys()
    assert repr(loaded) == repr(twin)
    for key, value in twin.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    assert all(p.device.type == "cpu" for p in loaded.parameters())
    x = torch.randn(5, 2, D)
    torch.manual_seed(4)  # the same dropout draws between layers, in training mode
    want = twin(x)
    loaded.flatten_parameters()  # what scripts do after loading
    torch.manual_seed(4)
    assert_close(loaded(x), want, rtol=0, atol=0)
    assert loaded.weight_hh_l0.requires_grad  # trainable as loaded
    also = pickle.loads(pickle.dumps(module))  # plain pickle (weights_only=False) too
    assert type(also) is getattr(nn, kind)
    torch.manual_seed(4)
    assert_close(also(x), want, rtol=0, atol=0)


@pytest.mark.parametrize(
    "module",
    [rnnkit.GRU(D, H, fused=True), rnnkit.LSTM(D, H, weight_drop=0.5), FusedLSTM(D, H)],
    ids=["fused GRU", "weight_drop", "FusedLSTM"],
)
def test_rnnkit_options_survive_a_round_trip(module):
    loaded = roundtrip(module)
    assert type(loaded) is type(module)
    assert loaded.fused == module.fused
    assert repr(loaded) == repr(module)
    x = torch.randn(5, 2, D, requires_grad=True)
    assert loaded._fused_now(x) == module._fused_now(x)


def test_copies_keep_the_class_and_options():
    """copy.deepcopy and copy.copy are not pickles: they never turn into the torch class."""
    for module in (rnnkit.GRU(D, H), rnnkit.GRU(D, H, fused=True, num_layers=2)):
        clone = copy.deepcopy(module)
        assert type(clone) is rnnkit.GRU and clone.fused == module.fused
        assert clone.weight_hh_l0 is not module.weight_hh_l0
        assert torch.equal(clone.weight_hh_l0, module.weight_hh_l0)
        shallow = copy.copy(module)
        assert type(shallow) is rnnkit.GRU and shallow.weight_hh_l0 is module.weight_hh_l0


def cells_usable_in_drop_ins():
    for name in rnnkit.cells.__all__:
        cls = getattr(rnnkit.cells, name)
        if inspect.isclass(cls) and issubclass(cls, RecurrentCell) and cls is not RecurrentCell:
            try:
                state = cls(D, H).initial_state(1)
            except (TypeError, ValueError, NotImplementedError):
                continue  # needs more than (input_size, hidden_size): not a drop-in cell
            yield name, "GRU" if isinstance(state, torch.Tensor) else "LSTM"


@pytest.mark.parametrize(("name", "kind"), list(cells_usable_in_drop_ins()))
def test_every_cell_a_drop_in_can_take_round_trips(name, kind):
    cls = getattr(rnnkit.cells, name)
    try:
        module = getattr(rnnkit, kind)(D, H, cell=cls, zoneout=0.1, bidirectional=True)
    except ValueError:
        pytest.skip(f"{name} does not fit the {kind} drop-in")
    module.eval()
    loaded = roundtrip(module).eval()
    x = torch.randn(4, 2, D + (cls is PhasedLSTMCell))  # its last column is the time
    assert_close(loaded(x), module(x), rtol=0, atol=0)
