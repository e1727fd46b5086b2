"""The music view: ``/api/music`` and ``/api/compose`` through Starlette's test client (against
``compose`` called directly and notes counted by hand), then the page in headless Chromium:
compose, the score's SVG appears, Play schedules the notes with no JavaScript error."""

from dataclasses import asdict
from pathlib import Path

import pytest

pytest.importorskip("music21")
pytest.importorskip("starlette", reason="pip install 'rnnkit[serve]' to test rnnkit serve")
from starlette.testclient import TestClient

from rnnkit.apps.compose import compose
from rnnkit.checkpoint import load
from rnnkit.cli import main
from rnnkit.serve import create_app
from rnnkit.serve.music import notes
from serve.servers import serving

BODIES = ["GABc|d2B2|c2A2|G4|]", "dcBA|G2B2|A2F2|G4|]", "GGAA|BBcc|d2B2|G4|]",
          "BdBG|cecA|BdAF|G4|]", "G2G2|A2A2|B2d2|G4|]"]  # fmt: skip


@pytest.fixture(scope="module")
def tune_model(tmp_path_factory) -> Path:
    """A small LM trained until it writes 2/4 tunes in G (30 made-up tunes, 5 bodies)."""
    root = tmp_path_factory.mktemp("music")
    text = "".join(f"X:{i}\nT:t\nM:2/4\nL:1/8\nK:G\n{BODIES[i % 5][:-2]}|{BODIES[(i // 5) % 5]}\n\n"
                   for i in range(30))  # fmt: skip
    (root / "tunes.abc").write_text(text, encoding="utf-8")
    args = ["train", "lm", "--preset", "folk", "--text", str(root / "tunes.abc"), "--out",
            str(root / "folk"), "--hidden-size", "48", "--num-layers", "1", "--batch-size", "8",
            "--bptt", "32", "--lr", "0.01", "--max-steps", "300", "--eval-every", "300",
            "--warmup-steps", "0", "--no-progress", "--sample-length", "0"]  # fmt: skip
    assert main(args) == 0
    return root / "folk"


@pytest.fixture(scope="module")
def client(tune_model, checkpoints):
    with TestClient(create_app([tune_model, checkpoints["lm"]])) as test_client:
        yield test_client


def test_only_models_trained_on_tunes_are_listed(client):
    assert client.get("/api/music").json() == {
        "models": [{"name": "folk", "meters": ["2/4"], "keys": ["G"]}]
    }


def test_compose_answers_what_compose_writes(client, tune_model):
    reply = client.post("/api/compose", json={"seed": 3, "temperature": 0.5}).json()
    (tune,) = compose(load(tune_model), "M:2/4\nL:1/8\nK:G\n", 1, seed=3, temperature=0.5)
    assert reply["abc"] == f"X:1\nT:rnnkit tune (seed 3)\n{tune.text}\n"
    assert reply["check"] == asdict(tune.check) and reply["warnings"] == []
    assert reply["notes"] == notes(reply["abc"])


def test_notes_by_hand():
    # 120 quarters a minute: an eighth lasts 0.25 s; c is C5 (72), d4 a half note
    assert notes("X:1\nM:2/4\nL:1/8\nK:G\nGA Bc|d4|]") == [
        [0.0, 0.25, 67], [0.25, 0.25, 69], [0.5, 0.25, 71], [0.75, 0.25, 72],
        [1.0, 1.0, 74]]  # fmt: skip
    assert notes("X:1\nM:2/4\nK:G\n[[[((|") == []


@pytest.mark.parametrize(("body", "status", "message"), [
    ({"meter": "7/5"}, 400, "meter '7/5'"),
    ({"key": "HP"}, 400, "key 'HP'"),
    ({"meter": "9/4"}, 400, "characters not in the model's vocabulary: '9'"),
    ({"model": "lm"}, 404, "no model trained on tunes named 'lm'; loaded: folk"),
    ({"tempo": 3}, 400, "tempo"),
])  # fmt: skip
def test_bad_requests_are_one_line(client, body, status, message):
    reply = client.post("/api/compose", json=body)
    assert reply.status_code == status and message in reply.json()["error"]


def test_unseen_key_warns(client):
    reply = client.post("/api/compose", json={"key": "A", "seed": 1}).json()
    assert reply["warnings"] == ["the model saw no tunes with key A (it saw G)"]


# -- the page in a real browser ---------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def page(tune_model, tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    pytest.importorskip("uvicorn", reason="pip install 'rnnkit[serve]'")
    log = tmp_path_factory.mktemp("server") / "server.log"
    with serving([tune_model], log) as url, sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1100, "height": 800})
        page.errors = []
        page.on("console", lambda m: m.type == "error" and page.errors.append(m.text))
        page.on("pageerror", lambda e: page.errors.append(str(e)))
        page.on("request", lambda r: r.url.startswith(url) or page.errors.append(r.url))
        page.goto(url)
        page.wait_for_selector("body[data-music=ready]", timeout=20000)
        yield page
        browser.close()


def test_compose_renders_the_score_and_play_schedules_its_notes(page, tmp_path):
    page.click("#tab-music")
    page.fill("#music-form input[name=seed]", "2")
    page.fill("#music-form input[name=temperature]", "0.5")
    page.click("#music-form button[type=submit]")
    page.wait_for_selector("#music-score svg", timeout=30000)
    head = "X:1\nT:rnnkit tune (seed 2)\nM:2/4\nL:1/8\nK:G"
    assert page.inner_text("#music-abc").startswith(head)
    assert page.locator("#music-score svg path").count() > 10  # staff lines, clef, note heads
    page.wait_for_selector("#music-play:not([disabled])")
    page.click("#music-play")
    page.wait_for_selector("#music-play[data-scheduled]")
    abc = page.inner_text("#music-abc")
    assert int(page.get_attribute("#music-play", "data-scheduled")) == len(notes(abc)) > 0
    page.wait_for_function("music.context.state === 'running'", timeout=10000)
    assert page.errors == []  # no JavaScript error, no request off this server
    page.screenshot(path=tmp_path / "serve_music.png", full_page=True)
