"""The run lifecycle (:mod:`rnnkit.apps.runs`): presets, run.json validated field by field,
options refused with ``--resume``, and a SIGKILLed run resumed to the uninterrupted weights."""

import json
import signal
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from cli_helpers import assert_one_line_error, rnnkit
from rnnkit.apps import classify, digits, language_model, longrange, runs, seq2seq, sort, tag
from rnnkit.apps.runs import RunConfig, load_record, save_record
from rnnkit.cli import main
from rnnkit.errors import CheckpointError
from rnnkit.training import checkpoint
from rnnkit.training.config import TrainConfig

JOBS = [classify.JOB, language_model.JOB, tag.JOB, seq2seq.JOB, sort.JOB, digits.JOB, longrange.JOB]
SENTENCES = [("The dog barks .", "DET NOUN VERB PUNCT"), ("A cat sleeps", "DET NOUN VERB"),
             ("She runs fast", "PRON VERB ADV")]  # fmt: skip


def conllu() -> str:
    blocks = []
    for text, tags in SENTENCES:
        words = zip(text.split(), tags.split(), strict=True)
        lines = [f"{i}\t{w}\t_\t{t}\t_\t_\t0\t_\t_\t_" for i, (w, t) in enumerate(words, 1)]
        blocks.append("\n".join(lines) + "\n\n")
    return "".join(blocks)


@pytest.mark.parametrize("job", JOBS, ids=lambda j: j.name)
def test_every_preset_is_made_of_the_jobs_fields(job):
    job.check_presets()


def test_a_preset_with_an_unknown_field_is_refused():
    bad = runs.Job("x", tag.TagData, tag.JOB.model, sizes=tag.JOB.sizes,
                   presets={"p": runs.Preset("", model={"hiden_size": 3})})  # fmt: skip
    with pytest.raises(ValueError, match="model.hiden_size: unknown"):
        bad.check_presets()


@pytest.fixture
def recorded(tmp_path) -> Path:
    """A ``train tag`` run directory holding only its run.json (no training)."""
    data = tag.TagData(str(tmp_path / "t.conllu"), str(tmp_path / "d.conllu"))
    model = tag.JOB.complete_model(tag.PRESETS["tiny"].model)
    config = RunConfig(data, model, TrainConfig(**tag.PRESETS["tiny"].training))
    runs.start(tag.JOB, tmp_path / "run", config)  # the checks of a fresh run pass
    save_record(tmp_path / "run", tag.JOB, config)
    assert load_record(tmp_path / "run", tag.JOB) == config
    return tmp_path / "run"


#: (section, field, value; None: removed) -> what the one-line error says
EDITS = {
    ("format", None, -1): "field format",
    ("training", "step", "x"): "field training.step: unknown",
    ("training", "batch_size", "x"): "field training.batch_size: expected int",
    ("training", "max_steps", -5): "field training.max_steps: must be in [1",
    ("training", "lr", None): "field training.lr: missing",
    ("training", "lr", float("nan")): "field training.lr: expected",
    ("training", "seed", True): "field training.seed: expected int",
    ("model", "hidden_size", 10**12): "field model.hidden_size: must be in [1, 65536]",
    ("model", "crf", "yes"): "field model.crf: expected bool",
    ("model", "cell", "lsmt"): "field model.cell: must be one of",
    ("model", "num_layers", None): "field model.num_layers: missing",
    ("data", "column", "LEMMA"): "field data: column must be one of",
    ("data", "train", 3): "field data.train: expected str",
    ("data", None, ()): "field data: expected an object, got a list",
    ("data", "extra", 1): "field data.extra: unknown",
}


@pytest.mark.parametrize("edit", sorted(EDITS, key=str), ids=str)
def test_an_edited_record_is_one_line_naming_the_file_and_the_field(recorded, edit):
    path = recorded / "trainer_state" / "run.json"
    record = json.loads(path.read_text())
    section, name, value = edit
    if name is None:
        record[section] = list(value) if isinstance(value, tuple) else value
    elif value is None:
        del record[section][name]
    else:
        record[section][name] = value
    path.write_text(json.dumps(record))
    with pytest.raises(CheckpointError) as caught:
        load_record(recorded, tag.JOB)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and EDITS[edit] in message and "\n" not in message


def test_resume_refuses_what_the_run_cannot_honour(recorded, capsys):
    for given in (["--lr", "0.1"], ["--hidden-size", "8"], ["--column", "XPOS"],
                  ["--train", "other.conllu"], ["--seed", "3"]):  # fmt: skip
        assert main(["train", "tag", "--resume", str(recorded), *given]) == 2
        err = capsys.readouterr().err
        assert f"drop {given[0]}" in err and "--max-steps" in err, err


