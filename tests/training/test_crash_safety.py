"""Checkpoints that survive power cuts and full disks.

Power cut: every checkpoint and run file is fsync'ed before it is renamed into place, and
its directory after, so the disk holds either the old file or the new one (checked by
recording ``os.fsync`` and ``os.replace`` calls). Full disk: a write that fails (a patched
writer raising ``OSError(ENOSPC)``, as a full disk does) leaves the previous checkpoint as
it was, and says so in one line (``WriteError``, an ``RnnkitError``: exit status 2).
"""

from __future__ import annotations

import errno
import os
import pathlib
import re
from pathlib import Path

import pytest
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

import rnnkit
from rnnkit.cli import main
from rnnkit.durable import WriteError
from rnnkit.errors import RnnkitError
from rnnkit.tasks import pretrained
from rnnkit.tasks.pretrained import save_checkpoint, write_json
from rnnkit.training import checkpoint as ckpt
from rnnkit.training.metrics_log import MetricsLog

CONFIG = {"format": "test/1"}
NO_SPACE = "No space left on device"


def state(value: float) -> dict[str, torch.Tensor]:
    return {"w": torch.full((64, 64), value), "b": torch.arange(8.0)}


@pytest.fixture
def calls(monkeypatch):
    """Every os.fsync (with the path of its descriptor) and os.replace, in order."""
    seen: list[tuple[str, str]] = []
    fsync, replace = os.fsync, os.replace

    def spy_fsync(fd):
        seen.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        return fsync(fd)

    def spy_replace(src, dst):
        seen.append(("replace", str(Path(dst).resolve())))
        return replace(src, dst)

    monkeypatch.setattr(os, "fsync", spy_fsync)
    monkeypatch.setattr(os, "replace", spy_replace)
    return seen


def order(seen, kind: str, path: Path) -> int:
    """Index of the last ``kind`` call on ``path`` (which must be there)."""
    hits = [i for i, call in enumerate(seen) if call == (kind, str(path.resolve()))]
    assert hits, f"no {kind} of {path} in {seen}"
    return hits[-1]


needs_proc = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")


@needs_proc
def test_checkpoint_files_are_synced_before_the_rename_and_the_directory_after(tmp_path, calls):
    save_checkpoint(tmp_path, CONFIG, state(1.0))
    calls.clear()
    save_checkpoint(tmp_path, CONFIG, state(2.0))
    renames = [order(calls, "replace", tmp_path / n) for n in ("model.safetensors", "config.json")]
    synced = [p for kind, p in calls[: min(renames)] if kind == "fsync"]
    temps = [p for p in synced if Path(p).name.startswith((".model.safetensors.", ".config.json."))]
    assert len(temps) == 2  # both temporary files, each synced before either rename
    assert order(calls, "fsync", tmp_path) > max(renames)  # then the renames themselves
    assert torch.equal(load_file(tmp_path / "model.safetensors")["w"], state(2.0)["w"])


@needs_proc
def test_a_step_directory_is_synced_whole_before_it_is_published(tmp_path, calls):
    def write_model(directory: Path) -> None:
        save_checkpoint(directory, CONFIG, state(3.0))

    final = ckpt.save_state_dir(
        tmp_path, 5, write_model=write_model, tensors={"t": torch.ones(3)}, meta={}, keep_last=2
    )
    publish = order(calls, "replace", final)
    tmp_dir = [p for kind, p in calls[:publish] if kind == "fsync" and "/.step-000005." in p]
    names = {Path(p).name for p in tmp_dir}
    assert {"model.safetensors", "config.json", "trainer.safetensors", "trainer.json"} <= names
    assert any(Path(p).name.startswith(".step-000005.") for p in tmp_dir)  # the directory too
    assert order(calls, "fsync", final.parent) > publish


@needs_proc
def test_run_records_and_the_metrics_log_reach_the_disk(tmp_path, calls):
    record = tmp_path / "trainer_state" / "run.json"
    ckpt.save_run_record(tmp_path, "lm", {"seed": 1})
    assert order(calls, "fsync", record.parent) > order(calls, "replace", record)
    log = MetricsLog(tmp_path, tensorboard=False)
    log.start()
    log.write({"kind": "train", "step": 1, "loss": 1.0})
    size = log.size()  # what a checkpoint records: the bytes must be on disk first
    assert size > 0 and order(calls, "fsync", tmp_path / "metrics.jsonl") >= 0


def failing_save_file(seen: list[str] | None = None):
    """safetensors' save_file on a full disk: part of the file written, then ENOSPC."""

    def save_file(tensors, path):
        if seen is not None:
            seen.append(str(path))
        Path(path).write_bytes(b"\0" * 100)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    return save_file


