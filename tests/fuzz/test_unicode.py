"""Text that is not valid Unicode: a half emoji in a JSONL escape, file and folder names that
are not UTF-8, bad bytes on standard input and in arguments. Each is read, replaced or refused
in one line; none reaches a writer or a print as a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cli_helpers import assert_one_line_error
from fuzz.harness import check, one_line, run_main, run_reader, scratch
from rnnkit.data.records import read_labelled
from rnnkit.errors import DataError

HALF = "\ud83d"  # the first half of 😀 (U+1F600): what a tweet cut mid-emoji leaves
ROWS = [row for i in range(8) for row in ((f"win a free prize {i}", "spam"),
                                          (f"see you at lunch {i}", "ham"))]  # fmt: skip
#: any character, now and then a lone surrogate (hypothesis leaves them out by default)
ANY = st.one_of(st.characters(), st.characters(), st.sampled_from([HALF, "\ude00", "\udcff"]))
LABELS = st.sampled_from(["spam", "ham", "", f"ham{HALF}", "\udcff"])
TRAIN = ["--no-header", "--preset", "tiny", "--no-baseline", "--no-progress", "--max-steps", "1",
         "--eval-every", "1"]  # fmt: skip


def jsonl(rows: list[tuple[str, str]]) -> str:
    """JSON Lines as json.dumps writes them: a lone surrogate becomes the escape ``\\ud83d``."""
    return "".join(json.dumps({"text": t, "label": lab}) + "\n" for t, lab in rows)


def test_half_characters_in_texts_are_replaced_and_counted(tmp_path):
    rows = [*ROWS, (f"free {HALF}", "spam"), (f"{HALF}{HALF} ok 😀", "ham")]
    path = tmp_path / "cut.jsonl"
    path.write_text(jsonl(rows))
    assert "\\ud83d" in path.read_text()  # the file holds the escape, as a cut tweet would
    corpus = read_labelled(path)
    assert corpus.texts[-2:] == ["free \ufffd", "\ufffd\ufffd ok 😀"]  # the whole emoji stays
    assert corpus.notes == {"cut characters replaced": 2}
    assert "(2 cut characters replaced)" in corpus.summary()


def test_a_half_character_in_a_label_is_refused_with_its_line(tmp_path):
    path = tmp_path / "cut.jsonl"
    path.write_text(jsonl([*ROWS, ("hello", f"ham{HALF}")]))
    with pytest.raises(DataError) as caught:
        read_labelled(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:17: label: not valid Unicode (a lone surrogate U+D83D")
    assert "\n" not in message


def test_training_on_cut_emojis_writes_its_config(scene):
    """The audit's crash: the config was written after training; now the text is clean."""
    where = scratch(scene)
    (where / "cut.jsonl").write_text(jsonl([*ROWS, (f"prize {HALF}", "spam")]))
    outcome = run_main(["train", "classify", "--data", "cut.jsonl", *TRAIN[1:], "--out", "r"],
                       where)  # fmt: skip
    assert outcome.kind == "success", outcome
    assert json.loads((where / "r" / "config.json").read_text("utf-8"))["labels"] == ["ham", "spam"]


def test_a_cut_label_stops_training_before_it_starts(scene):
    where = scratch(scene)
    (where / "cut.jsonl").write_text(jsonl([*ROWS, ("prize", f"sp{HALF}")]))
    outcome = run_main(["train", "classify", "--data", "cut.jsonl", *TRAIN[1:], "--out", "r"],
                       where)  # fmt: skip
    one_line(outcome, "cut.jsonl:17: label: not valid Unicode")
    assert not (where / "r").exists()


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.text(ANY, max_size=6), LABELS), min_size=1, max_size=8))
def test_any_text_and_label_is_read_or_refused_in_one_line(tmp_path_factory, rows):
    """Any strings, lone surrogates included (hypothesis draws them): the reader returns text
    that encodes as UTF-8, or refuses in one line."""
    path = tmp_path_factory.mktemp("jsonl") / "any.jsonl"
    path.write_text(jsonl(rows))
    outcome = check("read_labelled jsonl", run_reader(lambda: read_labelled(path)), repr(rows))
    if outcome.kind == "success":
        corpus = read_labelled(path)
        "".join(corpus.texts + corpus.labels).encode("utf-8")  # raises if a surrogate got in


def bytes_path(folder: Path, name: bytes) -> Path:
    """A path whose last part is ``name``, bytes that need not be UTF-8 (``os.fsdecode`` keeps
    a bad byte as a lone surrogate, as Python does for every path it is given)."""
    path = Path(os.fsdecode(os.path.join(os.fsencode(folder), name)))
    return path


