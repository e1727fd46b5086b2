"""CTC decoders: best path by hand, prefix beam search against brute force over alignments."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict

import pytest
import torch

from rnnkit.decoding.ctc import LMFusion, best_path, collapse, prefix_beam_search


def frames(T: int, C: int, seed: int, scale: float = 1.5, B: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(B, T, C, generator=g, dtype=torch.float64) * scale).log_softmax(-1)


def brute_force(log_probs: torch.Tensor, blank: int = 0) -> dict[tuple[int, ...], float]:
    """ln p(ℓ | x) of every label sequence, summing all C^T paths (one example, (T, C))."""
    T, C = log_probs.shape
    mass: dict[tuple[int, ...], list[float]] = defaultdict(list)
    for path in itertools.product(range(C), repeat=T):
        mass[tuple(collapse(path, blank))].append(
            sum(log_probs[t, k].item() for t, k in enumerate(path))
        )
    return {p: torch.tensor(v, dtype=torch.float64).logsumexp(0).item() for p, v in mass.items()}


def test_collapse_merges_repeats_then_drops_blanks() -> None:
    assert collapse([1, 1, 0, 1, 2, 2]) == [1, 1, 2]
    assert collapse([0, 0, 0]) == []
    assert collapse([3, 3, 3], blank=3) == []


def test_best_path_by_hand() -> None:
    probs = torch.tensor([[[0.1, 0.8, 0.1], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.1, 0.6, 0.3],
                           [0.1, 0.1, 0.8]]]).log()  # fmt: skip
    assert best_path(probs, torch.tensor([5])) == [[1, 1, 2]]  # path 1 1 ∅ 1 2
    assert best_path(probs, torch.tensor([2])) == [[1]]  # only the first two frames


@pytest.mark.parametrize(("T", "C", "seed"), [(4, 3, 0), (5, 3, 1), (3, 4, 2), (6, 2, 3)])
def test_wide_beam_equals_brute_force(T: int, C: int, seed: int) -> None:
    log_probs = frames(T, C, seed)
    exact = brute_force(log_probs[0])
    found = prefix_beam_search(log_probs, torch.tensor([T]), beam_size=len(exact) + 5)[0]
    assert {tuple(h.tokens) for h in found} == set(exact)  # every possible sequence
    for h in found:
        assert h.log_prob == pytest.approx(exact[tuple(h.tokens)], abs=1e-9)
    assert [h.score for h in found] == sorted((h.score for h in found), reverse=True)
    best = max(exact, key=exact.get)
    assert tuple(found[0].tokens) == best


def test_small_beam_never_overestimates_and_finds_the_best_on_peaked_frames() -> None:
    log_probs = frames(6, 3, 7, scale=3.0)
    exact = brute_force(log_probs[0])
    found = prefix_beam_search(log_probs, torch.tensor([6]), beam_size=3)[0]
    assert len(found) == 3
    assert tuple(found[0].tokens) == max(exact, key=exact.get)
    for h in found:  # pruned prefixes take their alignments' mass with them
        assert h.log_prob <= exact[tuple(h.tokens)] + 1e-12


@pytest.mark.parametrize("seed", range(20))
def test_beam_one_equals_best_path_when_each_frame_is_sure(seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(1, 8, 4, generator=g, dtype=torch.float64)
    logits[0, torch.arange(8), torch.randint(4, (8,), generator=g)] += 6.0  # one symbol leads
    log_probs = logits.log_softmax(-1)
    assert (log_probs.exp().amax(-1) > 0.5).all()
    lengths = torch.tensor([8])
    beam = prefix_beam_search(log_probs, lengths, beam_size=1)[0][0].tokens
    assert [beam] == best_path(log_probs, lengths)


def test_beam_one_can_differ_from_best_path() -> None:
    # frame 2: c (0.4) beats blank (0.3) and a (0.3), but "a" keeps 0.3 + 0.3 of its mass
    probs = torch.tensor([[[0.05, 0.9, 0.05], [0.3, 0.3, 0.4]]]).log()
    lengths = torch.tensor([2])
    assert best_path(probs, lengths) == [[1, 2]]
    assert prefix_beam_search(probs, lengths, beam_size=1)[0][0].tokens == [1]
    exact = brute_force(probs[0])
    assert exact[(1,)] > exact[(1, 2)]  # and the beam's answer is the more probable one


def test_batched_equals_one_at_a_time() -> None:
    log_probs = frames(7, 4, 11, B=4)
    lengths = torch.tensor([7, 3, 5, 1])
    together = prefix_beam_search(log_probs, lengths, beam_size=4)
    for b in range(4):
        alone = prefix_beam_search(
            log_probs[b : b + 1, : lengths[b]], lengths[b : b + 1], beam_size=4
        )
        assert [(h.tokens, h.score) for h in together[b]] == [(h.tokens, h.score) for h in alone[0]]
    assert best_path(log_probs, lengths)[1] == best_path(log_probs[1:2, :3], torch.tensor([3]))[0]


# -- shallow fusion with a hand-made bigram language model --------------------------------

BOS = 3
BIGRAM = torch.tensor([[0.0, 0.0, 0.0, 0.0],  # the LM's vocabulary: tokens 0..3, 3 = bos
                       [0.0, 0.1, 0.9, 0.0],  # after token 1: 1 with 0.1, 2 with 0.9
                       [0.0, 0.6, 0.4, 0.0],
                       [0.0, 0.5, 0.5, 0.0]]).log()  # fmt: skip


def bigram_step(tokens: torch.Tensor, state: torch.Tensor):
    """``state`` is (N, 1): the token just fed; the next token's log-probs depend on it."""
    return BIGRAM[tokens], tokens[:, None]


