import json

import pytest
import torch
import torch.nn.functional as F

from rnnkit.data.vocab import CharVocab
from rnnkit.errors import CheckpointError
from rnnkit.tasks.language_model import LanguageModel, LanguageModelConfig

TEXT = (
    "First Citizen: Before we proceed any further, hear me speak. All: Speak, speak. "
    "First Citizen: You are all resolved rather to die than to famish? All: Resolved. "
    "resolved. First Citizen: First, you know Caius Marcius is chief enemy to the people."
)[:200]


def make_model(cell="lstm", tie=False, **kw):
    torch.manual_seed(0)
    vocab = CharVocab.from_text(TEXT)
    config = LanguageModelConfig(
        len(vocab), cell=cell, hidden_size=24, num_layers=2, tie_weights=tie, **kw
    )
    return LanguageModel(config, vocab)


def test_forward_shapes_and_state_carry():
    model = make_model().eval()
    tokens = torch.randint(0, model.config.vocab_size, (3, 10))
    logits, _ = model(tokens)
    assert logits.shape == (3, 10, model.config.vocab_size)
    first, mid = model(tokens[:, :4])
    second, _ = model(tokens[:, 4:], mid)
    torch.testing.assert_close(torch.cat([first, second], 1), logits)  # chunked == whole


def test_tiny_model_overfits_200_characters():
    assert len(TEXT) == 200
    model = make_model()
    ids = model.vocab.encode(TEXT)
    x, y = ids[None, :-1], ids[None, 1:]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(300):
        logits, _ = model(x)
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.1, loss.item()


@pytest.mark.parametrize(
    ("cell", "tie", "extras"),
    [
        ("lstm", False, {}),
        ("gru", True, {}),
        ("rnn", False, {}),
        ("lstm", False, {"zoneout": 0.1, "weight_drop": 0.2}),
    ],
)
def test_save_load_gives_identical_logits(tmp_path, cell, tie, extras):
    model = make_model(cell, tie, **extras).eval()
    model.save_pretrained(tmp_path / "ckpt", training={"lr": 0.1})
    loaded = LanguageModel.from_pretrained(tmp_path / "ckpt")
    tokens = torch.randint(0, model.config.vocab_size, (2, 15))
    assert torch.equal(loaded(tokens)[0], model(tokens)[0])
    assert loaded.vocab.itos == model.vocab.itos and loaded.config == model.config
    if tie:
        assert loaded.proj.weight is loaded.embedding.weight
    recurrent_keys = {k for k in loaded.state_dict() if k.startswith("rnn.")}
    assert recurrent_keys == set(torch_twin(model).state_dict())  # loads into torch.nn too
    saved = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    assert saved["training"] == {"lr": 0.1} and saved["model"]["cell"] == cell


def torch_twin(model):
    """The same architecture built from torch.nn's RNN class: its state dict keys must match."""
    kind = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[model.config.cell]
    return torch.nn.ModuleDict({"rnn": kind(24, 24, num_layers=2, batch_first=True)})


def test_zoneout_model_regularises_in_training_only():
    model = make_model(zoneout=0.3)
    tokens = torch.randint(0, model.config.vocab_size, (2, 12))
    torch.manual_seed(1)
    a, _ = model(tokens)
    torch.manual_seed(2)
    b, _ = model(tokens)
    assert not torch.equal(a, b)  # stochastic while training
    model.eval()
    assert torch.equal(model(tokens)[0], model(tokens)[0])


def test_loading_bad_checkpoints_names_the_file(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        LanguageModel.from_pretrained(tmp_path / "missing")
    make_model().save_pretrained(tmp_path / "c")
    (tmp_path / "c" / "model.safetensors").write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match=r"model\.safetensors: corrupt"):
        LanguageModel.from_pretrained(tmp_path / "c")
    (tmp_path / "c" / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match=r"config\.json: corrupt JSON"):
        LanguageModel.from_pretrained(tmp_path / "c")


def test_weights_from_another_architecture_are_refused(tmp_path):
    make_model().save_pretrained(tmp_path / "c")
    config = json.loads((tmp_path / "c" / "config.json").read_text())
    config["model"]["hidden_size"] = 32
    (tmp_path / "c" / "config.json").write_text(json.dumps(config))
    implied = r"embedding.weight: shape \(34, 24\), but config.json implies \(34, 32\)"
    with pytest.raises(CheckpointError, match=implied):  # before the model is built
        LanguageModel.from_pretrained(tmp_path / "c")


def test_invalid_config_values():
    with pytest.raises(ValueError, match="dropout"):
        LanguageModelConfig(10, dropout=1.0)
    with pytest.raises(ValueError, match="cell"):
        LanguageModelConfig(10, cell="transformer")


def test_cutoffs_without_the_adaptive_output_are_refused():
    """The full softmax has no clusters: cutoffs given with it would be silently ignored."""
    with pytest.raises(ValueError, match=r"cutoffs need output='adaptive'.*got output='softmax'"):
        LanguageModelConfig(100, hidden_size=16, cutoffs=(10, 50))
    config = LanguageModelConfig(100, hidden_size=16, output="adaptive", cutoffs=(10, 50))
    assert config.adaptive_cutoffs() == [10, 50]
