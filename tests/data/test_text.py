import pytest

from rnnkit.data.text import bundled_text, read_text, split_contiguous
from rnnkit.errors import DataError


def test_reads_utf8(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("naïve café\n", encoding="utf-8")
    assert read_text(path) == "naïve café\n"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "file is empty"),
        (b"abc\x00def", "looks binary"),
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