def lm_log_prob(labels: tuple[int, ...]) -> float:
    previous, total = BOS, 0.0
    for k in labels:
        total += BIGRAM[previous, k].item()
        previous = k
    return total


@pytest.mark.parametrize(("alpha", "beta"), [(0.0, 0.0), (0.8, 0.0), (1.5, 0.7), (0.5, -1.0)])
def test_fusion_ranks_by_the_fused_score(alpha: float, beta: float) -> None:
    log_probs = frames(5, 3, 5, B=2).float()
    lm = LMFusion(bigram_step, torch.zeros(1, 1, dtype=torch.long), BOS, [None, 1, 2])
    found = prefix_beam_search(log_probs, torch.tensor([5, 4]), beam_size=200, lm=lm,
                               lm_weight=alpha, length_bonus=beta)  # fmt: skip
    for b, n in enumerate((5, 4)):
        exact = brute_force(log_probs[b, :n].double())
        fused = {p: v + alpha * lm_log_prob(p) + beta * len(p) for p, v in exact.items()}
        assert tuple(found[b][0].tokens) == max(fused, key=fused.get)
        for h in found[b]:
            assert h.score == pytest.approx(fused[tuple(h.tokens)], abs=1e-4)
            assert h.log_prob == pytest.approx(exact[tuple(h.tokens)], abs=1e-4)


def test_label_without_lm_token_is_never_proposed() -> None:
    log_probs = frames(4, 3, 2)
    lm = LMFusion(bigram_step, torch.zeros(1, 1, dtype=torch.long), BOS, [None, 1, None])
    found = prefix_beam_search(log_probs, torch.tensor([4]), beam_size=50, lm=lm, lm_weight=1.0)[0]
    assert found and all(2 not in h.tokens and math.isfinite(h.score) for h in found)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"beam_size": 0}, "beam_size"), ({"lm_weight": float("nan")}, "lm_weight"),
     ({"blank": 5}, "blank 5")],
)  # fmt: skip
def test_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        prefix_beam_search(frames(3, 3, 0), torch.tensor([3]), **kwargs)
    with pytest.raises(ValueError, match="lengths"):
        best_path(frames(3, 3, 0), torch.tensor([4]))
