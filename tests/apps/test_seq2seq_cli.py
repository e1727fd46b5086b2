"""``rnnkit train seq2seq / sort / digits``, ``translate``, ``sort`` as a user meets them."""

import json
import signal
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from cli_helpers import assert_one_line_error, rnnkit

TINY = ["--preset", "tiny", "--no-progress"]
WORDS = ["cat", "act", "tac", "dog", "god", "odd", "add", "dad", "tad", "cog", "cot", "tod",
         "toad", "goat", "coat", "taco", "data", "gag", "cad", "doc"]  # fmt: skip


def pairs_text(words=WORDS) -> str:
    return "".join(f"{w}\t{' '.join(reversed(w))}\n" for w in words)


@pytest.fixture(scope="module")
def g2p(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("s2s")
    (tmp / "pairs.tsv").write_text(pairs_text())
    result = rnnkit("train", "seq2seq", "--data", "pairs.tsv", "--valid-fraction", "0.2",
                    "--test-fraction", "0.2", *TINY, "--out", "run", cwd=tmp)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "sequence error" in result.stdout and "beam 5" in result.stdout
    (tmp / "train.stderr").write_text(result.stderr)  # the plan: --no-progress says it there
    return tmp


def test_train_seq2seq_writes_a_loadable_model_and_a_report(g2p):
    report = json.loads((g2p / "run" / "report.json").read_text())
    assert [r["method"] for r in report["test"]] == ["greedy", "beam 5"]
    assert report["splits"]["train"] + report["splits"]["valid"] + report["splits"]["test"] == 20
    config = json.loads((g2p / "run" / "config.json").read_text())
    assert config["format"] == "rnnkit.seq2seq/1"


def test_train_seq2seq_prints_the_plan_before_training(g2p):
    lines = (g2p / "train.stderr").read_text().splitlines()
    assert lines[0] == "pairs: 12 train, 4 valid, 4 test"
    assert lines[1] == (
        "plan: 12 training pairs, source median 3 tokens, 95th percentile 4; target median 3 "
        "tokens, 95th percentile 4; vocabularies: 8 source, 10 target; 78 tokens per epoch"
    )
    assert lines[2].startswith("plan: the budget covers about 6.7 epochs at the measured ")
    assert not any(line.startswith("warning:") for line in lines)  # 20 steps of 4 over 12 pairs


def test_translate_prints_the_n_best_with_scores(g2p):
    result = rnnkit("translate", "--checkpoint", "run", "--beam", "3", "--n-best", "2", "cat",
                    "dog", cwd=g2p)  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 4 and lines[0].startswith("cat\t") and lines[2].startswith("dog\t")
    scores = [float(line.split("\t")[2]) for line in lines[:2]]
    assert scores[0] >= scores[1]


def test_translate_counts_unknown_source_tokens(g2p):
    result = rnnkit("translate", "--checkpoint", "run", "--json", "cxz", cwd=g2p)
    assert result.returncode == 0, result.stderr
    assert "2 input tokens were not seen in training" in result.stderr
    assert json.loads(result.stdout)["input"] == "cxz"


@pytest.mark.parametrize(
    "args,needle",
    [(["--beam", "0"], "--beam must be >= 1"), (["--max-length", "0"], "--max-length"),
     (["--beam", "2", "--n-best", "3"], "--n-best")],
)  # fmt: skip
def test_translate_bad_decoding_options(g2p, args, needle):
    assert_one_line_error(rnnkit("translate", "--checkpoint", "run", *args, "cat", cwd=g2p),
                          needle)  # fmt: skip


@pytest.mark.parametrize(
    "line,needle",
    [("cat tac\n", "no tab"), ("\tx\n", "empty source"), ("cat\t\n", "empty target")],
)
def test_bad_pairs_files(tmp_path, line, needle):
    (tmp_path / "p.tsv").write_text(pairs_text() + line)
    result = rnnkit("train", "seq2seq", "--data", "p.tsv", *TINY, "--out", "r", cwd=tmp_path)
    assert_one_line_error(result, "p.tsv:21", needle)


def test_train_seq2seq_needs_data(tmp_path):
    assert_one_line_error(rnnkit("train", "seq2seq", *TINY, cwd=tmp_path), "--data")


@pytest.fixture(scope="module")
def sorter(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("sort")
    result = rnnkit("train", "sort", "--high", "20", "--max-length", "4", "--train-examples",
                    "200", "--report-length", "5", "--report-examples", "5", "--preset", "tiny",
                    "--out", "run", cwd=tmp)  # fmt: skip  (with progress: its lines are tested)
    assert result.returncode == 0, result.stderr
    assert "plain" in result.stdout and "pointer" in result.stdout and "5*" in result.stdout
    (tmp / "train.stdout").write_text(result.stdout)
    (tmp / "train.stderr").write_text(result.stderr)
    return tmp


def test_train_sort_names_each_model_and_labels_its_progress(sorter):
    said = [line for line in (sorter / "train.stdout").read_text().splitlines()
            if line.startswith("training ")]  # fmt: skip
    assert said == [
        "training plain (1 of 3): the decoder sees only the encoder's final state",
        "training attention (2 of 3): Luong's general attention with input feeding",
        "training pointer (3 of 3): the output points at source positions (Vinyals et al. 2015)",
    ]
    lines = (sorter / "train.stderr").read_text().splitlines()
    bars = [line.split(": [")[0] for line in lines if ": [" in line and "% step " in line]
    assert bars and bars == sorted(bars, key=["plain", "attention", "pointer"].index)
    assert set(bars) == {"plain", "attention", "pointer"}  # one labelled bar per model
    valid = [line for line in lines if ": valid " in line]
    assert valid and all(line.split(": ")[0] in bars for line in valid)


def test_train_sort_reports_three_models_per_length(sorter):
    report = json.loads((sorter / "run" / "report.json").read_text())
    assert set(report["models"]) == {"plain", "attention", "pointer"}
    assert [r["length"] for r in report["models"]["pointer"]["lengths"]] == [1, 2, 3, 4, 5]
    assert report["best"] in report["models"]


def test_sort_prints_a_permutation_with_the_pointer(sorter):
    result = rnnkit("sort", "--checkpoint", "run/pointer", "--beam", "1", "5", "3", "9", cwd=sorter)
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.split()) == ["3", "5", "9"]


@pytest.mark.parametrize(
    "numbers,needle",
    [(["5", "x"], "'x'"), (["5", "21"], "21"), (["1.5"], "1.5")],
)
def test_sort_refuses_numbers_it_cannot_read(sorter, numbers, needle):
    assert_one_line_error(rnnkit("sort", "--checkpoint", "run", *numbers, cwd=sorter), needle)


def test_sort_plots_attention(sorter):
    result = rnnkit("sort", "--checkpoint", "run/attention", "--plot-attention", "a.png", "4",
                    "2", cwd=sorter)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (sorter / "a.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_sorter_answers_alike_through_sort_translate_and_the_server(sorter):
    # the case: translate and the page read "12 7" as characters, sort as numbers
    pytest.importorskip("starlette", reason="pip install 'rnnkit[serve]' to test rnnkit serve")
    from starlette.testclient import TestClient

    from rnnkit.serve import create_app

    numbers, beam = ["12", "7", "19", "3"], ["--beam", "3"]
    by_sort = rnnkit("sort", "--checkpoint", "run/attention", *beam, *numbers, cwd=sorter)
    by_translate = rnnkit("translate", "--checkpoint", "run/attention", *beam, "--json",
                          " ".join(numbers), cwd=sorter)  # fmt: skip
    assert by_sort.returncode == 0 and by_translate.returncode == 0, by_translate.stderr
    assert "not seen" not in by_translate.stderr  # every number is in the vocabulary
    sorted_ = by_sort.stdout.strip()
    assert json.loads(by_translate.stdout)["outputs"][0]["output"] == sorted_
    with TestClient(create_app([sorter / "run" / "attention"])) as client:
        reply = client.post("/api/translate", json={"text": " ".join(numbers), "beam": 3})
    assert reply.status_code == 200, reply.text
    assert reply.json()["source"] == numbers and reply.json()["unknown"] == 0
    assert reply.json()["outputs"][0]["output"] == sorted_


def test_a_sorter_refuses_words_through_translate_too(sorter):
    result = rnnkit("translate", "--checkpoint", "run/pointer", "5 x", cwd=sorter)
    assert_one_line_error(result, "'5 x'", "'x' is not an integer")


def test_evaluate_reads_a_sorters_pairs_as_numbers(sorter):
    (sorter / "lists.tsv").write_text("12 7 19\t7 12 19\n3 +1\t1 3\n")
    result = rnnkit("evaluate", "--checkpoint", "run/plain", "--data", "lists.tsv", "--json",
                    cwd=sorter)  # fmt: skip
    assert result.returncode == 0, result.stderr
    greedy = json.loads(result.stdout)[0]  # then beam 5
    assert greedy["sequences"] == 2 and greedy["unknown_source_tokens"] == 0
    (sorter / "bad.tsv").write_text("3 1\t1 3\n3 21\t3 21\n")
    result = rnnkit("evaluate", "--checkpoint", "run/plain", "--data", "bad.tsv", cwd=sorter)
    assert_one_line_error(result, "bad.tsv: pair 2", "21 is out of range")


def test_translate_says_one_unseen_token_in_the_singular(g2p):
    result = rnnkit("translate", "--checkpoint", "run", "cax", cwd=g2p)
    assert result.returncode == 0, result.stderr
    assert "note: 1 input token was not seen in training" in result.stderr


def test_sort_needs_a_sorter(g2p):
    assert_one_line_error(rnnkit("sort", "--checkpoint", "run", "3", "1", cwd=g2p), "sorter")


def test_train_digits_smoke(tmp_path):
    result = rnnkit("train", "digits", "--train-images", "64", "--valid-images", "16",
                    "--test-images", "16", *TINY, "--out", "run", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["test"]["images"] == 16
    assert 0.0 <= report["test"]["character_accuracy"] <= 1.0


#: per job: its data options, and scheduled sampling where the decoder reads tokens
RESUMABLE = {
    "seq2seq": ["--data", "pairs.tsv", "--valid-fraction", "0.2", "--test-fraction", "0.2",
                "--scheduled-sampling", "linear", "--ss-c", "0.02"],
    "digits": ["--train-images", "64", "--valid-images", "16", "--test-images", "16"],
}  # fmt: skip


@pytest.mark.parametrize("job", sorted(RESUMABLE))
def test_sigkill_and_resume_gives_the_weights_of_an_uninterrupted_run(tmp_path, job):
    (tmp_path / "pairs.tsv").write_text(pairs_text())
    args = ["train", job, *RESUMABLE[job], *TINY, "--max-steps", "24", "--save-every", "8"]
    killed = rnnkit(*args, "--out", "killed", cwd=tmp_path, kill_at=13)
    assert killed.returncode == -signal.SIGKILL
    whole = rnnkit(*args, "--out", "whole", cwd=tmp_path)
    assert whole.returncode == 0, whole.stderr
    resumed = rnnkit("train", job, "--resume", "killed", "--no-progress", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    for name in ("model.safetensors", "trainer_state/step-000024/trainer.safetensors"):
        a, b = load_file(tmp_path / "killed" / name), load_file(tmp_path / "whole" / name)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
