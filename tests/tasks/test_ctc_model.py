"""The CTC recogniser: frames per column, padding-independence, torch's CTC loss, metrics by
hand, decoding, and the model directory round trip."""

import pytest
import torch

import rnnkit
from rnnkit.errors import RnnkitError
from rnnkit.tasks.ctc import CTCConfig, CTCRecognizer

DIGITS = "0123456789"


def model(seed: int = 0, **options) -> CTCRecognizer:
    torch.manual_seed(seed)
    settings = {"channels": 4, "hidden_size": 8, "num_layers": 1, "dropout": 0.0, **options}
    return CTCRecognizer(CTCConfig(DIGITS, **settings)).eval()


def lines(*widths: int, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(8, w, generator=g) for w in widths]


def test_each_frame_is_two_columns_and_a_distribution_over_blank_and_digits():
    m = model()
    batch = m.batch(lines(31, 40, 9), ["123", "4567", "8"], [0, 1, 2])
    assert batch.images.shape == (3, 1, 8, 40) and batch.widths.tolist() == [31, 40, 9]
    assert batch.targets.tolist() == [[2, 3, 4, 0], [5, 6, 7, 8], [9, 0, 0, 0]]  # 0: blank/pad
    log_probs, lengths = m(batch.images, batch.widths)
    assert log_probs.shape == (3, 20, 11) and lengths.tolist() == [15, 20, 4]
    torch.testing.assert_close(log_probs.exp().sum(-1), torch.ones(3, 20))


def test_a_line_reads_the_same_alone_and_beside_a_wider_one():
    m = model(num_layers=2)
    images = lines(23, 60)
    alone, n = m(images[0][None, None], torch.tensor([23]))
    batch = m.batch(images, None, [0, 1])
    together, lengths = m(batch.images, batch.widths)
    assert int(n) == int(lengths[0]) == 11
    torch.testing.assert_close(together[0, :11], alone[0], atol=1e-5, rtol=1e-5)


def test_loss_is_torchs_ctc_per_label_mean():
    m = model()
    batch = m.batch(lines(30, 44, 20), ["12", "3345", "7"], [0, 1, 2])
    loss, metrics = m.loss(batch)
    log_probs, lengths = m(batch.images, batch.widths)
    want = torch.nn.CTCLoss(blank=0, reduction="mean", zero_infinity=True)(
        log_probs.transpose(0, 1), batch.targets, lengths, batch.target_lengths
    )
    torch.testing.assert_close(loss, want)
    assert metrics == {"tokens": 7}


def test_evaluate_counts_by_hand(monkeypatch):
    """Fixed outputs: line 0's best path reads 12 (right), line 1's 33 (wanted 35: one
    substitution), line 2's nothing (wanted 7: one deletion)."""
    m = model()
    batch = m.batch(lines(8, 8, 8), ["12", "35", "7"], [0, 1, 2])
    paths = [[0, 2, 2, 3], [4, 0, 4, 4], [0, 0, 0, 0]]  # ids: "0" is 1, so 2 -> "1", 4 -> "3"
    log_probs = torch.full((3, 4, 11), -20.0)
    for b, path in enumerate(paths):
        for t, k in enumerate(path):
            log_probs[b, t, k] = 0.0
    log_probs = log_probs.log_softmax(-1)
    monkeypatch.setattr(m, "forward", lambda images, widths: (log_probs, torch.tensor([4, 4, 4])))
    metrics = m.evaluate([batch])
    assert metrics["sequence_accuracy"] == pytest.approx(1 / 3)
    assert metrics["cer"] == pytest.approx(2 / 5)  # 2 edits over 5 gold digits
    want = torch.nn.CTCLoss(reduction="sum")(
        log_probs.transpose(0, 1), batch.targets, torch.tensor([4, 4, 4]), batch.target_lengths
    )
    assert metrics["loss"] == pytest.approx(float(want) / 5, rel=1e-5)
    assert m.recognise(lines(8, 8, 8)) == ["12", "33", ""]
    assert m.recognise(lines(8, 8, 8), beam_size=8) == ["12", "33", ""]  # confident frames


def test_beam_search_sums_the_alignments_best_path_does_not(monkeypatch):
    """Two frames, p(blank) = 0.4, p("1") = 0.3, p("2") = 0.3 each: best path reads "" (0.16),
    but "1" has 0.3·0.4 + 0.4·0.3 + 0.3·0.3 = 0.33 (and so has "2"; "" only 0.16)."""
    m = model()
    probs = torch.full((1, 2, 11), 1e-9)
    probs[0, :, 0], probs[0, :, 2], probs[0, :, 3] = 0.4, 0.3, 0.3
    log_probs = (probs / probs.sum(-1, keepdim=True)).log()
    monkeypatch.setattr(m, "forward", lambda images, widths: (log_probs, torch.tensor([2])))
    assert m.recognise(lines(4)) == [""]
    assert m.recognise(lines(4), beam_size=8)[0] in ("1", "2")


def test_save_and_load_round_trip(tmp_path):
    m = model(num_layers=2, cell="gru")
    m.save_pretrained(tmp_path / "ctc")
    loaded = rnnkit.load(tmp_path / "ctc")
    assert isinstance(loaded, CTCRecognizer) and loaded.config == m.config
    images = lines(17, 33, 50)
    batch = m.batch(images, None, [0, 1, 2])
    torch.testing.assert_close(
        loaded(batch.images, batch.widths)[0], m(batch.images, batch.widths)[0]
    )
    assert loaded.recognise(images, beam_size=4) == m.recognise(images, beam_size=4)


def test_encode_decode_and_bad_labels():
    m = model()
    assert m.encode("3907") == [4, 10, 1, 8] and m.decode([4, 10, 1, 8]) == "3907"
    with pytest.raises(ValueError, match="'x' is not in the alphabet"):
        m.encode("3x")


def test_images_of_the_wrong_shape_are_one_line_errors():
    m = model()
    with pytest.raises(RnnkitError, match=r"image 1: expected 8 rows .* got shape \(16, 20\)"):
        m.recognise([torch.zeros(8, 20), torch.zeros(16, 20)])
    with pytest.raises(RnnkitError, match="image 0: at least 2 columns"):
        m.recognise([torch.zeros(8, 1)])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"alphabet": "0123456789"[:0]}, "alphabet must be distinct characters"),
        ({"alphabet": "00"}, "alphabet must be distinct characters"),
        ({"image_height": 6}, "image_height must be a multiple of 4"),
        ({"cell": "rnn"}, "cell must be one of lstm, gru"),
    ],
)
def test_config_checks(options, message):
    with pytest.raises(ValueError, match=message):
        CTCConfig(**{"alphabet": DIGITS, **options})


def test_learns_a_few_lines():
    """CTC with no alignment given: a small model learns to read four fixed random lines."""
    m = model(channels=8, hidden_size=32).train()
    images, labels = lines(30, 36, 24, 40, seed=1), ["123", "4455", "90", "8076"]
    batch = m.batch(images, labels, [0, 1, 2, 3])
    optimizer = torch.optim.Adam(m.parameters(), lr=1e-2)
    first = m.loss(batch)[0].item()
    for _ in range(300):
        loss, _ = m.loss(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if loss.item() < 0.05:
            break
    assert loss.item() < 0.1 * first
    assert m.recognise(images) == labels
