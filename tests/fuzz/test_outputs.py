"""Lost files: no option that writes a file writes inside a model or run directory (unless the
command trains into it), nor over an existing file without ``--overwrite``. Every case checks
the whole tree of the scene's checkpoints, byte for byte, before and after."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fuzz.harness import check, one_line, run_main, scratch, tree_digest
from fuzz.test_options import COMMANDS

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
#: every option that writes a file: (name, command line with TARGET where the file goes)
WRITERS = {
    "evaluate --plot-confusion": ["evaluate", "--checkpoint", "{classifier}", "--data", "{tsv}",
                                  "--no-header", "--plot-confusion", "TARGET"],
    "evaluate --plot-attention": ["evaluate", "--checkpoint", "{seq2seq}", "--data", "{pairs}",
                                  "--beam", "2", "--plot-attention", "TARGET"],
    "inspect --out": ["inspect", "--checkpoint", "{lm}", "--text", "{text}", "--out", "TARGET"],
    "inspect --saturation-png": ["inspect", "--checkpoint", "{lm}", "--text", "{text}",
                                 "--out", "page.html", "--saturation-png", "TARGET"],
    "translate --plot-attention": ["translate", "--checkpoint", "{seq2seq}", "--beam", "2",
                                   "cat", "--plot-attention", "TARGET"],
    "sort --plot-attention": ["sort", "--checkpoint", "{sorter}", "3", "1",
                              "--plot-attention", "TARGET"],
    "export --out": ["export", "--checkpoint", "{lm}", "--out", "TARGET"],
    "plot curves --out": ["plot", "curves", "{lm}", "--out", "TARGET"],
    "plot eigenvalues --out": ["plot", "eigenvalues", "--out", "TARGET", "--steps", "2",
                               "--size", "2"],
    "plot state-gradients --out": ["plot", "state-gradients", "{lm}", "--out", "TARGET"],
    "plot gradients --out": ["plot", "gradients", "--out", "TARGET", "--T", "2", "--steps", "0",
                             "--hidden-size", "2", "--batch-size", "2", "--cells", "tanh"],
    "train longrange --reproduce": ["train", "longrange", "--reproduce", "TARGET", "--rows",
                                    "adding", "--minutes-per-row", "0.01", "--out", "rows",
                                    "--no-progress"],
    "train lm --out": ["train", "lm", "--text", "{text}", "--preset", "tiny", "--no-progress",
                       "--max-steps", "1", "--sample-length", "0", "--out", "TARGET"],
    "compose --out": ["compose", "--checkpoint", "{lm}", "--n", "1", "--out", "TARGET"],
}  # fmt: skip
#: writers that run quickly to the end (the --overwrite cases): name -> what the file starts with
QUICK = {
    "plot eigenvalues --out": PNG_MAGIC,
    "evaluate --plot-confusion": PNG_MAGIC,
    "inspect --out": b"<!DOCTYPE html>",
    "inspect --saturation-png": PNG_MAGIC,
    "plot curves --out": PNG_MAGIC,
    "sort --plot-attention": PNG_MAGIC,
}
#: where in a checkpoint a writer is aimed: its own files, a new file, the folder itself
TARGETS = ["config.json", "model.safetensors", "metrics.jsonl", "trainer_state/run.json",
           "trainer_state", "new.png", "deeper/new.onnx", "."]  # fmt: skip


def argv(scene, name: str, target: str | Path) -> list[str]:
    names = {**{k: str(v) for k, v in scene.files.items()},
             **{k: str(v) for k, v in scene.checkpoints.items()}}  # fmt: skip
    return [str(target) if w == "TARGET" else w.format(**names) for w in WRITERS[name]]


def test_every_command_that_writes_a_file_is_listed():
    """A new command with an output option must join WRITERS (found from the parser)."""
    writes = ("--out", "--reproduce", "--saturation-png", "--plot-attention", "--plot-confusion")
    found = {" ".join(c) for c, p in COMMANDS.items()
             if set(p._option_string_actions) & set(writes)}  # fmt: skip
    listed = {name.rsplit(" ", 1)[0] for name in WRITERS}
    assert found - {"train " + c[1] for c in COMMANDS if c[0] == "train"} <= listed, found - listed


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name", sorted(WRITERS))
def test_no_writer_changes_a_checkpoint(scene, name, target):
    for kind in ("lm", "sorter"):  # a model + run directory; a model inside a sort run
        runs = scene.root / "runs"
        before = tree_digest(runs)
        path = scene.checkpoints[kind] / target
        outcome = check(name, run_main(argv(scene, name, path), scratch(scene)), f"{name} {path}")
        one_line(outcome, WRITERS[name][WRITERS[name].index("TARGET") - 1])  # the option
        assert tree_digest(runs) == before, f"{name} {path} changed a checkpoint"


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_a_link_into_a_checkpoint_is_refused_even_with_overwrite(scene, name):
    where, runs = scratch(scene), scene.root / "runs"
    link = where / "link.onnx"
    os.symlink(scene.checkpoints["lm"] / "config.json", link)
    before = tree_digest(runs)
    outcome = run_main([*argv(scene, name, link), "--overwrite"], where)
    one_line(outcome, str(link))
    assert tree_digest(runs) == before


@pytest.mark.parametrize("name", sorted(QUICK))
def test_an_existing_file_is_replaced_only_with_overwrite(scene, name):
    where = scratch(scene)
    taken = where / "taken.png"
    taken.write_bytes(b"the user's own file")
    refused = run_main(argv(scene, name, taken), where)
    assert "already exists; pass --overwrite" in one_line(refused, str(taken))
    assert taken.read_bytes() == b"the user's own file"
    done = check(name, run_main([*argv(scene, name, taken), "--overwrite"], where), name)
    assert done.kind == "success", done
    assert taken.read_bytes().startswith(QUICK[name])


@pytest.mark.parametrize("name", sorted(QUICK))
def test_a_new_file_is_written(scene, name):
    where = scratch(scene)
    done = check(name, run_main(argv(scene, name, where / "new" / "file.png"), where), name)
    assert done.kind == "success", done
    assert (where / "new" / "file.png").read_bytes().startswith(QUICK[name])


def test_one_file_named_by_two_options_is_refused(scene):
    where = scratch(scene)
    line = argv(scene, "inspect --saturation-png", "same.html")
    line[line.index("page.html")] = "same.html"
    assert "the same file as --out" in one_line(run_main(line, where), "--saturation-png")
    assert not (where / "same.html").exists()


def test_plot_gradients_writes_its_file_in_a_folder_only_once(scene):
    where = scratch(scene)
    assert run_main(argv(scene, "plot gradients --out", "plots"), where).kind == "success"
    made = (where / "plots" / "gradient_flow.png").read_bytes()
    again = run_main(argv(scene, "plot gradients --out", "plots"), where)
    one_line(again, "gradient_flow.png", "already exists")
    assert (where / "plots" / "gradient_flow.png").read_bytes() == made


def test_another_programs_config_json_is_no_checkpoint(scene):
    """A folder with someone else's config.json is not a model directory: writing there works."""
    where = scratch(scene)
    (where / "config.json").write_text('{"format": "eslint"}')
    done = run_main(argv(scene, "plot eigenvalues --out", where / "e.png"), where)
    assert done.kind == "success", done
