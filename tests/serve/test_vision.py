"""The recogniser and frames views: their API against the models called directly (a line of
handwriting, or an uploaded WAV file for a speech model), and the page in a real Chromium
(skipped without it)."""

from __future__ import annotations

import base64
import wave
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("starlette", reason="pip install 'rnnkit[serve]' to test rnnkit serve")
from starlette.testclient import TestClient

from rnnkit.data.digit_lines import digit_lines
from rnnkit.data.digits import split_scans
from rnnkit.data.moving_digits import moving_digits
from rnnkit.data.speech import N_MELS, wav_features
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
    CTCRecognizer(CTCConfig("0123456789", image_height=N_MELS, source="speech", channels=4,
                            hidden_size=8)).save_pretrained(tmp / "asr")  # fmt: skip
    return {"ocr": tmp / "ocr", "video": tmp / "video", "asr": tmp / "asr"}


def write_wav(path: Path, seconds: float, *, rate: int = 16_000, channels: int = 1) -> Path:
    """A chirp from 200 to 2,000 Hz as 16-bit PCM, the same on every channel."""
    t = np.arange(int(seconds * rate)) / rate
    x = 0.5 * np.sin(2 * np.pi * (200 + 900 * t / seconds) * t)
    pcm = np.round(np.repeat(x[:, None], channels, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())
    return path


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture(scope="module")
def client(checkpoints):
    with TestClient(create_app(list(checkpoints.values()))) as test_client:
        yield test_client


def test_models_list_the_two_views(client) -> None:
    kinds = {m["name"]: m["kind"] for m in client.get("/api/models").json()["models"]}
    assert kinds == {"ocr": "recogniser", "video": "frames", "asr": "recogniser"}


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


def test_an_uploaded_wav_is_read_as_the_model_reads_the_file(client, checkpoints, tmp_path):
    # 3 s of 16 kHz 16-bit: 96 kB of WAV, 128 kB of base64, over the 64 kB --max-body-bytes
    path = write_wav(tmp_path / "a.wav", 3.0, rate=22_050, channels=2)
    reply = client.post("/api/transcribe", json={"model": "asr", "wav": b64(path.read_bytes())})
    assert reply.status_code == 200, reply.text
    reply = reply.json()
    model = CTCRecognizer.from_pretrained(checkpoints["asr"])
    image = wav_features(path).T.contiguous()  # (40, T): what `rnnkit transcribe` reads
    assert reply["best_path"] == model.recognise([image])[0]
    assert reply["beam"] == model.recognise([image], beam_size=8)[0]
    batch = model.batch([image], None, [0])
    with torch.no_grad():
        log_probs, lengths = model(batch.images, batch.widths)
    expected = log_probs[0, : int(lengths[0])].exp()
    torch.testing.assert_close(torch.tensor(reply["posteriors"]), expected, atol=1e-4, rtol=0)
    assert reply["labels"] == ["∅", *"0123456789"] and reply["truth"] is None
    assert reply["seconds"] == 3.0
    shown = torch.tensor(reply["image"])  # the frames scaled to [0, 1], low bands at the bottom
    assert shown.shape == image.shape and shown.min() == 0 and shown.max() == 1
    scaled = (image - image.min()) / (image.max() - image.min())
    torch.testing.assert_close(shown, scaled.flip(0), atol=5e-3, rtol=0)


def test_a_bad_wav_is_a_400_of_one_line(client, tmp_path):
    long = write_wav(tmp_path / "long.wav", 31.0, rate=8000)
    short = write_wav(tmp_path / "short.wav", 0.005)
    for wav, needle in [
        (b64(b"not audio at all"), "wav: not a PCM WAV file"),
        (b64(b""), "wav: empty file"),
        ("%%% not base64", "wav must be a WAV file as base64 text"),
        (7, "wav must be a WAV file as base64 text"),
        (b64(long.read_bytes()), "wav: 31.0 s of audio, longer than the 30 s"),
        (b64(short.read_bytes()), "wav: too short to transcribe"),
    ]:
        answer = client.post("/api/transcribe", json={"wav": wav})  # the first speech model
        assert answer.status_code == 400, (needle, answer.text)
        message = answer.json()["error"]
        assert needle in message and "\n" not in message, message


def test_each_recogniser_reads_only_its_own_input(client, tmp_path):
    wav = b64(write_wav(tmp_path / "a.wav", 0.5).read_bytes())
    answer = client.post("/api/transcribe", json={"model": "ocr", "wav": wav})
    assert answer.status_code == 400 and "a handwriting model" in answer.json()["error"]
    answer = client.post("/api/recognise", json={"model": "asr", "seed": 1})
    assert answer.status_code == 400 and "/api/transcribe" in answer.json()["error"]


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
            assert not page.is_visible("#transcribe-controls")  # a handwriting model: the pad
            page.select_option("#recognise-form select[name=model]", "asr")
            assert page.is_visible("#transcribe-file") and not page.is_visible("#recognise-pad")
            page.evaluate("delete document.querySelector('#view-recogniser').dataset.done")
            wav = write_wav(tmp_path / "a.wav", 1.0)
            page.set_input_files("#transcribe-file", str(wav))
            page.click("#transcribe-read")
            page.wait_for_selector("#view-recogniser[data-done=true]", timeout=20000)
            frames = wav_features(wav).shape[0] // 2  # 10 ms columns, two to a BiLSTM frame
            assert page.locator("#recognise-posteriors rect").count() == frames * 11
            assert page.locator("#recognise-truth").text_content() == "(a.wav)"
            page.click("#tab-frames")
            page.click("#frames-form button[type=submit]")
            page.wait_for_selector("#view-frames[data-done=true]", timeout=20000)
            assert page.locator("#frames-predicted canvas").count() == 2
            assert page.locator("#frames-observed canvas").count() == 3
            browser.close()
        assert errors == []
