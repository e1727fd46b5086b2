"""A classifier started from a language model: weights in the right places, rows by hand."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cli_helpers import rnnkit
from rnnkit.checkpoint import load
from rnnkit.data.tokenize import TextEncoder, Tokenizer, TokenVocab
from rnnkit.data.vocab import WordVocab
from rnnkit.errors import CheckpointError
from rnnkit.tasks.classifier import ClassifierConfig, SequenceClassifier
from rnnkit.tasks.language_model import LanguageModel, LanguageModelConfig
from rnnkit.tasks.transfer import encoder_fields, lm_stream, load_encoder

LM_WORDS = ["The", "cat", "dog", "sat", "on", "mat"]
TASK_WORDS = ["the", "cat", "dog", "zebra", "sat"]  # lower-cased by the task's tokenizer


def word_lm(cell: str = "lstm", layers: int = 2) -> LanguageModel:
    torch.manual_seed(0)
    config = LanguageModelConfig(len(LM_WORDS) + 2, cell=cell, hidden_size=6, num_layers=layers,
                                 embedding_size=5)  # fmt: skip
    return LanguageModel(config, WordVocab([*LM_WORDS, "<eos>"])).eval()


def classifier_for(lm: LanguageModel, **options) -> SequenceClassifier:
    torch.manual_seed(1)
    fields = {"cell": lm.config.cell, "hidden_size": 6, "num_layers": lm.config.num_layers,
              "embedding_size": 5, "dropout": 0.0, **options}  # fmt: skip
    encoder = TextEncoder(Tokenizer("word"), TokenVocab(TASK_WORDS))
    return SequenceClassifier(ClassifierConfig(len(TASK_WORDS) + 2, 2, **fields), encoder).eval()


@pytest.mark.parametrize(("cell", "layers"), [("lstm", 2), ("gru", 1)])
def test_first_forward_equals_the_lms_recurrent_features(cell: str, layers: int) -> None:
    lm = word_lm(cell, layers)
    model = classifier_for(lm)
    load_encoder(model, lm)
    ids = torch.tensor([model.encoder("The cat sat on")])  # "on": not a task word -> <unk>
    lm_ids = torch.tensor([[lm.vocab.stoi[w] for w in ("The", "cat", "sat")]])
    ours, _ = model.rnn(model.embedding(ids[:, :3]), lengths=torch.tensor([3]))
    theirs, _ = lm.features(lm_ids)
    torch.testing.assert_close(ours, theirs)


def test_vocabulary_mapping_by_hand() -> None:
    lm = word_lm()
    model = classifier_for(lm)
    zebra_before = model.embedding.weight[2 + TASK_WORDS.index("zebra")].clone()
    coverage = load_encoder(model, lm)
    assert (coverage.exact, coverage.lowercased, coverage.vocabulary) == (3, 1, 5)  # the: lower
    rows = model.embedding.weight
    for task_word, lm_word in (("the", "The"), ("cat", "cat"), ("dog", "dog"), ("sat", "sat")):
        expected = lm.embedding.weight[lm.vocab.stoi[lm_word]]
        torch.testing.assert_close(rows[2 + TASK_WORDS.index(task_word)], expected)
    torch.testing.assert_close(rows[2 + TASK_WORDS.index("zebra")], zebra_before)  # a new row


def test_lm_stream_by_hand() -> None:
    lm = word_lm()
    stoi = lm.vocab.stoi
    stream = lm_stream(lm, [["the", "cat", "zebra"], ["mat"]])  # "the": The by lower case
    assert stream.tolist() == [stoi["The"], stoi["cat"], 0, stoi["<eos>"], stoi["mat"],
                               stoi["<eos>"]]  # fmt: skip


def test_what_does_not_fit_is_refused() -> None:
    lm = word_lm()
    with pytest.raises(CheckpointError, match="bidirectional"):
        load_encoder(classifier_for(lm, bidirectional=True), lm)
    with pytest.raises(CheckpointError, match="do not fit"):
        load_encoder(classifier_for(lm, hidden_size=7), lm)


def test_cli_trains_from_an_encoder_and_the_model_stands_alone(tmp_path: Path) -> None:
    text = "the cat sat on the mat\nthe dog sat on the cat\n" * 40
    (tmp_path / "lm.txt").write_text(text)
    lm = rnnkit("train", "lm", "--level", "word", "--train", "lm.txt", "--hidden-size", "8",
                "--num-layers", "1", "--max-steps", "3", "--batch-size", "4", "--bptt", "5",
                "--no-progress", "--out", "lm", cwd=tmp_path)  # fmt: skip
    assert lm.returncode == 0, lm.stderr
    fields, tokenizer = encoder_fields(tmp_path / "lm")
    assert fields == {"cell": "lstm", "hidden_size": 8, "num_layers": 1, "embedding_size": 8,
                      "bidirectional": False} and tokenizer == "word"  # fmt: skip
    rows = [f"{'spam' if i % 2 else 'ham'}\t{'the cat sat' if i % 2 else 'a dog ran'} {i}"
            for i in range(30)]  # fmt: skip
    (tmp_path / "d.tsv").write_text("\n".join(rows) + "\n")
    common = ["train", "classify", "--data", "d.tsv", "--no-header", "--preset", "tiny",
              "--no-baseline", "--no-progress"]  # fmt: skip
    result = rnnkit(*common, "--encoder", "lm", "--lm-finetune-minutes", "0.02", "--out", "clf",
                    cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    tuned = load(tmp_path / "clf" / "encoder_lm")  # ULMFiT's stage 2 ran and kept its LM
    original = load(tmp_path / "lm")
    assert not torch.equal(tuned.rnn.weight_hh_l0, original.rnn.weight_hh_l0)
    assert "encoder: the language model's recurrent layers copied" in result.stderr
    assert "encoder " in result.stderr and "vocabulary words found" in result.stderr
    for name in ("config.json", "model.safetensors"):
        (tmp_path / "lm" / name).unlink()  # the classifier needs the LM no more
    assert load(tmp_path / "clf").config.hidden_size == 8
    refused = rnnkit(*common, "--lm-finetune-minutes", "1", "--out", "x", cwd=tmp_path)
    assert refused.returncode == 2 and "give --encoder" in refused.stderr
    refused = rnnkit(*common, "--encoder", "clf", "--out", "x", cwd=tmp_path)
    assert refused.returncode == 2 and "not a language model" in refused.stderr.splitlines()[-1]
    backward = rnnkit("train", "lm", "--level", "word", "--train", "lm.txt", "--reverse",
                      "--hidden-size", "8", "--num-layers", "1", "--max-steps", "1",
                      "--batch-size", "4", "--bptt", "5", "--no-progress", "--out", "lm_bwd",
                      cwd=tmp_path)  # fmt: skip
    assert backward.returncode == 0, backward.stderr
    refused = rnnkit(*common, "--encoder", "lm_bwd", "--out", "x", cwd=tmp_path)
    assert refused.returncode == 2 and "backward language model" in refused.stderr
    refused = rnnkit(*common, "--encoder", "lm2", "--out", "x", cwd=tmp_path)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    refused = rnnkit(*common, "--encoder", "clf", "--hidden-size", "9", "--out", "x",
                     cwd=tmp_path)  # fmt: skip
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
