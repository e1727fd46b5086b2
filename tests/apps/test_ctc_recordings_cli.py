"""``rnnkit train ctc --data LIST``: a CTC recogniser trained on a user's own WAV files, then
``transcribe`` and ``evaluate`` on the model directory, and each bad input as one line.

The recordings are tones written with NumPy (a digit is a tone of its own pitch), at several
rates and channel counts, so the test needs neither espeak-ng nor a network.
"""

import json
import shutil
import wave

import numpy as np
import pytest

import rnnkit
from cli_helpers import assert_one_line_error
from cli_helpers import rnnkit as run_cli
from rnnkit.apps.ctc import JOB, make_lines, scores
from rnnkit.data.speech import DIGITS, N_MELS, wav_features
from rnnkit.tasks.ctc import CTCRecognizer
from rnnkit.training.checkpoint import RUN_NAME, STATE_DIR

SAID = ["314", "27", "1828", "459", "0", "66", "123", "987", "5050", "31", "2", "74"]
#: (rate, channels) of each file: most at 16 kHz mono, some to resample and mix down
FORMATS = [(16_000, 1), (8_000, 1), (22_050, 2), (16_000, 2)]
TINY = ["--preset", "tiny", "--max-steps", "4", "--eval-every", "2", "--batch-size", "4",
        "--valid-fraction", "0.25", "--test-fraction", "0.25", "--no-progress"]  # fmt: skip


def write_pcm(path, samples: np.ndarray, *, rate: int = 16_000, channels: int = 1) -> None:
    """(N,) samples in [-1, 1] as 16-bit PCM, the same on every channel."""
    pcm = np.round(np.repeat(samples[:, None], channels, axis=1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())


def tones(digits: str, rate: int) -> np.ndarray:
    """Each digit as 0.12 s of a tone of 300 + 150·d Hz, 0.05 s of silence around each."""
    gap = np.zeros(int(0.05 * rate))
    parts = [gap]
    for d in digits:
        t = np.arange(int(0.12 * rate)) / rate
        parts += [0.5 * np.sin(2 * np.pi * (300 + 150 * int(d)) * t), gap]
    return np.concatenate(parts)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """12 WAV files in ``wavs/`` and ``list.tsv`` beside it naming them (relative paths)."""
    root = tmp_path_factory.mktemp("corpus")
    (root / "wavs").mkdir()
    lines = []
    for k, digits in enumerate(SAID):
        rate, channels = FORMATS[k % len(FORMATS)]
        write_pcm(root / "wavs" / f"u{k}.wav", tones(digits, rate), rate=rate, channels=channels)
        said = " ".join(digits) if k % 3 else digits  # "3 1 4" or "314": both are digits
        lines.append(f"wavs/u{k}.wav\t{said}")
    (root / "list.tsv").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="module")
def trained(corpus):
    result = run_cli("train", "ctc", "--data", "list.tsv", *TINY, "--out", "run", cwd=corpus)
    assert result.returncode == 0, result.stderr
    return corpus / "run", result


def test_the_run_is_a_speech_model_of_the_derived_alphabet(trained):
    run, result = trained
    model = rnnkit.load(run)
    assert isinstance(model, CTCRecognizer)
    c = model.config
    assert (c.source, c.image_height, c.alphabet, c.channels, c.hidden_size) == \
        ("speech", N_MELS, DIGITS, 4, 8)  # fmt: skip
    record = json.loads((run / STATE_DIR / RUN_NAME).read_text())
    assert record["data"]["alphabet"] == DIGITS  # derived, then recorded for --resume
    assert record["data"]["data_path"] == str((run.parent / "list.tsv").resolve())
    assert "test recordings, greedy: sequence accuracy" in result.stdout


def test_the_split_is_by_file_and_the_report_is_what_the_model_reads(trained, corpus):
    run, _ = trained
    report = json.loads((run / "report.json").read_text())
    assert report["steps"] == 4
    train, valid, test = make_lines(JOB.data(**report["task"]), seed=0)
    assert (len(train), len(valid), len(test)) == (6, 3, 3)  # 12 files, 0.25 each
    names = [set(part.sources) for part in (train, valid, test)]
    assert not (names[0] & names[1] or names[0] & names[2] or names[1] & names[2])
    assert set.union(*names) == {str(corpus / "wavs" / f"u{k}.wav") for k in range(12)}
    truth = dict(zip((str(corpus / "wavs" / f"u{k}.wav") for k in range(12)), SAID, strict=True))
    assert all(truth[s] == label for s, label in zip(test.sources, test.labels, strict=True))
    model = rnnkit.load(run)
    assert report["test"]["lines"] == 3
    assert scores(model.recognise(test.images), test.labels, error="wer") == \
        report["test"]["greedy"]  # fmt: skip


def test_transcribe_and_evaluate_read_the_trained_directory(trained, corpus):
    run, _ = trained
    wavs = [corpus / "wavs" / f"u{k}.wav" for k in (1, 2)]  # 8 kHz mono, 22.05 kHz stereo
    result = run_cli("transcribe", "--checkpoint", run, *wavs, cwd=corpus)
    assert result.returncode == 0, result.stderr
    model = rnnkit.load(run)
    want = model.recognise([wav_features(w).T for w in wavs])  # (a 4-step model may be wrong)
    assert result.stdout.splitlines() == want
    (corpus / "two.tsv").write_text(f"wavs/u1.wav\t{SAID[1]}\nwavs/u2.wav\t{SAID[2]}\n")
    result = run_cli("evaluate", "--checkpoint", run, "--data", "two.tsv", "--beam", "1",
                     "--json", cwd=corpus)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "recordings": 2, "greedy": scores(want, SAID[1:3], error="wer")}  # fmt: skip


