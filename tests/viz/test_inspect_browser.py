"""The inspect page in a real headless Chromium: colouring, hover, picking a tracked cell."""

import json
import re
import shutil

import pytest
import torch

from rnnkit.data.vocab import CharVocab
from rnnkit.tasks.language_model import LanguageModel, LanguageModelConfig
from rnnkit.viz.activations import cell_activations
from rnnkit.viz.inspect_page import inspect_page

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
HOW = "install Chromium (apt-get install chromium) and Playwright (pip install playwright)"
TEXT = 'He said "hi (there)" and left.\nShe said "no".\n' * 2


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason=HOW)
    if CHROMIUM is None:
        pytest.skip(f"no chromium on PATH: {HOW}")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


def colour_of(page, t: int) -> tuple[int, ...]:
    style = page.evaluate(f"document.querySelectorAll('#text span')[{t}].style.background")
    return tuple(int(v) for v in re.findall(r"\d+", style))


def test_page_colours_hovers_and_switches_cells(browser, tmp_path):
    vocab = CharVocab.from_text(TEXT)
    torch.manual_seed(0)
    model = LanguageModel(LanguageModelConfig(len(vocab), hidden_size=8, num_layers=1), vocab)
    acts = cell_activations(model.eval(), vocab.encode(TEXT))
    path = tmp_path / "page.html"
    path.write_text(inspect_page(TEXT, acts, vocab.itos, layer=0))
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri())
    assert page.locator("#text span").count() == len(TEXT)
    cell = int(page.evaluate("document.body.dataset.cell"))
    for t in (3, 20):  # white, shaded blue (< 0) or red (> 0) as the value says
        v = acts.cell[0, t, cell].item()
        r, _, b = colour_of(page, t)
        assert (r >= b) if v > 0 else (b >= r), (v, r, b)
    page.hover("#text span >> nth=5")
    tip = page.inner_text("#tip")
    best = vocab.itos[acts.next_probs[5].argmax()]
    lines = tip.splitlines()
    assert lines[0].startswith("position 5") and lines[1].startswith(f"cell {cell}: ")
    assert float(lines[1].split(": ")[1]) == pytest.approx(acts.cell[0, 5, cell].item(), abs=0.01)
    assert lines[3].strip().startswith(json.dumps(best))  # the most likely next character
    other = page.locator("button.cell").filter(has_not_text=f"{cell} (").first
    other.click()
    picked = int(other.get_attribute("data-cell"))
    assert int(page.evaluate("document.body.dataset.cell")) == picked
    assert page.input_value("#cell") == str(picked)
    assert page.locator("svg.sat circle").count() == 3 * 8  # 3 gate types x 8 units
    page.screenshot(path=tmp_path / "inspect.png")
    assert errors == []
