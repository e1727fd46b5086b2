import io
from pathlib import Path

import pytest

from rnnkit.data.conllu import (
    COLUMNS,
    Sentence,
    read_conllu,
    read_plain,
    sentences_from_words,
    write_conllu,
)
from rnnkit.errors import DataError

EWT_DEV = Path(__file__).parents[3] / "shared/data/ud-en-ewt/en_ewt-ud-dev.conllu"


def row(*fields: str) -> str:
    """A token line: the given leading fields, then ``_`` up to 10."""
    return "\t".join(fields + ("_",) * (10 - len(fields)))


SAMPLE = (
    "\n".join(
        [
            "# sent_id = 1",
            "# text = I don't know.",
            row("1", "I", "I", "PRON", "PRP"),
            row("2-3", "don't"),
            row("2", "do", "do", "AUX", "VBP"),
            row("3", "n't", "not", "PART", "RB"),
            row("4", "know", "know", "VERB", "VB"),
            row("4.1", "knows", "know", "VERB", "VBZ"),
            row("5", ".", ".", "PUNCT", "."),
            "",
            row("1", "Héllo", "héllo", "INTJ", "UH"),
            row("2", "!", "!", "PUNCT", "."),
            "",
        ]
    )
    + "\n"
)


def write(tmp_path: Path, content: str | bytes, name: str = "a.conllu") -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


def test_reads_words_columns_and_text(tmp_path):
    first, second = read_conllu(write(tmp_path, SAMPLE))
    assert first.words == ["I", "do", "n't", "know", "."]
    assert first.column("UPOS") == ["PRON", "AUX", "PART", "VERB", "PUNCT"]
    assert first.column("ID") == ["1", "2", "3", "4", "5"]
    assert first.word_lines == [2, 4, 5, 6, 8]
    assert first.line_number == 1 and second.line_number == 11
    assert first.text() == "I don't know."
    assert second.text() == "Héllo !"  # no text comment: words joined by spaces
    assert second.lines[0] == row("1", "Héllo", "héllo", "INTJ", "UH")


def test_round_trip_is_byte_identical(tmp_path):
    path = write(tmp_path, SAMPLE)
    out = tmp_path / "out.conllu"
    write_conllu(read_conllu(path), out)
    assert out.read_bytes() == path.read_bytes()
    buffer = io.StringIO()
    write_conllu(read_conllu(path), buffer)
    assert buffer.getvalue() == SAMPLE


def test_round_trip_keeps_odd_bytes(tmp_path):
    # Trailing spaces in comments, a BOM-free non-ASCII comment and \r in MISC survive as-is.
    content = "# x = a  \n# ü\n" + row("1", "a") + "\r\n\n"
    path = write(tmp_path, content)
    write_conllu(read_conllu(path), tmp_path / "out.conllu")
    assert (tmp_path / "out.conllu").read_bytes() == content.encode()


def test_with_column_changes_only_that_column_of_word_lines(tmp_path):
    sentence = read_conllu(write(tmp_path, SAMPLE))[0]
    tagged = sentence.with_column("UPOS", ["A", "B", "C", "D", "E"])
    assert tagged.column("UPOS") == ["A", "B", "C", "D", "E"]
    for name in COLUMNS:
        if name != "UPOS":
            assert tagged.column(name) == sentence.column(name)
    changed = [
        i for i, (a, b) in enumerate(zip(sentence.lines, tagged.lines, strict=True)) if a != b
    ]
    assert changed == sentence.word_lines
    for i in changed:
        old, new = sentence.lines[i].split("\t"), tagged.lines[i].split("\t")
        assert old[:3] + old[4:] == new[:3] + new[4:]
    assert sentence.column("UPOS")[0] == "PRON"  # the original is untouched
    assert tagged.words == sentence.words and tagged.line_number == sentence.line_number


def test_with_column_form_updates_words(tmp_path):
    sentence = read_conllu(write(tmp_path, SAMPLE))[1]
    assert sentence.with_column("FORM", ["Hi", "?"]).words == ["Hi", "?"]


@pytest.mark.parametrize(
    ("name", "values", "message"),
    [
        ("POS", ["A", "B"], "unknown column 'POS'; expected one of ID, FORM"),
        ("ID", ["1", "2"], "ID column cannot be replaced"),
        ("UPOS", ["A"], "expected 2 values"),
        ("UPOS", ["A", ""], "non-empty"),
        ("UPOS", ["A", "B\tC"], "no tab"),
    ],
)
def test_with_column_refuses_bad_arguments(tmp_path, name, values, message):
    sentence = read_conllu(write(tmp_path, SAMPLE))[1]
    with pytest.raises(ValueError, match=message):
        sentence.with_column(name, values)


