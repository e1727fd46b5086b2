"""Every task builds its recurrent stack from the one table: same choices, layers and keys."""

from __future__ import annotations

import pytest
import torch

from rnnkit.layers import GRU, LSTM, RNN, FusedLSTM
from rnnkit.layers.stacks import CELLS
from rnnkit.layers.torch_layout import parameter_names
from rnnkit.tasks import classifier, context_to_sequence, language_model, longrange, seq2seq
from rnnkit.tasks import tagger as tagging

#: each task's cell choices, in their order, as they were before the shared table
CHOICES = {
    "classifier": (classifier.CELLS, ("lstm", "gru", "rnn", "layer_norm_lstm", "peephole_lstm")),
    "tagger": (tagging.CELLS, ("lstm", "gru", "rnn", "layer_norm_lstm", "peephole_lstm")),
    "language model": (language_model.CELLS, ("lstm", "gru", "rnn")),
    "seq2seq": (seq2seq.SEQ2SEQ_CELLS, ("lstm", "gru")),
    "long-range": (longrange.CELLS, ("tanh", "irnn", "lstm", "gru", "ntm")),
}


@pytest.mark.parametrize("task", list(CHOICES))
def test_each_task_offers_its_old_choices_from_the_shared_table(task):
    choices, before = CHOICES[task]
    assert tuple(choices) == before
    assert set(choices) <= set(CELLS)


@pytest.mark.parametrize(
    "make",
    [
        lambda: classifier.ClassifierConfig(10, 2, cell="lstn"),
        lambda: language_model.LanguageModelConfig(10, cell="layer_norm_lstm"),
        lambda: tagging.TaggerConfig(10, 10, 3, cell="lstn"),
        lambda: seq2seq.Seq2SeqConfig(10, 10, cell="rnn"),
        lambda: context_to_sequence.ContextConfig(10, cell="rnn"),
        lambda: longrange.LongRangeConfig("adding", 2, 1, cell="rnn"),
    ],
)
def test_a_cell_outside_a_tasks_choices_is_its_one_line_error(make):
    with pytest.raises(ValueError, match=r"^cell must be one of [a-z_, ]+, got '"):
        make()


def rnn_of(task: str, cell: str) -> torch.nn.Module:
    """A small model of ``task`` with ``cell``: its recurrent stack."""
    if task == "classifier":
        config = classifier.ClassifierConfig(10, 2, cell=cell, embedding_size=4, hidden_size=3,
                                             num_layers=2, bidirectional=True)  # fmt: skip
        return classifier.SequenceClassifier(config).rnn
    if task == "language model":
        config = language_model.LanguageModelConfig(10, cell=cell, hidden_size=3)
        return language_model.LanguageModel(config).rnn
    if task == "tagger":
        config = tagging.TaggerConfig(10, 10, 3, cell=cell, hidden_size=3)
        return tagging.Tagger(config).rnn
    config = seq2seq.Seq2SeqConfig(10, 10, cell=cell, embedding_size=4, hidden_size=3)
    return seq2seq.Seq2Seq(config).rnn


#: (task, cell) -> the drop-in class the task built before; every stack is 2 layers here
#: (seq2seq's encoder: 1), bidirectional except the language model's
BUILT = {
    ("classifier", "lstm"): FusedLSTM,  # trains on the fused kernels (no packed backward)
    ("classifier", "gru"): GRU,
    ("classifier", "rnn"): RNN,
    ("language model", "lstm"): LSTM,
    ("language model", "gru"): GRU,
    ("language model", "rnn"): RNN,
    ("tagger", "lstm"): FusedLSTM,
    ("tagger", "gru"): GRU,
    ("tagger", "rnn"): RNN,
    ("seq2seq", "lstm"): FusedLSTM,
    ("seq2seq", "gru"): GRU,
}


@pytest.mark.parametrize(("task", "cell"), list(BUILT))
def test_each_task_builds_the_same_layer_with_torchs_keys(task, cell):
    rnn = rnn_of(task, cell)
    assert type(rnn) is BUILT[task, cell]
    layers = 1 if task == "seq2seq" else 2
    bidirectional = task != "language model"
    assert list(rnn.state_dict()) == parameter_names(layers, bidirectional=bidirectional)


@pytest.mark.parametrize("task", ["classifier", "tagger"])
def test_other_cells_keep_their_own_keys(task):
    keys = list(rnn_of(task, "peephole_lstm").state_dict())
    assert keys[:16] == parameter_names(2, bidirectional=True)
    assert keys[16:19] == ["weight_ci_l0", "weight_cf_l0", "weight_co_l0"]
    keys = list(rnn_of(task, "layer_norm_lstm").state_dict())
    assert keys[:4] == ["weight_ih_l0", "weight_hh_l0", "weight_ih_l0_reverse",
                        "weight_hh_l0_reverse"]  # fmt: skip
    assert "norm_c_bias_l1_reverse" in keys and "bias_ih_l0" not in keys


def test_long_range_cells_keep_their_names_and_inits():
    def model(cell, **options):
        config = longrange.LongRangeConfig("ntm-copy" if cell == "ntm" else "adding", 2, 1,
                                           cell=cell, hidden_size=3, **options)  # fmt: skip
        return longrange.LongRangeModel(config)

    for cell in ("tanh", "irnn", "lstm", "gru"):
        keys = list(model(cell).state_dict())
        assert keys[:4] == ["rnn.cell.weight_ih", "rnn.cell.weight_hh", "rnn.cell.bias_ih",
                            "rnn.cell.bias_hh"]  # fmt: skip
    irnn = model("irnn").cell
    assert irnn.nonlinearity == "relu" and torch.equal(irnn.weight_hh, torch.eye(3))
    assert model("tanh").cell.nonlinearity == "tanh"
    ntm = model("ntm", memory_slots=5, memory_width=2).cell
    assert isinstance(ntm, longrange.ReadOut) and ntm.ntm.memory_slots == 5
