"""``rnnkit serve``'s JSON API through Starlette's test client: every endpoint, every 4xx.

Each answer is checked against the model called directly (the same weights, another path):
generation against ``generate`` with the same seed, activations against the model's own
forward pass, classification and occlusion against ``predict_proba`` by brute force, tags
against ``Tagger.tag``, translations against ``Seq2Seq.translate``.
"""

import json

import pytest
import torch

from rnnkit.checkpoint import load
from rnnkit.errors import CheckpointError

pytest.importorskip("starlette", reason="pip install 'rnnkit[serve]' to test rnnkit serve")
from starlette.testclient import TestClient

from rnnkit.apps.language_model import generate
from rnnkit.serve import ServeLimits, create_app


@pytest.fixture(scope="module")
def client(checkpoints):
    with TestClient(create_app(list(checkpoints.values()))) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def models(checkpoints):
    return {name: load(path) for name, path in checkpoints.items()}


def test_models_lists_each_kind_and_the_limits(client):
    reply = client.get("/api/models").json()
    kinds = {m["name"]: m["kind"] for m in reply["models"]}
    assert kinds == {"lm": "language_model", "spam": "classifier", "pos": "tagger",
                     "g2p": "seq2seq"}  # fmt: skip
    lm = reply["models"][0]
    assert (lm["num_layers"], lm["hidden_size"], lm["cell"]) == (2, 12, "lstm")
    assert reply["models"][1]["labels"] == ["ham", "spam"]
    assert reply["limits"]["max_beam"] == ServeLimits().max_beam


def test_page_and_its_files_are_served_with_no_external_assets(client):
    page = client.get("/")
    assert page.status_code == 200 and "/static/app.js" in page.text
    for name in ("app.js", "style.css"):
        asset = client.get(f"/static/{name}")
        assert asset.status_code == 200
        assert "http://" not in asset.text.replace("http://www.w3.org/2000/svg", "")
        assert "https://" not in asset.text
    assert "https://" not in page.text and "http://" not in page.text


def test_generate_streams_what_generate_samples_with_the_same_seed(client, models):
    request = {"model": "lm", "prime": "ROMEO:", "length": 40, "temperature": 0.9, "seed": 3}
    with client.stream("POST", "/api/generate", json=request) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        streamed = "".join(response.iter_text())
    expected = generate(models["lm"], "ROMEO:", 40, temperature=0.9, seed=3)
    assert streamed == expected[len("ROMEO:") :] and len(streamed) == 40


def test_generate_without_streaming_answers_json(client, models):
    request = {"prime": "the ", "length": 25, "top_k": 3, "top_p": 0.9, "seed": 1, "stream": False}
    reply = client.post("/api/generate", json=request).json()
    expected = generate(models["lm"], "the ", 25, temperature=0.8, top_k=3, top_p=0.9, seed=1)
    assert reply == {"prime": "the ", "text": expected[4:]}


def test_activations_match_the_models_own_forward_pass(client, models):
    model, text = models["lm"], "ROMEO: hello"
    reply = client.post("/api/activations", json={"text": text, "layer": 1, "unit": 5,
                                                   "source": "h"}).json()  # fmt: skip
    ids = model.vocab.encode(text)
    with torch.no_grad():
        out, _ = model.rnn(model.embedding(ids[None]))  # (1, T, H): the last layer's h
        probs = model(ids[None])[0][0].softmax(-1)  # (T, V)
    assert reply["tokens"] == list(text) and (reply["layer"], reply["unit"]) == (1, 5)
    torch.testing.assert_close(torch.tensor(reply["values"]), out[0, :, 5], atol=1e-4, rtol=0)
    best = probs[-1].argmax().item()
    assert reply["top"][-1][0][0] == model.vocab.itos[best]
    assert reply["top"][-1][0][1] == pytest.approx(probs[-1, best].item(), abs=1e-4)


def test_activations_pick_the_most_varying_cell_when_none_is_given(client):
    reply = client.post("/api/activations", json={"text": "JULIET: the dog"}).json()
    assert reply["source"] == "cell" and reply["unit"] == reply["ranked"][0]
    values = torch.tensor(reply["values"])
    assert values.abs().max() <= 1.0 and values.std() > 0  # tanh(c), varying


