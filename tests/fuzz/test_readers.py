"""Every reader on generated files: it returns, or raises one line naming the file (a
:class:`~rnnkit.errors.DataError`, exit status 2 on the command line), never anything else."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz.harness import check, run_reader
from fuzz.strategies import FOLDER_TREES, NUMBER_WORDS, contents
from rnnkit.apps.tag import read_treebank
from rnnkit.data.conllu import read_conllu, read_plain
from rnnkit.data.pairs import PAIR_TOKENS, read_pairs
from rnnkit.data.records import read_labelled
from rnnkit.data.synthetic import parse_numbers
from rnnkit.data.text import read_text

FUZZ = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
#: reader name -> (file kind it reads, how to call it on a path)
READERS = {
    "read_text": ("text", read_text),
    "read_labelled tsv": ("tsv", lambda p: read_labelled(p, format="tsv")),
    "read_labelled tsv no header": ("tsv", lambda p: read_labelled(p, header=False)),
    "read_labelled csv": ("csv", lambda p: read_labelled(p, format="csv")),
    "read_labelled jsonl": ("jsonl", lambda p: read_labelled(p, format="jsonl")),
    "read_conllu": ("conllu", read_conllu),
    "read_treebank": ("conllu", lambda p: read_treebank(p, "UPOS")),
    "read_plain": ("plain", lambda p: read_plain(p, pretokenized=False)),
    "read_plain tokens": ("tokens", lambda p: read_plain(p, pretokenized=True)),
    "read_pairs": ("pairs", read_pairs),
}


def case_file(scene, name: str, data: bytes) -> Path:
    """A fresh file holding ``data``, in its own directory under the scene."""
    folder = Path(tempfile.mkdtemp(dir=scene.root, prefix="case-"))
    path = folder / name
    path.write_bytes(data)
    return path


def fuzz_reader(name: str):
    kind, read = READERS[name]

    @FUZZ
    @given(data=st.data())
    def test(files, data):
        good = files.files[kind].read_bytes()
        path = case_file(files, files.files[kind].name, data.draw(contents(kind, good)))
        check(name, run_reader(lambda: read(path)), f"{name}({path.read_bytes()[:300]!r})")

    test.__name__ = f"test_{name.replace(' ', '_')}"
    return test


for _name in READERS:
    globals()[f"test_{_name.replace(' ', '_')}"] = fuzz_reader(_name)


@FUZZ
@given(tree=FOLDER_TREES)
def test_read_labelled_folders(files, tree):
    root = Path(tempfile.mkdtemp(dir=files.root, prefix="case-")) / "corpus"
    root.mkdir()
    for relative, data in tree.items():
        path = root / relative
        if relative.endswith("/"):
            path.mkdir(parents=True, exist_ok=True)
        elif not path.parent.is_file() and not path.is_dir():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    outcome = run_reader(lambda: read_labelled(root, format="folders"))
    check("read_labelled folders", outcome, f"folders {tree!r}")


@FUZZ
@given(
    source=st.sampled_from(PAIR_TOKENS),
    target=st.sampled_from(PAIR_TOKENS),
    data=st.data(),
)
def test_read_pairs_token_kinds(files, source, target, data):
    good = files.files["pairs"].read_bytes()
    path = case_file(files, "pairs.tsv", data.draw(contents("pairs", good)))
    outcome = run_reader(lambda: read_pairs(path, source_tokens=source, target_tokens=target))
    check("read_pairs", outcome, f"read_pairs({path.read_bytes()[:300]!r}, {source}, {target})")


@FUZZ
@given(words=st.lists(NUMBER_WORDS, max_size=6))
def test_parse_numbers(words):
    outcome = run_reader(lambda: parse_numbers(words, low=0, high=9), errors=(ValueError,))
    check("parse_numbers", outcome, f"parse_numbers({words!r})")  # the CLI: a UsageError
