"""Slow learning checks: the presets the README promises reach their figures (generous margins).

Run with ``python -m pytest -m slow`` (about 10 minutes on 2 cores). Each check trains through
the command line exactly as the README says and reads the figures the run reports.
"""

import json
from pathlib import Path

import pytest

from rnnkit.cli import main

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
pytestmark = pytest.mark.slow


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is absent (the shared data sets sit beside the repository)")
    return path


def test_char_lm_quick_preset_learns(tmp_path, capsys):
    out = tmp_path / "quick"
    assert main(["train", "lm", "--preset", "quick", "--out", str(out), "--no-progress"]) == 0
    records = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    best = min(r["valid_nats"] for r in records if r["kind"] == "valid")
    assert best < 1.9, best  # ~1.6 nats/char measured; a unigram model is ~3.3


def test_sms_spam_preset_beats_the_majority_class_by_far(tmp_path):
    data = need(DATA / "sms-spam" / "SMSSpamCollection")
    out = tmp_path / "spam"
    args = ["train", "classify", "--preset", "sms-spam", "--data", str(data), "--out", str(out)]
    assert main([*args, "--no-progress"]) == 0
    report = json.loads((out / "report.json").read_text())
    test = report["test"]
    assert report["sizes"]["test"] == 1035
    assert test["accuracy"] >= 0.975, test["accuracy"]  # majority class: 0.873
    assert test["f1"][test["labels"].index("spam")] >= 0.90


def test_tagger_quick_preset_on_ud_english_ewt(tmp_path):
    ewt = need(DATA / "ud-en-ewt")
    out = tmp_path / "pos"
    args = ["train", "tag", "--preset", "quick", "--out", str(out), "--no-progress"]
    files = {s: str(ewt / f"en_ewt-ud-{s}.conllu") for s in ("train", "dev", "test")}
    assert main([*args, *(x for s, f in files.items() for x in (f"--{s}", f))]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["test"]["accuracy"] >= 0.90, report["test"]["accuracy"]


def test_pointer_sorter_sorts_and_generalises(tmp_path):
    out = tmp_path / "sort"
    args = ["train", "sort", "--models", "pointer", "--max-minutes", "3", "--report-length", "15",
            "--report-examples", "100", "--out", str(out), "--no-progress"]  # fmt: skip
    assert main(args) == 0
    lengths = json.loads((out / "report.json").read_text())["models"]["pointer"]["lengths"]
    exact = {r["length"]: r["exact"] for r in lengths}
    assert min(exact[n] for n in range(1, 9)) >= 0.9, exact  # ~99 % measured after 3 minutes
    assert exact[15] >= 0.5, exact  # never trained on length 15


def test_digit_reader_reads_most_test_images(tmp_path):
    out = tmp_path / "digits"
    args = ["train", "digits", "--max-minutes", "3", "--out", str(out), "--no-progress"]
    assert main(args) == 0
    test = json.loads((out / "report.json").read_text())["test"]
    assert test["sequence_accuracy"] >= 0.7, test  # measured: see docs/seq2seq.md
