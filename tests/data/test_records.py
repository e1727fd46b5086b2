"""Labelled-text readers on hand-made files: records, skip counts and one-line errors."""

import json
from pathlib import Path

import pytest

from rnnkit.data import records
from rnnkit.data.records import LabelledCorpus, read_labelled
from rnnkit.errors import DataError


def write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)
    return path


def test_tsv_without_header_is_the_sms_layout(tmp_path):
    path = write(
        tmp_path / "SMSSpamCollection",
        'ham\tGo until "jurong" point\r\nspam\tFree entry\tnow!\n\nham\t   \nham\tOk "lar\n',
    )
    corpus = read_labelled(path)
    assert corpus.texts == ['Go until "jurong" point', "Free entry\tnow!", 'Ok "lar']
    assert corpus.labels == ["ham", "spam", "ham"]
    assert corpus.read == len(corpus) == 3
    assert corpus.skipped == {"empty text": 1}
    assert corpus.label_set() == ["ham", "spam"]
    assert corpus.summary() == f"{path}: 3 records read, 1 skipped (1 empty text)"


def test_tsv_with_header_detected_and_named_columns(tmp_path):
    path = write(tmp_path / "d.tsv", "id\tlabel\ttext\n1\tpos\tgood\n2\tneg\tbad\n")
    corpus = read_labelled(path)
    assert (corpus.texts, corpus.labels) == (["good", "bad"], ["pos", "neg"])
    path = write(tmp_path / "e.tsv", "y\tx\npos\tgood\nneg\tbad\n")
    corpus = read_labelled(path, text_column="x", label_column="y")
    assert (corpus.texts, corpus.labels) == (["good", "bad"], ["pos", "neg"])
    corpus = read_labelled(path, text_column=1, label_column=0, header=True)
    assert corpus.texts == ["good", "bad"]


def test_csv_quoted_commas_and_newlines(tmp_path):
    path = write(
        tmp_path / "d.csv",
        'text,label\n"hello, world",pos\n"two\nlines ""quoted""",neg\n\n"",neg\nshort,\n',
    )
    corpus = read_labelled(path)
    assert corpus.texts == ["hello, world", 'two\nlines "quoted"']
    assert corpus.labels == ["pos", "neg"]
    assert corpus.skipped == {"empty text": 1, "empty label": 1}


def test_csv_missing_column_names_the_first_line_of_the_row(tmp_path):
    path = write(tmp_path / "d.csv", 'text,label\n"a\nb",x\nc,y\nlonely\n')
    with pytest.raises(DataError, match=r"d\.csv:5: no column 'label' \(the row has 1 field\)$"):
        read_labelled(path)


def test_tsv_missing_column_without_header(tmp_path):
    path = write(tmp_path / "d.tsv", "ham\thi\nspam\tyo\n\nham\n")
    with pytest.raises(DataError, match=r"d\.tsv:4: no column 1 \(text\) \(the row has 1 field\)"):
        read_labelled(path)


def test_unknown_column_lists_the_header(tmp_path):
    path = write(tmp_path / "d.csv", "body,label\nhi,a\nyo,b\n")
    with pytest.raises(DataError, match=r"no column 'text' in the header \(columns: 'body'"):
        read_labelled(path, header=True)
    with pytest.raises(DataError, match=r"no column 'txt' in the header"):
        read_labelled(path, text_column="txt", header=True)
    assert read_labelled(path, text_column="body").texts == ["hi", "yo"]


def test_jsonl(tmp_path):
    lines = [{"text": "hi", "label": "a"}, {"text": "", "label": "b"}, {"text": "yo", "label": 1}]
    path = write(tmp_path / "d.jsonl", "\n".join(map(json.dumps, lines)) + "\n\n")
    corpus = read_labelled(path)
    assert (corpus.texts, corpus.labels) == (["hi", "yo"], ["a", "1"])
    assert corpus.skipped == {"empty text": 1}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", r"d\.jsonl:2: not valid JSON"),
        ("[1, 2]", r"d\.jsonl:2: expected a JSON object, got list"),
        ('{"text": "x"}', r"d\.jsonl:2: no key 'label' \(the object has keys: 'text'\)"),
        ('{"text": null, "label": "a"}', r"d\.jsonl:2: 'text' is NoneType, expected a string"),
    ],
)
def test_jsonl_errors_name_the_line(tmp_path, line, message):
    path = write(tmp_path / "d.jsonl", '{"text": "a", "label": "b"}\n' + line + "\n")
    with pytest.raises(DataError, match=message):
        read_labelled(path)


