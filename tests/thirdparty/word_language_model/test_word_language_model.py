"""rnnkit's drop-ins swapped into a word_language_model-style script, as a new user would.

The script (``model.py`` beside this file) builds its RNN with ``getattr(nn, rnn_type)``
and initialises its embedding and decoder afterwards from the global random stream, trains
with dropout, clipping and plain SGD, then ``torch.save``s the whole model and loads it
back with weights-only ``torch.load``. After the swap, a seeded run must give the same
losses and weights as with ``torch.nn``, and the saved model must load.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import pytest
import torch
from torch import nn

import rnnkit

V, EMB, BSZ, BPTT = 30, 16, 4, 8
KINDS = [("LSTM", True), ("GRU", False), ("RNN_TANH", False), ("RNN_RELU", False)]


@pytest.fixture
def script(monkeypatch):
    """The script's model module, importable by name (``torch.save`` pickles by reference)."""
    path = Path(__file__).with_name("model.py")
    spec = importlib.util.spec_from_file_location("wlm_model", path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "wlm_model", module)
    spec.loader.exec_module(module)
    return module


def swap_in_rnnkit(script, monkeypatch) -> None:
    """The user's edit: the script's ``nn`` is torch.nn with rnnkit's LSTM, GRU and RNN."""
    swapped = types.SimpleNamespace(**vars(torch.nn))
    swapped.LSTM, swapped.GRU, swapped.RNN = rnnkit.LSTM, rnnkit.GRU, rnnkit.RNN
    monkeypatch.setattr(script, "nn", swapped)


def corpus() -> tuple[torch.Tensor, torch.Tensor]:
    """A tiny synthetic token stream with structure (a noisy counter), train and valid columns."""
    g = torch.Generator().manual_seed(7)
    stream = (torch.arange(300) * 7 + torch.randint(0, 3, (300,), generator=g)) % V
    return script_batchify(stream[:200], BSZ), script_batchify(stream[200:], 2)


def script_batchify(data: torch.Tensor, bsz: int) -> torch.Tensor:
    nbatch = data.size(0) // bsz
    return data[: nbatch * bsz].view(bsz, -1).t().contiguous()


def run(script, rnn_type: str, tied: bool, *, native: bool = False) -> tuple[list, dict, object]:
    """The script's seeded run: build, two epochs, validation loss after each.

    ``native``: an rnnkit.GRU trains on torch's kernel, not its fused one (an instance switch
    set after construction, so construction is exactly what the user's script does).
    """
    torch.manual_seed(1111)
    train, valid = corpus()
    model = script.RNNModel(rnn_type, V, EMB, EMB, 2, dropout=0.2, tie_weights=tied)
    if native:
        model.rnn.prefer_fused_on_cpu = False
    losses = []
    for _ in range(2):
        losses += script.train_epoch(model, train, bptt=BPTT, lr=20.0, clip=0.25)
        losses.append(script.evaluate(model, valid, bptt=BPTT))
    return losses, {k: v.clone() for k, v in model.state_dict().items()}, model


def assert_same_run(got, want) -> None:
    (losses, weights, _), (ref_losses, ref_weights, _) = got, want
    assert losses == ref_losses  # exactly: every loss, every epoch
    assert weights.keys() == ref_weights.keys()
    for key, value in ref_weights.items():
        assert torch.equal(weights[key], value), key


@pytest.mark.parametrize(("rnn_type", "tied"), KINDS)
def test_swapped_run_gives_the_same_numbers(script, monkeypatch, rnn_type, tied):
    reference = run(script, rnn_type, tied)
    swap_in_rnnkit(script, monkeypatch)
    swapped = run(script, rnn_type, tied, native=True)  # GRU: see the test below
    assert type(swapped[2].rnn).__module__ == "rnnkit.layers.rnn"
    assert_same_run(swapped, reference)


def test_gru_default_path_agrees_to_rounding(script, monkeypatch):
    """rnnkit.GRU trains on its fused CPU kernel by default: the same run to float rounding."""
    reference = run(script, "GRU", False)
    swap_in_rnnkit(script, monkeypatch)
    losses, weights, _ = run(script, "GRU", False)
    torch.testing.assert_close(losses, reference[0], rtol=1e-4, atol=1e-5)
    for key, value in reference[1].items():
        torch.testing.assert_close(weights[key], value, rtol=1e-3, atol=1e-4, msg=key)


@pytest.mark.parametrize(("rnn_type", "tied"), KINDS)
def test_whole_model_save_and_weights_only_load(script, monkeypatch, tmp_path, rnn_type, tied):
    swap_in_rnnkit(script, monkeypatch)
    _, _, model = run(script, rnn_type, tied)
    path = tmp_path / "model.pt"
    with open(path, "wb") as f:
        torch.save(model, f)
    trusted = [script.RNNModel, nn.Dropout, nn.Embedding, nn.Linear, *rnnkit.safe_globals()]
    with open(path, "rb") as f, torch.serialization.safe_globals(trusted):
        loaded = torch.load(f, weights_only=True)
    loaded.rnn.flatten_parameters()  # what the script does after loading
    _, valid = corpus()
    assert script.evaluate(loaded, valid, bptt=BPTT) == script.evaluate(model, valid, bptt=BPTT)
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
