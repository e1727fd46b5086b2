"""Broken checkpoint directories through ``rnnkit.load``, every command's ``--checkpoint`` and
``train ... --resume``: truncated, corrupted, wrong shapes, wrong dtypes, wrong format, a pickle
in place of the weights, missing files, edited ``config.json`` and ``run.json``.

The trainer's own files (``trainer.json``, ``trainer.safetensors``) are damaged as files are
on disk (cut, overwritten, pickled, missing); their contents edited field by field are the
cases of ``test_edited_dirs.py``.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file, save_file

import rnnkit
from fuzz.harness import check, run_main, run_reader
from fuzz.strategies import BAD_BYTES, JSON_VALUES

FUZZ = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
WEIGHTS, CONFIG = "model.safetensors", "config.json"
#: a command that reads a checkpoint of each kind (``{ckpt}``; ``{name}``: a scene file)
USES = {
    "lm": [["sample", "--checkpoint", "{ckpt}", "--length", "3"],
           ["evaluate", "--checkpoint", "{ckpt}", "--data", "{text}"]],
    "classifier": [["classify", "--checkpoint", "{ckpt}", "free cash"],
                   ["evaluate", "--checkpoint", "{ckpt}", "--data", "{tsv}", "--no-header"]],
    "tagger": [["tag", "--checkpoint", "{ckpt}", "the dog"],
               ["evaluate", "--checkpoint", "{ckpt}", "--data", "{conllu}"]],
    "seq2seq": [["translate", "--checkpoint", "{ckpt}", "--beam", "2", "cat"],
                ["evaluate", "--checkpoint", "{ckpt}", "--data", "{pairs}", "--beam", "1"]],
    "sorter": [["sort", "--checkpoint", "{ckpt}", "3", "1"]],
    "digits": [["evaluate", "--checkpoint", "{ckpt}", "--data", "{text}"]],
    "longrange": [["evaluate", "--checkpoint", "{ckpt}", "--data", "{text}"]],
}  # fmt: skip
#: `rnnkit train JOB --resume DIR` for the kinds that resume
RESUMABLE = {"lm": "lm", "classifier": "classify", "tagger": "tag", "seq2seq": "seq2seq",
             "digits": "digits", "longrange": "longrange"}  # fmt: skip


def copy_checkpoint(scene, kind: str) -> Path:
    """A private copy of the kind's trained directory (the cases edit it)."""
    where = Path(tempfile.mkdtemp(dir=scene.root, prefix="case-"))
    return Path(shutil.copytree(scene.checkpoints[kind], where / kind))


def json_paths(value: Any, path: tuple = ()) -> list[tuple]:
    """Every key path in a JSON value, the root included."""
    found = [path]
    if isinstance(value, dict):
        for k, v in value.items():
            found += json_paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value[:4]):
            found += json_paths(v, (*path, i))
    return found


@st.composite
def edited_json(draw: st.DrawFn, value: Any) -> Any:
    """``value`` with one node replaced by a generated value, removed, or numbers pushed out."""
    path = draw(st.sampled_from(json_paths(value)))
    if not path:
        return draw(JSON_VALUES)
    *parents, last = path
    node = value
    for key in parents:
        node = node[key]
    edit = draw(st.sampled_from(["replace", "delete", "extreme"]))
    if edit == "delete":
        del node[last]
    elif edit == "extreme":
        node[last] = draw(st.sampled_from([-1, 0, 10**12, 1e308, "nan", [], {}, None, True]))
    else:
        node[last] = draw(JSON_VALUES)
    return value


#: what can happen to a file on disk (a crash, a bad copy, a tool that pickles)
FILE_DAMAGE = ("truncate", "bytes", "pickle", "empty", "missing", "folder", "header")
#: edits of the tensors themselves (shape, dtype, names)
TENSOR_EDITS = ("shape", "dtype", "keys")


@st.composite
def broken_weights(draw: st.DrawFn, path: Path, kinds=FILE_DAMAGE + TENSOR_EDITS) -> str:
    """Break a safetensors file in place; returns what was done."""
    data = path.read_bytes()
    how = draw(st.sampled_from(kinds))
    if how == "truncate":
        path.write_bytes(data[: draw(st.integers(0, len(data) - 1))])
    elif how == "bytes":
        at = draw(st.integers(0, min(len(data) - 1, 400)))
        path.write_bytes(data[:at] + draw(BAD_BYTES) * 3 + data[at + 3 :])
    elif how == "pickle":
        torch.save(read_tensors(path), path)
    elif how == "empty":
        path.write_bytes(b"")
    elif how in ("missing", "folder"):
        path.unlink()
        if how == "folder":
            path.mkdir()
    elif how == "header":  # a header length far past the end of the file
        path.write_bytes(draw(st.sampled_from([2**63, 2**40, 10])).to_bytes(8, "little") + data[8:])
    else:
        save_file(edited_tensors(draw, read_tensors(path), how), path)
    return how


