"""Labelled-text readers: TSV, CSV, JSONL, folder and email corpora, with counts of skipped records.

Every error is a one-line :class:`~rnnkit.errors.DataError` naming the file (and, for the
line-based formats, the line)::

    data/spam.tsv:17: no column 'label' (the row has 1 field)

Line-based files are streamed: one pass over the bytes checks that the file is not binary,
finds invalid UTF-8 (and picks the fallback encoding for the whole file if needed) and stray
control bytes, a second pass parses the rows (without those bytes).

Folder corpora (``ROOT/<label>/<file>``, plain text or raw email: :mod:`rnnkit.data.email`)
take real-world folders as they come: a stray control byte is removed and counted, a binary
file (an image, an archive: :func:`~rnnkit.data.text.binary_reason`) or a message that cannot
be read is skipped and counted, and only a corpus that is mostly skipped is an error (or,
with ``strict=True``, any skip).
"""

from __future__ import annotations

import codecs
import csv
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path

from rnnkit.checks import check_text_encoding, check_unicode
from rnnkit.data import email as mail
from rnnkit.data import text
from rnnkit.data.text import (
    SNIFF_BYTES,
    binary_reason,
    check_line,
    check_not_binary,
    check_size,
    has_controls,
    open_data,
    strip_controls,
)
from rnnkit.errors import DataError

