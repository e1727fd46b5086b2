"""Every command's options with generated values: out of range, NaN/inf, empty, unicode, wrong
types, and small valid ones. The commands come from the parser itself, so a new command is
fuzzed too (from the checkpoints and files of the scene when it has no recipe here)."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz.harness import check, run_main, tree_digest
from fuzz.recipes import RECIPES
from fuzz.strategies import ALPHABET, ODD_NUMBERS
from rnnkit.cli import build_parser

FUZZ = settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
#: option destinations that name a checkpoint directory, a file written, or a file read
CHECKPOINTS = ("checkpoint", "resume")
OUTPUTS = ("out", "plot_attention", "reproduce")
WORDS = st.one_of(
    st.text(ALPHABET, max_size=12),
    st.sampled_from(["", " ", "none", "latin-1", "utf-8", "bogus-codec", "0", "1", "-1", "²",
                     "text", "label", "tanh,lstm", "lstm,lstm", "pointer", "adding", ",", "nats",
                     "x" * 300, "rot13", "hex", "b\udcffd", "\ud83d", "x" * 20_000]),
)  # fmt: skip
GARBAGE = st.sampled_from(["", " ", "abc", "nan", "NaN", "-nan", "inf", "-inf", "1e309", "-1e309",
                           "0x10", "1_0", "١", "²", "é", "😀", "-", "1,5", "[1]"])  # fmt: skip


def leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """(command path, parser) of every command that runs, e.g. (("train", "lm"), parser)."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
        return
    for name, sub in subs[0].choices.items():
        yield from leaves(sub, (*path, name))


COMMANDS = dict(leaves(build_parser()))


def bounds(action: argparse.Action) -> tuple[str, float | None, float | None]:
    """(kind, low, high) of an option's type: ``int``/``float`` (with the bounds of
    :func:`rnnkit.cli.common.bounded`), ``path`` or ``str``."""
    kind = action.type
    if kind is Path:
        return "path", None, None
    closure = dict(zip(kind.__code__.co_freevars, kind.__closure__ or (), strict=True)) if (
        callable(kind) and hasattr(kind, "__code__")) else {}  # fmt: skip
    if "kind" in closure:  # a bounded(...) type
        low, high = closure["low"].cell_contents, closure["high"].cell_contents
        return closure["kind"].cell_contents.__name__, low, high
    if kind in (int, float):
        return kind.__name__, None, None
    return "str", None, None


def numbers(kind: str, low: float | None, high: float | None) -> st.SearchStrategy[str]:
    """Out-of-range, malformed and small in-range values of a numeric option."""
    step = 1 if kind == "int" else 0.5
    beyond = [x for x in (low - step if low is not None else None,
                          high + step if high is not None else None) if x is not None]  # fmt: skip
    start = low if low is not None else 1
    valid = [start, start + step] if kind == "int" else [start, min(start + 0.25, high or 1e9)]
    huge = ["-1", "0", str(10**12), str(2**63), str(2**64), "1" + "0" * 5000]
    cast = int if kind == "int" else float
    return st.one_of(
        st.sampled_from([str(cast(x)) for x in beyond + valid] + huge + ODD_NUMBERS), GARBAGE
    )


def paths(dest: str, scene, where: Path) -> st.SearchStrategy[str]:
    """Paths for an option: checkpoints (good, of the wrong kind, broken), outputs, inputs."""
    odd = ["", ".", "missing", "missing/deeper", str(where / "file.txt" / "below"), "é😀",
           "x" * 300, "/dev/null"]  # fmt: skip
    if dest in CHECKPOINTS:
        pool = [str(p) for p in scene.checkpoints.values()] + odd + [str(scene.files["text"])]
    elif dest in OUTPUTS:  # files of the scene's checkpoints too: no command may write there
        inside = [scene.checkpoints[k] / name for k, name in
                  (("lm", "config.json"), ("classifier", "model.safetensors"),
                   ("lm", "metrics.jsonl"), ("seq2seq", "trainer_state/run.json"),
                   ("tagger", "new.png"))] if scene.checkpoints else []  # fmt: skip
        pool = ["out", "new/deep/out", str(where / "file.txt"), str(where / "dir"), *odd[:-1],
                *map(str, inside)]  # fmt: skip
    else:
        pool = [str(p) for p in scene.files.values()] + odd
    return st.sampled_from(pool)


