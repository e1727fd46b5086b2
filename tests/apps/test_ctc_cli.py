"""``rnnkit train ctc`` and ``rnnkit recognise`` as a user meets them."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

pytest.importorskip("sklearn")

import rnnkit
from cli_helpers import assert_one_line_error
from cli_helpers import rnnkit as run_cli
from rnnkit.apps.ctc import JOB, make_lines, scores
from rnnkit.cli import main
from rnnkit.data.digit_lines import max_line_width
from rnnkit.tasks.ctc import CTCRecognizer


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny run, with the attention reader trained for a second on the same lines."""
    root = tmp_path_factory.mktemp("ctc")
    result = run_cli("train", "ctc", "--preset", "tiny", "--compare-minutes", "0.02",
                     "--no-progress", "--out", "run", cwd=root)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return root, result.stdout


def test_tiny_run_reports_greedy_beam_and_the_attention_reader(trained):
    root, stdout = trained
    assert "test lines, greedy: sequence accuracy" in stdout
    assert "test lines, prefix beam 8: sequence accuracy" in stdout
    assert "attention reader (train digits --attention general" in stdout
    report = json.loads((root / "run" / "report.json").read_text())
    assert report["steps"] == 20 and report["test"]["lines"] == 16
    assert report["test"]["beam"]["beam_size"] == 8
    assert report["attention"]["image_width"] == max_line_width(8)  # 110: even already
    assert report["attention"]["attention"] == "general"
    assert 0.0 <= report["attention"]["sequence_accuracy"] <= 1.0
    # the report is what the saved model reads on the regenerated test lines
    model = rnnkit.load(root / "run")
    assert isinstance(model, CTCRecognizer) and model.config.alphabet == "0123456789"
    task = JOB.data(**report["task"])
    test = make_lines(task, seed=0)[2]
    assert scores(model.recognise(test.images), test.labels) == report["test"]["greedy"]
    beam = scores(model.recognise(test.images, beam_size=8), test.labels)
    assert {**beam, "beam_size": 8} == report["test"]["beam"]


def test_a_seeded_run_gives_the_same_model_twice(trained, tmp_path):
    root, _ = trained
    assert main(["train", "ctc", "--preset", "tiny", "--no-progress", "--out",
                 str(tmp_path / "again")]) == 0  # fmt: skip
    assert_same_weights(last_weights(root / "run"), last_weights(tmp_path / "again"))
    report = json.loads((tmp_path / "again" / "report.json").read_text())
    assert report["attention"] is None


def test_presets_are_valid():
    JOB.check_presets()
    assert set(JOB.presets) == {"handwriting", "speech", "recordings", "tiny"}


def test_recognise_reads_npy_and_png(trained, capsys):
    from PIL import Image

    root, _ = trained
    model = rnnkit.load(root / "run")
    test = make_lines(JOB.data(test_lines=3), seed=0)[2]
    np.save(root / "line.npy", test.images[0].numpy())
    # dark ink on white paper, 8 rows: what the model reads is 1 - grey, quantised to 1/255
    grey = np.round(255 * (1 - test.images[1].numpy())).astype(np.uint8)
    Image.fromarray(grey).save(root / "line.png")
    quantised = torch.from_numpy(1 - grey.astype(np.float32) / 255)
    want = model.recognise([test.images[0], quantised], beam_size=4)
    assert main(["recognise", "--checkpoint", str(root / "run"), "--beam", "4",
                 str(root / "line.npy"), str(root / "line.png")]) == 0  # fmt: skip
    assert capsys.readouterr().out.splitlines() == want


def test_recognise_fuses_a_character_lm(trained, capsys):
    """--lm: prefix beam search with the LM's log-probabilities added (weight λ, bonus β);
    what the command prints is what the model reads with the same fusion in Python."""
    from rnnkit.tasks.lm_fusion import label_fusion

    root, _ = trained
    (root / "digits.txt").write_text("3141592\n2718281\n1234567\n" * 50)
    lm_args = ["--preset", "tiny", "--sample-length", "0", "--no-progress"]
    assert main(["train", "lm", "--text", str(root / "digits.txt"), *lm_args,
                 "--out", str(root / "lm")]) == 0  # fmt: skip
    capsys.readouterr()
    model = rnnkit.load(root / "run")
    test = make_lines(JOB.data(test_lines=2), seed=0)[2]
    np.save(root / "a.npy", test.images[0].numpy())
    np.save(root / "b.npy", test.images[1].numpy())
    lm = label_fusion(rnnkit.load(root / "lm"), [None, *model.config.alphabet])
    want = model.recognise(test.images, beam_size=4, lm=lm, lm_weight=2.0, length_bonus=0.5)
    assert main(["recognise", "--checkpoint", str(root / "run"), "--beam", "4", "--lm",
                 str(root / "lm"), "--lm-weight", "2", "--length-bonus", "0.5",
                 str(root / "a.npy"), str(root / "b.npy")]) == 0  # fmt: skip
    assert capsys.readouterr().out.splitlines() == want
    assert main(["recognise", "--checkpoint", str(root / "run"), "--lm-weight", "2",
                 str(root / "a.npy")]) == 2  # fmt: skip
    assert "give --lm" in capsys.readouterr().err
    assert main(["recognise", "--checkpoint", str(root / "run"), "--lm", str(root / "run"),
                 str(root / "a.npy")]) == 2  # fmt: skip
    assert "not a language model" in capsys.readouterr().err


