"""The recogniser and frames views: their API against the models called directly, and the
page in a real Chromium (skipped without it)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

pytest.importorskip("starlette", reason="pip install 'rnnkit[serve]' to test rnnkit serve")
from starlette.testclient import TestClient

from rnnkit.data.digit_lines import digit_lines
from rnnkit.data.digits import split_scans
from rnnkit.data.moving_digits import moving_digits
from rnnkit.serve import create_app
from rnnkit.tasks.ctc import CTCConfig, CTCRecognizer
from rnnkit.tasks.frames import FramesConfig, FramesModel
from serve.servers import serving


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("vision")
    torch.manual_seed(0)
    CTCRecognizer(CTCConfig("0123456789", channels=4, hidden_size=8)).save_pretrained(tmp / "ocr")
    FramesModel(FramesConfig(48, 3, 2, hidden_channels=4, kernel_size=3, patch=8,
                             num_layers=1)).save_pretrained(tmp / "video")  # fmt: skip
    return {"ocr": tmp / "ocr", "video": tmp / "video"}


@pytest.fixture(scope="module")
def client(checkpoints):
    with TestClient(create_app(list(checkpoints.values()))) as test_client:
        yield test_client


def test_models_list_the_two_views(client) -> None:
    kinds = {m["name"]: m["kind"] for m in client.get("/api/models").json()["models"]}
    assert kinds == {"ocr": "recogniser", "video": "frames"}


def test_a_test_line_is_read_as_the_model_reads_it(client, checkpoints) -> None:
    reply = client.post("/api/recognise", json={"seed": 3}).json()
    _, _, test = split_scans(seed=0)
    line = digit_lines(test, 1, seed=3)
    model = CTCRecognizer.from_pretrained(checkpoints["ocr"])
    assert reply["truth"] == line.labels[0]
    assert reply["best_path"] == model.recognise(line.images)[0]
    assert reply["beam"] == model.recognise(line.images, beam_size=8)[0]
    batch = model.batch(line.images, None, [0])
    with torch.no_grad():
        log_probs, lengths = model(batch.images, batch.widths)
    expected = log_probs[0, : int(lengths[0])].exp()
    torch.testing.assert_close(torch.tensor(reply["posteriors"]), expected, atol=1e-4, rtol=0)
    assert reply["labels"] == ["∅", *"0123456789"]


def test_a_drawn_image_and_bad_images(client) -> None:
    image = [[0.0] * 20 for _ in range(8)]
    image[3][4] = 1.0
    reply = client.post("/api/recognise", json={"image": image})
    assert reply.status_code == 200 and reply.json()["truth"] is None
    for bad in ([[0.0] * 20] * 7, [[2.0] * 20] * 8, [[0.0]] * 8, "x", [[0.0] * 20] * 7 + [[0.0]]):
        answer = client.post("/api/recognise", json={"image": bad})
        assert answer.status_code == 400 and "image must" in answer.json()["error"]
    assert client.post("/api/recognise", json={"seed": -1}).status_code == 400


def test_frames_are_the_models_prediction(client, checkpoints) -> None:
    reply = client.post("/api/frames", json={"seed": 5}).json()
    _, _, test = split_scans(seed=0)
    sequence = moving_digits(test, 1, seed=5, frames=5, canvas=48)
    model = FramesModel.from_pretrained(checkpoints["video"])
    observed, truth = model.split(sequence)
    torch.testing.assert_close(
        torch.tensor(reply["observed"]), observed[0], atol=6e-4, rtol=0
    )  # rounded to 3 decimals
    torch.testing.assert_close(
        torch.tensor(reply["truth"]), truth[0], atol=6e-4, rtol=0
    )  # rounded to 3 decimals
    predicted = model.predict(observed)[0]
    torch.testing.assert_close(
        torch.tensor(reply["predicted"]), predicted, atol=6e-4, rtol=0
    )  # rounded to 3 decimals
    assert len(reply["predicted"]) == 2 and reply["mse"] >= 0


def test_the_page_draws_both_views(checkpoints, tmp_path) -> None:
    browser_test = pytest.importorskip("serve.test_browser")  # skips without Chromium
    with serving(checkpoints.values(), tmp_path / "server.log") as url:
        with browser_test.sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=browser_test.CHROMIUM,
                                        args=["--no-sandbox"])  # fmt: skip
            page = browser.new_page()
            errors: list[str] = []
            page.on("console", lambda m: m.type == "error" and errors.append(m.text))
            page.goto(url)
            page.wait_for_selector("body[data-ready=true]", timeout=20000)
            assert page.locator("#tabs button").all_text_contents() == ["Recogniser", "Frames"]
            page.click("#recognise-form button[type=submit]")
            page.wait_for_selector("#view-recogniser[data-done=true]", timeout=20000)
            assert page.locator("#recognise-posteriors rect").count() > 11
            page.click("#tab-frames")
            page.click("#frames-form button[type=submit]")
            page.wait_for_selector("#view-frames[data-done=true]", timeout=20000)
            assert page.locator("#frames-predicted canvas").count() == 2
            assert page.locator("#frames-observed canvas").count() == 3
            browser.close()
        assert errors == []
