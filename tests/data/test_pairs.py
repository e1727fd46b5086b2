"""Pair files on hand-made files: tokens, skip counts and one-line errors."""

from pathlib import Path

import pytest

from rnnkit.data.pairs import PAIR_TOKENS, Pair, PairCorpus, read_pairs, split_tokens
from rnnkit.errors import DataError


def write(tmp_path: Path, data: str | bytes, name: str = "pairs.tsv") -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def test_split_tokens():
    assert split_tokens("a b\n", "char") == ("a", " ", "b")
    assert split_tokens("a b\r\n", "char") == ("a", " ", "b")
    assert split_tokens("  HH  AH L\tOW \n", "space") == ("HH", "AH", "L", "OW")
    assert split_tokens("", "space") == ()
    assert PAIR_TOKENS == ("char", "space")
    with pytest.raises(ValueError, match="tokens must be one of 'char', 'space', got 'word'"):
        split_tokens("a", "word")


def test_reads_pairs_and_counts_blank_lines(tmp_path):
    path = write(tmp_path, "hello\tHH AH L OW\n\nno one\tN OW  W AH N\r\n   \nab\tA B")
    corpus = read_pairs(path)
    assert isinstance(corpus, PairCorpus) and isinstance(corpus, list)
    assert corpus == [
        Pair(tuple("hello"), ("HH", "AH", "L", "OW")),
        Pair(("n", "o", " ", "o", "n", "e"), ("N", "OW", "W", "AH", "N")),
        Pair(("a", "b"), ("A", "B")),
    ]
    assert corpus.read == len(corpus) == 3
    assert corpus[1].target == ("N", "OW", "W", "AH", "N")
    assert corpus.sources[2] == ("a", "b") and corpus.targets[2] == ("A", "B")
    assert corpus.skipped == {"blank line": 2}
    assert corpus.summary() == f"{path}: 3 pairs read, 2 skipped (2 blank line)"
    assert corpus[:1] == [corpus[0]] and corpus.source == str(path)


def test_token_options_and_byte_order_mark(tmp_path):
    path = write(tmp_path, "\ufeff3 1 2\t123\n")
    corpus = read_pairs(path, source_tokens="space", target_tokens="char")
    assert corpus == [Pair(("3", "1", "2"), ("1", "2", "3"))]
    assert corpus.summary() == f"{path}: 1 pairs read, 0 skipped"
    with pytest.raises(ValueError, match="source_tokens must be one of"):
        read_pairs(path, source_tokens="words")
    with pytest.raises(ValueError, match="target_tokens must be one of"):
        read_pairs(path, target_tokens=None)


def test_latin1_encoding(tmp_path):
    path = write(tmp_path, "caf\xe9\tK AE F EY\n".encode("latin-1"))
    assert read_pairs(path, encoding="latin-1")[0].source == tuple("café")
    with pytest.raises(DataError, match=r"pairs\.tsv:1: not valid utf-8 \(byte offset 3\)$"):
        read_pairs(path)
    with pytest.raises(ValueError, match="encoding must write"):
        read_pairs(path, encoding="utf-16")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("a\tA\nb B\n", r"pairs\.tsv:2: no tab between source and target$"),
        ("a\tA\n\nb\tB\tC\n", r"pairs\.tsv:3: 2 tabs; expected one, between source and target$"),
        ("\tA\n", r"pairs\.tsv:1: empty source \(nothing before the tab\)$"),
        ("a\t  \n", r"pairs\.tsv:1: empty target \(nothing after the tab\)$"),
        ("\t\n", r"pairs\.tsv:1: empty source"),
        ("", r"pairs\.tsv: file is empty$"),
        ("\n \n\r\n", r"pairs\.tsv: no pairs \(only blank lines\)$"),
        ("a\tA\nb\x00\tB\n", r"pairs\.tsv: looks binary \(NUL byte at offset 5\)$"),
        (b"a\tA\nb\xff\tB\n", r"pairs\.tsv:2: not valid utf-8 \(byte offset 5\)$"),
    ],
)
def test_errors_name_file_and_line(tmp_path, content, message):
    path = write(tmp_path, content)
    with pytest.raises(DataError, match=message):
        read_pairs(path)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(DataError, match=r"nope\.tsv: no such file$"):
        read_pairs(tmp_path / "nope.tsv")
    with pytest.raises(DataError, match="is a directory, expected a source<TAB>target file"):
        read_pairs(tmp_path)