def test_folder_corpus_with_latin1_file(tmp_path):
    write(tmp_path / "spam" / "b.txt", b"caf\xe9 offer")
    write(tmp_path / "spam" / "a.txt", "buy now")
    write(tmp_path / "ham" / "x.txt", "see you")
    write(tmp_path / "ham" / ".hidden", "ignored")
    write(tmp_path / "ham" / "empty.txt", b"")
    write(tmp_path / "README", "not a document")
    corpus = read_labelled(tmp_path)
    assert corpus.texts == ["see you", "buy now", "café offer"]
    assert corpus.labels == ["ham", "spam", "spam"]
    assert corpus.fallback_files == ["spam/b.txt"]
    assert corpus.skipped == {"empty text": 1, "file outside a label folder": 1}
    assert corpus.summary() == (
        f"{tmp_path}: 3 records read, 2 skipped (1 empty text, 1 file outside a label folder); "
        "1 file decoded as latin-1"
    )
    with pytest.raises(DataError, match=r"b\.txt: not valid UTF-8 at byte offset 3$"):
        read_labelled(tmp_path, encoding_fallback=None)


def test_folder_corpus_errors(tmp_path):
    write(tmp_path / "bin" / "ham" / "a.txt", "hi")
    write(tmp_path / "bin" / "spam" / "img.gif", b"GIF89a\x00\x01")
    with pytest.raises(DataError, match=r"binary: spam/img\.gif; needs at least two labels"):
        read_labelled(tmp_path / "bin")
    write(tmp_path / "one" / "ham" / "a.txt", "hi")
    with pytest.raises(DataError, match=r"needs at least two labels, found only 'ham'$"):
        read_labelled(tmp_path / "one")
    write(tmp_path / "flat" / "a.txt", "hi")
    with pytest.raises(DataError, match=r"flat: no label folders"):
        read_labelled(tmp_path / "flat")
    with pytest.raises(DataError, match=r"nowhere: no such folder"):
        read_labelled(tmp_path / "nowhere", format="folders")


def test_folder_corpus_strips_stray_control_bytes(tmp_path):
    write(tmp_path / "ham" / "a.txt", b"dear friend,\nsee you at five" + b"\x00")
    write(tmp_path / "ham" / "b.txt", b"\x1b[1mbold\x1b[0m tab\tand\x0cform feed\r\n")
    write(tmp_path / "spam" / "c.txt", b"no control bytes\n")
    corpus = read_labelled(tmp_path)
    assert corpus.texts == [
        "dear friend,\nsee you at five",
        "[1mbold[0m tab\tand\x0cform feed\r\n",
        "no control bytes\n",
    ]
    assert corpus.cleaned_files == ["ham/a.txt", "ham/b.txt"]
    assert corpus.summary() == f"{tmp_path}: 3 records read, 0 skipped; " + (
        "stray control bytes removed from 2 files"
    )


def binary_folder(root: Path, n_text: int) -> Path:
    """Four binary files (named by their kind) and ``n_text`` text files in ham/ and spam/."""
    write(root / "ham" / "photo.jpg", b"\xff\xd8\xff\xe0" + b"JFIF" * 10)
    write(root / "ham" / "notes.zip", b"PK\x03\x04" + b"x" * 40)
    write(root / "spam" / "blob.bin", bytes(range(32)) * 4)  # mostly control bytes
    write(root / "spam" / "scan.pdf", b"%PDF-1.4\n%\xe2\xe3\n1 0 obj\n")
    for i in range(n_text):
        write(root / ("ham", "spam")[i % 2] / f"{i}.txt", f"text number {i}")
    return root


