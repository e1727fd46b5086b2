"""Checkpoint and run directories edited field by field: every edit of ``config.json`` or of
the trainer state (``trainer.json``, ``trainer.safetensors``) is refused before anything is
loaded, with exit status 2 and one line ``FILE: field X: what is wrong`` (or ``FILE: tensor
X: ...``), and no file of the directory changes.

Explicit cases, one per kind of edit (a field of another type, removed, out of range, or
inconsistent with the model): ``test_checkpoints.py`` damages the same files as a disk does.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file, save_file

import rnnkit
from fuzz.harness import check, run_main, run_reader
from fuzz.test_checkpoints import RESUMABLE, USES, fill
from rnnkit.checkpoint import model_class
from rnnkit.tasks.pretrained import load_config

DELETE = object()  # an edit that removes the field


def copy_run(scene, kind: str) -> Path:
    where = Path(tempfile.mkdtemp(dir=scene.root, prefix="edited-"))
    return Path(shutil.copytree(scene.checkpoints[kind], where / kind))


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` and a hash of its bytes."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}  # fmt: skip


def set_path(value: dict, path: str, new: Any) -> None:
    """``value`` with the node at the dotted ``path`` (list indices as numbers) set or
    removed."""
    *parents, last = [int(k) if k.isdigit() else k for k in path.split(".")]
    for key in parents:
        value = value[key]
    if new is DELETE:
        del value[last]
    else:
        value[last] = new


def assert_refused(outcome, path: Path, needle: str) -> None:
    """Exit 2, one line that names ``path`` and holds ``needle``."""
    assert outcome.kind == "one-line error", outcome
    line = outcome.stderr.strip().splitlines()[-1]
    assert f"{path}: " in line and needle in line, line


# -- the trainer state ----------------------------------------------------------------------

#: (dotted field of trainer.json, new value, what the line says after "field ")
META_EDITS = [
    ("step", "x", "step: expected an integer >= 0, got 'x'"),
    ("step", -1, "step: expected an integer >= 0, got -1"),
    ("step", 7, "step: 7 in a directory named step-"),
    ("tokens", -5, "tokens: expected an integer >= 0"),
    ("elapsed_s", "nan", "elapsed_s: expected a finite number"),
    ("lr", DELETE, "lr: missing"),
    ("lr", -0.5, "lr: expected a finite number >= 0"),
    ("stopped_early", 1, "stopped_early: expected true or false"),
    ("best_valid", "x", "best_valid: expected null or a finite number"),
    ("metrics_bytes", -3, "metrics_bytes: expected an integer >= 0"),
    ("world_size", 3, "world_size: saved by 3 processes"),
    ("extra", 1, "extra: unknown"),
    ("optimizer", {}, "optimizer.param_groups: missing"),
    ("optimizer.param_groups", [], "optimizer.param_groups: 0 groups; this model's optimizer"),
    ("optimizer.param_groups.0.params", [0], "optimizer.param_groups[0].params: does not match"),
    ("optimizer.param_groups.0.lr", "x", "optimizer.param_groups[0].lr: expected a finite"),
    ("optimizer.values", "x", "optimizer.values: expected an object"),
    ("optimizer.values.99", {}, "optimizer.values.99: no such parameter"),
    ("global_rng.python", "x", "global_rng.python: not a Python RNG state"),
    ("global_rng.python.1", [1, 2], "global_rng.python: not a Python RNG state"),
    ("global_rng.numpy.state.key", [1, 2], "global_rng.numpy: not a NumPy RNG state"),
    ("data", {}, "data."),
    ("data.position", -2, "data.position: expected an integer >= 0"),
    ("schedule", "x", "schedule: expected an object"),
    ("schedule.decays", 1.5, "schedule.decays: expected an integer >= 0"),
    ("early_stopping.bad_validations", None, "early_stopping.bad_validations: expected an int"),
    ("loss_window", "x", "loss_window: expected a list"),
    ("hidden", "x", "hidden: not a recurrent state's layout"),
    ("hidden", {"type": "os:system", "items": []}, "hidden.type: unknown state type"),
    ("schedule.best", "x", "schedule.best: expected null or a finite number"),
    ("early_stopping.best", [], "early_stopping.best: expected null or a finite number"),
]
#: edits of the data position that only the data source can judge: a padded source's (its
#: kinds: classifier, digits, seq2seq, tagger)
POSITION_EDITS = [
    ("data.position", 10**6, "data: epoch must be >= 0 and position in [0, "),
    ("data.num_examples", 10**6, "data: state was saved with num_examples=1000000"),
    ("data.seed", 12345, "data: state was saved with seed=12345"),
]


def first_tensor(tensors: dict, prefix: str) -> str:
    """The first name with ``prefix`` that is not a scalar (an optimizer's moment, say)."""
    return min(k for k, v in tensors.items() if k.startswith(prefix) and v.dim() > 0)


def wrong_shape(tensors: dict) -> tuple[str, str]:
    name = first_tensor(tensors, "optimizer.")
    tensors[name] = tensors[name].flatten()[:-1].clone()
    return name, f"{name}: shape ("


def wrong_dtype(tensors: dict) -> tuple[str, str]:
    name = first_tensor(tensors, "optimizer.")
    tensors[name] = tensors[name].to(torch.int64)
    return name, f"{name}: expected a floating-point tensor, got torch.int64"


def dropped_moment(tensors: dict) -> tuple[str, str]:
    last = max(int(k.split(".")[1]) for k in tensors if k.startswith("optimizer."))
    name = first_tensor(tensors, f"optimizer.{last}.")
    del tensors[name]
    return name, f"optimizer.{last}."


def foreign_parameter(tensors: dict) -> tuple[str, str]:
    tensors["optimizer.99.exp_avg"] = tensors[first_tensor(tensors, "optimizer.")].clone()
    return "optimizer.99.exp_avg", "optimizer.99.exp_avg: no parameter 99"


def rng_as_float(tensors: dict) -> tuple[str, str]:
    tensors["rng.torch.0"] = tensors["rng.torch.0"].float()
    return "rng.torch.0", "rng.torch.0: not a torch RNG state (torch.float32"


def rng_cut(tensors: dict) -> tuple[str, str]:
    tensors["rng.torch.0"] = tensors["rng.torch.0"][:10].clone()
    return "rng.torch.0", "rng.torch.0: not a torch RNG state (torch.uint8, (10,)"


def rng_dropped(tensors: dict) -> tuple[str, str]:
    del tensors["rng.torch.0"]
    return "rng.torch.0", "rng.torch.0: missing"


def stranger(tensors: dict) -> tuple[str, str]:
    tensors["weights.of.another.run"] = torch.zeros(3)
    return "weights.of.another.run", "weights.of.another.run: unknown tensor"


def stray_hidden(tensors: dict) -> tuple[str, str]:
    tensors["hidden.0.5"] = torch.zeros(1, 2, 3)
    return "hidden.0.5", "hidden.0.5: not in the carried state's layout"


TENSOR_EDITS = [wrong_shape, wrong_dtype, dropped_moment, foreign_parameter, rng_as_float,
                rng_cut, rng_dropped, stranger, stray_hidden]  # fmt: skip
KINDS = sorted(RESUMABLE)


def resume(scene, run: Path):
    argv = ["train", RESUMABLE[run.name], "--resume", str(run), "--no-progress", "--max-steps",
            "3"]  # fmt: skip
    return run_main(argv, run.parent)


PADDED = ("classifier", "seq2seq", "tagger")
CASES = [(KINDS[i % len(KINDS)], *edit) for i, edit in enumerate(META_EDITS)] + [
    (kind, *edit) for kind, edit in zip(PADDED, POSITION_EDITS, strict=True)
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-{c[1]}-{c[2]!r:.20}")
def test_an_edited_trainer_json_is_one_line_naming_the_file_and_field(scene, case):
    """Each edit on one kind of run, the kinds taken in turn (every kind meets several)."""
    kind, field, value, needle = case
    run = copy_run(scene, kind)
    path = sorted((run / "trainer_state").glob("step-*"))[-1] / "trainer.json"
    meta = json.loads(path.read_text())
    set_path(meta, field, value)
    path.write_text(json.dumps(meta))
    before = snapshot(run)
    outcome = check("train --resume", resume(scene, run), f"{kind}: trainer.json {field}")
    assert_refused(outcome, path, f"field {needle}")
    assert snapshot(run) == before


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("edit", TENSOR_EDITS, ids=lambda f: f.__name__)
def test_an_edited_trainer_safetensors_is_one_line_naming_the_tensor(scene, kind, edit):
    run = copy_run(scene, kind)
    path = sorted((run / "trainer_state").glob("step-*"))[-1] / "trainer.safetensors"
    tensors = {k: v.clone() for k, v in load_file(path).items()}
    _, needle = edit(tensors)
    save_file({k: v.contiguous() for k, v in tensors.items()}, path)
    before = snapshot(run)
    outcome = check("train --resume", resume(scene, run), f"{kind}: {edit.__name__}")
    assert_refused(outcome, path, f"field {needle}")
    assert snapshot(run) == before


@pytest.mark.parametrize("kind", KINDS)
def test_an_unedited_run_still_resumes(scene, kind):
    """The checks refuse edits, not the states rnnkit writes itself."""
    outcome = check("train --resume", resume(scene, copy_run(scene, kind)), f"{kind}: as saved")
    assert outcome.kind == "success", outcome


# -- config.json ----------------------------------------------------------------------------


def first_required(directory: Path) -> str:
    """The first field of the kind's config dataclass that has no default."""
    cls = model_class(load_config(directory)["format"]).CONFIG
    return next(f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING)


#: edit of config.json's model section -> (file it names, what the line says)
CONFIG_EDITS = {
    "huge hidden size": (("hidden_size", 60_000), "model.safetensors", "but config.json implies"),
    "hidden size a string": (("hidden_size", "x"), "config.json", "field model.hidden_size: "
                             "expected int"),
    "hidden size a float": (("hidden_size", 1.5), "config.json", "field model.hidden_size: "
                            "expected int"),
    "hidden size zero": (("hidden_size", 0), "config.json", "field model.hidden_size: must be"),
    "unknown cell": (("cell", "lsmt"), "config.json", "field model.cell: must be one of"),
    "unknown field": (("zzz", 1), "config.json", "field model.zzz: unknown"),
    "a required field removed": ((None, DELETE), "config.json", "field model."),
    "model not an object": (None, "config.json", "field model: expected an object"),
}  # fmt: skip


@pytest.mark.parametrize("kind", sorted(USES))
@pytest.mark.parametrize("edit", list(CONFIG_EDITS))
def test_an_edited_config_json_is_refused_before_the_model_is_built(scene, kind, edit):
    """``rnnkit.load`` and a command that reads the checkpoint both refuse it in one line; a
    60,000-unit hidden size is caught by the weights' header, before gigabytes are allocated."""
    ckpt = copy_run(scene, kind)
    change, named, needle = CONFIG_EDITS[edit]
    path = ckpt / "config.json"
    config = json.loads(path.read_text())
    if change is None:
        config["model"] = [1, 2]
    else:
        field, value = change
        set_path(config, f"model.{field or first_required(ckpt)}", value)
    path.write_text(json.dumps(config))
    before = snapshot(ckpt)
    loaded = check("rnnkit.load", run_reader(lambda: rnnkit.load(ckpt)), f"{kind}: {edit}")
    assert_refused(loaded, ckpt / named, needle)
    argv = fill(USES[kind][0], scene, ckpt)
    used = check(argv[0] + " --checkpoint", run_main(argv, ckpt.parent), f"{kind}: {edit}")
    assert_refused(used, ckpt / named, needle)
    assert snapshot(ckpt) == before


def cut(node: dict, key: str, keep: int) -> None:
    node[key] = node[key][:keep]


#: (kind, edit of config.json besides its model section, what the line says)
EXTRA_EDITS = [
    ("classifier", lambda c: c.update(labels=["spam"]), "field labels: 1 labels, but "
     "model.num_classes is 2"),
    ("classifier", lambda c: c.update(labels=["spam", "spam"]), "field labels: expected distinct"),
    ("classifier", lambda c: c["encoder"].update(max_length=-1), "field encoder.max_length: "
     "expected null or an integer >= 1"),
    ("classifier", lambda c: cut(c["encoder"]["vocab"], "tokens", 3), "field encoder.vocab: 5 "
     "tokens, but model.vocab_size is"),
    ("lm", lambda c: cut(c["vocab"], "chars", 5), "field vocab: 6 symbols, but model.vocab_size"),
    ("tagger", lambda c: c.update(column="BOGUS"), "field column: must be one of"),
    ("tagger", lambda c: cut(c["encoder"], "tags", 2), "field encoder.tags: 2 entries, but "
     "model.num_tags is"),
    ("seq2seq", lambda c: cut(c["encoder"]["source"], "tokens", 1), "field encoder.source: "),
    ("digits", lambda c: cut(c["vocab"], "tokens", 3), "field vocab: "),
]  # fmt: skip


@pytest.mark.parametrize("case", range(len(EXTRA_EDITS)))
def test_vocabularies_and_labels_that_contradict_the_model_are_refused(scene, case):
    """A vocabulary, label list or column edited apart from the model's sizes: one line on
    load, instead of wrong labels or an IndexError at the first prediction."""
    kind, edit, needle = EXTRA_EDITS[case]
    ckpt = copy_run(scene, kind)
    path = ckpt / "config.json"
    config = json.loads(path.read_text())
    edit(config)
    path.write_text(json.dumps(config))
    before = snapshot(ckpt)
    loaded = check("rnnkit.load", run_reader(lambda: rnnkit.load(ckpt)), f"{kind}: extras {case}")
    assert_refused(loaded, path, needle)
    argv = fill(USES[kind][0], scene, ckpt)
    used = check(argv[0] + " --checkpoint", run_main(argv, ckpt.parent), f"{kind}: {case}")
    assert_refused(used, path, needle)
    assert snapshot(ckpt) == before


@pytest.mark.parametrize(("kind", "use"), [(k, i) for k in ("classifier", "tagger", "seq2seq",
                                                             "sorter") for i in range(2)
                                           if i < len(USES[k])])  # fmt: skip
def test_a_model_without_its_encoder_is_refused_by_the_commands(scene, kind, use):
    """``rnnkit.load`` takes a model saved without an encoder (the API allows it), but no
    command can read text with it: one line naming the missing field."""
    ckpt = copy_run(scene, kind)
    path = ckpt / "config.json"
    config = json.loads(path.read_text())
    del config["encoder"]
    path.write_text(json.dumps(config))
    assert rnnkit.load(ckpt).encoder is None
    argv = fill(USES[kind][use], scene, ckpt)
    outcome = check(f"{argv[0]} --checkpoint", run_main(argv, ckpt.parent), "no encoder")
    assert_refused(outcome, path, "field encoder: missing")


# -- options a resumed run cannot honour ------------------------------------------------------

REFUSED = [("classifier", "--data", "{tsv}"), ("classifier", "--hidden-size", "7"),
           ("seq2seq", "--data", "{pairs}"), ("seq2seq", "--hidden-size", "9"),
           ("tagger", "--train", "{conllu}"), ("tagger", "--hidden-size", "5")]  # fmt: skip


@pytest.mark.parametrize(("kind", "option", "value"), REFUSED)
def test_resume_refuses_data_and_sizes_it_cannot_honour(scene, kind, option, value):
    """The run keeps its recorded data and architecture: an option that would change them is
    refused in one line (the lifecycle's check, as for ``train lm``), not ignored."""
    run = copy_run(scene, kind)
    before = snapshot(run)
    argv = ["train", RESUMABLE[kind], "--resume", str(run), *scene.argv([option, value]),
            "--no-progress"]  # fmt: skip
    outcome = check("train --resume", run_main(argv, run.parent), f"{kind}: {option}")
    assert outcome.kind == "one-line error", outcome
    assert f"drop {option} (allowed with --resume: " in outcome.stderr
    assert snapshot(run) == before


@pytest.mark.parametrize("kind", KINDS)
def test_a_run_json_size_that_is_not_the_saved_models_is_refused_before_building(scene, kind):
    """run.json's hidden size edited to 60,000 (in range, so the record itself is valid): the
    job would build that model before the trainer state is read; the newest saved model's
    config.json disagrees, and the resume stops there."""
    run = copy_run(scene, kind)
    path = run / "trainer_state" / "run.json"
    record = json.loads(path.read_text())
    record["model"]["hidden_size"] = 60_000
    path.write_text(json.dumps(record))
    before = snapshot(run)
    outcome = check("train --resume", resume(scene, run), f"{kind}: run.json hidden_size")
    assert_refused(outcome, path, "field model.hidden_size: 60000, but the saved model ")
    assert snapshot(run) == before
