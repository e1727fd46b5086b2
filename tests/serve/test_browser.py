"""The page in a real headless Chromium, as a person would use it, on small trained models.

``rnnkit serve`` runs as a subprocess on a free local port with four checkpoints trained here
by the ``tiny`` presets; Playwright drives the system Chromium (never a downloaded one). Each
view saves a screenshot (``$RNNKIT_SCREENSHOTS``, default a temporary directory).
"""

import os
import re
import urllib.request
from pathlib import Path

import pytest

from rnnkit.cli import main
from serve.servers import serving

CHROMIUM = "/usr/bin/chromium"
INSTALL = ("browser tests need Chromium and Playwright: apt-get install -y chromium && "
           "pip install playwright (no `playwright install` needed)")  # fmt: skip
if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} is missing; {INSTALL}", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason=INSTALL)
pytest.importorskip("uvicorn", reason="pip install 'rnnkit[serve]'")

TINY = ["--preset", "tiny", "--no-progress"]
CORPUS = Path(__file__).parents[2] / "src/rnnkit/data/corpora/tinyshakespeare.txt"
SPAM = ["win a free prize now", "claim your cash award", "free entry call now"]
HAM = ["see you at lunch", "ok i will call later", "how was your day"]
SENTENCES = [("The dog barks .", "DET NOUN VERB PUNCT"), ("A cat sleeps", "DET NOUN VERB"),
             ("She runs fast", "PRON VERB ADV")]  # fmt: skip
WORDS = ["cat", "act", "dog", "god", "odd", "add", "dad", "tad", "cog", "cot", "toad", "goat"]


def conllu(sentences) -> str:
    rows = []
    for text, tags in sentences:
        for i, (w, t) in enumerate(zip(text.split(), tags.split(), strict=True), 1):
            rows.append(f"{i}\t{w}\t_\t{t}\t_\t_\t0\t_\t_\t_")
        rows.append("")
    return "\n".join(rows) + "\n"


def train(tmp: Path, *args: str) -> None:
    """One ``rnnkit train`` command, in this process (torch is imported once)."""
    cwd = os.getcwd()
    try:
        os.chdir(tmp)
        assert main(["train", *args, *TINY]) == 0
    finally:
        os.chdir(cwd)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> list[Path]:
    tmp = tmp_path_factory.mktemp("browser_models")
    (tmp / "text.txt").write_text(CORPUS.read_text()[:6000])
    rows = [f"{label}\t{t} {i}" for i in range(12) for label, t in
            (("spam", SPAM[i % 3]), ("ham", HAM[i % 3]))]  # fmt: skip
    (tmp / "sms.tsv").write_text("\n".join(rows) + "\n")
    (tmp / "train.conllu").write_text(conllu(SENTENCES))
    (tmp / "pairs.tsv").write_text("".join(f"{w}\t{' '.join(reversed(w))}\n" for w in WORDS))
    train(tmp, "lm", "--text", "text.txt", "--out", "lm", "--max-steps", "20")
    train(tmp, "classify", "--data", "sms.tsv", "--no-header", "--no-baseline", "--out", "spam")
    train(tmp, "tag", "--train", "train.conllu", "--dev", "train.conllu", "--out", "pos")
    train(tmp, "seq2seq", "--data", "pairs.tsv", "--out", "g2p")
    return [tmp / name for name in ("lm", "spam", "pos", "g2p")]


@pytest.fixture(scope="module")
def server(trained, tmp_path_factory):
    with serving(trained, tmp_path_factory.mktemp("server") / "server.log") as url:
        yield url


@pytest.fixture(scope="module")
def page(server):
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1100, "height": 800})
        page.console_errors = []  # a 404 (say for /favicon.ico) is logged here as an error
        page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))
        page.goto(server)
        page.wait_for_selector("body[data-ready=true]", timeout=20000)
        yield page
        browser.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    where = os.environ.get("RNNKIT_SCREENSHOTS")
    return Path(where) if where else tmp_path_factory.mktemp("screenshots")


def test_only_the_views_of_loaded_kinds_are_tabs(page):
    tabs = page.locator("#tabs button").all_text_contents()
    assert tabs == ["Language model", "Classifier", "Tagger", "Sequence to sequence"]


def test_generated_text_streams_in_and_is_coloured_by_a_cell(page, shots):
    page.click("#tab-language_model")
    page.fill("#lm-form textarea[name=prime]", "ROMEO:")
    page.fill("#lm-form input[name=length]", "120")
    page.fill("#lm-form input[name=seed]", "1")
    page.click("#lm-form button[type=submit]")
    page.wait_for_selector("#lm-output.coloured span[data-value]", timeout=30000)
    text = page.inner_text("#lm-output")
    assert text.startswith("ROMEO:") and len(text) == len("ROMEO:") + 120
    values = page.eval_on_selector_all("#lm-output span", "s => s.map(e => +e.dataset.value)")
    colours = page.eval_on_selector_all(
        "#lm-output span", "s => s.map(e => e.style.backgroundColor)"
    )
    assert len(values) == 126 and len(set(values)) > 1
    assert all(c.startswith("rgba(") for c in colours)
    page.locator("#lm-ranked button").nth(1).click()  # another cell: the colouring is redrawn
    unit = page.locator("#lm-ranked button").nth(1).inner_text()
    page.wait_for_function(f"document.querySelector('#lm-unit').value === '{unit}'")
    page.screenshot(path=shots / "serve_language_model.png", full_page=True)


