"""``rnnkit train classify``, ``classify`` and ``evaluate`` as a user meets them."""

import json
import signal
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from cli_helpers import assert_one_line_error, rnnkit
from rnnkit.cli import main

SPAM = ["win a free prize now", "claim your cash reward", "free entry call now", "urgent you won"]
HAM = ["see you at lunch", "ok i will call later", "how was your day", "meeting moved to six"]
TINY = ["--preset", "tiny", "--no-progress", "--no-baseline"]


def write_corpus(path: Path, n: int = 30) -> Path:
    rows = [f"{label}\t{text} {i}" for i in range(n) for label, text in
            (("spam", SPAM[i % 4]), ("ham", HAM[i % 4]))]  # fmt: skip
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("classify")
    data = write_corpus(tmp / "sms.tsv")
    result = rnnkit("train", "classify", "--data", data, "--no-header", *TINY, "--out", "run",
                    "--max-steps", "40", cwd=tmp)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "rnnkit LSTM, mean pooling" in result.stdout and "true \\ pred" in result.stdout
    return tmp / "run"


def test_train_writes_model_report_and_metrics(trained):
    report = json.loads((trained / "report.json").read_text())
    assert report["sizes"] == {"train": 42, "valid": 6, "test": 12}
    assert report["test"]["labels"] == ["ham", "spam"] and report["steps"] == 40
    records = [json.loads(x) for x in (trained / "metrics.jsonl").read_text().splitlines()]
    valid = [r for r in records if r["kind"] == "valid"]
    assert [r["step"] for r in valid] == [10, 20, 30, 40]
    assert {"valid_loss", "valid_accuracy", "best_valid_loss"} <= set(valid[0])


def test_classify_prints_label_and_probability(trained):
    result = rnnkit("classify", "--checkpoint", trained, "claim your free cash", "--json",
                    cwd=trained)  # fmt: skip
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["label"] in ("ham", "spam")
    assert abs(sum(record["probabilities"].values()) - 1) < 1e-5
    assert record["probability"] == max(record["probabilities"].values())
    lines = trained.parent / "lines.txt"
    lines.write_text("see you at lunch\nwin a free prize now\n")
    result = rnnkit("classify", "--checkpoint", trained, "--input", lines, cwd=trained)
    assert [line.split("\t")[2] for line in result.stdout.splitlines()] == [
        "see you at lunch", "win a free prize now"]  # fmt: skip


def test_evaluate_reports_a_labelled_file(trained):
    data = trained.parent / "sms.tsv"
    result = rnnkit("evaluate", "--checkpoint", trained, "--data", data, "--no-header", "--json",
                    cwd=trained)  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert sum(map(sum, report["confusion"])) == 60 and report["labels"] == ["ham", "spam"]