def test_a_file_name_that_is_not_utf8_reaches_run_json_and_back(scene):
    where = scratch(scene)
    data, out = bytes_path(where, b"sms-\xff.tsv"), where / "run"
    data.write_text("".join(f"{label}\t{text}\n" for text, label in ROWS))
    outcome = run_main(["train", "classify", "--data", str(data), *TRAIN, "--out", str(out)],
                       where)  # fmt: skip
    assert outcome.kind == "success", outcome
    record = json.loads((out / "trainer_state" / "run.json").read_text("utf-8"))
    assert '"data_path": "' + str(where).replace("\\", "\\\\") + '/sms-\\udcff.tsv"' in (
        out / "trainer_state" / "run.json"
    ).read_text("ascii")  # the bad byte as a JSON escape, the rest as it was
    assert record["data"]["data_path"] == str(data)  # read back: the same name
    assert os.fsencode(record["data"]["data_path"]).endswith(b"sms-\xff.tsv")
    resumed = run_main(["train", "classify", "--resume", str(out), "--max-steps", "2",
                        "--no-progress"], where)  # fmt: skip
    assert resumed.kind == "success", resumed


def test_an_out_folder_that_is_not_utf8_is_refused_before_training(scene):
    """safetensors (Rust) takes UTF-8 paths only: said at once, not after the first update."""
    where = scratch(scene)
    out = bytes_path(where, b"run-\xe9")
    argv = ["train", "classify", "--data", str(scene.files["tsv"]), *TRAIN, "--out", str(out)]
    one_line(run_main(argv, where), "--out", "not valid UTF-8")
    assert list(where.iterdir()) == []


def test_a_label_folder_named_in_bytes_that_are_not_utf8_is_one_line(tmp_path):
    for label in (b"ham", b"sp\xffam"):
        folder = bytes_path(tmp_path, label)
        folder.mkdir()
        (folder / "a.txt").write_text("a message")
    with pytest.raises(DataError, match="the folder name is not valid UTF-8") as caught:
        read_labelled(tmp_path, format="folders")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("command", "checkpoint"),
    [("classify", "classifier"), ("tag", "tagger"), ("translate", "seq2seq")],
)
def test_bad_bytes_in_an_argument_are_one_line(scene, command, checkpoint):
    """Python gives an argument's bad byte (0xff) as U+DCFF, whatever the locale."""
    argv = [command, "--checkpoint", str(scene.checkpoints[checkpoint]), "ok", "b\udcffd"]
    one_line(run_main(argv, scratch(scene)), "TEXT 2: not valid Unicode", "U+DCFF")


def test_bad_bytes_in_a_prime_are_one_line(scene):
    argv = ["sample", "--checkpoint", str(scene.checkpoints["lm"]), "--prime", "RO\udcffMEO"]
    one_line(run_main(argv, scratch(scene)), "--prime: not valid Unicode", "character 3")


def test_bad_bytes_on_standard_input_in_utf8_mode_are_one_line(scene):
    """UTF-8 mode (PYTHONUTF8=1) reads a bad byte on stdin as U+DCFF."""
    argv = ["classify", "--checkpoint", str(scene.checkpoints["classifier"]), "--input", "-"]
    outcome = run_main(argv, scratch(scene), stdin="fine\nb\udcffd\n")
    one_line(outcome, "<stdin>:2: not valid Unicode")


@pytest.mark.parametrize(
    "env",
    [{"LC_ALL": "C.UTF-8", "PYTHONUTF8": "0"}, {"PYTHONUTF8": "1"},
     {"LC_ALL": "C.UTF-8", "PYTHONUTF8": "0", "PYTHONIOENCODING": "utf-8:strict"}],
    ids=["C.UTF-8", "UTF-8 mode", "strict"],
)  # fmt: skip
def test_bad_bytes_under_a_strict_utf8_locale_as_a_user_runs_it(scene, env):
    """The real process: stdin decoded as the locale says (C.UTF-8 and UTF-8 mode keep a bad
    byte as a surrogate; a locale such as en_US.UTF-8, here PYTHONIOENCODING, refuses it),
    argv as bytes."""
    base = [sys.executable, "-m", "rnnkit.cli", "classify", "--checkpoint",
            str(scene.checkpoints["classifier"])]  # fmt: skip
    environment = {**os.environ, "OMP_NUM_THREADS": "1", **env}
    stdin = subprocess.run([*base, "--input", "-"], input=b"fine\n\xff\xfe\n", env=environment,
                           capture_output=True, timeout=300)  # fmt: skip
    argv = subprocess.run([os.fsencode(w) for w in base] + [b"caf\xe9"], env=environment,
                          capture_output=True, timeout=300)  # fmt: skip
    for result in (stdin, argv):
        result = subprocess.CompletedProcess(result.args, result.returncode,
                                             result.stdout.decode(errors="replace"),
                                             result.stderr.decode(errors="replace"))  # fmt: skip
        assert_one_line_error(result, "not valid")
