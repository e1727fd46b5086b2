"""ABC tunes: the splitter and normaliser on hand-made collections, tune-level splits, and the
bar/meter, tonic and range checks on hand-made tunes (durations counted by hand)."""

import importlib.util
from collections import Counter
from fractions import Fraction

import pytest

from rnnkit.data.abc import (
    Tune,
    normalise_key,
    normalise_meter,
    parse_tunes,
    read_tunes,
    split_tunes,
    tune_corpus,
)
from rnnkit.data.abc_checks import check_tune, matching_bars, summarise
from rnnkit.errors import DataError

COLLECTION = """% a collection's own comment
%%abc-version 2.1

X: 1
T: The Kesh
T: alternative title
C: trad.
M: 6/8
L: 1/8
R: jig
K: G % major
|:GAG GAB|ABA ABd|\\
edd gdd|edB dBA:|  % second half of a music line
w: some words here

X: 2
T: The Kesh
M: C|
K: Ador
"Am"A2 !trill!BA GAB d|e2 ed cBAG|
% a comment line inside a tune
w: la la
+: la la, the lyrics field continued (and dropped with it)
X: 3
T: No key at all
M: 3/4
L: 1/8
ABC DEF|

X: 4
T: Bagpipes
M: 2/4
K: HP
AB cd|

X: 5
T: Free
M: none
K: D
ABcd|

X: 6
T: The Kesh again, exactly
M: 6/8
L: 1/8
K: Gmaj
|:GAG GAB|ABA ABd|edd gdd|edB dBA:|
"""


def test_splitter_keeps_meter_unit_key_and_body_and_counts_skips():
    skipped = Counter()
    tunes = parse_tunes(COLLECTION, skipped)
    assert tunes[0] == Tune("6/8", "1/8", "G", "|:GAG GAB|ABA ABd|edd gdd|edB dBA:|")
    # C| is 2/2; no L: in 2/2 -> 1/8 (ABC 2.1 3.1.7); chord symbol and decoration dropped
    assert tunes[1] == Tune("2/2", "1/8", "Ador", "A2 BA GAB d|e2 ed cBAG|")
    assert tunes[2] == tunes[0]  # a repeat under another title (dropped by read_tunes)
    assert len(tunes) == 3
    assert skipped == Counter({"without K:": 1, "with an unknown key": 1,
                               "with no or free meter": 1})  # fmt: skip
    assert tunes[0].text == "M:6/8\nL:1/8\nK:G\n|:GAG GAB|ABA ABd|edd gdd|edB dBA:|"


def test_tunes_sharing_a_title_stay_apart_and_repeats_are_dropped_once(tmp_path):
    path = tmp_path / "kesh.abc"
    path.write_text(COLLECTION, encoding="utf-8")
    collection = read_tunes(path)
    assert [t.key for t in collection.tunes] == ["G", "Ador"]
    assert collection.skipped["repeated"] == 1
    assert collection.files == 1
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "more.abc").write_text("X:1\nM:2/4\nL:1/16\nK:D\nA4 d4|\n", "utf-8")
    assert len(read_tunes(tmp_path).tunes) == 3  # a folder: every .abc file under it


def test_continuation_joins_the_next_line_and_a_body_field_is_kept():
    text = "X:1\nM:3/4\nK:D\nABC \\\n DEF|\nM:2/4\nAB CD|]\n"
    (tune,) = parse_tunes(text)
    assert tune.body == "ABC DEF|\nM:2/4\nAB CD|]"
    assert tune.unit == "1/8"  # 3/4 is not below 3/4


def test_no_x_header_is_refused_in_one_line(tmp_path):
    with pytest.raises(DataError, match="no X: line"):
        parse_tunes("M:6/8\nK:G\nGAG GAB|\n")
    path = tmp_path / "plain.abc"
    path.write_text("just some text\n", encoding="utf-8")
    with pytest.raises(DataError, match=f"{path}: no X: line"):
        read_tunes(path)


@pytest.mark.parametrize(("raw", "meter"), [("6/8", "6/8"), ("C", "4/4"), ("C|", "2/2"),
                                            (" 3 / 4 ", "3/4"), ("none", None), ("2+3/8", None),
                                            ("0/4", None), ("3/5", None)])  # fmt: skip
def test_normalise_meter(raw, meter):
    assert normalise_meter(raw) == meter


@pytest.mark.parametrize(("raw", "key"), [("G", "G"), ("Gmaj", "G"), ("A minor", "Am"),
                                          ("D Mix", "Dmix"), ("F#m", "F#m"), ("Bb", "Bb"),
                                          ("G clef=treble", "G"), ("HP", None), ("none", None),
                                          ("D exp ^f", None), ("Gblues", None)])  # fmt: skip
def test_normalise_key(raw, key):
    assert normalise_key(raw) == key