def files_of(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


def test_disk_full_keeps_the_previous_checkpoint_and_says_so(tmp_path, monkeypatch):
    save_checkpoint(tmp_path, CONFIG, state(1.0))
    before = files_of(tmp_path)
    monkeypatch.setattr(pretrained, "save_file", failing_save_file())
    with pytest.raises(WriteError) as caught:
        save_checkpoint(tmp_path, {**CONFIG, "new": True}, state(2.0))
    message = str(caught.value)
    assert message == (
        f"{tmp_path / 'model.safetensors'}: could not write ({NO_SPACE}); "
        "the previous checkpoint is kept"
    )
    assert isinstance(caught.value, RnnkitError) and caught.value.errno == errno.ENOSPC
    assert files_of(tmp_path) == before  # same files, same bytes, no temporary left


def test_a_failing_second_file_changes_neither(tmp_path, monkeypatch):
    """config.json fails after model.safetensors was written: the old pair stays together."""
    save_checkpoint(tmp_path, CONFIG, state(1.0))
    before = files_of(tmp_path)
    write_text = pathlib.Path.write_text

    def full(self, *args, **kwargs):
        if self.name.startswith(".config.json."):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return write_text(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "write_text", full)
    with pytest.raises(WriteError, match=r"config.json: could not write .*previous checkpoint"):
        save_checkpoint(tmp_path, {**CONFIG, "new": True}, state(2.0))
    assert files_of(tmp_path) == before


def test_safetensors_own_disk_full_error_and_a_first_write(tmp_path, monkeypatch):
    def save_file(tensors, path):
        raise SafetensorError(f"Error while serializing: I/O error: {NO_SPACE} (os error 28)")

    monkeypatch.setattr(pretrained, "save_file", save_file)
    said = re.escape(f"({NO_SPACE} (os error 28)); no checkpoint was written")
    with pytest.raises(WriteError, match=said):
        save_checkpoint(tmp_path / "new", CONFIG, state(1.0))
    assert list((tmp_path / "new").iterdir()) == []


def test_disk_full_keeps_the_previous_step_directories(tmp_path, monkeypatch):
    def write_model(directory: Path) -> None:
        save_checkpoint(directory, CONFIG, state(1.0))

    def save(step: int) -> Path:
        tensors = {"t": torch.ones(3)}
        return ckpt.save_state_dir(
            tmp_path, step, write_model=write_model, tensors=tensors, meta={}, keep_last=1
        )

    first = save(10)
    kept = files_of(first)
    monkeypatch.setattr(ckpt, "save_file", failing_save_file())
    with pytest.raises(WriteError) as caught:
        save(20)
    assert str(caught.value) == (
        f"{tmp_path / 'trainer_state' / 'step-000020'}: could not write ({NO_SPACE}); "
        "the previous checkpoints are kept"
    )
    assert [p.name for p in (tmp_path / "trainer_state").iterdir()] == ["step-000010"]
    assert files_of(first) == kept  # and keep_last=1 pruned nothing


LM_RUN = [
    "train", "lm", "--preset", "tiny", "--hidden-size", "16", "--batch-size", "4",
    "--bptt", "16", "--max-steps", "8", "--eval-every", "2", "--save-every", "4",
    "--no-progress", "--sample-length", "0",
]  # fmt: skip


def test_cli_disk_full_exits_2_with_one_line_and_the_best_model_intact(
    tmp_path, monkeypatch, capsys
):
    """The second best-model write fails: exit 2, one line, the first best still loads."""
    text = tmp_path / "text.txt"
    text.write_text("ROMEO: O, she doth teach the torches to burn bright!\n" * 40)
    out = tmp_path / "run"
    real, snapshot = pretrained.save_file, {}

    def save_file(tensors, path):
        if Path(path).parent != out:  # a step directory's copy of the model: let it through
            return real(tensors, path)
        if "best" in snapshot:
            return failing_save_file()(tensors, path)
        real(tensors, path)
        snapshot["best"] = tensors

    monkeypatch.setattr(pretrained, "save_file", save_file)
    assert main([*LM_RUN, "--text", str(text), "--out", str(out)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [
        f"rnnkit: error: {out / 'model.safetensors'}: could not write ({NO_SPACE}); "
        "the previous checkpoint is kept"
    ]
    saved = load_file(out / "model.safetensors")
    assert all(torch.equal(saved[k], v) for k, v in snapshot["best"].items())
    assert rnnkit.load(out) is not None  # config.json and weights still agree
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary left


def test_write_json_failure_is_one_line(tmp_path, monkeypatch):
    path = tmp_path / "report.json"
    write_json(path, {"a": 1})
    monkeypatch.setattr(pathlib.Path, "write_text", failing_write_text)
    with pytest.raises(WriteError, match=r"report.json: could not write .*previous report.json"):
        write_json(path, {"a": 2})
    assert path.read_text() == '{\n  "a": 1\n}'


def failing_write_text(self, *args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
