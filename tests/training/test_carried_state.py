"""A carried recurrent state of the wrong shape in a trainer state: one line, nothing loaded."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from rnnkit.cli import main


def test_wrong_carried_state_shape_is_one_line(tmp_path: Path, capsys) -> None:
    text = tmp_path / "t.txt"
    text.write_text("hello world, the cat sat on the mat.\n" * 80)
    run = tmp_path / "r"
    assert main(["train", "lm", "--text", str(text), "--preset", "tiny", "--max-steps", "4",
                 "--save-every", "2", "--sample-length", "0", "--no-progress",
                 "--out", str(run)]) == 0  # fmt: skip
    path = sorted(run.glob("trainer_state/step-*/trainer.safetensors"))[-1]
    tensors = load_file(path)
    name = sorted(k for k in tensors if k.startswith("hidden."))[0]
    h = tensors[name]
    tensors[name] = torch.zeros(*h.shape[:-1], h.shape[-1] + 3)  # a wider hidden state
    save_file(tensors, path)
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    capsys.readouterr()
    assert main(["train", "lm", "--resume", str(run), "--max-steps", "8", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "field hidden: shapes" in err[0] and "trainer.safetensors" in err[0]
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before