FORMATS = ("tsv", "csv", "jsonl", "folders", "email")
_SUFFIXES = {".tsv": "tsv", ".tab": "tsv", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
_CHUNK = 1 << 20  # bytes per read while scanning a file
Column = str | int | None
Row = tuple[int, list[str]]  # (line number, fields)
_OUTSIDE = "file outside a label folder"  # a skip that is no record, even under strict
_SAMPLE_FILES = 20  # files format detection looks at
_NAMED = 3  # binary files a summary names


@dataclass(frozen=True)
class _FileOptions:
    fmt: str  # "tsv", "csv" or "jsonl"
    delimiter: str
    text_column: Column
    label_column: Column
    header: bool | None


@dataclass
class LabelledCorpus:
    """Texts with one label each, and what reading them skipped.

    Attributes:
        texts: the documents, in file order.
        labels: ``labels[i]`` is the label of ``texts[i]``.
        source: the path shown in messages.
        read: number of records read successfully (``len(texts)``).
        skipped: reason -> number of records skipped for it (``"empty text"``, ...).
        fallback_files: files decoded with ``fallback_encoding`` because they were not UTF-8.
        fallback_encoding: the encoding those files were decoded with.
        unit: what one record is, in the summary (``"records"``, ``"messages"``).
        notes: what reading noticed in the records it kept, e.g. ``{"HTML only": 1120}``.
        binary_files: the files skipped as binary (also counted in ``skipped``).
        cleaned_files: the files whose stray control bytes were removed.
    """

    texts: list[str]
    labels: list[str]
    source: str
    read: int
    skipped: dict[str, int] = field(default_factory=dict)
    fallback_files: list[str] = field(default_factory=list)
    fallback_encoding: str | None = None
    unit: str = "records"
    notes: dict[str, int] = field(default_factory=dict)
    binary_files: list[str] = field(default_factory=list)
    cleaned_files: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.labels):
            raise ValueError(f"{len(self.texts)} texts but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.texts)

    def label_set(self) -> list[str]:
        """The distinct labels, sorted."""
        return sorted(set(self.labels))

    def subset(self, indices: list[int], name: str) -> LabelledCorpus:
        """The records at ``indices``, with ``source`` tagged ``"path (name)"``."""
        texts = [self.texts[i] for i in indices]
        labels = [self.labels[i] for i in indices]
        return LabelledCorpus(texts, labels, f"{self.source} ({name})", len(indices))

    def summary(self) -> str:
        """One line: ``"path: 5,574 records read, 2 skipped (2 empty text)"``, with what was
        noted (``"6,046 messages read (1,120 HTML only, ...)"``), the first binary files
        skipped, and the files cleaned of control bytes or decoded with the fallback."""
        n_skipped = sum(self.skipped.values())
        line = f"{self.source}: {self.read:,} {self.unit} read"
        if notes := [f"{n:,} {what}" for what, n in self.notes.items() if n]:
            line += f" ({', '.join(notes)})"
        line += f", {n_skipped:,} skipped"
        if n_skipped:
            reasons = ", ".join(f"{n:,} {why}" for why, n in sorted(self.skipped.items()))
            line += f" ({reasons})"
        if self.binary_files:
            more = len(self.binary_files) - _NAMED
            line += f"; binary: {', '.join(self.binary_files[:_NAMED])}"
            line += f" and {more:,} more" if more > 0 else ""
        if n := len(self.cleaned_files):
            line += f"; stray control bytes removed from {n:,} file{'s' * (n > 1)}"
        if n := len(self.fallback_files):
            line += f"; {n:,} file{'s' * (n > 1)} decoded as {self.fallback_encoding}"
        return line

    def _add(self, text: str, label: str, where: str = "", strict: bool = False) -> None:
        """Keep a record, or count it as skipped when its text or label is blank."""
        label = label.strip()
        if not text.strip():
            self._skip("empty text", where, strict)
        elif not label:
            self._skip("empty label", where, strict)
        else:
            self.texts.append(text)
            self.labels.append(label)
            self.read += 1

    def _skip(self, reason: str, where: str = "", strict: bool = False) -> None:
        """Count a skipped record; with ``strict``, refuse it (``where``: file or file:line)."""
        if strict:
            raise DataError(f"{where}: {reason}; strict reading skips nothing")
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


def read_labelled(
    path: str | Path,
    *,
    format: str | None = None,
    text_column: Column = None,
    label_column: Column = None,
    header: bool | None = None,
    encoding_fallback: str | None = "latin-1",
    delimiter: str | None = None,
    email_fields: tuple[str, ...] = mail.DEFAULT_FIELDS,
    strict: bool = False,
) -> LabelledCorpus:
    """Read a labelled corpus.

    Args:
        path: a TSV, CSV or JSONL file, or a folder ``ROOT/<label>/<file>`` of documents or
            of raw email (one message per file, ``.eml`` or any name, or mbox files).
        format: ``"tsv"``, ``"csv"``, ``"jsonl"``, ``"folders"`` or ``"email"``; None infers
            it (a folder -> email when most of its first files look like RFC 822 messages,
            else folders; ``.csv`` -> csv; ``.jsonl``/``.ndjson`` -> jsonl; else -> tsv).
        text_column: a header name or 0-based index (a key for JSONL). Default ``"text"`` with
            a header, 1 without (the SMS Spam Collection layout ``ham<TAB>message``).
        label_column: as ``text_column``; default ``"label"`` with a header, 0 without.
        header: whether a TSV/CSV file starts with a header row. None: it does iff its first
            row holds both column names (the given ones, or ``"text"`` and ``"label"``).
        encoding_fallback: encoding for files that are not valid UTF-8; None makes them errors
            (email: for parts whose charset is unknown or wrong, after UTF-8; None: UTF-8
            with replacement characters).
        delimiter: field separator; default tab for TSV and comma for CSV. TSV treats quotes as
            ordinary characters, and when the text is the last column it keeps any extra tabs.
        email_fields: header fields an email's text starts with, as ``"Field: value"`` lines
            (default :data:`rnnkit.data.email.DEFAULT_FIELDS`); the body follows a blank line.
        strict: refuse any skipped record or file (a binary file, an empty text, a message
            that cannot be read) with one line naming it, instead of counting it.

    Returns:
        The records in file order (folders: labels sorted, files sorted). Blank lines are
        ignored; records with a blank text or label are skipped and counted. Stray control
        bytes are removed; folder corpora skip binary files and count them.

    Raises:
        DataError: one line naming the file (and line) for a missing, empty, binary or
            mis-encoded file, a row without the text or label column, bad JSON, a corpus
            with fewer than two distinct labels, a folder corpus mostly skipped, an unknown
            format, or an option that does not apply to the file (a header for JSONL, one
            column for both text and label).
    """
    path = Path(path)
    _check_encoding(encoding_fallback)
    fields = _check_fields(email_fields)
    fmt = format or _infer_format(path)
    if fmt not in FORMATS:
        raise DataError(f"format must be one of {', '.join(map(repr, FORMATS))}, got {fmt!r}")
    if fmt != "email" and fields != mail.DEFAULT_FIELDS:
        raise DataError(f"{path}: email_fields apply to format 'email' only, not {fmt!r}")
    if fmt in ("folders", "email"):
        if text_column is not None or label_column is not None or header or delimiter:
            raise DataError(f"{path}: folder corpora take no column, header or delimiter options")
        corpus = _read_folders(path, fmt, encoding_fallback, fields, strict)
    else:
        try:
            options = _file_options(fmt, text_column, label_column, header, delimiter)
        except ValueError as e:  # the options do not fit this file's format
            raise DataError(f"{path}: {e}") from None
        corpus = _read_file(path, options, encoding_fallback, strict)
    _check_labels(corpus)
    return corpus


def _check_fields(fields: tuple[str, ...]) -> tuple[str, ...]:
    """Header field names, lower case; a name with a colon or a space is refused."""
    if isinstance(fields, str) or not all(isinstance(f, str) for f in fields):
        raise DataError(f"email_fields must be a tuple of header names, got {fields!r}")
    for name in fields:
        if not name or not name.isascii() or not name.isprintable() or ":" in name or " " in name:
            raise DataError(f"email_fields: {name!r} is not a header field name (e.g. 'subject')")
    return tuple(name.lower() for name in fields)


def _file_options(
    fmt: str, text_column: Column, label_column: Column, header: bool | None, delimiter: str | None
) -> _FileOptions:
    """Check the options of a line-based format and fill in its defaults."""
    if fmt != "jsonl":
        delimiter = delimiter or ("\t" if fmt == "tsv" else ",")
        if fmt == "csv" and len(delimiter) != 1:
            raise ValueError(f"a CSV delimiter must be one character, got {delimiter!r}")
        return _FileOptions(fmt, delimiter, text_column, label_column, header)
    if header is not None or delimiter is not None:
        raise ValueError("JSONL files take no header or delimiter options")
    text_key = "text" if text_column is None else text_column
    label_key = "label" if label_column is None else label_column
    if not isinstance(text_key, str) or not isinstance(label_key, str):
        raise ValueError(f"JSONL columns are keys, got {text_key!r} and {label_key!r}")
    return _FileOptions(fmt, "", text_key, label_key, None)


def _read_file(
    path: Path, options: _FileOptions, fallback: str | None, strict: bool
) -> LabelledCorpus:
    encoding, dirty, line_end = _pick_encoding(path, fallback)
    corpus = LabelledCorpus([], [], str(path), 0)
    if encoding != "utf-8-sig":
        corpus.fallback_files.append(str(path))
        corpus.fallback_encoding = encoding
    if dirty:
        corpus.cleaned_files.append(str(path))
    try:
        if options.fmt == "jsonl":
            _read_jsonl(path, (encoding, line_end), dirty, corpus, options, strict)
        else:
            rows = _rows(path, (encoding, line_end), dirty, options.fmt, options.delimiter)
            _read_delimited(path, rows, corpus, options, strict)
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: neither UTF-8 nor {encoding} ({e.reason})") from None
    return corpus


def _check_encoding(encoding: str | None) -> None:
    """A fallback text encoding Python knows (checked before any reading)."""
    try:
        if encoding is not None:
            check_text_encoding("encoding_fallback", encoding)
    except ValueError as e:
        raise DataError(str(e)) from None


def _infer_format(path: Path) -> str:
    if path.is_dir():
        return "email" if _looks_like_email(path) else "folders"
    return _SUFFIXES.get(path.suffix.lower(), "tsv")


def _looks_like_email(root: Path) -> bool:
    """Whether most of the first files of the label folders look like RFC 822 messages
    (taken in turn from each folder, :data:`_SAMPLE_FILES` in all)."""
    try:
        folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        firsts = [
            iter(sorted(p for p in f.iterdir() if not p.name.startswith("."))) for f in folders
        ]
        sample: list[Path] = []
        while firsts and len(sample) < _SAMPLE_FILES:
            for files in list(firsts):
                if (file := next(files, None)) is None:
                    firsts.remove(files)
                elif file.is_file() and len(sample) < _SAMPLE_FILES:
                    sample.append(file)
        heads = []
        for file in sample:
            with file.open("rb") as f:
                heads.append(f.read(4096))
    except OSError:
        return False  # the folder reader names the problem
    votes = sum(mail.looks_like_email(head) for head in heads)
    return votes > len(heads) / 2


def _check_labels(corpus: LabelledCorpus) -> None:
    labels = corpus.label_set()
    if not labels:
        raise DataError(f"{corpus.summary()}; no records to use")
    if len(labels) < 2:
        where = corpus.summary() + ";" if corpus.skipped else corpus.source + ":"
        raise DataError(f"{where} needs at least two labels, found only {labels[0]!r}")


def _pick_encoding(path: Path, fallback: str | None) -> tuple[str, bool, str]:
    """Scan a file's bytes: refuse a binary file; UTF-8 if it decodes, else ``fallback``;
    whether it holds stray control bytes; and its line end: ``"\r"`` for a file with no
    ``\n`` but some ``\r`` (old Mac line ends), else ``"\n"`` (a ``\r\n`` too)."""
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.is_dir():
        raise DataError(f"{path}: is a directory, expected a file (or format='folders')")
    decoder = codecs.getincrementaldecoder("utf-8")()
    bad_at, pos, chunk, head, dirty = None, 0, b"start", b"", False
    line = (0, 0)  # (bytes of the unfinished line, line ends so far)
    lf = cr = False
    with open_data(path, "a file") as f:
        while chunk:
            chunk = f.read(_CHUNK)  # b"" at the end: the final call flags a cut-off sequence
            if len(head) < SNIFF_BYTES:
                head += chunk[: SNIFF_BYTES - len(head)]
                if len(head) == SNIFF_BYTES or not chunk:
                    check_not_binary(path, head)
            dirty = dirty or has_controls(chunk)
            lf, cr = lf or b"\n" in chunk, cr or b"\r" in chunk
            check_size(path, pos + len(chunk))
            line = _check_lines(path, chunk, *line)
            pending = len(decoder.getstate()[0])  # bytes of a sequence the last chunk cut
            try:
                if bad_at is None:
                    decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as e:
                bad_at = pos - pending + e.start
            pos += len(chunk)
    if pos == 0:
        raise DataError(f"{path}: file is empty")
    line_end = "\r" if cr and not lf else "\n"
    if bad_at is None:
        return "utf-8-sig", dirty, line_end  # drops a leading byte-order mark
    if fallback is None:
        raise DataError(f"{path}: not valid UTF-8 at byte offset {bad_at}")
    return fallback, dirty, line_end


def _check_lines(path: Path, chunk: bytes, run: int, ends: int) -> tuple[int, int]:
    """Refuse a line longer than ``MAX_LINE_BYTES`` (streamed: ``run`` bytes of the current
    line came before ``chunk``, after ``ends`` line ends); returns the two after ``chunk``.
    A lone ``\r`` ends a line too (old Mac files)."""
    last = max(chunk.rfind(b"\n"), chunk.rfind(b"\r"))
    if run + len(chunk) > text.MAX_LINE_BYTES:  # only then can a line be too long
        for i, part in enumerate(_LINE_END.split(chunk)):
            check_line(f"{path}:{ends + i + 1}", run + len(part) if i == 0 else len(part))
    count = len(_LINE_END.findall(chunk))
    return (run + len(chunk) if last < 0 else len(chunk) - last - 1), ends + count


_LINE_END = re.compile(rb"\r\n|\r|\n")


def _text_lines(f: Iterator[str], dirty: bool) -> Iterator[str]:
    """The lines of ``f``, without control characters when it has any (``dirty``)."""
    return map(strip_controls, f) if dirty else f


def _rows(
    path: Path, reading: tuple[str, str], dirty: bool, fmt: str, delimiter: str
) -> Iterator[Row]:
    """(line number, fields) of each non-blank row; a CSV row's number is its first line.
    ``reading``: (encoding, line end) from :func:`_pick_encoding`."""
    encoding, line_end = reading
    if fmt == "tsv":
        with path.open(encoding=encoding, newline=line_end) as f:
            for lineno, line in enumerate(_text_lines(f, dirty), 1):
                line = line.removesuffix("\n").removesuffix("\r")
                if line.strip():
                    yield lineno, line.split(delimiter)
        return
    with path.open(encoding=encoding, newline="") as f:
        reader = csv.reader(_text_lines(f, dirty), delimiter=delimiter, strict=True)
        start = 1
        try:
            for row in reader:
                if any(value.strip() for value in row):
                    yield start, row
                start = reader.line_num + 1
        except csv.Error as e:
            raise DataError(f"{path}:{reader.line_num}: {e}") from None


def _read_delimited(
    path: Path, rows: Iterator[Row], corpus: LabelledCorpus, options: _FileOptions, strict: bool
) -> None:
    first = next(rows, None)
    if first is None:
        raise DataError(f"{path}: no records (only blank lines)")
    columns, text_i, label_i = _resolve_columns(path, first[1], options)
    if columns is None:
        rows = chain([first], rows)
    n_columns = len(columns) if columns else max(text_i, label_i) + 1
    keeps_tabs = options.fmt == "tsv" and text_i == n_columns - 1
    for lineno, fields in rows:
        if keeps_tabs and len(fields) > n_columns:
            fields[text_i:] = [options.delimiter.join(fields[text_i:])]
        for i, role in ((text_i, "text"), (label_i, "label")):
            if i >= len(fields):
                shown = repr(columns[i]) if columns else f"{i} ({role})"
                n = len(fields)
                raise DataError(
                    f"{path}:{lineno}: no column {shown} (the row has {n} field{'s' * (n != 1)})"
                )
        corpus._add(fields[text_i], fields[label_i], f"{path}:{lineno}", strict)


def _resolve_columns(
    path: Path, first: list[str], options: _FileOptions
) -> tuple[list[str] | None, int, int]:
    """(header columns or None, text index, label index), given the file's first row."""
    given = ((options.text_column, "text"), (options.label_column, "label"))
    header = options.header
    if header is None:
        header = all((c if isinstance(c, str) else name) in first for c, name in given)
    columns = first if header else None
    text_i = _column_index(path, options.text_column, "text", 1, columns)
    label_i = _column_index(path, options.label_column, "label", 0, columns)
    if text_i == label_i:
        raise DataError(f"{path}: text and label columns must differ, both are column {text_i}")
    return columns, text_i, label_i


def _column_index(
    path: Path, column: Column, name: str, index: int, columns: list[str] | None
) -> int:
    """Resolve a column option against the header row (None when there is none)."""
    if column is None:
        column = index if columns is None else name
    if isinstance(column, int):
        if column < 0:
            raise DataError(f"{path}: {name}_column must be a 0-based index >= 0, got {column}")
        return column
    if columns is None:
        raise DataError(f"{path}: column {column!r} needs a header row; give a 0-based index")
    if column not in columns:
        listed = ", ".join(map(repr, columns))
        raise DataError(f"{path}: no column {column!r} in the header (columns: {listed})")
    return columns.index(column)


def _read_jsonl(
    path: Path,
    reading: tuple[str, str],
    dirty: bool,
    corpus: LabelledCorpus,
    options: _FileOptions,
    strict: bool,
) -> None:
    keys = (options.text_column, options.label_column)
    encoding, line_end = reading
    with path.open(encoding=encoding, newline=line_end) as f:
        for lineno, line in enumerate(_text_lines(f, dirty), 1):
            if line.strip():
                where = f"{path}:{lineno}"
                text, label = _json_fields(where, line, keys)
                corpus._add(_whole_characters(text, corpus), _valid_label(label, where), where,
                            strict)  # fmt: skip


#: a JSON escape can hold half of a character (``"\ud83d"``: a tweet cut mid-emoji)
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_CUT = "cut characters replaced"  # the note of texts that held one


def _whole_characters(text: str, corpus: LabelledCorpus) -> str:
    """The text with each half character (a lone surrogate, which no file can hold) replaced
    by U+FFFD, the replacement character, and counted in ``corpus.notes``."""
    if not _LONE_SURROGATE.search(text):
        return text
    corpus.notes[_CUT] = corpus.notes.get(_CUT, 0) + 1
    return _LONE_SURROGATE.sub("\ufffd", text)


def _valid_label(label: str, where: str) -> str:
    """A label is the model's output and is written to its config: a half character in one
    is an error (a replacement would silently merge or rename classes)."""
    try:
        return check_unicode("label", label)
    except ValueError as e:
        raise DataError(f"{where}: {e}") from None


def _json_fields(where: str, line: str, keys: tuple[Column, ...]) -> list[str]:
    """The values of ``keys`` in one JSONL line (an integer becomes a string)."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as e:
        raise DataError(f"{where}: not valid JSON ({e.msg}, column {e.colno})") from None
    except RecursionError:  # [[[[...]]]] deeper than Python's stack
        raise DataError(f"{where}: not valid JSON (nested too deeply)") from None
    except ValueError as e:  # a number of more than 4,300 digits
        raise DataError(f"{where}: not valid JSON ({str(e).split(';')[0]})") from None
    if not isinstance(record, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(record).__name__}")
    for key in keys:
        if key not in record:
            listed = ", ".join(map(repr, record)) or "none"
            raise DataError(f"{where}: no key {key!r} (the object has keys: {listed})")
        if isinstance(record[key], bool) or not isinstance(record[key], (str, int)):
            kind = type(record[key]).__name__
            raise DataError(f"{where}: {key!r} is {kind}, expected a string")
    return [str(record[key]) for key in keys]


def _read_folders(
    root: Path, fmt: str, fallback: str | None, fields: tuple[str, ...], strict: bool
) -> LabelledCorpus:
    """Every file of ``ROOT/<label>/``: one document, or (email) one message or an mbox."""
    if not root.is_dir():
        problem = "not a folder" if root.exists() else "no such folder"
        raise DataError(f"{root}: {problem}")
    corpus = LabelledCorpus([], [], str(root), 0, fallback_encoding=fallback)
    if fmt == "email":
        corpus.unit, corpus.notes = "messages", dict.fromkeys(mail.NOTES, 0)
    entries = sorted(p for p in root.iterdir() if not p.name.startswith("."))
    folders = [p for p in entries if p.is_dir()]
    if not folders:
        raise DataError(f"{root}: no label folders (expected ROOT/<label>/<file>)")
    for _ in range(len(entries) - len(folders)):
        corpus._skip(_OUTSIDE)
    for folder in folders:
        _check_label_folder(folder)
        for file in sorted(p for p in folder.iterdir() if not p.name.startswith(".")):
            name = file.relative_to(root).as_posix()
            if file.is_dir():
                corpus._skip("folder inside a label folder", str(file), strict)
                continue
            if not file.is_file():  # a named pipe would block the read, a device never end
                corpus._skip("not a regular file", str(file), strict)
                continue
            raw = _read_bytes(file)
            if reason := binary_reason(raw[:SNIFF_BYTES]):
                if strict:
                    raise DataError(
                        f"{file}: looks binary ({reason}); strict reading skips nothing"
                    )
                corpus._skip("binary")
                corpus.binary_files.append(name)
            elif fmt == "email":
                _read_messages(raw, folder.name, file, name, corpus, fallback, fields, strict)
            else:
                text = _decode_document(raw, file, name, fallback, corpus)
                corpus._add(text, folder.name, str(file), strict)
    if not corpus.fallback_files:
        corpus.fallback_encoding = None
    _check_mostly_read(corpus)
    return corpus


def _check_label_folder(folder: Path) -> None:
    """A folder's name is its documents' label, written to the model's config and printed by
    ``rnnkit classify``: it must be text (a name that is not UTF-8 holds escaped bytes)."""
    try:
        check_unicode("label", folder.name)
    except ValueError:
        raise DataError(f"{folder}: the folder name is not valid UTF-8, and it is the label "
                        "of its documents; rename the folder") from None  # fmt: skip


def _read_bytes(file: Path) -> bytes:
    with open_data(file, "a file") as f:
        raw = f.read(text.MAX_FILE_BYTES + 1)
    check_size(file, len(raw))
    return raw


def _decode_document(
    raw: bytes, file: Path, name: str, fallback: str | None, corpus: LabelledCorpus
) -> str:
    """One document: UTF-8, else ``fallback`` (noted in ``corpus.fallback_files``), without
    its stray control bytes (noted in ``corpus.cleaned_files``)."""
    try:
        document = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as e:
        if fallback is None:
            raise DataError(f"{file}: not valid UTF-8 at byte offset {e.start}") from None
        document = raw.decode(fallback, errors="replace")
        corpus.fallback_files.append(name)
    if has_controls(raw):
        document = strip_controls(document)
        corpus.cleaned_files.append(name)
    return document


def _read_messages(
    raw: bytes,
    label: str,
    file: Path,
    name: str,
    corpus: LabelledCorpus,
    fallback: str | None,
    fields: tuple[str, ...],
    strict: bool,
) -> None:
    """The message of an email file, or each message of an mbox, as records."""
    if not raw.strip():
        corpus._skip("empty text", str(file), strict)
        return
    entries = mail.split_mbox(raw)
    for i, entry in enumerate(entries, 1):
        where = f"{file} (message {i})" if len(entries) > 1 else str(file)
        try:
            message = mail.message_text(entry, fields=fields, fallback=fallback, notes=corpus.notes)
        except mail.MessageError as e:
            corpus._skip(str(e), where, strict)
            continue
        if (clean := strip_controls(message)) != message:
            message = clean.strip()
            if name not in corpus.cleaned_files[-1:]:
                corpus.cleaned_files.append(name)
        corpus._add(message, label, where, strict)


def _check_mostly_read(corpus: LabelledCorpus) -> None:
    """Refuse a folder corpus most of whose files (or messages) were skipped."""
    skipped = sum(corpus.skipped.values()) - corpus.skipped.get(_OUTSIDE, 0)
    if skipped > corpus.read:
        raise DataError(
            f"{corpus.summary()}: most of it was skipped (is this the right folder and format?)"
        )