def test_coloured_text_is_black_or_white_by_the_backgrounds_luminance(page):
    page.click("#tab-language_model")
    page.fill("#lm-form textarea[name=prime]", "ROMEO:")
    page.fill("#lm-form input[name=length]", "60")
    page.click("#lm-form button[type=submit]")
    page.wait_for_selector("#lm-output.coloured span[data-value]", timeout=30000)
    spans = page.eval_on_selector_all(
        "#lm-output span", "s => s.map(e => [e.style.backgroundColor, e.style.color])"
    )
    for background, colour in spans:  # rgba over the white output box, WCAG 2 luminance
        *rgb, a = map(float, re.findall(r"[\d.]+", background))
        r, g, b = (255 + (c - 255) * a for c in rgb)
        want = "rgb(255, 255, 255)" if wcag_luminance(r, g, b) < 0.1791 else "rgb(0, 0, 0)"
        assert colour == want, (background, colour)


def wcag_luminance(r: float, g: float, b: float) -> float:
    linear = [c / 255 / 12.92 if c / 255 <= 0.04045 else ((c / 255 + 0.055) / 1.055) ** 2.4
              for c in (r, g, b)]  # fmt: skip
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def test_the_page_loads_with_no_console_errors(page, server):
    assert page.console_errors == []
    assert urllib.request.urlopen(f"{server}/favicon.ico", timeout=5).status == 204


def test_classifier_answers_with_probabilities_and_token_colours(page, shots):
    page.click("#tab-classifier")
    page.fill("#classify-form textarea[name=text]", "win a free prize now")
    page.click("#classify-form button[type=submit]")
    page.wait_for_selector("#classify-result:not([hidden])")
    assert page.inner_text("#classify-label") in ("spam", "ham")
    assert page.locator("#classify-bars rect").count() == 2
    tokens = page.locator("#classify-tokens span[data-contribution]")
    assert tokens.count() == 5 and "occlusion" in page.inner_text("#view-classifier")
    page.screenshot(path=shots / "serve_classifier.png", full_page=True)


def test_tagger_tags_each_word(page, shots):
    page.click("#tab-tagger")
    page.fill("#tag-form input[name=text]", "The dog sleeps .")
    page.click("#tag-form button[type=submit]")
    page.wait_for_selector("#tag-result .tagged-word")
    assert page.locator("#tag-result .word").all_text_contents() == ["The", "dog", "sleeps", "."]
    tags = page.locator("#tag-result .tag").all_text_contents()
    assert len(tags) == 4 and set(tags) <= {"DET", "NOUN", "VERB", "PUNCT", "PRON", "ADV"}
    page.screenshot(path=shots / "serve_tagger.png", full_page=True)


def test_seq2seq_shows_the_n_best_and_the_chosen_ones_heatmap(page, shots):
    page.click("#tab-seq2seq")
    page.fill("#translate-form input[name=text]", "goat")
    page.fill("#translate-form input[name=beam]", "3")
    page.fill("#translate-form input[name=n_best]", "3")
    page.click("#translate-form button[type=submit]")
    page.wait_for_selector("#attention rect.cell")
    assert page.locator("#translate-outputs tbody tr").count() == 3
    rows = page.locator("#translate-outputs tbody tr")
    rows.nth(1).click()  # the second hypothesis: its own heatmap
    page.wait_for_selector("#translate-outputs tbody tr.chosen[data-rank='2']")
    cells = page.locator("#attention rect.cell").count()
    assert cells > 0 and cells % 4 == 0  # output rows x 4 source characters
    page.screenshot(path=shots / "serve_seq2seq.png", full_page=True)


def test_a_bad_request_shows_its_error_and_the_page_keeps_working(page):
    page.click("#tab-seq2seq")
    page.fill("#translate-form input[name=beam]", "2")
    page.fill("#translate-form input[name=n_best]", "3")
    page.click("#translate-form button[type=submit]")
    page.wait_for_selector("#view-seq2seq .error:not([hidden])")
    assert "n_best must be in [1, beam=2]" in page.inner_text("#view-seq2seq .error")
    page.fill("#translate-form input[name=n_best]", "1")
    page.click("#translate-form button[type=submit]")
    page.wait_for_function("document.querySelectorAll('#translate-outputs tbody tr').length === 1")
    assert page.locator("#view-seq2seq .error").is_hidden()
