"""The inspect page: text properties and correlations by hand, saturation, the page's data, CLI."""

import base64
import json
import re

import numpy as np
import pytest
import torch

from cli_helpers import rnnkit
from rnnkit.cli import main
from rnnkit.data.vocab import CharVocab
from rnnkit.tasks.language_model import LanguageModel, LanguageModelConfig
from rnnkit.viz.activations import cell_activations
from rnnkit.viz.inspect_page import best_cells, inspect_page, pearson, text_properties
from rnnkit.viz.saturation import gate_saturation, plot_saturation, saturation_svg

TEXT = 'He said "hi (there)" and left.\nShe said "no".\n'
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_text_properties_by_hand():
    props = text_properties('a"b(c\n"d)')
    assert props["inside quotes"].tolist() == [0, 1, 1, 1, 1, 1, 0, 0, 0]
    assert props["position in line"].tolist() == [1, 2, 3, 4, 5, 0, 1, 2, 3]
    assert props["inside brackets"].tolist() == [0, 0, 0, 1, 1, 1, 1, 1, 0]


def test_pearson_equals_numpy_corrcoef_and_is_nan_for_a_constant_cell():
    values = np.array([[1.0, 2.0, 5.0], [2.0, 1.0, 5.0], [4.0, 0.5, 5.0], [3.0, 3.0, 5.0]])
    prop = np.array([0.0, 1.0, 1.0, 3.0])
    r = pearson(values, prop)
    for j in range(2):
        assert r[j] == pytest.approx(np.corrcoef(values[:, j], prop)[0, 1])
    # by hand: deviations (-1.5, -0.5, 1.5, 0.5) and (-1.25, -0.25, -0.25, 1.75)
    assert r[0] == pytest.approx(2.5 / np.sqrt(5.0 * 4.75))
    assert np.isnan(r[2])


def test_best_cells_finds_a_planted_quote_cell_first():
    props = text_properties(TEXT)
    rng = np.random.default_rng(0)
    values = rng.uniform(-0.2, 0.2, (len(TEXT), 6))
    values[:, 4] = 0.8 - 1.6 * props["inside quotes"]  # a cell that flips sign inside quotes
    found = best_cells(values, TEXT, k=3)
    assert found["inside quotes"][0].cell == 4
    assert found["inside quotes"][0].r == pytest.approx(-1.0)
    assert len(found["position in line"]) == 3
    assert best_cells(values[:3], TEXT[:3])["inside brackets"] == []  # constant: no trackers


def test_gate_saturation_fractions_by_hand():
    gate = torch.tensor([[[0.05, 0.5], [0.95, 0.5], [0.02, 0.99], [0.5, 0.91]]])  # (1, T=4, H=2)
    sat = gate_saturation({"forget": gate})
    assert sat.left["forget"].tolist() == [[0.5, 0.0]]
    assert sat.right["forget"].tolist() == [[0.25, 0.5]]
    svg = saturation_svg(sat)
    assert svg.count("<circle") == 2 and "forget gate" in svg
    assert saturation_svg(gate_saturation({})) == ""


def lm(cell="lstm"):
    vocab = CharVocab.from_text(TEXT)
    torch.manual_seed(0)
    config = LanguageModelConfig(len(vocab), cell=cell, hidden_size=8, num_layers=2)
    return LanguageModel(config, vocab).eval()


def embedded(page: str) -> dict:
    found = re.search(r'<script type="application/json" id="data">(.*?)</script>', page, re.S)
    return json.loads(found.group(1))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_page_holds_the_activations_and_top5_and_needs_nothing_outside(cell):
    model = lm(cell)
    acts = cell_activations(model, model.vocab.encode(TEXT))
    page = inspect_page(TEXT, acts, model.vocab.itos, layer=0)
    data = embedded(page)
    assert "".join(data["chars"]) == TEXT
    codes = np.frombuffer(base64.b64decode(data["codes"]), dtype=np.int8).reshape(8, len(TEXT))
    want = (acts.cell if cell == "lstm" else acts.h)[0].numpy().T  # (H, T)
    assert np.abs(codes / 127 * data["scale"] - want).max() <= 0.5 / 127 + 1e-6
    probs, ids = acts.next_probs[7].topk(5)
    assert data["next"][7] == [[model.vocab.itos[i], round(p, 4)] for i, p in
                               zip(ids.tolist(), probs.tolist(), strict=True)]  # fmt: skip
    assert ("tanh(c) of layer 0" in page) == (cell == "lstm")
    assert not re.search(r"https?://|<link|\bsrc=|@import", page)  # self-contained
    assert page.count("<svg") == (3 if cell == "lstm" else 2)  # one scatter per gate type


def test_text_cannot_close_the_data_script():
    text = 'x</script><script>alert(1)</script>"'
    model = lm()
    acts = cell_activations(model, model.vocab.encode(text))
    page = inspect_page(text, acts, model.vocab.itos, layer=1)
    assert "".join(embedded(page)["chars"]) == text
    assert page.count("</script>") == 2


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    root = tmp_path_factory.mktemp("inspect")
    lm().save_pretrained(root / "lm")
    (root / "text.txt").write_text(TEXT)
    return root


def test_cli_writes_the_page_and_the_saturation_png(checkpoint):
    done = rnnkit("inspect", "--checkpoint", "lm", "--text", "text.txt", "--out", "out/p.html",
                  "--saturation-png", "out/s.png", cwd=checkpoint)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "".join(embedded((checkpoint / "out/p.html").read_text())["chars"]) == TEXT
    assert (checkpoint / "out/s.png").read_bytes()[:8] == PNG_MAGIC


def test_cli_bad_inputs_are_one_line_errors(checkpoint, capsys, monkeypatch):
    monkeypatch.chdir(checkpoint)
    (checkpoint / "tagger").mkdir(exist_ok=True)
    (checkpoint / "tagger/config.json").write_text('{"format": "rnnkit.tagger/1"}')
    cases = [
        (["--layer", "2"], "--layer 2: the model has 2 layers (0..1)"),
        (["--max-chars", "10"], f"text.txt: {len(TEXT)} characters, more than --max-chars 10"),
        (["--text", "nope.txt"], "nope.txt: no such file"),
        (["--checkpoint", "tagger"], "needs a language model"),
        (["--checkpoint", "missing"], "missing"),
    ]
    for extra, needle in cases:
        args = {"--checkpoint": "lm", "--text": "text.txt", "--out": "p.html"}
        args.update(zip(extra[::2], extra[1::2], strict=True))
        assert main(["inspect", *[x for kv in args.items() for x in kv]]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and needle in err[0], err
    with pytest.raises(Exception, match="no gates"):
        plot_saturation(gate_saturation({}), checkpoint / "x.png")
