"""``rnnkit export`` as a user runs it, and greedy generation in onnxruntime."""

import io
from contextlib import redirect_stdout
from pathlib import Path

import pytest
import torch

from cli_helpers import assert_one_line_error, rnnkit
from rnnkit.cli import main
from rnnkit.data.vocab import CharVocab
from rnnkit.export.table import build
from rnnkit.tasks.language_model import LanguageModel, LanguageModelConfig
from rnnkit.tasks.longrange import LongRangeConfig, LongRangeModel

pytest.importorskip("onnxruntime")


DOCS = Path(__file__).resolve().parents[2] / "docs" / "export.md"


def docs_generation_loop(checkpoint: Path, onnx_file: Path, prime: str, length: int) -> str:
    """Run docs/export.md's onnxruntime generation example as printed there; return its text."""
    code = DOCS.read_text("utf-8").split("```python\n")[1].split("```")[0]
    for needle in ('"runs/lm/config.json"', '"lm.onnx"', '"ROMEO:"', "range(200)"):
        assert needle in code, f"docs/export.md's example no longer has {needle}"
    code = code.replace('"runs/lm/config.json"', repr(str(checkpoint / "config.json")))
    code = code.replace('"lm.onnx"', repr(str(onnx_file)))
    code = code.replace('"ROMEO:"', repr(prime)).replace("range(200)", f"range({length})")
    printed = io.StringIO()
    with redirect_stdout(printed):
        exec(code, {})  # the example, with the paths and prime above
    return printed.getvalue()


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


def test_onnxruntime_greedy_text_equals_rnnkit_sample(tmp_path, capsys):
    small_trained_lm().save_pretrained(tmp_path / "lm")
    assert (
        main(["export", "--checkpoint", str(tmp_path / "lm"), "--out", str(tmp_path / "o/lm.onnx")])
        == 0
    )
    capsys.readouterr()
    argv = ["--checkpoint", str(tmp_path / "lm"), "--prime", "bad", "--length", "60"]
    assert main(["sample", *argv, "--temperature", "0"]) == 0
    sampled = capsys.readouterr().out
    ours = docs_generation_loop(tmp_path / "lm", tmp_path / "o/lm.onnx", "bad", 60)
    assert len(set(ours[3:])) > 3  # not one repeated letter: the test can tell texts apart
    assert sampled == ours


def test_export_encoder_decoder_with_verify(tmp_path, capsys):
    build("seq2seq-bilstm-general").save_pretrained(tmp_path / "s2s")
    out = tmp_path / "m.onnx"
    argv = ["--checkpoint", str(tmp_path / "s2s"), "--format", "onnx", "--out", str(out)]
    assert main(["export", *argv, "--verify"]) == 0
    assert (tmp_path / "m.encoder.onnx").is_file() and (tmp_path / "m.decoder.onnx").is_file()
    printed = capsys.readouterr().out.splitlines()
    diffs = [float(line.rsplit(" ", 1)[1]) for line in printed if "diff" in line]
    assert len(diffs) == 4 and max(diffs) < 1e-5, printed


def test_refused_model_is_one_line_error(tmp_path):
    """Run as a user would: exit status 2, one line saying why, no file."""
    LongRangeModel(LongRangeConfig("copy", 5, 5, hidden_size=4)).save_pretrained(tmp_path / "lr")
    refused = rnnkit("export", "--checkpoint", "lr", "--out", "m.onnx", cwd=tmp_path)
    assert_one_line_error(refused, "LongRangeModel has no ONNX export")
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--out", "{tmp}"], "is a directory"),
        (["--out", "m.txt"], "--out must end in .onnx"),
        (["--format", "tflite", "--out", "m.onnx"], "--format"),
        (["--checkpoint", "{tmp}/missing", "--out", "m.onnx"], "no such checkpoint"),
    ],
)
def test_bad_options_exit_2(args, needle, tmp_path, capsys):
    build("lm-lstm").save_pretrained(tmp_path / "lm")
    argv = ["export", "--checkpoint", str(tmp_path / "lm"), *[a.format(tmp=tmp_path) for a in args]]
    try:
        status = main(argv)
    except SystemExit as e:  # argparse's own errors
        status = e.code
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and needle in err[0], err
