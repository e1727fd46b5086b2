"""``rnnkit train tag``, ``tag`` and ``evaluate`` as a user meets them."""

import json
from pathlib import Path

import pytest

from cli_helpers import assert_one_line_error, rnnkit
from rnnkit.data.conllu import read_conllu

SENTENCES = [
    ("The dog barks .", "DET NOUN VERB PUNCT"),
    ("A cat sleeps", "DET NOUN VERB"),
    ("She runs fast", "PRON VERB ADV"),
    ("The old man walks home .", "DET ADJ NOUN VERB ADV PUNCT"),
]
TINY = ["--preset", "tiny", "--no-progress"]


def conllu(sentences=SENTENCES, extra_tag: str | None = None) -> str:
    blocks = []
    for n, (text, tags) in enumerate(sentences):
        tags = tags.split()
        if extra_tag is not None and n == 0:
            tags[0] = extra_tag
        lines = [f"# text = {text}"]
        lines += [f"{i}\t{w}\t_\t{t}\t_\t_\t0\t_\t_\t_" for i, (w, t) in
                  enumerate(zip(text.split(), tags, strict=True), 1)]  # fmt: skip
        blocks.append("\n".join(lines) + "\n\n")
    return "".join(blocks)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("tag")
    (tmp / "train.conllu").write_text(conllu())
    (tmp / "dev.conllu").write_text(conllu(extra_tag="INTJ"))  # a tag never seen in training
    result = rnnkit("train", "tag", "--train", "train.conllu", "--dev", "dev.conllu", "--test",
                    "dev.conllu", "--crf", *TINY, "--out", "run", cwd=tmp)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "best dev accuracy" in result.stdout and "most frequent confusions" in result.stdout
    assert "1 gold tags never seen in training" in result.stdout
    (tmp / "train.stderr").write_text(result.stderr)  # the plan: --no-progress says it there
    return tmp / "run"


def test_train_writes_model_and_report(trained):
    report = json.loads((trained / "report.json").read_text())
    assert report["steps"] == 20 and report["test"]["words"] == 16
    assert report["test"]["unseen_tags"] == 1
    config = json.loads((trained / "config.json").read_text())
    assert config["format"] == "rnnkit.tagger/1" and config["model"]["crf"] is True


def test_train_prints_the_plan_before_training(trained):
    lines = (trained.parent / "train.stderr").read_text().splitlines()
    assert lines[0] == (
        "plan: 4 training sentences, median 4 tokens, 95th percentile 6; "
        "vocabularies: 16 words, 25 characters, 7 tags; 16 tokens per epoch"
    )
    assert lines[1].startswith("plan: the budget covers about 20.0 epochs at the measured ")
    assert not any(line.startswith("warning:") for line in lines)  # 20 steps of 4: 20 epochs


def test_tag_fills_the_column_of_conllu_input_and_keeps_the_rest(trained):
    result = rnnkit("tag", "--checkpoint", trained, "--input", trained.parent / "dev.conllu",
                    cwd=trained)  # fmt: skip
    assert result.returncode == 0, result.stderr
    out, original = result.stdout.splitlines(), (trained.parent / "dev.conllu").read_text()
    assert len(out) == len(original.splitlines())
    for got, was in zip(out, original.splitlines(), strict=True):
        got_fields, was_fields = got.split("\t"), was.split("\t")
        if len(was_fields) == 10:
            assert got_fields[:3] + got_fields[4:] == was_fields[:3] + was_fields[4:]
        else:
            assert got == was


def test_tag_plain_text_and_tokens(trained, tmp_path):
    result = rnnkit("tag", "--checkpoint", trained, "The cat barks .", "--format", "plain",
                    cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    pairs = [p.rsplit("/", 1) for p in result.stdout.split()]
    assert [w for w, _ in pairs] == ["The", "cat", "barks", "."]
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("The\ndog\n\nShe\nruns\n")
    result = rnnkit("tag", "--checkpoint", trained, "--input", tokens, "--input-format", "tokens",
                    cwd=tmp_path)  # fmt: skip
    out = tmp_path / "out.conllu"
    out.write_text(result.stdout)
    assert [s.words for s in read_conllu(out)] == [["The", "dog"], ["She", "runs"]]


def test_evaluate_counts_unseen_tags_as_errors(trained):
    result = rnnkit("evaluate", "--checkpoint", trained, "--data", trained.parent / "dev.conllu",
                    "--json", cwd=trained)  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["words"] == 16 and report["unseen_tags"] == 1
    assert "INTJ" in report["per_tag"]["labels"]


@pytest.mark.parametrize(
    ("content", "needles"),
    [
        ("1\tThe\t_\tDET\n\n", ["bad.conllu:1", "10 tab-separated fields, got 4"]),
        ("x\tThe\t_\tDET\t_\t_\t0\t_\t_\t_\n\n", ["bad.conllu:1", "ID 'x'"]),
        ("1\tThe\t_\tDET\t_\t_\t0\t_\t_\t_\n", ["bad.conllu", "blank line"]),
        ("", ["bad.conllu", "empty"]),
    ],
)
def test_malformed_conllu_gives_one_line(trained, tmp_path, content, needles):
    bad = tmp_path / "bad.conllu"
    bad.write_text(content)
    good = trained.parent / "train.conllu"
    result = rnnkit("train", "tag", "--train", bad, "--dev", good, *TINY, "--out", tmp_path / "o",
                    cwd=tmp_path)  # fmt: skip
    assert_one_line_error(result, *needles)
    result = rnnkit("evaluate", "--checkpoint", trained, "--data", bad, cwd=tmp_path)
    assert_one_line_error(result, *needles)


def test_tag_needs_a_tagger_and_sentences(trained, tmp_path):
    assert_one_line_error(rnnkit("tag", "--checkpoint", trained, cwd=tmp_path), "give sentences")
    result = rnnkit("train", "tag", "--dev", "x", *TINY, cwd=tmp_path)
    assert_one_line_error(result, "--train and --dev are required")


def test_a_column_that_is_all_underscores_is_refused(tmp_path):
    """XPOS left '_' for every word would be one tag, learnt at once: 100 % accuracy that
    means nothing. The command refuses it before training and writes nothing."""
    (tmp_path / "t.conllu").write_text(conllu())  # XPOS is '_' throughout
    result = rnnkit("train", "tag", "--train", "t.conllu", "--dev", "t.conllu", "--column",
                    "XPOS", *TINY, "--max-steps", "1", "--out", "run", cwd=tmp_path)  # fmt: skip
    assert_one_line_error(result, "t.conllu: column XPOS is '_' (unspecified) for every word")
    assert not (tmp_path / "run").exists()