def test_binary_files_are_skipped_and_named(tmp_path):
    corpus = read_labelled(binary_folder(tmp_path, 6))
    assert corpus.read == 6 and corpus.skipped == {"binary": 4}
    assert corpus.binary_files == [
        "ham/notes.zip",
        "ham/photo.jpg",
        "spam/blob.bin",
        "spam/scan.pdf",
    ]
    assert corpus.summary() == (
        f"{tmp_path}: 6 records read, 4 skipped (4 binary); "
        "binary: ham/notes.zip, ham/photo.jpg, spam/blob.bin and 1 more"
    )


def test_strict_refuses_any_skip(tmp_path):
    root = binary_folder(tmp_path / "bin", 6)
    with pytest.raises(DataError, match=r"notes\.zip: looks binary \(a ZIP archive .*strict"):
        read_labelled(root, strict=True)
    write(tmp_path / "empty" / "ham" / "a.txt", "hi")
    write(tmp_path / "empty" / "spam" / "b.txt", " \n")
    write(tmp_path / "empty" / "spam" / "c.txt", "yo")
    assert read_labelled(tmp_path / "empty", format="folders").skipped == {"empty text": 1}
    with pytest.raises(DataError, match=r"spam/b\.txt: empty text; strict reading skips nothing$"):
        read_labelled(tmp_path / "empty", strict=True)
    path = write(tmp_path / "d.tsv", "ham\thi\nspam\t \nspam\tyo\n")
    with pytest.raises(DataError, match=r"d\.tsv:2: empty text; strict reading skips nothing$"):
        read_labelled(path, strict=True)


def test_mostly_binary_folder_is_an_error(tmp_path):
    with pytest.raises(DataError, match="4 binary.*most of it was skipped") as info:
        read_labelled(binary_folder(tmp_path, 3))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("chunk", [3, 1 << 20])
def test_line_files_strip_stray_control_bytes_but_refuse_binary(tmp_path, monkeypatch, chunk):
    monkeypatch.setattr(records, "_CHUNK", chunk)
    rows = "".join(f"ham\tmessage number {i}\n" for i in range(20))
    path = write(tmp_path / "d.tsv", rows + "spam\tbuy\x00 now\x1a\n")
    corpus = read_labelled(path)
    assert corpus.texts[-1] == "buy now" and corpus.cleaned_files == [str(path)]
    assert corpus.summary().endswith("; stray control bytes removed from 1 file")
    jsonl = b'{"text": "a\x00", "label": "x"}\n{"text": "b", "label": "y"}\x7f\n'
    path = write(tmp_path / "d.jsonl", jsonl + b" \n" * 10)  # a raw NUL: invalid JSON unless cut
    assert read_labelled(path).texts == ["a", "b"]
    png = write(tmp_path / "d.csv", b"\x89PNG\r\n\x1a\n" + b"text,label\n" * 50)
    with pytest.raises(DataError, match=r"d\.csv: looks binary \(a PNG image\)$"):
        read_labelled(png)
    utf16 = write(tmp_path / "e.tsv", "ham\thi\nspam\tyo\n".encode("utf-16-le"))
    with pytest.raises(DataError, match=r"e\.tsv: looks binary \(NUL byte at offset 1\)$"):
        read_labelled(utf16)


def test_file_errors(tmp_path):
    with pytest.raises(DataError, match=r"missing\.tsv: no such file$"):
        read_labelled(tmp_path / "missing.tsv")
    with pytest.raises(DataError, match=r"empty\.tsv: file is empty$"):
        read_labelled(write(tmp_path / "empty.tsv", b""))
    with pytest.raises(DataError, match=r"nul\.csv: looks binary \(NUL byte at offset 2\)"):
        read_labelled(write(tmp_path / "nul.csv", b"a,\x00b\n"))
    path = write(tmp_path / "one.tsv", "ham\ta\nham\tb\n")
    with pytest.raises(DataError, match=r"one\.tsv: needs at least two labels, found only 'ham'"):
        read_labelled(path)
    with pytest.raises(DataError, match=r"blank\.tsv: no records"):
        read_labelled(write(tmp_path / "blank.tsv", "\n \n"))