def test_classify_with_occlusion_equals_brute_force(client, models):
    model, text = models["spam"], "Win a free prize now"
    reply = client.post("/api/classify", json={"text": text}).json()
    encoder = model.encoder
    words = ["win", "a", "free", "prize", "now"]
    probs = model.predict_proba([encoder(text)])[0]
    best = int(probs.argmax())
    assert reply["label"] == model.labels[best] and reply["tokens"] == words
    assert reply["probability"] == pytest.approx(probs[best].item(), abs=1e-5)
    for i, contribution in enumerate(reply["contributions"]):  # leave word i out, by hand
        without = model.predict_proba([encoder(" ".join(words[:i] + words[i + 1 :]))])[0]
        assert contribution == pytest.approx((probs[best] - without[best]).item(), abs=1e-5)
    assert "occlusion" in reply["method"]


def test_tag_equals_the_taggers_own_tags(client, models):
    reply = client.post("/api/tag", json={"text": "The dog runs fast ."}).json()
    assert reply["tokens"] == ["The", "dog", "runs", "fast", "."]
    assert reply["tags"] == models["pos"].tag([reply["tokens"]])[0]


def test_translate_gives_the_n_best_and_their_attention(client, models):
    reply = client.post("/api/translate", json={"text": "cat", "beam": 3, "n_best": 2,
                                                 "max_length": 6}).json()  # fmt: skip
    expected = models["g2p"].translate([tuple("cat")], method="beam", beam_size=3, n_best=2,
                                       max_length=6)[0]  # fmt: skip
    assert reply["source"] == ["c", "a", "t"]
    assert [o["tokens"] for o in reply["outputs"]] == [t.tokens for t in expected]
    assert [o["score"] for o in reply["outputs"]] == pytest.approx([t.score for t in expected])
    first = reply["outputs"][0]
    attention = torch.tensor(first["attention"])
    assert attention.shape == (len(first["rows"]), 3)
    torch.testing.assert_close(attention.sum(-1), torch.ones(len(first["rows"])), atol=1e-3,
                               rtol=0)  # fmt: skip


def test_translate_with_beam_one_is_greedy(client, models):
    reply = client.post("/api/translate", json={"text": "dog", "beam": 1, "n_best": 1}).json()
    greedy = models["g2p"].translate([tuple("dog")], max_length=16)[0][0]
    assert [o["tokens"] for o in reply["outputs"]] == [greedy.tokens]


BAD_REQUESTS = [
    ("/api/generate", b"{", 400, "not valid JSON"),
    ("/api/generate", b"\xff\xfe{", 400, "not valid JSON"),
    ("/api/generate", b"[1, 2]", 400, "must be a JSON object"),
    ("/api/generate", b'{"length": NaN}', 400, "not valid JSON"),
    ("/api/generate", b"[" * 5000 + b"]" * 5000, 400, ""),
    ("/api/generate", {"length": "ten"}, 400, "length must be an integer"),
    ("/api/generate", {"length": True}, 400, "length must be an integer"),
    ("/api/generate", {"length": 10**30}, 400, "length must be an integer in [0, 2000]"),
    ("/api/generate", {"temperature": -1}, 400, "temperature must be a number"),
    ("/api/generate", {"top_p": 0}, 400, "top_p must be a number in (0.0"),
    ("/api/generate", {"top_k": 0}, 400, "top_k"),
    ("/api/generate", {"prime": ""}, 400, "prime must be a non-empty string"),
    ("/api/generate", {"prime": "x" * 2001}, 400, "prime is 2001 characters; the limit is 2000"),
    ("/api/generate", {"prime": "ROMEO€"}, 400, "prime: characters not in the model's vocab"),
    ("/api/generate", {"stream": "yes"}, 400, "stream must be True or False"),
    ("/api/generate", {"lenght": 10}, 400, "unknown field 'lenght'; valid fields: model"),
    ("/api/generate", {"model": "nope"}, 404, "unknown model 'nope'; loaded: lm, spam"),
    ("/api/generate", {"model": 3}, 400, "model must be a string"),
    ("/api/generate", {"model": "spam"}, 400, "'spam' is a classifier"),
    ("/api/activations", {"text": "abc", "layer": 2}, 400, "layer must be an integer in [0, 1]"),
    ("/api/activations", {"text": "abc", "unit": 12}, 400, "unit must be an integer in [0, 11]"),
    ("/api/activations", {"text": "abc", "source": "c"}, 400, "source must be one of"),
    ("/api/activations", {}, 400, "text must be a non-empty string"),
    ("/api/classify", {"text": "   "}, 400, "text must be a non-empty string"),
    ("/api/classify", {"text": ["a"]}, 400, "text must be a non-empty string"),
    ("/api/tag", {"text": 5}, 400, "text must be a non-empty string"),
    ("/api/tag", {"model": "lm", "text": "a b"}, 400, "needs a tagger"),
    ("/api/translate", {"text": "cat", "beam": 17}, 400, "beam must be an integer in [1, 16]"),
    ("/api/translate", {"text": "cat", "beam": 2, "n_best": 3}, 400, "n_best must be in [1, beam"),
    ("/api/translate", {"text": "cat", "max_length": 0}, 400, "max_length must be an integer"),
    ("/api/translate", {"text": "cat", "length_penalty": "x"}, 400, "length_penalty must be one"),
    ("/api/translate", {"text": "cat", "alpha": -1}, 400, "alpha must be a number"),
]  # fmt: skip


