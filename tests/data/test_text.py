import pytest

from rnnkit.data.text import (
    SNIFF_BYTES,
    binary_reason,
    bundled_text,
    read_lines,
    read_text,
    split_contiguous,
)
from rnnkit.errors import DataError


def test_reads_utf8(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("naïve café\n", encoding="utf-8")
    assert read_text(path) == "naïve café\n"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "file is empty"),
        (b"abc\x00def", r"looks binary \(NUL byte at offset 3\)$"),
        (b"\x1f\x8b\x08\x00" + b"text" * 100, r"looks binary \(gzip data\)$"),
        (b"abc\xffdef", "not valid UTF-8 at byte offset 3"),
    ],
)
def test_bad_files_name_the_file(tmp_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message) as info:
        read_text(path)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_text(tmp_path / "nope.txt")


def test_bundled_shakespeare_and_contiguous_split():
    text = bundled_text()
    assert len(text) == 1_115_394 and text.startswith("First Citizen:")
    train, valid = split_contiguous(text, 0.1)
    assert train + valid == text and len(valid) == len(text) - int(len(text) * 0.9)


def test_stray_control_bytes_are_removed(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(b"a stray NUL\x00, a DEL\x7f and a ^Z at the end\n\x1a")
    assert read_text(path) == "a stray NUL, a DEL and a ^Z at the end\n"


def test_binary_rule():
    assert binary_reason(b"plain text\twith tabs\r\nand a form feed\x0c") is None
    assert binary_reason(b"x" * 99 + b"\x00") is None  # 1 %: a stray byte
    assert binary_reason(b"x" * 9 + b"\x00") == "NUL byte at offset 9"  # 10 %
    assert binary_reason(b"x" * 9 + b"\x1b") == "control byte 0x1b at offset 9"
    assert binary_reason(b"GIF89a, a text that starts like a GIF") == "a GIF image"
    assert binary_reason(b"") is None


def test_read_lines_judges_the_head_and_strips_the_rest(tmp_path):
    first = "x" * (SNIFF_BYTES - 3)  # its second line starts in the head, ends after it
    path = tmp_path / "a.txt"
    path.write_bytes(f"{first}\nsplit across\x00 the head\nlast\x01".encode())
    assert list(read_lines(path, "a file")) == [first, "split across the head", "last"]