def test_recognise_scales_a_taller_image_to_the_models_height(trained, capsys):
    from PIL import Image

    root, _ = trained
    ink = np.kron(make_lines(JOB.data(test_lines=1), seed=0)[2].images[0].numpy(), np.ones((3, 3)))
    Image.fromarray(np.round(255 * ink).astype(np.uint8)).save(root / "tall.png")  # 24 rows
    assert main(["recognise", "--checkpoint", str(root / "run"), str(root / "tall.png")]) == 0
    [text] = capsys.readouterr().out.splitlines() or [""]
    assert set(text) <= set("0123456789")


@pytest.mark.parametrize(
    ("name", "content", "needles"),
    [
        ("line.jpg", b"", ("line.jpg: unsupported image type",)),
        ("missing.npy", None, ("missing.npy: no such file",)),
        ("broken.png", b"not a png", ("broken.png: not a readable PNG image",)),
        ("cube.npy", np.zeros((2, 8, 8)), ("cube.npy: expected a 2-D grey image", "(2, 8, 8)")),
        ("thin.npy", np.zeros((8, 1)), ("thin.npy: a 8x1 image is 1 columns wide",)),
        ("tall.npy", np.zeros((800, 1)), ("tall.npy: a 800x1 image is 0 columns wide",)),
        ("bytes.npy", np.full((8, 20), 255.0), ("bytes.npy: ink values must be finite",)),
        ("words.npy", np.array(["a", "b"]), ("words.npy: expected numbers",)),
    ],
)
def test_recognise_bad_images_are_one_line_errors(trained, tmp_path, capfd, name, content,
                                                  needles):  # fmt: skip
    root, _ = trained
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        np.save(path, content)
    assert main(["recognise", "--checkpoint", str(root / "run"), str(path)]) == 2
    err = capfd.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err


def test_recognise_needs_a_ctc_recogniser(trained, tmp_path):
    root, _ = trained
    np.save(tmp_path / "line.npy", np.zeros((8, 20)))
    result = run_cli("recognise", "--checkpoint", "run/attention", tmp_path / "line.npy", cwd=root)
    assert_one_line_error(result, "run/attention: not a CTC recogniser")


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        (["--source", "sound"], "argument --source: invalid choice: 'sound'"),
        (["--min-digits", "9"], "min_digits must be <= max_digits, got 9 > 8"),
        (["--beam-size", "0"], "--beam-size: must be in [1, 1000], got 0"),
    ],
)
def test_train_ctc_bad_options_are_one_line_errors(tmp_path, capfd, options, needle):
    assert status(["train", "ctc", "--preset", "tiny", "--out", str(tmp_path / "x"), *options]) == 2
    err = capfd.readouterr().err
    assert len(err.strip().splitlines()) == 1 and needle in err, err
    assert not (tmp_path / "x").exists()  # nothing started


def status(argv: list[str]) -> int:
    """``rnnkit ARGV``'s exit status, whether argparse exits or the command returns."""
    try:
        return main(argv)
    except SystemExit as e:
        return e.code


@pytest.mark.slow
def test_handwriting_preset_reads_unseen_scans(tmp_path):
    """The issue's acceptance: >= 97 % test sequence accuracy, trained <= 10 minutes."""
    result = run_cli("train", "ctc", "--preset", "handwriting", "--compare-minutes", "0",
                     "--no-progress", "--out", "run", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["wall_seconds"] <= 10 * 60 + 60  # the budget, plus the last validation
    assert report["test"]["greedy"]["sequence_accuracy"] >= 0.97


def test_resume_continues_to_the_uninterrupted_weights(trained, tmp_path):
    """10 steps, then --resume to 20: the weights of the straight 20-step run at step 20."""
    root, _ = trained
    out = str(tmp_path / "halves")
    base = ["train", "ctc", "--preset", "tiny", "--compare-minutes", "0.02", "--no-progress"]
    assert main([*base, "--max-steps", "10", "--out", out]) == 0
    assert main(["train", "ctc", "--resume", out, "--max-steps", "20", "--no-progress"]) == 0
    assert_same_weights(last_weights(root / "run"), last_weights(tmp_path / "halves"))
    assert json.loads((tmp_path / "halves" / "report.json").read_text())["steps"] == 20


def last_weights(out) -> dict[str, torch.Tensor]:
    """The weights a run trained last (its step 20 state; the best model may be older)."""
    return load_file(out / "trainer_state" / "step-000020" / "model.safetensors")


def assert_same_weights(first: dict[str, torch.Tensor], again: dict[str, torch.Tensor]) -> None:
    assert first.keys() == again.keys()
    for name in first:
        assert torch.equal(first[name], again[name]), name
