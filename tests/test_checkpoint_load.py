"""``rnnkit.load``: any model directory by its ``format``; the CLI's options cover the configs."""

import argparse
import dataclasses
import json

import pytest
import torch

import rnnkit
from rnnkit.checkpoint import MODEL_FORMATS
from rnnkit.cli import build_parser
from rnnkit.data.vocab import CharVocab
from rnnkit.errors import CheckpointError
from rnnkit.tasks.language_model import FORMAT, LanguageModel, LanguageModelConfig
from rnnkit.training.config import TrainConfig


@pytest.fixture
def saved_lm(tmp_path):
    torch.manual_seed(0)
    vocab = CharVocab.from_text("hello world")
    config = LanguageModelConfig(vocab_size=len(vocab), hidden_size=8, num_layers=2, dropout=0.1)
    model = LanguageModel(config, vocab).eval()
    model.save_pretrained(tmp_path / "lm")
    return model, tmp_path / "lm"


def test_load_round_trip_gives_identical_logits(saved_lm):
    model, directory = saved_lm
    loaded = rnnkit.load(directory)
    assert type(loaded) is LanguageModel and not loaded.training
    assert loaded.config == model.config and loaded.vocab.itos == model.vocab.itos
    tokens = torch.randint(0, model.config.vocab_size, (3, 7))  # (B, T)
    expected, _ = model(tokens)
    got, _ = loaded(tokens)
    torch.testing.assert_close(got, expected, rtol=0, atol=0)


def test_every_known_format_names_a_class():
    assert MODEL_FORMATS[FORMAT] == "rnnkit.tasks.language_model:LanguageModel"
    assert all(":" in target for target in MODEL_FORMATS.values())


def rewrite_config(directory, change):
    path = directory / "config.json"
    config = json.loads(path.read_text())
    change(config)
    path.write_text(json.dumps(config))
    return path


def test_missing_format_is_one_line(saved_lm):
    _, directory = saved_lm
    path = rewrite_config(directory, lambda config: config.pop("format"))
    with pytest.raises(CheckpointError) as error:
        rnnkit.load(directory)
    message = str(error.value)
    assert message == f"{path}: no 'format' field; not an rnnkit model directory"


def test_unknown_format_lists_the_known_ones(saved_lm):
    _, directory = saved_lm
    path = rewrite_config(directory, lambda config: config.update(format="acme.model/7"))
    with pytest.raises(CheckpointError) as error:
        rnnkit.load(directory)
    message = str(error.value)
    assert "\n" not in message and message.startswith(f"{path}: unknown format 'acme.model/7'")
    assert all(known in message for known in MODEL_FORMATS)


def test_missing_directory_is_one_line(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint directory"):
        rnnkit.load(tmp_path / "nope")


def subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return commands.choices[name]


@pytest.mark.parametrize("config_cls", [TrainConfig, LanguageModelConfig])
def test_every_config_option_is_on_the_command_line(config_cls):
    lm = subparser(subparser(build_parser(), "train"), "lm")
    flags = {flag for action in lm._actions for flag in action.option_strings}
    help_text = lm.format_help()
    declared = [f for f in dataclasses.fields(config_cls) if "cli" in f.metadata]
    assert declared
    for field in declared:
        name = field.metadata["cli"].flag or "--" + field.name.replace("_", "-")
        assert name in flags and name in help_text, name