def read_tensors(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file, copied out of its memory map (the file is rewritten)."""
    return {k: v.clone() for k, v in load_file(path).items()}


def edited_tensors(draw: st.DrawFn, tensors: dict, how: str) -> dict:
    """One tensor reshaped, retyped, dropped or renamed (or one added)."""
    name = draw(st.sampled_from(sorted(tensors)))
    t = tensors[name]
    if how == "shape":
        doubled = torch.cat([t, t]) if t.dim() else t[None]
        tensors[name] = draw(
            st.sampled_from([t.flatten()[:-1], t.reshape(-1), torch.zeros(0), doubled])
        )
    elif how == "dtype":
        dtype = draw(st.sampled_from([torch.float64, torch.int64, torch.bool, torch.float16]))
        tensors[name] = t.to(dtype)
    elif draw(st.booleans()):
        del tensors[name]
    else:
        tensors[name + ".extra"] = t.clone()
    return {k: v.contiguous() for k, v in tensors.items()}


@st.composite
def broken_config(draw: st.DrawFn, path: Path) -> str:
    """Break ``config.json`` in place: truncated, not JSON, one edited node, or missing."""
    text = path.read_text()
    how = draw(st.sampled_from(["edit", "edit", "edit", "truncate", "missing", "format"]))
    if how == "truncate":
        path.write_text(text[: draw(st.integers(0, len(text) - 1))])
    elif how == "missing":
        path.unlink()
    elif how == "format":
        config = json.loads(text)
        config["format"] = draw(st.sampled_from(["rnnkit.language_model/1", "rnnkit.tagger/1",
                                                 "rnnkit.seq2seq/1", "rnnkit.long_range/1",
                                                 "rnnkit.language_model/2", "", None]))  # fmt: skip
        path.write_text(json.dumps(config))
    else:
        path.write_text(json.dumps(draw(edited_json(json.loads(text)))))
    return how


def fill(template: list[str], scene, ckpt: Path) -> list[str]:
    names = {k: str(v) for k, v in scene.files.items()}
    return [w.format(ckpt=ckpt, **names) for w in template]


@FUZZ
@given(kind=st.sampled_from(sorted(USES)), weights=st.booleans(), data=st.data())
def test_broken_checkpoints(scene, kind, weights, data):
    ckpt = copy_checkpoint(scene, kind)
    target = ckpt / (WEIGHTS if weights else CONFIG)
    how = data.draw(broken_weights(target) if weights else broken_config(target))
    case = f"{kind} checkpoint, {target.name}: {how}"
    check("rnnkit.load", run_reader(lambda: rnnkit.load(ckpt)), case)
    argv = fill(data.draw(st.sampled_from(USES[kind])), scene, ckpt)
    check(argv[0] + " --checkpoint", run_main(argv, ckpt.parent), f"{case}; rnnkit {argv!r}")


@FUZZ
@given(kind=st.sampled_from(sorted(RESUMABLE)), data=st.data())
def test_broken_runs_resume_or_fail_in_one_line(scene, kind, data):
    run = copy_checkpoint(scene, kind)
    state = run / "trainer_state"
    step = sorted(state.glob("step-*"))[-1]
    target = data.draw(st.sampled_from([state / "run.json", step / "trainer.json",
                                        step / "trainer.safetensors", step / WEIGHTS]))  # fmt: skip
    if target.name == "run.json":
        how = "edited"
        target.write_text(json.dumps(data.draw(edited_json(json.loads(target.read_text())))))
    elif target.name == "trainer.json":  # damaged on disk (an edited one: see the module doc)
        how = data.draw(st.sampled_from(["truncate", "missing", "not JSON"]))
        text = target.read_text()
        cut = data.draw(st.integers(0, len(text) - 1))
        target.write_text(text[:cut] if how == "truncate" else "[1, 2")
        if how == "missing":
            target.unlink()
    else:
        how = data.draw(broken_weights(target, FILE_DAMAGE))
    argv = ["train", RESUMABLE[kind], "--resume", str(run), "--no-progress", "--max-steps", "3"]
    check("train --resume", run_main(argv, run.parent), f"{kind} run, {target.name}: {how}")