def test_killed_and_resumed_run_ends_with_the_same_weights(tmp_path):
    data = write_corpus(tmp_path / "d.tsv")
    args = ["train", "classify", "--data", data, "--no-header", *TINY, "--max-steps", "30",
            "--save-every", "10", "--dropout", "0.3"]  # fmt: skip
    killed = rnnkit(*args, "--out", "killed", cwd=tmp_path, kill_at=17)
    assert killed.returncode == -signal.SIGKILL
    whole = rnnkit(*args, "--out", "whole", cwd=tmp_path)
    assert whole.returncode == 0, whole.stderr
    resumed = rnnkit("train", "classify", "--resume", "killed", "--no-progress", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    for name in ("model.safetensors", "trainer_state/step-000030/trainer.safetensors"):
        a, b = load_file(tmp_path / "killed" / name), load_file(tmp_path / "whole" / name)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name


def write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def folder_corpus(root: Path, labels=("ham", "spam")) -> Path:
    for label in labels:
        (root / label).mkdir(parents=True)
        for i in range(4):
            (root / label / f"{i}.txt").write_text(f"{label} message number {i}\n")
    return root


@pytest.mark.parametrize(
    ("make", "extra", "needles"),
    [
        (lambda d: d / "missing.tsv", [], ["missing.tsv", "no such"]),
        (lambda d: write(d / "empty.tsv", ""), [], ["empty"]),
        (lambda d: write(d / "x.tsv", "ham\tok\nspam\n"), ["--no-header"], ["x.tsv:2", "column"]),
        (lambda d: write(d / "one.tsv", "ham\ta\nham\tb\n"), ["--no-header"], ["two labels"]),
        (lambda d: write(folder_corpus(d / "bin") / "spam" / "x.bin", b"\x00\x01").parents[1],
         ["--strict"], ["x.bin", "binary"]),  # without --strict: skipped and counted
        (lambda d: folder_corpus(d / "solo", ("ham",)), [], ["at least two labels"]),
        (lambda d: write(folder_corpus(d / "l1") / "spam" / "l.txt", b"caf\xe9").parents[1],
         ["--encoding-fallback", "none"], ["l.txt", "UTF-8"]),
    ],
)  # fmt: skip
def test_bad_input_gives_one_line_and_keeps_the_checkpoint(trained, tmp_path, make, extra, needles):
    before = (trained / "model.safetensors").read_bytes()
    data = make(tmp_path)
    result = rnnkit("train", "classify", "--data", data, *TINY, *extra, "--out", trained,
                    "--overwrite", cwd=tmp_path)  # fmt: skip
    assert_one_line_error(result, *needles)
    assert (trained / "model.safetensors").read_bytes() == before


def test_latin1_file_in_a_folder_is_read_and_counted(tmp_path):
    root = folder_corpus(tmp_path / "corpus")
    (root / "spam" / "latin.txt").write_bytes(b"caf\xe9 offer")
    code = main(["train", "classify", "--data", str(root), *TINY, "--max-steps", "2",
                 "--valid-fraction", "0.2", "--out", str(tmp_path / "o")])  # fmt: skip
    assert code == 0
    notes = json.loads((tmp_path / "o" / "report.json").read_text())["notes"]
    assert "1 file decoded as latin-1" in notes[0]


def test_unknown_label_at_evaluation_is_one_line(trained, tmp_path):
    data = tmp_path / "other.tsv"
    data.write_text("ham\tok\neggs\tsomething\n")
    result = rnnkit("evaluate", "--checkpoint", trained, "--data", data, "--no-header",
                    cwd=tmp_path)  # fmt: skip
    assert_one_line_error(result, "other.tsv", "'eggs'", "never occurs in the training data")


def test_classify_refuses_a_language_model_and_needs_texts(trained, tmp_path, capsys):
    assert main(["classify", "--checkpoint", str(trained)]) == 2
    assert "give texts to classify" in capsys.readouterr().err
    assert main(["classify", "--checkpoint", str(tmp_path / "nope"), "x"]) == 2
    assert "no such checkpoint directory" in capsys.readouterr().err


def test_monitor_must_be_a_classifier_metric(tmp_path, capsys):
    data = write_corpus(tmp_path / "d.tsv")
    code = main(["train", "classify", "--data", str(data), "--no-header", *TINY,
                 "--monitor", "nats", "--out", str(tmp_path / "o")])  # fmt: skip
    assert (
        code == 2
        and "--monitor must be one of loss, accuracy, got 'nats'" in capsys.readouterr().err
    )
    assert not (tmp_path / "o").exists()


def test_json_of_a_diverged_model_is_valid_json_with_nulls(tmp_path, capsys):
    """NaN weights give NaN probabilities; --json writes null for them (a bare NaN is not
    JSON), and a null label since no class is the most likely."""
    from rnnkit.data.tokenize import TextEncoder, Tokenizer, TokenVocab
    from rnnkit.tasks.classifier import ClassifierConfig, SequenceClassifier

    tokenizer = Tokenizer("word")
    encoder = TextEncoder(tokenizer, TokenVocab.build([["free", "cash"]]), max_length=8)
    model = SequenceClassifier(ClassifierConfig(len(encoder.vocab), 2), encoder, ["ham", "spam"])
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    model.save_pretrained(tmp_path / "nan")
    assert main(["classify", "--checkpoint", str(tmp_path / "nan"), "--json", "free cash"]) == 0
    line = capsys.readouterr().out.strip()
    record = json.loads(line, parse_constant=lambda c: pytest.fail(f"{c} in {line}"))
    assert record == {"text": "free cash", "label": None, "probability": None,
                      "probabilities": {"ham": None, "spam": None}}  # fmt: skip
