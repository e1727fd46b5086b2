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