@pytest.mark.parametrize("path,body,status,needle", BAD_REQUESTS)
def test_bad_requests_get_their_4xx_and_a_one_line_error(client, path, body, status, needle):
    if isinstance(body, bytes):
        response = client.post(path, content=body)
    else:
        response = client.post(path, json=body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert needle in error and "\n" not in error and len(error) <= 303
    assert client.get("/api/models").status_code == 200  # still serving


def test_oversized_bodies_get_413_with_or_without_a_length(client):
    big = json.dumps({"text": "a " * 40000}).encode()
    assert client.post("/api/tag", content=big).status_code == 413
    chunked = client.post("/api/tag", content=iter([big[:40000], big[40000:]]))
    assert chunked.status_code == 413 and "limit of 65536 bytes" in chunked.json()["error"]


def test_wrong_methods_and_paths_get_json_errors(client):
    wrong = client.get("/api/generate")
    assert wrong.status_code == 405 and wrong.json() == {"error": "Method Not Allowed"}
    assert wrong.headers["allow"] == "POST"
    missing = client.post("/api/nothing", json={})
    assert missing.status_code == 404 and "error" in missing.json()


def test_a_full_server_answers_503_and_recovers(client):
    slots = client.app.state.slots
    taken = slots.admitted
    slots.admitted = slots.running + slots.waiting  # every slot and place in line is taken
    try:
        for path, body in [("/api/generate", {"length": 5}), ("/api/tag", {"text": "a b"})]:
            response = client.post(path, json=body)
            assert response.status_code == 503 and "server busy" in response.json()["error"]
    finally:
        slots.admitted = taken
    assert client.post("/api/generate", json={"length": 5}).status_code == 200
    assert slots.admitted == 0  # the streamed generation gave its slot back


def test_limits_are_the_servers_own(checkpoints):
    limits = ServeLimits(max_length=10, max_beam=2, max_input_chars=5)
    with TestClient(create_app([checkpoints["lm"], checkpoints["g2p"]], limits)) as small:
        assert small.post("/api/generate", json={"length": 11}).status_code == 400
        assert small.post("/api/generate", json={"prime": "ROMEO:"}).status_code == 400
        assert small.post("/api/translate", json={"text": "cat", "beam": 3}).status_code == 400
        reply = small.post("/api/translate", json={"text": "cat"}).json()  # default beam: 2
        assert len(reply["outputs"]) == 2
        assert small.post("/api/tag", json={"text": "a b"}).status_code == 404  # no tagger


def test_a_directory_that_fails_to_load_stops_the_start(tmp_path, checkpoints):
    with pytest.raises(CheckpointError, match="missing"):
        create_app([checkpoints["lm"], tmp_path / "missing"])
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text('{"format": "rnnkit.long_range/1"}')
    with pytest.raises(CheckpointError, match="has no page; serve takes: language_model"):
        create_app([tmp_path / "broken"])


def test_two_directories_of_one_name_get_two_names(tmp_path, checkpoints, models):
    models["lm"].save_pretrained(tmp_path / "a" / "lm")
    app = create_app([checkpoints["lm"], tmp_path / "a" / "lm"])
    assert list(app.state.models) == ["lm", "lm-2"]
