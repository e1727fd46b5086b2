"""``train seq2seq --raml-tau`` and ``train ctc --raml-tau``: batches of RAML-sampled targets,
seeded, and the CLI."""

from __future__ import annotations

from pathlib import Path

import torch

from cli_helpers import rnnkit
from rnnkit.apps.ctc import CTCTask, make_lines, raml_lines
from rnnkit.apps.seq2seq import pair_batches
from rnnkit.data.pair_batches import PairEncoder
from rnnkit.data.pairs import Pair
from rnnkit.tasks.ctc import CTCConfig, CTCRecognizer
from rnnkit.training.config import TrainConfig

WORDS = ["cat", "act", "tac", "dog", "god", "odd", "add", "dad", "tad", "cog", "cot", "toad"]
PAIRS = [Pair(tuple(w), tuple(reversed(w))) for w in WORDS]


def first_batches(tau: float, seed: int = 0, n: int = 6) -> list[torch.Tensor]:
    encoder = PairEncoder.build([p.source for p in PAIRS], [p.target for p in PAIRS])
    config = TrainConfig(batch_size=4, seed=seed, max_steps=10)
    batches = pair_batches(encoder, PAIRS, config, raml_tau=tau)
    return [batches.next_batch() for _ in range(n)]


def gold(batch) -> list[tuple[str, ...]]:
    return [PAIRS[i].target for i in batch.index.tolist()]


def test_raml_batches_hold_edited_targets_and_repeat_with_the_seed() -> None:
    encoder = PairEncoder.build([p.source for p in PAIRS], [p.target for p in PAIRS])
    plain, raml, again = first_batches(0.0), first_batches(1.0), first_batches(1.0)
    for a, b, c in zip(plain, raml, again, strict=True):
        assert a.index.tolist() == b.index.tolist()  # the same examples, other targets
        assert torch.equal(b.target, c.target)  # a resumed run draws the same targets
        for row, n, target in zip(a.target, a.target_lengths, gold(a), strict=True):
            assert encoder.target.decode(row[:n].tolist()) == list(target)  # τ = 0: the gold
    edited = sum(not torch.equal(a.target, b.target) for a, b in zip(plain, raml, strict=True))
    assert edited >= 3  # τ = 1 edits most targets of three tokens


def test_cli_trains_with_raml_and_refuses_it_with_a_pointer(tmp_path: Path) -> None:
    (tmp_path / "pairs.tsv").write_text("".join(f"{w}\t{' '.join(reversed(w))}\n" for w in WORDS))
    common = ["train", "seq2seq", "--data", "pairs.tsv", "--preset", "tiny", "--no-progress",
              "--valid-fraction", "0.2", "--test-fraction", "0.2"]  # fmt: skip
    result = rnnkit(*common, "--raml-tau", "0.9", "--out", "run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "\"raml_tau\": 0.9" in (tmp_path / "run" / "trainer_state" / "run.json").read_text()
    refused = rnnkit(*common, "--raml-tau", "0.9", "--output", "pointer", "--out", "p",
                     cwd=tmp_path)  # fmt: skip
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "--raml-tau" in refused.stderr.splitlines()[-1] and "pointer" in refused.stderr


def test_ctc_raml_batches_edit_the_transcripts_not_the_images() -> None:
    lines = make_lines(CTCTask(train_lines=24, valid_lines=2, test_lines=2), seed=0)[0]
    model = CTCRecognizer(CTCConfig(alphabet="0123456789", image_height=8, channels=2,
                                    hidden_size=4, num_layers=1))  # fmt: skip
    order = list(range(24))
    plain = model.batch(lines.images, lines.labels, order)
    drawn = raml_lines(model, lines, 1.0, "0123456789", seed=0)(order)
    again = raml_lines(model, lines, 1.0, "0123456789", seed=0)(order)
    assert torch.equal(drawn.images, plain.images) and torch.equal(drawn.index, plain.index)
    assert torch.equal(drawn.targets, again.targets)  # a resumed run draws the same targets
    texts = ["".join(str(int(k) - 1) for k in row[:n]) for row, n in
             zip(drawn.targets, drawn.target_lengths, strict=True)]  # ids 1..10 are 0..9
    assert sum(t != gold for t, gold in zip(texts, lines.labels, strict=True)) >= 12
    assert all(t and set(t) <= set("0123456789") for t in texts)
    kept = raml_lines(model, lines, 0.05, "0123456789", seed=0)(order)  # tiny τ: the gold
    assert torch.equal(kept.targets, plain.targets)


def test_ctc_cli_trains_with_raml(tmp_path: Path) -> None:
    result = rnnkit("train", "ctc", "--preset", "tiny", "--max-steps", "4", "--raml-tau", "0.8",
                    "--no-progress", "--out", "run", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "\"raml_tau\": 0.8" in (tmp_path / "run" / "trainer_state" / "run.json").read_text()
