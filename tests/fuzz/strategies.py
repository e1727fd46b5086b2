"""Hypothesis strategies for what users feed rnnkit: file contents in every format (good,
mutated and broken), folder trees, and command-line words."""

from __future__ import annotations

import json

from hypothesis import strategies as st

#: characters that mean something to one reader or another, and a few that are just odd
SPECIAL = "\t\n\r ,;\"'{}[]:#-._=0123456789\x00\ufeff\u2028\x85\x0b\x0c\x1c"
ALPHABET = st.sampled_from(list(SPECIAL) + list("abcXYZéß中😀\u0301"))
#: bytes that are never (or not here) valid UTF-8
BAD_BYTES = st.sampled_from([b"\xff", b"\xc3", b"\xe2\x82", b"\x80", b"\xed\xa0\x80", b"\x00"])
#: words that are almost numbers: signs, non-ASCII digits, floats, blanks, 5,000 digits
ODD_NUMBERS = ["", " ", "+5", "-0", "1.5", "1e3", "0x1f", "١٢", "²", "nan", "inf", "1_000",
               " 3", "3 ", "9" * 5000, "--", "-", "abc"]  # fmt: skip
#: words that stress number parsing: huge, signed, odd
NUMBER_WORDS = st.one_of(
    st.integers(-(10**30), 10**30).map(str),
    st.integers(-3, 12).map(str),
    st.sampled_from(ODD_NUMBERS),
)


@st.composite
def mutated(draw: st.DrawFn, good: bytes) -> bytes:
    """``good`` with a few random edits: cut, spliced bytes, deleted or duplicated ranges."""
    data = bytearray(good)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        edit = draw(st.sampled_from(["truncate", "insert", "bad", "delete", "duplicate"]))
        if edit == "truncate":
            del data[at:]
        elif edit == "insert":
            data[at:at] = draw(st.text(ALPHABET, max_size=8)).encode()
        elif edit == "bad":
            data[at:at] = draw(BAD_BYTES)
        elif edit == "delete":
            del data[at : at + draw(st.integers(1, 20))]
        else:
            data[at:at] = data[at : at + draw(st.integers(1, 40))]
    return bytes(data)


def lines_of(line: st.SearchStrategy[str], *, end: str = "\n") -> st.SearchStrategy[bytes]:
    """Files of 0-12 lines drawn from ``line``, UTF-8, sometimes without the last line end."""
    return st.builds(
        lambda rows, last: ("\n".join(rows) + (end if last else "")).encode(),
        st.lists(line, max_size=12),
        st.booleans(),
    )


def fields(separator: str, count: st.SearchStrategy[int]) -> st.SearchStrategy[str]:
    """A line of ``count`` fields joined by ``separator``."""
    field = st.text(ALPHABET, max_size=10)
    return count.flatmap(lambda n: st.lists(field, min_size=n, max_size=n)).map(separator.join)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(ALPHABET, max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                 max_size=3),
    max_leaves=6,
)  # fmt: skip
#: JSON lines that are valid but odd: half an emoji in a text or a label (a JSON escape), a
#: nesting deeper than Python's stack, a number of 5,000 digits
ODD_JSON = ['{"text": "cut \\ud83d", "label": "spam"}', '{"text": "ok", "label": "ham\\udcff"}',
            '{"text": ' + "[" * 3000 + "]" * 3000 + ', "label": "x"}',
            '{"text": "a", "label": ' + "9" * 5000 + "}"]  # fmt: skip
JSONL_LINE = st.one_of(
    st.builds(
        lambda t, lab, extra: json.dumps({"text": t, "label": lab, **extra}),
        JSON_VALUES, JSON_VALUES, st.dictionaries(st.text(max_size=5), JSON_VALUES, max_size=2),
    ),
    JSON_VALUES.map(json.dumps),
    st.text(ALPHABET, max_size=20),
    st.sampled_from(ODD_JSON),
)  # fmt: skip
CONLLU_ID = st.sampled_from(["1", "2", "3", "1-2", "2.1", "0", "01", "x", "", "-1", "3-"])
CONLLU_LINE = st.one_of(
    st.builds(lambda i, rest: f"{i}\t{rest}", CONLLU_ID, fields("\t", st.integers(7, 10))),
    st.sampled_from(["", "", "# text = a b", " ", "\r", "1 The _ DET _ _ 0 _ _ _"]),
    st.text(ALPHABET, max_size=20),
)

#: file contents per reader kind: structured lines, or any bytes
CONTENTS = {
    "text": st.text(ALPHABET, max_size=300).map(str.encode),
    "tsv": lines_of(fields("\t", st.integers(0, 4))),
    "csv": lines_of(fields(",", st.integers(0, 4))),
    "jsonl": lines_of(JSONL_LINE),
    "conllu": lines_of(CONLLU_LINE),
    "plain": lines_of(st.text(ALPHABET, max_size=20)),
    "tokens": lines_of(st.text(ALPHABET, max_size=6)),
    "pairs": lines_of(fields("\t", st.integers(0, 3))),
}


def contents(kind: str, good: bytes) -> st.SearchStrategy[bytes]:
    """What a file of ``kind`` may hold: structured lines, a mutated good file, any bytes."""
    return st.one_of(CONTENTS[kind], mutated(good), st.binary(max_size=200))


#: a folder corpus: {relative path: bytes}; a path ending in "/" is an (empty) folder
FOLDER_TREES = st.dictionaries(
    st.one_of(
        st.builds(lambda d, f: f"{d}/{f}", st.sampled_from(["spam", "ham", ".git", "é"]),
                  st.sampled_from(["a.txt", "b", ".hidden", "sub/c.txt", "dir/"])),
        st.sampled_from(["stray.txt", "empty/", ".x"]),
    ),
    st.one_of(st.binary(max_size=40), st.text(ALPHABET, max_size=40).map(str.encode)),
    max_size=6,
)  # fmt: skip