def test_the_trained_directory_exports_to_onnx(trained, tmp_path):
    pytest.importorskip("onnxruntime")
    run, _ = trained
    result = run_cli("export", "--checkpoint", run, "--out", tmp_path / "mine.onnx", "--verify",
                     cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "mine.onnx").stat().st_size > 0


def test_resume_rereads_the_lists_and_continues(trained, corpus, tmp_path):
    run, _ = trained
    copy = shutil.copytree(run, tmp_path / "run")  # the other tests keep the 4-step model
    result = run_cli("train", "ctc", "--resume", copy, "--max-steps", "6", "--no-progress",
                     cwd=corpus)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads((copy / "report.json").read_text())["steps"] == 6


def test_given_validation_and_test_lists_and_a_given_alphabet(corpus, tmp_path):
    lines = (corpus / "list.tsv").read_text().splitlines()
    root = corpus / "wavs"
    for name, part in (("train", lines[:8]), ("dev", lines[8:10]), ("test", lines[10:])):
        (root / f"{name}.tsv").write_text("\n".join(p.removeprefix("wavs/") for p in part))
    result = run_cli("train", "ctc", "--data", root / "train.tsv", "--valid-file",
                     root / "dev.tsv", "--test-file", root / "test.tsv", "--alphabet",
                     "9876543210", *TINY[:8], "--no-progress", "--out", tmp_path / "r",
                     cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["test"]["lines"] == 2
    assert rnnkit.load(tmp_path / "r").config.alphabet == "9876543210"


# -- bad input: one line naming the file and the line, exit 2 -------------------------------


@pytest.mark.parametrize(("first", "extra", "needles"), [
    ("wavs/nope.wav\t1", [], ["list.tsv:2:", "nope.wav: no such file"]),
    ("junk.wav\t1", [], ["list.tsv:2:", "junk.wav: not a PCM WAV file"]),
    ("empty.wav\t1", [], ["list.tsv:2:", "empty.wav: empty file"]),
    ("wavs/u1.wav\t2 7", ["--alphabet", "0134"],
     ["list.tsv:2: symbol '2' in '2 7' is not in the alphabet '0134'"]),
    ("wavs/u0.wav 314", [], ["list.tsv:2: expected file<TAB>transcript"]),
    (None, [], ["list.tsv: no recordings listed"]),
])  # fmt: skip
def test_bad_lists_are_one_line(corpus, tmp_path, first, extra, needles):
    """Line 2 is bad; the other lines are the good corpus (one bad line among many)."""
    (tmp_path / "wavs").symlink_to(corpus / "wavs")
    (tmp_path / "junk.wav").write_text("not audio at all")
    (tmp_path / "empty.wav").write_bytes(b"")
    good = (corpus / "list.tsv").read_text().splitlines()
    listing = "\n\n" if first is None else "\n".join([good[0], first, *good[1:]])
    (tmp_path / "list.tsv").write_text(listing)
    result = run_cli("train", "ctc", "--data", "list.tsv", *extra, *TINY, "--out", "x",
                     cwd=tmp_path)  # fmt: skip
    assert_one_line_error(result, *needles)
    assert not (tmp_path / "x" / STATE_DIR).exists()  # nothing recorded


def test_a_validation_list_outside_the_derived_alphabet_names_its_line(corpus, tmp_path):
    (tmp_path / "dev.tsv").write_text(f"{corpus}/wavs/u0.wav\tthree one four\n"
                                      f"{corpus}/wavs/u1.wav\t2 x\n")  # fmt: skip
    result = run_cli("train", "ctc", "--data", corpus / "list.tsv", "--valid-file", "dev.tsv",
                     *TINY, "--out", "x", cwd=tmp_path)  # fmt: skip
    assert_one_line_error(result, "dev.tsv:2: symbol 'x'", repr(DIGITS))


@pytest.mark.parametrize(("args", "needle"), [
    (["--data", "list.tsv", "--preset", "handwriting"], "--preset handwriting reads generated"),
    (["--data", "list.tsv", "--source", "handwriting"], "--source handwriting reads generated"),
    (["--valid-file", "list.tsv", "--preset", "tiny"], "valid_file applies to recordings"),
    (["--preset", "recordings"], "--preset recordings trains on your recordings: give --data"),
    (["--data", "list.tsv", "--valid-fraction", "0.5", "--test-fraction", "0.5"],
     "leave nothing to train on"),
    (["--data", "list.tsv", "--valid-fraction", "0.49", "--test-fraction", "0.49",
      "--preset", "tiny"], "no training recordings"),
])  # fmt: skip
def test_bad_options_are_one_line(corpus, args, needle):
    result = run_cli("train", "ctc", *args, "--no-progress", "--out", "x", cwd=corpus)
    assert_one_line_error(result, needle)
