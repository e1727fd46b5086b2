"""The views' text colour on coloured backgrounds: WCAG luminance, checked by hand and in pages.

The rule is JavaScript (both pages run it), so it runs here in Node; the expected colours are
worked out by hand from WCAG 2's relative luminance (sRGB channels linearised, weights 0.2126,
0.7152, 0.0722): white text wins where ``(L + 0.05)**2 < 1.05 * 0.05``, i.e. ``L < 0.1791``.
"""

import json
import re
import shutil
import subprocess

import pytest
import torch

from rnnkit.data.vocab import CharVocab
from rnnkit.tasks.language_model import LanguageModel, LanguageModelConfig
from rnnkit.viz.activations import TEXT_COLOUR_JS, cell_activations
from rnnkit.viz.inspect_page import inspect_page

NODE = shutil.which("node")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

#: (r, g, b, opacity over white) -> text colour, with the luminance worked out by hand
CASES = [
    ((255, 255, 255, 1), "#000"),  # L = 1
    ((0, 0, 0, 1), "#fff"),  # L = 0
    ((117, 117, 117, 1), "#fff"),  # L = 0.1779: just under the threshold
    ((118, 118, 118, 1), "#000"),  # L = 0.1812: just over it
    ((214, 39, 40, 1), "#fff"),  # the page's strong red: L = 0.2126*0.6724 + ... = 0.1590
    ((31, 119, 180, 1), "#fff"),  # the page's strong blue: L = 0.1678
    ((44, 160, 44, 1), "#000"),  # its green: L = 0.2586
    ((214, 39, 40, 0.5), "#000"),  # half red over white is (234.5, 147, 147.5): L = 0.4057
    ((59, 76, 192, 1), "#fff"),  # inspect's blue end: L = 0.0990
]


def wcag_text(r: float, g: float, b: float) -> str:
    """The reference rule on an opaque background: the text colour of higher WCAG contrast."""

    def linear(c: float) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4

    L = 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)
    return "#fff" if 1.05 / (L + 0.05) > (L + 0.05) / 0.05 else "#000"


def test_the_reference_rule_agrees_with_the_hand_computed_cases():
    for (r, g, b, a), want in CASES:
        blend = [255 + (c - 255) * a for c in (r, g, b)]
        assert wcag_text(*blend) == want, (r, g, b, a)


@pytest.mark.skipif(NODE is None, reason="the rule is JavaScript: install Node.js to run it")
def test_the_pages_rule_gives_the_hand_computed_text_colours():
    calls = [f"textColour({r}, {g}, {b}, {a})" for (r, g, b, a), _ in CASES]
    script = TEXT_COLOUR_JS + f"console.log(JSON.stringify([{', '.join(calls)}]));"
    out = subprocess.run([NODE, "-e", script], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == [want for _, want in CASES]


def rgb(style: str) -> tuple[int, ...]:
    return tuple(int(v) for v in re.findall(r"\d+", style))


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH: apt-get install chromium")
def test_inspect_writes_each_character_in_the_colour_its_background_needs(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    text = "abcab cba\n" * 4
    vocab = CharVocab.from_text(text)
    torch.manual_seed(0)
    model = LanguageModel(LanguageModelConfig(len(vocab), hidden_size=8, num_layers=1), vocab)
    with torch.no_grad():  # saturate the cells so that strong colours (white text) appear too
        model.rnn.weight_ih_l0.mul_(20)
    acts = cell_activations(model.eval(), vocab.encode(text))
    (tmp_path / "page.html").write_text(inspect_page(text, acts, vocab.itos, layer=0))
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        page.goto((tmp_path / "page.html").as_uri())
        styles = page.eval_on_selector_all(
            "#text span", "s => s.map(e => [e.style.background, e.style.color])"
        )
        browser.close()
    texts = {rgb(colour) for _, colour in styles}
    assert texts == {(0, 0, 0), (255, 255, 255)}  # both kinds of background occur
    for background, colour in styles:
        want = (255, 255, 255) if wcag_text(*rgb(background)) == "#fff" else (0, 0, 0)
        assert rgb(colour) == want, (background, colour)
