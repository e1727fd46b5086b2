"""``rnnkit train lm --preset folk`` on a handful of hand-made tunes, then ``rnnkit compose``:
files written, checks that agree with music21 read independently, seeded, bad input one line."""

import json
import sys

import pytest

pytest.importorskip("music21")

from rnnkit.apps.compose import Composed, write_tune
from rnnkit.cli import main
from rnnkit.data.abc import parse_tunes
from rnnkit.data.abc_checks import check_tune

TINY = ["--hidden-size", "16", "--num-layers", "1", "--batch-size", "4", "--bptt", "16",
        "--max-steps", "4", "--eval-every", "2", "--no-progress",
        "--sample-length", "0"]  # fmt: skip
BODIES = ["GAG GAB|ABA ABd|edd gdd|edB dBA|]", "DFA dAF|GBd gdB|AFD EFE|D3 D3|]",
          "B,EE BEE|Bcd BAF|DFA dAF|E3 E3|]", "gfe dBG|AGF GAB|c2A B2G|G3 G3|]"]  # fmt: skip


@pytest.fixture(scope="module")
def folk(tmp_path_factory):
    """A tiny LM trained on 20 jigs in G, D and Em (6/8), and the tunes it read."""
    root = tmp_path_factory.mktemp("folk")
    keys = ["G", "D", "Em"]
    text = "".join(f"X:{i}\nT:Jig {i}\nM:6/8\nL:1/8\nK:{keys[i % 3]}\n{BODIES[i % 4]} % {i}\n\n"
                   for i in range(20))  # fmt: skip
    (root / "jigs.abc").write_text(text, encoding="utf-8")
    assert main(["train", "lm", "--preset", "folk", "--text", str(root / "jigs.abc"),
                 "--out", str(root / "lm"), *TINY]) == 0  # fmt: skip
    return root


def test_training_records_the_training_tunes_meters_and_keys(folk):
    record = json.loads((folk / "lm" / "tunes.json").read_text())
    tunes = parse_tunes((folk / "jigs.abc").read_text())
    assert len({t.text for t in tunes}) == 12  # 3 keys x 4 bodies: the rest are repeats
    assert record["meters"] == {"6/8": sum(record["keys"].values())}
    assert set(record["keys"]) <= {"G", "D", "Em"}
    assert sum(record["keys"].values()) == 12 - 2 * 2  # 10 % of 12 held out twice: 2 each


def test_compose_writes_tunes_and_checks_them_as_music21_does(folk, tmp_path, capsys):
    out = tmp_path / "tunes"
    args = ["compose", "--checkpoint", str(folk / "lm"), "--meter", "6/8", "--key", "G",
            "--n", "3", "--seed", "4", "--max-length", "120", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    report = json.loads((out / "report.json").read_text())
    for i, tune in enumerate(report["tunes"], 1):
        abc = (out / f"tune_{i:03d}.abc").read_text()
        assert abc.startswith(f"X:{i}\nT:rnnkit tune {i}\nM:6/8\nL:1/8\nK:G\n")
        assert abc == f"X:{i}\nT:rnnkit tune {i}\n{tune['text']}\n"
        check = check_tune(tune["text"])
        assert (tune["parses"], tune["bars"], tune["matching"]) == (
            check.parses, check.bars, check.matching)  # fmt: skip
    assert report["summary"]["tunes"] == 3
    first = capsys.readouterr().out
    again = tmp_path / "again"
    assert main([*args[:-1], str(again)]) == 0  # the same seed: the same tunes
    assert json.loads((again / "report.json").read_text())["tunes"] == report["tunes"]
    assert capsys.readouterr().out == first.replace(str(out), str(again))


def test_midi_and_musicxml_of_a_hand_made_tune(tmp_path):
    text = "M:6/8\nL:1/8\nK:G\nGAG GAB|ABA ABd|edd gdd|edB dBA|]"
    tune = Composed(text, check_tune(text), True)
    midi = write_tune(tmp_path / "t", 1, tune, "midi")
    xml = write_tune(tmp_path / "t", 1, tune, "musicxml")
    assert midi.read_bytes()[:4] == b"MThd"
    assert "<score-partwise" in xml.read_text() and "<beats>6</beats>" in xml.read_text()
    broken = "M:6/8\nL:1/8\nK:G\n[[[((|"
    assert write_tune(tmp_path / "b", 2, Composed(broken, check_tune(broken), True), "midi") is None


def test_unseen_meter_warns_and_goes_on(folk, tmp_path, capsys):
    out = tmp_path / "t"
    assert main(["compose", "--checkpoint", str(folk / "lm"), "--meter", "8/8", "--n", "1",
                 "--max-length", "30", "--out", str(out)]) == 0  # fmt: skip
    err = capsys.readouterr().err
    assert "warning: the model saw no tunes with meter 8/8 (it saw 6/8); composing anyway" in err
    assert (out / "tune_001.abc").read_text().startswith("X:1\nT:rnnkit tune 1\nM:8/8\nL:1/8\n")


@pytest.mark.parametrize(("args", "message"), [
    (["--meter", "7/5"], "meter '7/5': give a meter such as 6/8"),
    (["--key", "HP"], "key 'HP': give a tonic and mode"),
    (["--unit", "1/3"], "unit length '1/3': give one such as 1/8"),
    (["--meter", "3/4"], "the model cannot read this header: characters not in the model's"),
])  # fmt: skip
def test_bad_meter_or_key_is_one_line(folk, tmp_path, capsys, args, message):
    code = main(["compose", "--checkpoint", str(folk / "lm"), *args, "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_a_model_not_trained_on_tunes_is_refused(folk, tmp_path, capsys):
    other = tmp_path / "prose"
    other.mkdir()
    for name in ("config.json", "model.safetensors"):  # the same model, no tunes.json
        (other / name).write_bytes((folk / "lm" / name).read_bytes())
    code = main(["compose", "--checkpoint", str(other), "--out", str(tmp_path / "t")])
    err = capsys.readouterr().err
    assert code == 2 and f"{other}: not trained on tunes (no tunes.json)" in err
    assert not (tmp_path / "t").exists()


def test_existing_tunes_are_kept_without_overwrite(folk, tmp_path, capsys):
    (tmp_path / "tune_001.abc").write_text("mine")
    code = main(["compose", "--checkpoint", str(folk / "lm"), "--n", "1", "--out", str(tmp_path)])
    assert code == 2 and "already exists" in capsys.readouterr().err
    assert (tmp_path / "tune_001.abc").read_text() == "mine"


def test_abc_without_x_header_and_missing_music21_are_one_line(tmp_path, capsys, monkeypatch):
    (tmp_path / "plain.abc").write_text("M:6/8\nK:G\nGAG GAB|\n")
    code = main(["train", "lm", "--preset", "folk", "--text", str(tmp_path / "plain.abc"),
                 "--out", str(tmp_path / "lm"), *TINY])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and f"{tmp_path / 'plain.abc'}: no X: line" in err
    assert len(err.strip().splitlines()) == 1
    monkeypatch.setitem(sys.modules, "music21", None)  # import music21 now fails
    code = main(["compose", "--checkpoint", str(tmp_path), "--out", str(tmp_path / "t")])
    err = capsys.readouterr().err
    assert code == 2 and 'pip install "rnnkit[music]"' in err
