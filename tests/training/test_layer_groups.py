"""ULMFiT's tools: the slanted triangular schedule, discriminative rates, gradual unfreezing."""

from __future__ import annotations

import pytest
import torch

from rnnkit.data.padded import BucketBatches, iter_batches
from rnnkit.tasks.classifier import ClassifierConfig, SequenceClassifier
from rnnkit.tasks.language_model import LanguageModel, LanguageModelConfig
from rnnkit.training.config import TrainConfig
from rnnkit.training.layer_groups import LayerGroups
from rnnkit.training.schedules import LRSchedule
from rnnkit.training.trainer import Trainer


@pytest.mark.parametrize(
    ("i", "expected"),
    [(0, 0.01 / 32), (5, 0.01 * 16.5 / 32), (10, 0.01), (55, 0.01 * 16.5 / 32), (100, 0.01 / 32)],
)  # q = 0, 1/2, 1, 1/2, 0: lr (1 + q 31) / 32
def test_slanted_triangular_by_hand(i: int, expected: float) -> None:
    config = TrainConfig(lr=0.01, schedule="slanted", max_steps=100)  # cut_frac 0.1, ratio 32
    assert LRSchedule(config).lr(i) == pytest.approx(expected)


def test_slanted_under_a_time_budget_follows_the_time_spent() -> None:
    config = TrainConfig(
        lr=0.01, schedule="slanted", max_minutes=1.0, cut_frac=0.2, slanted_ratio=2
    )
    assert LRSchedule(config).lr(123, time_fraction=0.1) == pytest.approx(0.01 * 1.5 / 2)
    assert LRSchedule(config).lr(7, time_fraction=0.6) == pytest.approx(0.01 * 1.5 / 2)


def classifier(num_layers: int = 2) -> SequenceClassifier:
    torch.manual_seed(0)
    return SequenceClassifier(ClassifierConfig(12, 2, num_layers=num_layers, hidden_size=6,
                                               embedding_size=4, dropout=0.0))  # fmt: skip


def test_groups_and_scales_by_hand() -> None:
    model = classifier()
    groups = LayerGroups.of(model, 2.6, None)
    names = {id(p): n for n, p in model.named_parameters()}
    assert [[names[id(p)] for p in g] for g in groups.groups] == [
        ["embedding.weight"],
        ["rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.bias_ih_l0", "rnn.bias_hh_l0"],
        ["rnn.weight_ih_l1", "rnn.weight_hh_l1", "rnn.bias_ih_l1", "rnn.bias_hh_l1"],
        ["proj.weight", "proj.bias"],
    ]
    assert groups.lr_scales() == pytest.approx([1 / 2.6**3, 1 / 2.6**2, 1 / 2.6, 1.0])
    assert LayerGroups.of(model, 1.0, None) is None  # neither tool: no groups


def test_unfreezing_trains_exactly_the_top_groups_per_stage() -> None:
    model = classifier()
    model.embedding.weight.requires_grad_(False)  # frozen before: stays frozen
    groups = LayerGroups.of(model, 1.0, 3)
    for step, trained in [(0, 1), (2, 1), (3, 2), (5, 2), (6, 3), (9, 4), (50, 4)]:
        groups.apply(step)
        flags = [[p.requires_grad for p in g] for g in groups.groups]
        expected = [[k >= 4 - trained] * len(g) for k, g in enumerate(groups.groups)]
        expected[0] = [False]  # the embedding the user froze
        assert flags == expected, step


def batches():
    x = [[1 + (i * j) % 11 for j in range(3 + i % 4)] for i in range(16)]
    y = [i % 2 for i in range(16)]
    return BucketBatches(x, y, 4, seed=0), list(iter_batches(x, y, 8))


def test_trainer_applies_rates_and_unfreezing() -> None:
    model = classifier()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    train, valid = batches()
    config = TrainConfig(lr=0.01, max_steps=2, eval_every=100, discriminative_lr=2.0,
                         unfreeze_every=2)  # fmt: skip
    trainer = Trainer(model, train, valid, config, progress=False)
    trainer.fit()
    assert [g["lr"] for g in trainer.optimizer.param_groups] == pytest.approx(
        [0.01 / 8, 0.01 / 4, 0.01 / 2, 0.01]
    )
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed == {"proj.weight", "proj.bias"}  # two updates: only the head has trained


def test_a_model_without_groups_is_refused() -> None:
    model = LanguageModel(LanguageModelConfig(5, hidden_size=4, num_layers=1))
    with pytest.raises(ValueError, match="layer groups"):  # a ConfigError: one line
        LayerGroups.of(model, 2.6, None)
