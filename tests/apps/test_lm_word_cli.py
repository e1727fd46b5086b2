"""``rnnkit train lm --level word``, ``evaluate`` and ``--resume`` on tiny WikiText-style files."""

import json
import math
import random

import pytest

from rnnkit.cli import main

TINY = ["--hidden-size", "16", "--num-layers", "1", "--batch-size", "4", "--bptt", "8"]


@pytest.fixture(scope="module")
def wikitext(tmp_path_factory):
    """train/valid/test.txt of made-up sentences; valid and test hold a word train lacks."""
    root = tmp_path_factory.mktemp("wt")
    rng = random.Random(0)
    words = ["the", "cat", "dog", "sat", "on", "a", "mat", "and", "ran", "far", "<unk>", "."]

    def lines(n: int, extra: str = "") -> str:
        return "".join(" ".join(rng.choices(words, k=8)) + f" {extra}\n" for _ in range(n))

    (root / "train.txt").write_text(" = Heading = \n\n" + lines(60))
    (root / "valid.txt").write_text(lines(10, "zebra"))
    (root / "test.txt").write_text(lines(10, "zebra"))
    return root


def train(out, *args) -> int:
    steps = ["--max-steps", "6", "--eval-every", "3", "--no-progress", "--sample-length", "5"]
    return main(["train", "lm", "--out", str(out), *TINY, *steps, *args])


def test_word_run_reports_validation_and_test_perplexity(wikitext, tmp_path, capsys):
    assert train(tmp_path / "lm", "--data-dir", str(wikitext), "--tie-weights") == 0
    out = capsys.readouterr().out
    assert "nats/word" in out and "perplexity" in out
    assert "test (best model, measured once)" in out
    sample = out.split("--- sample ---\n")[1]  # the model's words, not the "\n" that primed it
    assert sample.strip() and not sample.startswith("\n")
    test_nats = float(out.split("test (best model, measured once): ")[1].split()[0])
    assert main(["evaluate", "--checkpoint", str(tmp_path / "lm"), "--data",
                 str(wikitext / "test.txt"), "--json"]) == 0  # fmt: skip
    figures = json.loads(capsys.readouterr().out)
    assert figures["unit"] == "word" and figures["tokens"] == 10 * 10  # 8 words, zebra, <eos>
    assert figures["unknown"] >= 10  # zebra at least once per line
    assert figures["perplexity"] == pytest.approx(math.exp(figures["nats"]))
    assert figures["nats"] == pytest.approx(test_nats, abs=1e-4)


def test_adaptive_regularised_run_resumes(wikitext, tmp_path, capsys):
    args = ["--train", str(wikitext / "train.txt"), "--valid", str(wikitext / "valid.txt"),
            "--output", "adaptive", "--locked-dropout", "--ar", "2", "--tar", "1",
            "--embedding-dropout", "0.1", "--weight-drop", "0.2", "--min-freq", "2"]  # fmt: skip
    assert train(tmp_path / "lm", *args[:6]) == 2  # the default cutoffs need more words
    assert "cutoffs [2000, 10000] must be increasing" in capsys.readouterr().err
    assert train(tmp_path / "lm", *args, "--cutoffs", "4") == 0
    capsys.readouterr()
    assert main(["train", "lm", "--resume", str(tmp_path / "lm"), "--max-steps", "8",
                 "--no-progress", "--sample-length", "0"]) == 0  # fmt: skip
    assert "resumed from step 6" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--level", "char", "--train", "X"], "--train is for word-level models"),
        (["--text", "X", "--train", "X"], "give one of --text, --train, --data-dir"),
        (["--level", "word"], "needs --train FILE, --text FILE or --data-dir DIR"),
        (["--data-dir", "/nonexistent"], "/nonexistent: not a directory"),
    ],
)
def test_bad_word_options_are_one_line_errors(tmp_path, capsys, args, message):
    assert train(tmp_path / "lm", *args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_sampling_a_word_model_reads_unknown_prime_words_as_unk(wikitext, tmp_path, capsys):
    assert train(tmp_path / "lm", "--data-dir", str(wikitext)) == 0
    capsys.readouterr()
    argv = ["sample", "--checkpoint", str(tmp_path / "lm"), "--prime", "the zebra cat",
            "--length", "12", "--seed", "1"]  # fmt: skip
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert err == "note: --prime words not in the vocabulary are read as <unk>: 'zebra'\n"
    assert out.startswith("the zebra cat") and len(out.split()) >= 6  # words, spaces between
    assert main(argv) == 0
    assert capsys.readouterr().out == out  # the same seed: the same words


def test_progress_reports_validation_per_word(wikitext, tmp_path, capsys):
    args = ["train", "lm", "--out", str(tmp_path / "lm"), *TINY, "--data-dir", str(wikitext),
            "--max-steps", "3", "--eval-every", "3", "--sample-length", "0"]  # fmt: skip
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "step 3: valid" in err and "nats/word" in err and "bits/word" in err, err
    assert "/char" not in err