GOOD = row("1", "a") + "\n"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (GOOD + "1\ta\t_\n\n", r":2: expected 10 tab-separated fields, got 3$"),
        (
            GOOD + "2 b _ _ _ _ _ _ _ _\n\n",
            r":2: expected 10 .* got 1 \(fields separated by spaces",
        ),
        ("#c\n" + GOOD + row("x", "b") + "\n\n", r":3: ID 'x' is not an integer, a range N-M"),
        (GOOD + row("1.", "b") + "\n\n", r":2: ID '1\.' is not an integer"),
        (GOOD + row("3", "b") + "\n\n", r":2: word ID 3 out of order, expected 2"),
        (GOOD + "\n" + row("2", "b") + "\n\n", r":3: word ID 2 out of order, expected 1"),
        (GOOD + "2\t\t" + "\t".join("_" * 8) + "\n\n", r":2: empty FORM"),
        (GOOD + "\n# only a comment\n\n", r":3: sentence has no words"),
        (GOOD + "\n" + row("1-2", "ab") + "\n\n", r":3: sentence has no words"),
        (GOOD + "  \n\n", r":2: line holds only whitespace"),
        (GOOD + "\r\n", r":2: \\r\\n line end"),
        ("#a\r\n" + GOOD[:-1] + "\r\n\r\n", r":3: \\r\\n line end"),
        (GOOD, r":1: the last sentence does not end with a blank line"),
        (GOOD + "\n" + GOOD + GOOD.rstrip("\n"), r":4: the last sentence does not end"),
        ("", r"a\.conllu: file is empty"),
        ("\n\n", r"a\.conllu: no sentences"),
        (b"#\xc3\n" + GOOD.encode() + b"\n", r"a\.conllu:1: not valid utf-8 \(byte offset 1\)$"),
        (GOOD.encode() + b"\n" + b"\x00" * 4, r"a\.conllu: looks binary \(NUL byte at offset 21\)"),
    ],
)
def test_malformed_files_give_one_line_errors(tmp_path, content, message):
    path = write(tmp_path, content)
    with pytest.raises(DataError, match=message) as info:
        read_conllu(path)
    text = str(info.value)
    assert text.startswith(str(path)) and "\n" not in text


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="nope.conllu: no such file"):
        read_conllu(tmp_path / "nope.conllu")


def test_read_plain_lines_split_on_whitespace_only(tmp_path):
    path = write(tmp_path, "Hi, there.\n\n  two\twords \nlast", "a.txt")
    assert read_plain(path, pretokenized=False) == [["Hi,", "there."], ["two", "words"], ["last"]]


def test_read_plain_pretokenized(tmp_path):
    path = write(tmp_path, "\nNew York\n is\n\n\nbig\n.\n", "a.txt")
    assert read_plain(path, pretokenized=True) == [["New York", "is"], ["big", "."]]


@pytest.mark.parametrize(
    ("content", "pretokenized", "message"),
    [
        (b"", False, "a.txt: file is empty"),
        (b" \n\n", True, "a.txt: no words"),
        (b"ab\x00", False, "looks binary"),
        (b"ab\xff", True, "not valid UTF-8 at byte offset 2"),
        (b"a\nb\tc\n", True, r"a\.txt:2: token holds a tab"),
    ],
)
def test_read_plain_errors(tmp_path, content, pretokenized, message):
    with pytest.raises(DataError, match=message):
        read_plain(write(tmp_path, content, "a.txt"), pretokenized=pretokenized)


def test_sentences_from_words_write_valid_conllu(tmp_path):
    sentences = sentences_from_words([["Hi", "there"], ["Bye"]])
    assert sentences[0].lines == ["# text = Hi there", row("1", "Hi"), row("2", "there")]
    assert [s.line_number for s in sentences] == [1, 5]
    path = tmp_path / "out.conllu"
    write_conllu(sentences, path)
    again = read_conllu(path)
    assert again == sentences
    assert again[1].text() == "Bye" and again[1].column("UPOS") == ["_"]
    with pytest.raises(ValueError, match="sentence 2 has no words"):
        sentences_from_words([["a"], []])


def test_sentence_is_a_plain_dataclass():
    sentence = Sentence([row("1", "a")], ["a"], [0], 1)
    assert sentence.column("FORM") == ["a"] and sentence.text() == "a"


def test_ewt_dev_counts_and_round_trip(tmp_path):
    if not EWT_DEV.is_file():
        pytest.skip(f"{EWT_DEV} not present")
    sentences = read_conllu(EWT_DEV)
    assert len(sentences) == 2001
    assert sum(len(s.words) for s in sentences) == 25_147
    out = tmp_path / "dev.conllu"
    write_conllu(sentences, out)
    assert out.read_bytes() == EWT_DEV.read_bytes()


def test_a_byte_order_mark_is_not_part_of_the_first_line(tmp_path):
    """A CoNLL-U file saved with a BOM reads as the same file without it (it used to be
    reported as space-separated)."""
    plain = read_conllu(write(tmp_path, SAMPLE))
    marked = read_conllu(write(tmp_path, "\ufeff" + SAMPLE, "bom.conllu"))
    assert [s.lines for s in marked] == [s.lines for s in plain]
    assert [s.words for s in marked] == [s.words for s in plain]


def test_old_mac_line_ends_are_named(tmp_path):
    path = write(tmp_path, SAMPLE.replace("\n", "\r"))
    with pytest.raises(DataError, match=r"a\.conllu:1: \\r inside a line \(old Mac") as e:
        read_conllu(path)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("end", ["\n", "\r\n", "\r"])
def test_read_plain_takes_every_line_end_and_drops_a_bom(tmp_path, end):
    text = "\ufeff" + end.join(["Hi there", "", "two words", "last"])
    assert read_plain(write(tmp_path, text, "a.txt"), pretokenized=False) == [
        ["Hi", "there"], ["two", "words"], ["last"]
    ]  # fmt: skip
    tokens = "\ufeff" + end.join(["Hi", "there", "", "last"])
    assert read_plain(write(tmp_path, tokens, "b.txt"), pretokenized=True) == [
        ["Hi", "there"], ["last"]
    ]  # fmt: skip
