"""Fuzz fixtures: tiny trained checkpoints and data files built once per session, the parser
built once, and the session's figures (cases, successes, one-line errors, tracebacks, hangs)
printed at the end of the run."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import pytest

import rnnkit.cli
from fuzz.harness import TALLY, run_main
from fuzz.recipes import QUICK, RECIPES, TRAININGS

SPAM = ["win a free prize now", "claim your cash reward", "free entry call now"]
HAM = ["see you at lunch", "ok i will call later", "how was your day"]
WORDS = ["cat", "act", "tac", "dog", "god", "odd", "add", "dad", "tad", "cog", "cot", "toad"]
SENTENCES = [
    ("The dog barks .", "DET NOUN VERB PUNCT"),
    ("A cat sleeps", "DET NOUN VERB"),
    ("She runs fast", "PRON VERB ADV"),
]


@dataclass(frozen=True)
class Scene:
    """What the fuzz cases start from: good data files and trained checkpoint directories."""

    root: Path
    files: dict[str, Path]  # kind -> a good file (text, tsv, csv, jsonl, folders, conllu, ...)
    checkpoints: dict[str, Path]  # model kind -> its trained directory (with trainer_state/)

    def argv(self, template: list[str]) -> list[str]:
        """``template`` with ``{kind}`` placeholders filled by file paths."""
        names = {k: str(v) for k, v in self.files.items()}
        return [word.format(**names) for word in template]


def write_files(root: Path) -> dict[str, Path]:
    """One good file of every format the readers take."""
    rows = [(label, f"{texts[i % 3]} {i}") for i in range(8)
            for label, texts in (("spam", SPAM), ("ham", HAM))]  # fmt: skip
    files = {name: root / name for name in
             ("text.txt", "data.tsv", "data.csv", "data.jsonl", "data.conllu", "plain.txt",
              "tokens.txt", "pairs.tsv")}  # fmt: skip
    files["text.txt"].write_text("ROMEO: O, she doth teach the torches to burn bright!\n" * 12)
    files["data.tsv"].write_text("".join(f"{label}\t{text}\n" for label, text in rows))
    files["data.csv"].write_text(
        "label,text\n" + "".join(f'{label},"{text}"\n' for label, text in rows)
    )
    files["data.jsonl"].write_text(
        "".join(f'{{"text": "{text}", "label": "{label}"}}\n' for label, text in rows)
    )
    files["data.conllu"].write_text(conllu(SENTENCES))
    files["plain.txt"].write_text("\n".join(text for text, _ in SENTENCES) + "\n")
    files["tokens.txt"].write_text("\n\n".join("\n".join(t.split()) for t, _ in SENTENCES))
    files["pairs.tsv"].write_text("".join(f"{w}\t{' '.join(reversed(w))}\n" for w in WORDS))
    folders = root / "folders"
    for i, (label, text) in enumerate(rows):
        (folders / label).mkdir(parents=True, exist_ok=True)
        (folders / label / f"{i}.txt").write_text(text)
    keys = ("text", "tsv", "csv", "jsonl", "conllu", "plain", "tokens", "pairs")
    return {**dict(zip(keys, files.values(), strict=True)), "folders": folders}


def conllu(sentences: list[tuple[str, str]]) -> str:
    """CoNLL-U text of (sentence, tags) pairs."""
    blocks = []
    for text, tags in sentences:
        lines = [f"# text = {text}"]
        words = zip(text.split(), tags.split(), strict=True)
        lines += [f"{i}\t{w}\t_\t{t}\t_\t_\t0\t_\t_\t_" for i, (w, t) in enumerate(words, 1)]
        blocks.append("\n".join(lines) + "\n\n")
    return "".join(blocks)


@pytest.fixture(scope="module", autouse=True)
def cached_parser():
    """Build the (unchanging) parser once per module: ``main`` would rebuild it for every case
    (restored after, so tests elsewhere see the real one)."""
    original = rnnkit.cli.build_parser
    rnnkit.cli.build_parser = functools.cache(original)
    yield
    rnnkit.cli.build_parser = original


@pytest.fixture(scope="module", autouse=True)
def no_server_loop():
    """``rnnkit serve`` checks its inputs, then would serve forever: the loop returns at once."""
    try:
        import uvicorn
    except ImportError:
        yield
        return
    original = uvicorn.run
    uvicorn.run = lambda *args, **kwargs: None
    yield
    uvicorn.run = original


@pytest.fixture(scope="session")
def files(tmp_path_factory) -> Scene:
    """Good data files of every format (no checkpoints)."""
    root = tmp_path_factory.mktemp("fuzz")
    return Scene(root, write_files(root), {})


@pytest.fixture(scope="session")
def scene(files) -> Scene:
    """Good data files and one tiny trained checkpoint of each model kind."""
    root, partial = files.root, files
    checkpoints = {}
    for kind, template in TRAININGS.items():
        out = root / "runs" / kind
        outcome = run_main(["train", *partial.argv(template), *QUICK, "--out", str(out)], root)
        assert outcome.kind == "success", f"training the {kind} fixture: {outcome}"
        checkpoints[kind] = out / "pointer" if kind == "sorter" else out
    return Scene(root, files.files, checkpoints)


def pytest_terminal_summary(terminalreporter) -> None:
    """The fuzz figures, when any fuzz case ran."""
    if sum(TALLY.kinds.values()):
        terminalreporter.write_line(TALLY.summary())
        for name, count in sorted(TALLY.commands.items()):
            terminalreporter.write_line(f"  {name}: {count:,} cases")
        from fuzz.test_options import COMMANDS

        if missing := sorted(" ".join(c) for c in set(COMMANDS) - set(RECIPES)):
            terminalreporter.write_line(f"  commands without a recipe: {', '.join(missing)}")
        for seconds, case in TALLY.slowest:
            terminalreporter.write_line(f"  slow: {seconds:.1f} s  {case}")