def test_invalid_utf8_file_falls_back_or_names_the_offset(tmp_path):
    path = write(tmp_path / "d.tsv", b"ham\thello\nspam\tcaf\xe9\n")
    corpus = read_labelled(path)
    assert corpus.texts == ["hello", "café"]
    assert corpus.fallback_files == [str(path)]
    assert corpus.summary().endswith("; 1 file decoded as latin-1")
    with pytest.raises(DataError, match=r"d\.tsv: not valid UTF-8 at byte offset 18$"):
        read_labelled(path, encoding_fallback=None)


def test_utf8_cut_at_end_of_file_is_found(tmp_path):
    path = write(tmp_path / "d.tsv", "ham\ta\nspam\tcafé".encode()[:-1])
    with pytest.raises(DataError, match=r"not valid UTF-8 at byte offset 14$"):
        read_labelled(path, encoding_fallback=None)


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 1 << 20])
def test_utf8_offsets_do_not_depend_on_the_scan_chunk(tmp_path, monkeypatch, chunk):
    monkeypatch.setattr(records, "_CHUNK", chunk)
    good = write(tmp_path / "good.tsv", "ham\tcafé\nspam\tnaïve €\n")
    assert read_labelled(good, encoding_fallback=None).texts == ["café", "naïve €"]
    bad = write(tmp_path / "bad.tsv", "ham\tcafé\nspam\tna".encode() + b"\xef\xbf\n")
    with pytest.raises(DataError, match=r"not valid UTF-8 at byte offset 17$"):
        read_labelled(bad, encoding_fallback=None)


def test_csv_stray_quote_names_the_line(tmp_path):
    path = write(tmp_path / "d.csv", 'text,label\nok,a\n"bad"x,b\n')
    with pytest.raises(DataError, match=r"d\.csv:3: "):
        read_labelled(path)


def test_bad_options(tmp_path):
    path = write(tmp_path / "d.tsv", "ham\ta\nspam\tb\n")
    with pytest.raises(ValueError, match="format must be one of"):
        read_labelled(path, format="xml")
    with pytest.raises(DataError, match="needs a header row"):
        read_labelled(path, text_column="text", header=False)
    with pytest.raises(ValueError, match="must differ"):
        read_labelled(path, text_column=0)


def test_corpus_subset_and_length_check():
    corpus = LabelledCorpus(["a", "b", "c"], ["x", "y", "x"], "src", 3)
    part = corpus.subset([0, 2], "train")
    assert (part.texts, part.labels, part.source, part.read) == (
        ["a", "c"],
        ["x", "x"],
        "src (train)",
        2,
    )
    with pytest.raises(ValueError, match="2 texts but 1 labels"):
        LabelledCorpus(["a", "b"], ["x"], "src", 2)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("d.tsv", "spam\twin cash\nham\tsee you\nspam\tfree prize\n"),
        ("d.csv", 'label,text\nspam,"win cash"\nham,see you\nspam,free prize\n'),
        ("d.jsonl", '{"text": "win cash", "label": "spam"}\n{"text": "see you", "label": "ham"}\n'),
    ],
)
def test_old_mac_line_ends_read_as_line_ends(tmp_path, name, content):
    """A file whose lines end in a lone CR (classic Mac OS) reads as the same file with LF."""
    header = False if name.endswith(".tsv") else None
    lf, cr = tmp_path / name, tmp_path / f"cr-{name}"
    lf.write_bytes(content.encode())
    cr.write_bytes(content.replace("\n", "\r").encode())
    want, got = read_labelled(lf, header=header), read_labelled(cr, header=header)
    assert (got.texts, got.labels) == (want.texts, want.labels)
    assert len(got.texts) == content.count("\n") - name.endswith(".csv")


def test_a_carriage_return_inside_an_lf_file_stays_in_its_line(tmp_path):
    """Only a file with no LF at all takes CR as its line end: a stray CR in a text of an LF
    file does not split the record."""
    path = tmp_path / "d.tsv"
    path.write_bytes(b"spam\twin\rcash\nham\tsee you\n")
    corpus = read_labelled(path, header=False)
    assert corpus.labels == ["spam", "ham"]
    assert corpus.texts[1] == "see you"
