"""``train seq2seq --raml-tau``: batches of RAML-sampled targets, seeded, and the CLI."""

from __future__ import annotations

from pathlib import Path

import torch

from cli_helpers import rnnkit
from rnnkit.apps.seq2seq import pair_batches
from rnnkit.data.pair_batches import PairEncoder
from rnnkit.data.pairs import Pair
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
