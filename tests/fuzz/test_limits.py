"""Options that would be ignored are errors (``--ss-k``/``--ss-c``), and inputs too large for
memory are refused in one line before they are read (a 2 GB sparse file, a long line)."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

import rnnkit.data.text as text_module
from fuzz.harness import CASE_SECONDS, one_line, run_main, scratch, time_limit
from fuzz.test_options import COMMANDS, base_argv
from rnnkit.data.conllu import read_conllu
from rnnkit.data.pairs import read_pairs
from rnnkit.data.records import read_labelled
from rnnkit.data.text import read_stream, read_text
from rnnkit.errors import DataError
from rnnkit.serve.limits import ServeLimits

#: train commands whose parser takes --ss-k, found from the parser itself
SCHEDULED = sorted(c for c, p in COMMANDS.items()
                   if c[0] == "train" and "--ss-k" in p._option_string_actions)  # fmt: skip


def one_line_error(argv: list[str], cwd: Path, *needles: str) -> str:
    """Run ``rnnkit argv``: exit 2, exactly one line on stderr, holding every needle."""
    return one_line(run_main(argv, cwd), *needles)




def test_scheduled_sampling_commands_are_found():
    assert {("train", "lm"), ("train", "seq2seq")} <= set(SCHEDULED), SCHEDULED


@pytest.mark.parametrize("command", SCHEDULED, ids=" ".join)
@pytest.mark.parametrize(
    ("options", "needle"),
    [
        (["--ss-k", "2"], "--ss-k needs --scheduled-sampling"),
        (["--ss-c", "0.01"], "--ss-c needs --scheduled-sampling linear"),
        (["--scheduled-sampling", "exponential", "--ss-c", "0.01"],
         "--ss-c needs --scheduled-sampling linear"),
    ],
)  # fmt: skip
def test_scheduled_sampling_constants_alone_are_usage_errors(scene, command, options, needle):
    where = scratch(scene)
    one_line_error([*command, *base_argv(command, scene), *options], where, needle)
    assert not (where / "out").exists()


@pytest.mark.parametrize("kind", ["lm", "seq2seq", "digits"])
def test_resume_refuses_training_options_it_would_ignore(scene, kind):
    job = {"lm": "lm", "seq2seq": "seq2seq", "digits": "digits"}[kind]
    run = scene.checkpoints[kind]
    before = sorted(p.name for p in (run / "trainer_state").iterdir())
    argv = ["train", job, "--resume", str(run), "--ss-k", "2", "--no-progress"]
    one_line_error(argv, scratch(scene), "--ss-k", "--resume")
    assert sorted(p.name for p in (run / "trainer_state").iterdir()) == before


def test_scheduled_sampling_constants_are_taken_with_a_schedule(scene):
    where, command = scratch(scene), ("train", "seq2seq")
    options = ["--scheduled-sampling", "inverse_sigmoid", "--ss-k", "3"]
    outcome = run_main([*command, *base_argv(command, scene), *options], where)
    assert outcome.kind == "success", outcome
    record = json.loads((where / "out" / "trainer_state" / "run.json").read_text())
    assert record["training"]["scheduled_sampling"] == "inverse_sigmoid"
    assert record["training"]["ss_k"] == 3.0


# -- inputs too large for memory ------------------------------------------------------------

TWO_GB = 2 * 1024**3
#: every reader of user files, on a path
READERS = {
    "text": read_text,
    "conllu": read_conllu,
    "pairs": read_pairs,
    "tsv": lambda p: read_labelled(p, format="tsv"),
    "jsonl": lambda p: read_labelled(p, format="jsonl"),
    "csv": lambda p: read_labelled(p, format="csv"),
}


def sparse(path: Path, size: int = TWO_GB) -> Path:
    """A file of ``size`` bytes that takes no disk (a hole), created at once."""
    with path.open("wb") as f:
        f.truncate(size)
    return path


@pytest.mark.parametrize("kind", sorted(READERS))
def test_a_2gb_file_is_refused_before_reading(tmp_path, kind):
    path = sparse(tmp_path / f"big.{kind}")
    with pytest.raises(DataError, match="more than 1,073,741,824 bytes") as caught:
        READERS[kind](path)
    assert str(caught.value).startswith(f"{path}: ") and "\n" not in str(caught.value)


def test_a_2gb_document_in_a_label_folder_is_refused(tmp_path):
    for label in ("ham", "spam"):
        (tmp_path / label).mkdir()
        (tmp_path / label / "a.txt").write_text(f"a {label} message")
    big = sparse(tmp_path / "spam" / "b.txt")
    with pytest.raises(DataError, match=f"{big}: more than 1,073,741,824 bytes"):
        read_labelled(tmp_path, format="folders")


@pytest.mark.parametrize(
    ("command", "option"),
    [(("train", "lm"), "--text"), (("train", "seq2seq"), "--data"),
     (("train", "classify"), "--data"), (("train", "tag"), "--train")],
)  # fmt: skip
def test_a_2gb_training_file_is_a_one_line_error(scene, command, option):
    where = scratch(scene)
    big = sparse(where / "big.txt")
    argv = [*command, *base_argv(command, scene), option, str(big)]
    one_line_error(argv, where, str(big), "more than 1,073,741,824 bytes", "MAX_FILE_BYTES")
    assert not (where / "out" / "model.safetensors").exists()


@pytest.mark.parametrize(
    "template",
    [["evaluate", "--checkpoint", "{lm}", "--data", "BIG"],
     ["classify", "--checkpoint", "{classifier}", "--input", "BIG"],
     ["tag", "--checkpoint", "{tagger}", "--input", "BIG"],
     ["translate", "--checkpoint", "{seq2seq}", "--input", "BIG"]],
)  # fmt: skip
def test_a_2gb_input_to_a_trained_model_is_a_one_line_error(scene, template):
    where = scratch(scene)
    big = sparse(where / "big.txt")
    names = {k: str(v) for k, v in scene.checkpoints.items()}
    argv = [w.format(**names).replace("BIG", str(big)) for w in template]
    one_line_error(argv, where, str(big), "more than 1,073,741,824 bytes")


LINES = {  # (a good line, how a file of the kind holds it)
    "conllu": "1\tword\t_\tNOUN\t_\t_\t0\t_\t_\t_\n\n",
    "pairs": "word\tw o r d\n",
    "tsv": "spam\tfree cash\nham\tsee you\n",
    "jsonl": '{"text": "free cash", "label": "spam"}\n{"text": "hi", "label": "ham"}\n',
    "csv": "label,text\nspam,free cash\nham,see you\n",
}


@pytest.mark.parametrize("kind", sorted(LINES))
def test_a_line_longer_than_the_limit_is_refused_with_its_number(tmp_path, monkeypatch, kind):
    monkeypatch.setattr(text_module, "MAX_LINE_BYTES", 100)
    good = tmp_path / f"good.{kind}"
    good.write_text(LINES[kind] * 3)
    READERS[kind](good)  # lines under the limit: read as before
    long_line = "x" * 101 + "\n"  # the limit plus one byte (and the line end)
    bad = tmp_path / f"bad.{kind}"
    bad.write_text(LINES[kind] + long_line + LINES[kind])
    line_no = LINES[kind].count("\n") + 1
    with pytest.raises(DataError, match="a line of more than 100 bytes") as caught:
        READERS[kind](bad)
    assert str(caught.value).startswith(f"{bad}:{line_no}: "), caught.value


def test_a_line_of_exactly_the_limit_is_read(tmp_path, monkeypatch):
    monkeypatch.setattr(text_module, "MAX_LINE_BYTES", 100)
    path = tmp_path / "pairs.tsv"
    path.write_text("a\t" + "b " * 49 + "\n")  # 100 bytes before the line end
    assert len(read_pairs(path)[0].target) == 49


def test_a_file_of_exactly_the_limit_is_read(tmp_path, monkeypatch):
    monkeypatch.setattr(text_module, "MAX_FILE_BYTES", 1000)
    path = tmp_path / "t.txt"
    path.write_text("a" * 1000)
    assert read_text(path) == "a" * 1000
    path.write_text("a" * 1001)
    with pytest.raises(DataError, match="more than 1,000 bytes"):
        read_text(path)


# -- paths that are not regular files ------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(READERS))
def test_a_device_is_refused_before_it_is_read(kind):
    """/dev/zero never ends and /dev/null reads as empty: neither is a data file."""
    for device in ("/dev/zero", "/dev/null"):
        with pytest.raises(DataError, match=f"^{device}: is a character device, expected "):
            READERS[kind](device)


@pytest.mark.parametrize("kind", sorted(READERS))
def test_a_named_pipe_is_refused_without_waiting_for_a_writer(tmp_path, kind):
    """Opening a FIFO blocks until something writes to it: none ever will here."""
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    with time_limit(CASE_SECONDS), pytest.raises(DataError, match="is a named pipe") as caught:
        READERS[kind](pipe)
    assert str(caught.value).startswith(f"{pipe}: is a named pipe, expected ")


@pytest.mark.parametrize(
    "template",
    [["train", "lm", "--text", "PIPE"], ["train", "classify", "--data", "PIPE"],
     ["train", "tag", "--train", "PIPE"], ["train", "seq2seq", "--data", "PIPE"],
     ["evaluate", "--checkpoint", "{classifier}", "--data", "PIPE"],
     ["classify", "--checkpoint", "{classifier}", "--input", "PIPE"],
     ["tag", "--checkpoint", "{tagger}", "--input", "PIPE"],
     ["translate", "--checkpoint", "{seq2seq}", "--input", "PIPE"],
     ["inspect", "--checkpoint", "{lm}", "--text", "PIPE", "--out", "p.html"]],
    ids=lambda t: " ".join(t[:2]),
)  # fmt: skip
def test_a_named_pipe_as_a_data_file_is_a_one_line_error(scene, template):
    where = scratch(scene)
    pipe = where / "pipe"
    os.mkfifo(pipe)
    if template[0] == "train":  # the recipe, with the pipe for its data file (the last wins)
        command = tuple(template[:2])
        template = [*command, *base_argv(command, scene), *template[2:]]
    names = {k: str(v) for k, v in scene.checkpoints.items()}
    argv = [w.format(**names).replace("PIPE", str(pipe)) for w in template]
    one_line_error(argv, where, f"{pipe}: is a named pipe")


@pytest.mark.parametrize(
    ("name", "template"),
    [("config.json", ["classify", "--checkpoint", "DIR", "free cash"]),
     ("trainer_state/run.json", ["train", "lm", "--resume", "DIR"]),
     ("metrics.jsonl", ["plot", "curves", "DIR", "--out", "c.png"])],
)  # fmt: skip
def test_a_named_pipe_in_a_checkpoint_is_a_one_line_error(scene, name, template):
    where = scratch(scene)
    folder = where / "copy"
    (folder / "trainer_state").mkdir(parents=True)
    os.mkfifo(folder / name)
    argv = [str(folder) if w == "DIR" else w for w in template]
    one_line_error(argv, where, f"{folder / name}: is a named pipe")


def test_a_named_pipe_in_a_label_folder_is_skipped_and_counted(tmp_path):
    for label in ("ham", "spam"):
        (tmp_path / label).mkdir()
        for i in range(2):
            (tmp_path / label / f"{i}.txt").write_text(f"a {label} message {i}")
    os.mkfifo(tmp_path / "spam" / "pipe")
    corpus = read_labelled(tmp_path, format="folders")
    assert corpus.read == 4 and corpus.skipped == {"not a regular file": 1}
    with pytest.raises(DataError, match="pipe: not a regular file; strict reading skips nothing"):
        read_labelled(tmp_path, format="folders", strict=True)


def test_standard_input_is_read_up_to_the_limit(monkeypatch):
    monkeypatch.setattr(text_module, "MAX_FILE_BYTES", 10)
    assert read_stream(io.StringIO("0123456789")) == "0123456789"
    with pytest.raises(DataError, match="<stdin>: more than 10 bytes"):
        read_stream(io.StringIO("0123456789!"))


# -- JSON nested deeper than the stack ------------------------------------------------------

DEEP = "[" * 100_000 + "]" * 100_000  # JSON, but past Python's recursion limit


def test_a_jsonl_line_nested_too_deeply_is_refused_with_its_number(tmp_path):
    path = tmp_path / "deep.jsonl"
    path.write_text(LINES["jsonl"] + DEEP + "\n")
    with pytest.raises(DataError, match=r"deep.jsonl:3: not valid JSON \(nested too deeply\)"):
        read_labelled(path)


@pytest.mark.parametrize(
    ("name", "template", "needle"),
    [("config.json", ["classify", "--checkpoint", "DIR", "free cash"], "corrupt JSON"),
     ("trainer_state/run.json", ["train", "lm", "--resume", "DIR"], "corrupt JSON"),
     ("metrics.jsonl", ["plot", "curves", "DIR", "--out", "c.png"], "not a JSON record")],
)  # fmt: skip
def test_a_checkpoint_file_nested_too_deeply_is_a_one_line_error(scene, name, template, needle):
    where = scratch(scene)
    folder = where / "copy"
    (folder / "trainer_state").mkdir(parents=True)
    (folder / name).write_text(DEEP + "\n")
    argv = [str(folder) if w == "DIR" else w for w in template]
    one_line_error(argv, where, f"{folder / name}", needle)


# -- options the parser checks --------------------------------------------------------------


@pytest.mark.parametrize("codec", ["rot13", "hex", "base64", "zlib", "bogus-codec"])
@pytest.mark.parametrize("command", [("train", "classify"), ("evaluate",)], ids=" ".join)
def test_encoding_fallback_must_be_a_text_encoding(scene, command, codec):
    """A codec of str to str (rot13) or bytes to bytes (hex) would fail on the first file that
    is not UTF-8; the parser says so before anything is read."""
    where = scratch(scene)
    evaluate = ["--checkpoint", str(scene.checkpoints["classifier"]), "--data",
                str(scene.files["tsv"]), "--no-header"]  # fmt: skip
    base = base_argv(command, scene) or evaluate
    line = one_line_error([*command, *base, "--encoding-fallback", codec], where,
                          "argument --encoding-fallback", repr(codec))  # fmt: skip
    assert ("not a text encoding" in line) == (codec != "bogus-codec"), line
    with pytest.raises(DataError, match="encoding_fallback"):
        read_labelled(scene.files["tsv"], encoding_fallback=codec)


def test_a_text_encoding_is_taken_as_the_fallback(scene):
    where = scratch(scene)
    (where / "latin.tsv").write_bytes(scene.files["tsv"].read_bytes() + b"ham\tcaf\xe9 au lait\n")
    argv = ["evaluate", "--checkpoint", str(scene.checkpoints["classifier"]), "--data",
            "latin.tsv", "--no-header", "--encoding-fallback", "cp1252", "--json"]  # fmt: skip
    assert run_main(argv, where).kind == "success"


@pytest.mark.parametrize("command", [("train", "classify"), ("train", "seq2seq")], ids=" ".join)
def test_fractions_that_leave_nothing_to_train_on_are_refused_before_reading(scene, command):
    """The data option points at a missing file: the error is the fractions', so no file was
    opened before it."""
    where = scratch(scene)
    argv = [*command, *base_argv(command, scene), "--data", "missing.tsv",
            "--valid-fraction", "0.5", "--test-fraction", "0.5"]  # fmt: skip
    one_line_error(argv, where, "--valid-fraction 0.5 + --test-fraction 0.5 leave nothing")
    assert not (where / "out").exists()


# -- the inputs of a trained model, capped as the server caps them --------------------------

CAP = ServeLimits().max_input_chars


@pytest.mark.parametrize(
    ("command", "checkpoint", "word"),
    [("translate", "seq2seq", "cat"), ("classify", "classifier", "free"),
     ("tag", "tagger", "dog")],
)  # fmt: skip
def test_an_input_longer_than_the_servers_limit_is_one_line(scene, command, checkpoint, word):
    where = scratch(scene)
    base = [command, "--checkpoint", str(scene.checkpoints[checkpoint]), "--beam", "1"]
    base = base if command == "translate" else base[:-2]
    at_cap = (word + " ") * (CAP // (len(word) + 1)) + "x" * (CAP % (len(word) + 1))
    assert len(at_cap) == CAP
    if command != "translate":  # decoding 2,000 characters is the slow part of translate
        assert run_main([*base, at_cap], where).kind == "success"
    one_line_error([*base, "ok", "x" + at_cap], where,
                   f"TEXT 2: {CAP + 1:,} characters, more than the {CAP:,}")  # fmt: skip
    (where / "in.txt").write_text(f"ok\n{'y' * 20_000}\n")
    needle = "in.txt:2: 20,000 characters" if command != "tag" else "sentence 2: 20,000"
    one_line_error([*base, "--input", "in.txt"], where, needle)


def test_max_length_is_capped_as_in_the_server(scene):
    where = scratch(scene)
    base = ["translate", "--checkpoint", str(scene.checkpoints["seq2seq"]), "cat", "--beam", "1"]
    assert run_main([*base, "--max-length", str(ServeLimits().max_length)], where).status == 0
    one_line_error([*base, "--max-length", str(ServeLimits().max_length + 1)], where,
                   f"--max-length must be in [1, {ServeLimits().max_length}]")  # fmt: skip