def test_split_by_tune_is_disjoint_complete_and_seeded():
    tunes = [Tune("4/4", "1/8", "G", f"A{i} B|") for i in range(103)]
    splits = split_tunes(tunes, (0.8, 0.1, 0.1), seed=5)
    assert [len(s) for s in splits] == [81, 11, 11]  # ceil(10.3) held out each
    bodies = [{t.body for t in s} for s in splits]
    assert not (bodies[0] & bodies[1] or bodies[0] & bodies[2] or bodies[1] & bodies[2])
    assert set().union(*bodies) == {t.body for t in tunes}
    assert split_tunes(tunes, (0.8, 0.1, 0.1), seed=5) == splits
    assert split_tunes(tunes, (0.8, 0.1, 0.1), seed=6) != splits


def test_tune_corpus_streams_hold_whole_tunes(tmp_path):
    path = tmp_path / "t.abc"
    tunes = "".join(f"X:{i}\nT:same\nM:2/4\nL:1/16\nK:D\nA{i + 1} d4|\n\n" for i in range(40))
    path.write_text(tunes, encoding="utf-8")
    corpus = tune_corpus(path, 0.1, seed=0)
    texts = [corpus.vocab.decode(s.tolist()) for s in (corpus.train, corpus.valid, corpus.test)]
    blocks = [set(t.strip("\n").split("\n\n")) for t in texts]
    assert [len(b) for b in blocks] == [32, 4, 4]  # 80/10/10 of 40 different tunes
    assert not (blocks[0] & blocks[1] or blocks[0] & blocks[2] or blocks[1] & blocks[2])
    assert all(block.startswith("M:2/4\nL:1/16\nK:D\n") for b in blocks for block in b)
    assert corpus.meters == {"2/4": 32} and corpus.keys == {"D": 32}
    assert corpus.units == {"2/4": "1/16"}
    assert len(corpus.held_out) == 4


# -- checks through music21 -------------------------------------------------------------------

Q = Fraction
#: the checks read tunes through music21; the reader above does not need it
needs_music21 = pytest.mark.skipif(
    importlib.util.find_spec("music21") is None, reason='pip install "rnnkit[music]"'
)


def test_matching_bars_by_hand():
    full = [Q(3)] * 4
    assert matching_bars([Q(3), Q(3), Q(3), Q(3)], full) == [True] * 4
    assert matching_bars([Q(1), Q(3), Q(3), Q(2)], full) == [True] * 4  # pickup + complement
    assert matching_bars([Q(3), Q(4), Q(3), Q(3)], full) == [True, False, True, True]  # too long
    assert matching_bars([Q(3), Q(2), Q(1), Q(3)], full) == [True] * 4  # section end + pickup
    assert matching_bars([Q(3), Q(2), Q(2), Q(3)], full) == [True, False, False, True]


@needs_music21
def test_check_right_tune():
    # 3/4, L:1/8: every bar six eighths; ends on G, lowest D4 (62) highest g5 (79)
    check = check_tune("M:3/4\nL:1/8\nK:G\nDGA Bcd|efg dBG|Bdg fed|G6|]")
    assert check.parses and check.bars == 4 and check.matching == 4
    assert check.ends_on_tonic
    assert (check.low, check.high, check.pitch_range) == (62, 79, 17)


@needs_music21
def test_tuplets_chords_broken_rhythm_and_grace_notes_count_as_written():
    # (3dAF: three eighths in the time of two = 1 quarter; [ce]2 = 1; d>c = 3/8 + 1/8 = 1/2;
    # {g} lasts nothing: each bar is exactly 3 quarters
    check = check_tune("M:3/4\nL:1/8\nK:D\n(3dAF {g}[ce]2 d>c|(3DFA d2 D2|]")
    assert (check.bars, check.matching) == (2, 2)
    short = check_tune("M:3/4\nL:1/8\nK:D\nD6|(3dAF [ce]2|D6|]")  # middle bar 2 quarters
    assert (short.bars, short.matching) == (3, 2)


@needs_music21
def test_check_too_long_bar_and_pickup():
    too_long = check_tune("M:3/4\nL:1/8\nK:D\nDFA dAF|DFA dAF ED|D6|]")  # middle bar: 8 eighths
    assert (too_long.bars, too_long.matching) == (3, 2)
    assert too_long.ends_on_tonic  # D in D
    pickup = check_tune("M:6/8\nL:1/8\nK:Em\nB|EFG ABc|BAG FED|E3 E2|]")  # 1 + 6 + 6 + 5
    assert (pickup.bars, pickup.matching) == (4, 4)
    assert pickup.ends_on_tonic
    off_tonic = check_tune("M:2/4\nL:1/8\nK:F\nFA cA|G4|]")
    assert not off_tonic.ends_on_tonic and off_tonic.matching == 2


@needs_music21
def test_unparseable_tune_and_summary():
    bad = check_tune("M:3/4\nK:G\n[[[(((|||zz}}}{{")
    assert not bad.parses and bad.error
    good = check_tune("M:2/4\nL:1/8\nK:C\nCD EF|GA Bc|]")
    summary = summarise([bad, good])
    assert summary["parse"] == 0.5 and summary["bars"] == 2 and summary["bars_match"] == 1.0
    assert summary["end_on_tonic"] == 1.0 and (summary["low"], summary["high"]) == (60, 72)