def values(action: argparse.Action, scene, where: Path) -> st.SearchStrategy[list[str]]:
    """The words following one option (none for a flag)."""
    if action.nargs == 0:
        return st.just([])
    kind, low, high = bounds(action)
    if action.choices is not None:
        one = st.sampled_from(sorted(map(str, action.choices))) | GARBAGE | WORDS
    elif kind in ("int", "float"):
        one = numbers(kind, low, high)
    elif kind == "path":
        one = paths(action.dest, scene, where)
    else:
        one = WORDS | GARBAGE
    if action.nargs in ("+", "*"):
        return st.lists(one, min_size=0, max_size=3)
    return one.map(lambda v: [v])


def base_argv(command: tuple[str, ...], scene) -> list[str]:
    """The recipe's command line; none for a command without one (a new command: its
    options and arguments all come from the generated values)."""
    if command in RECIPES:
        names = {**{k: str(v) for k, v in scene.files.items()},
                 **{k: str(v) for k, v in scene.checkpoints.items()}}  # fmt: skip
        return [w.format(**names) for w in RECIPES[command]]
    return []


def scratch(scene) -> Path:
    """A fresh working directory holding a file and a folder (targets for output options)."""
    where = Path(tempfile.mkdtemp(dir=scene.root, prefix="case-"))
    (where / "file.txt").write_text("not a directory\n")
    (where / "dir").mkdir()
    return where


@st.composite
def command_lines(draw: st.DrawFn, command: tuple[str, ...], scene, where: Path) -> list[str]:
    """The recipe (if any) plus one to three options with generated values."""
    parser = COMMANDS[command]
    options = [a for a in parser._actions if a.option_strings and a.dest != "help"]
    positionals = [a for a in parser._actions if not a.option_strings]
    argv = [*command, *base_argv(command, scene)]
    for action in draw(st.lists(st.sampled_from(options), min_size=1, max_size=3)):
        argv += [draw(st.sampled_from(action.option_strings)), *draw(values(action, scene, where))]
    if command not in RECIPES or draw(st.booleans()):
        for action in positionals:
            argv += draw(values(action, scene, where))
    return argv


def fuzz_command(command: tuple[str, ...]):
    @FUZZ
    @given(data=st.data())
    def test(scene, data):
        where = scratch(scene)
        argv = data.draw(command_lines(command, scene, where))
        before = tree_digest(scene.root / "runs")
        check(" ".join(command), run_main(argv, where), f"rnnkit {argv!r}")
        if "--resume" not in argv:  # resuming trains into its run: the one allowed writer
            assert tree_digest(scene.root / "runs") == before, f"rnnkit {argv!r} changed a model"

    return test


for _command in COMMANDS:
    globals()["test_" + "_".join(_command).replace("-", "_")] = fuzz_command(_command)


def test_recipes_name_existing_commands():
    """A command without a recipe is fuzzed only from scene paths: say which ones, so a recipe
    can be added when they settle."""
    assert set(RECIPES) <= set(COMMANDS), set(RECIPES) - set(COMMANDS)


# -- every numeric option against every non-number -------------------------------------------

#: values no numeric option may take: each option of each command gets each one
NOT_NUMBERS = ["nan", "inf", "-inf", "1e309", str(2**64), str(-(2**64))]
#: (command, option) -> why a case still ends in a traceback: in a file another change owns
KNOWN: dict[tuple[str, str], str] = {}  # (command, option) -> why it is not fuzzed yet


def numeric_options(command: tuple[str, ...]) -> list[argparse.Action]:
    parser = COMMANDS[command]
    return [a for a in parser._actions if a.option_strings and bounds(a)[0] in ("int", "float")]


@pytest.mark.parametrize("command", sorted(COMMANDS), ids=" ".join)
def test_every_numeric_option_refuses_non_numbers(scene, command):
    base, where = [*command, *base_argv(command, scene)], scratch(scene)
    for action in numeric_options(command):
        option = action.option_strings[0]
        if (command[-1], option) in KNOWN:
            continue
        for value in NOT_NUMBERS:
            argv = [*base, option, value]
            outcome = check(" ".join(command), run_main(argv, where), f"rnnkit {argv!r}")
            assert outcome.status == 2, f"{argv}: {value} taken by {option}"


def test_sample_seed_beyond_64_bits_is_a_one_line_error(scene):
    argv = ["sample", *base_argv(("sample",), scene), "--seed", str(2**64)]
    assert run_main(argv, scratch(scene)).kind == "one-line error"
