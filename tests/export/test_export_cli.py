"""``rnnkit export`` as a user runs it, and greedy generation in onnxruntime."""

import pytest
import torch

from cli_helpers import assert_one_line_error, rnnkit
from rnnkit.data.vocab import CharVocab
from rnnkit.export.table import build
from rnnkit.export.verify import session
from rnnkit.tasks.classifier import ClassifierConfig, SequenceClassifier
from rnnkit.tasks.language_model import LanguageModel, LanguageModelConfig

np = pytest.importorskip("numpy")
pytest.importorskip("onnxruntime")


def greedy_text(sess, vocab: CharVocab, prime: str, length: int, layers: int, H: int) -> str:
    """The docs' loop: feed the prime one character at a time, then argmax and feed back."""
    state = {"h": np.zeros((layers, 1, H), np.float32), "c": np.zeros((layers, 1, H), np.float32)}
    text, log_probs = prime, None
    for i in vocab.encode(prime, strict=True).tolist():
        log_probs, state["h"], state["c"] = sess.run(None, {"tokens": np.array([i]), **state})
    for _ in range(length):
        i = int(log_probs[0].argmax())
        text += vocab.decode([i])
        log_probs, state["h"], state["c"] = sess.run(None, {"tokens": np.array([i]), **state})
    return text


def small_trained_lm() -> LanguageModel:
    """A char LM fitted for a moment to a short text, so greedy text is not one letter."""
    torch.manual_seed(3)
    vocab = CharVocab(list("abcdefgh \n"))
    model = LanguageModel(LanguageModelConfig(len(vocab), hidden_size=24, num_layers=2), vocab)
    ids = vocab.encode("a bad cafe fed a dead bee\nhead be gg\n" * 4, strict=True)[None]
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(60):
        logits, _ = model(ids[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits[0], ids[0, 1:])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def test_onnxruntime_greedy_text_equals_rnnkit_sample(tmp_path):
    model = small_trained_lm()
    vocab = model.vocab
    model.save_pretrained(tmp_path / "lm")
    done = rnnkit("export", "--checkpoint", "lm", "--out", "out/lm.onnx", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    sampled = rnnkit("sample", "--checkpoint", "lm", "--prime", "bad", "--length", "60",
                     "--temperature", "0", cwd=tmp_path)  # fmt: skip
    assert sampled.returncode == 0, sampled.stderr
    ours = greedy_text(session(tmp_path / "out/lm.onnx"), vocab, "bad", 60, 2, 24)
    assert len(set(ours[3:])) > 2  # not a constant string: the test can tell texts apart
    assert sampled.stdout[:-1] == ours


def test_export_encoder_decoder_with_verify(tmp_path):
    build("seq2seq-bilstm-general").save_pretrained(tmp_path / "s2s")
    done = rnnkit("export", "--checkpoint", "s2s", "--format", "onnx", "--out", "m.onnx",
                  "--verify", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "m.encoder.onnx").is_file() and (tmp_path / "m.decoder.onnx").is_file()
    diffs = [float(line.rsplit(" ", 1)[1]) for line in done.stdout.splitlines() if "diff" in line]
    assert len(diffs) == 4 and max(diffs) < 1e-5, done.stdout


def test_bad_inputs_are_one_line_errors(tmp_path):
    torch.manual_seed(0)
    SequenceClassifier(
        ClassifierConfig(9, 2, cell="layer_norm_lstm", hidden_size=4)
    ).save_pretrained(tmp_path / "ln")
    refused = rnnkit("export", "--checkpoint", "ln", "--out", "m.onnx", cwd=tmp_path)
    assert_one_line_error(refused, "generic loop", "LayerNormLSTMCell")
    assert not (tmp_path / "m.onnx").exists()
    (tmp_path / "d").mkdir()
    assert_one_line_error(rnnkit("export", "--checkpoint", "ln", "--out", "d", cwd=tmp_path),
                          "--out", "directory")  # fmt: skip
    bad_format = rnnkit("export", "--checkpoint", "ln", "--format", "tflite", "--out", "m.onnx",
                        cwd=tmp_path)  # fmt: skip
    assert_one_line_error(bad_format, "--format")