def test_the_classify_record_is_checked_field_by_field(tmp_path):
    """``"format": -1`` in classify's data section was a traceback from deep in the reader."""
    from dataclasses import asdict

    config = RunConfig(classify.ClassifyData("x.tsv"), {}, TrainConfig(max_steps=1))
    record = {**config.as_record(), "data": {**asdict(config.data), "format": -1}}
    checkpoint.save_run_record(tmp_path, "classify", record, version=runs.VERSION)
    with pytest.raises(CheckpointError, match=r"run.json: field data.format: expected str"):
        load_record(tmp_path, classify.JOB)


def test_sigkill_then_resume_ends_with_the_uninterrupted_weights(tmp_path):
    """``train tag`` through the lifecycle: killed (SIGKILL) after update 13, with trainer
    states saved every 4; ``--resume`` continues from step 12 to the same final weights as an
    uninterrupted run of the same seed."""
    (tmp_path / "t.conllu").write_text(conllu())
    args = ["train", "tag", "--train", "t.conllu", "--dev", "t.conllu", "--preset", "tiny",
            "--no-progress", "--max-steps", "20", "--save-every", "4",
            "--eval-every", "5"]  # fmt: skip
    killed = rnnkit(*args, "--out", "killed", cwd=tmp_path, kill_at=13)
    assert killed.returncode == -signal.SIGKILL
    assert (tmp_path / "killed" / "trainer_state" / "step-000012").is_dir()
    whole = rnnkit(*args, "--out", "whole", cwd=tmp_path)
    assert whole.returncode == 0, whole.stderr
    resumed = rnnkit("train", "tag", "--resume", "killed", "--no-progress", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "after 20 steps" in resumed.stdout
    for name in ("model.safetensors", "trainer_state/step-000020/model.safetensors",
                 "trainer_state/step-000020/trainer.safetensors"):  # fmt: skip
        a, b = load_file(tmp_path / "killed" / name), load_file(tmp_path / "whole" / name)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name


def test_resume_without_trainer_state_says_it_starts_over(tmp_path):
    (tmp_path / "t.conllu").write_text(conllu())
    args = ["train", "tag", "--train", "t.conllu", "--dev", "t.conllu", "--preset", "tiny",
            "--no-progress", "--max-steps", "2", "--eval-every", "1"]  # fmt: skip
    killed = rnnkit(*args, "--out", "run", cwd=tmp_path, kill_at=1)  # before any state
    assert killed.returncode == -signal.SIGKILL
    assert (tmp_path / "run" / "trainer_state" / "run.json").is_file()
    resumed = rnnkit("train", "tag", "--resume", "run", "--no-progress", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "no resumable state; starting over" in resumed.stderr
    assert "after 2 steps" in resumed.stdout


def test_resume_of_a_directory_that_is_no_run(tmp_path):
    result = rnnkit("train", "tag", "--resume", "nowhere", cwd=tmp_path)
    assert_one_line_error(result, "nowhere: no such run directory")


def test_an_interrupted_overwrite_leaves_no_old_model_beside_the_new_run(tmp_path):
    """``--overwrite`` killed in its first update: the old run's model and states are gone
    (``rnnkit.load`` cannot mistake them for the new run's), its run.json is the new one, and
    ``--resume`` starts the new run over."""
    (tmp_path / "t.conllu").write_text(conllu())
    args = ["train", "tag", "--train", "t.conllu", "--dev", "t.conllu", "--preset", "tiny",
            "--no-progress", "--eval-every", "1", "--save-every", "1", "--out", "run"]  # fmt: skip
    old = rnnkit(*args, "--max-steps", "2", cwd=tmp_path)
    assert old.returncode == 0, old.stderr
    assert (tmp_path / "run" / "model.safetensors").is_file()
    killed = rnnkit(*args, "--max-steps", "3", "--hidden-size", "8", "--overwrite", cwd=tmp_path,
                    kill_at=1)  # fmt: skip
    assert killed.returncode == -signal.SIGKILL
    left = sorted(p.name for p in (tmp_path / "run").iterdir())
    assert "config.json" not in left and "model.safetensors" not in left, left
    assert checkpoint.step_dirs(tmp_path / "run") == []
    assert load_record(tmp_path / "run", tag.JOB).model["hidden_size"] == 8
    resumed = rnnkit("train", "tag", "--resume", "run", "--no-progress", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "no resumable state; starting over" in resumed.stderr
