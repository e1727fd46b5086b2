"""Word-vector files: hand-made word2vec text/binary, GloVe and fastText files, read back."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnkit.data.word_vectors import (
    fill_embedding,
    match_vocabulary,
    read_word_vectors,
    write_word2vec,
)
from rnnkit.errors import DataError

WORDS = ["the", "cat", "Sat", "ça"]
VECTORS = np.array([[0.5, -1.0, 2.25], [1e-3, 0.0, -7.5], [3.0, 2.0, 1.0], [0.125, 9.0, -0.25]],
                   dtype=np.float32)  # fmt: skip


def text_rows() -> str:
    return "".join(
        f"{w} {' '.join(repr(float(x)) for x in v)}\n" for w, v in zip(WORDS, VECTORS, strict=True)
    )


def binary(newline: bool) -> bytes:
    body = b"".join(w.encode() + b" " + struct.pack("<3f", *v) + (b"\n" if newline else b"")
                    for w, v in zip(WORDS, VECTORS, strict=True))  # fmt: skip
    return b"4 3\n" + body


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("w2v.txt", f"4 3\n{text_rows()}"),  # word2vec text
        ("glove.txt", text_rows()),  # GloVe: no header
        ("wiki.vec", f"4 3\n{text_rows().replace(chr(10), ' ' + chr(10))}"),  # fastText: trailing
        ("w2v.bin", binary(newline=False)),
        ("w2v_nl.bin", binary(newline=True)),
    ],
)  # fmt: skip
def test_each_layout_reads_the_hand_made_vectors(tmp_path: Path, name: str, content) -> None:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    read = read_word_vectors(path)
    assert read.words == WORDS
    np.testing.assert_array_equal(read.vectors, VECTORS)


def test_gzip_and_max_words(tmp_path: Path) -> None:
    path = tmp_path / "v.txt.gz"
    path.write_bytes(gzip.compress(f"4 3\n{text_rows()}".encode()))
    read = read_word_vectors(path, max_words=2)
    assert read.words == WORDS[:2] and read.vectors.shape == (2, 3)


def test_written_file_reads_back_exactly(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(0, 1, (50, 7)).astype(np.float32)
    words = [f"w{i}" for i in range(50)]
    write_word2vec(tmp_path / "out.txt", words, vectors)
    read = read_word_vectors(tmp_path / "out.txt")
    assert read.words == words
    np.testing.assert_array_equal(read.vectors, vectors)  # 9 digits: float32 exactly
    with pytest.raises(ValueError, match="white space"):
        write_word2vec(tmp_path / "bad.txt", ["a b"], vectors[:1])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"2 3\nthe 1 2 3\ncat 1 2\n", "v.txt:3: 2 values for 'cat', expected 3"),
        (b"3 3\nthe 1 2 3\ncat 1 2 3\n", "header promises 3 words, the file has 2"),
        (b"the 1 2 3\ncat 1 x 3\n", "v.txt:2: a value of 'cat' is not a number"),
        (binary(False)[:-5], "entry 4 is cut mid-vector"),
        (b"5 3\n" + binary(False)[4:], "header promises 5 words, the file ends at 4"),
        (b"", "empty word-vectors file"),
    ],
)  # fmt: skip
def test_bad_files_give_one_line(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "v.txt"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message) as caught:
        read_word_vectors(path)
    assert "\n" not in str(caught.value) and str(path) in str(caught.value)


def test_coverage_counts_exact_and_lowercased_matches() -> None:
    from rnnkit.data.word_vectors import WordVectors

    vectors = WordVectors(["the", "cat", "sat"], np.eye(3, dtype=np.float32))
    rows, coverage = match_vocabulary(["The", "cat", "dog", "sat", "SAT"], vectors)
    assert rows == {0: 0, 1: 1, 3: 2, 4: 2}
    assert (coverage.exact, coverage.lowercased, coverage.found, coverage.vocabulary) == (
        2,
        2,
        4,
        5,
    )
    weight = torch.zeros(7, 3)  # 2 specials first
    fill_embedding(weight, ["The", "cat", "dog", "sat", "SAT"], vectors, first=2)
    expected = torch.zeros(7, 3)
    expected[2, 0] = expected[3, 1] = expected[5, 2] = expected[6, 2] = 1.0
    torch.testing.assert_close(weight, expected)
    with pytest.raises(DataError, match="dimension 3, but the embedding has 4"):
        fill_embedding(torch.zeros(7, 4), ["the"], vectors)
