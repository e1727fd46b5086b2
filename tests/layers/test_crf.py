"""LinearChainCRF against brute force over every tag sequence of tiny cases."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch.func import functional_call
from torch.testing import assert_close

from rnnkit.layers.crf import LinearChainCRF

K, T = 3, 4
LENGTH_CASES = [[4, 1, 3], [2, 4, 2], [1, 1, 1], [4, 4, 4]]


def make_crf(seed: int = 0) -> LinearChainCRF:
    """A float64 CRF with parameters large enough that paths differ clearly in score."""
    torch.manual_seed(seed)
    crf = LinearChainCRF(K).double()
    with torch.no_grad():
        for p in crf.parameters():
            p.normal_()
    return crf


def make_batch(
    lengths: list[int], seed: int = 1
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(B, T, K) emissions, (B, T) tags, (B,) lengths; padding is large junk and bad tag ids."""
    g = torch.Generator().manual_seed(seed)
    B = len(lengths)
    lengths_t = torch.tensor(lengths)
    valid = torch.arange(T) < lengths_t.unsqueeze(1)  # (B, T)
    emissions = torch.randn(B, T, K, generator=g, dtype=torch.float64)
    junk = 100 * torch.randn(B, T, K, generator=g, dtype=torch.float64)
    emissions = torch.where(valid.unsqueeze(2), emissions, junk)
    tags = torch.randint(0, K, (B, T), generator=g)
    junk_tags = torch.randint(-7, 11, (B, T), generator=g)
    return emissions, torch.where(valid, tags, junk_tags), lengths_t


def explicit_score(crf: LinearChainCRF, e: torch.Tensor, y: tuple[int, ...]) -> float:
    """The docstring's score(x, y), one term at a time, for one unpadded sequence e (L, K)."""
    s = crf.start[y[0]].item() + crf.end[y[-1]].item()
    for t in range(len(y)):
        s += e[t, y[t]].item()
        if t > 0:
            s += crf.transitions[y[t - 1], y[t]].item()
    return s


def all_scores(crf: LinearChainCRF, e: torch.Tensor) -> dict[tuple[int, ...], float]:
    """Every one of the K^L tag sequences of e (L, K) with its explicit score."""
    return {y: explicit_score(crf, e, y) for y in itertools.product(range(K), repeat=len(e))}


@pytest.mark.parametrize("lengths", LENGTH_CASES)
def test_brute_force(lengths):
    crf = make_crf()
    emissions, tags, lengths_t = make_batch(lengths)
    log_z = crf.log_partition(emissions, lengths_t)
    score = crf.score(emissions, tags, lengths_t)
    paths = crf.decode(emissions, lengths_t)
    best_score = crf.score(emissions, crf.decode_tensor(emissions, lengths_t), lengths_t)
    for b, L in enumerate(lengths):
        scores = all_scores(crf, emissions[b, :L])
        assert log_z[b].item() == pytest.approx(math.log(sum(map(math.exp, scores.values()))))
        gold = tuple(tags[b, :L].tolist())
        assert score[b].item() == pytest.approx(scores[gold])
        best = max(scores, key=scores.get)
        assert tuple(paths[b]) == best
        assert best_score[b].item() == pytest.approx(scores[best])


def test_single_step_sequences():
    crf = make_crf()
    emissions, tags, lengths = make_batch([1, 1, 1])
    emissions, tags = emissions[:, :1], tags[:, :1]  # T = 1
    expected = torch.logsumexp(crf.start + emissions[:, 0] + crf.end, dim=1)
    assert_close(crf.log_partition(emissions, lengths), expected)
    best = (crf.start + emissions[:, 0] + crf.end).argmax(1)
    assert crf.decode(emissions, lengths) == [[int(i)] for i in best]


def test_decode_tensor_is_zero_padded():
    crf = make_crf()
    emissions, _, lengths = make_batch([4, 1, 3])
    paths = crf.decode_tensor(emissions, lengths)
    assert paths.dtype == torch.int64 and paths.shape == (3, T)
    assert paths[1, 1:].eq(0).all() and paths[2, 3:].eq(0).all()
    assert [row[:n] for row, n in zip(paths.tolist(), [4, 1, 3], strict=True)] == crf.decode(
        emissions, lengths
    )


@pytest.mark.parametrize("lengths", LENGTH_CASES)
def test_probabilities_sum_to_one(lengths):
    crf = make_crf()
    emissions, _, lengths_t = make_batch(lengths)
    for b, L in enumerate(lengths):
        ys = torch.tensor(list(itertools.product(range(K), repeat=L)))  # (K^L, L)
        N = len(ys)
        tags = torch.cat([ys, torch.full((N, T - L), 9)], dim=1)  # junk past the length
        nll = crf.nll(emissions[b].expand(N, T, K), tags, lengths_t[b].expand(N), reduction="none")
        assert (nll >= 0).all()
        assert torch.exp(-nll).sum().item() == pytest.approx(1.0)


def test_padding_has_no_effect():
    crf = make_crf()
    lengths = [4, 1, 3]
    emissions, tags, lengths_t = make_batch(lengths, seed=1)
    other_e, other_tags, _ = make_batch(lengths, seed=2)
    valid = (torch.arange(T) < lengths_t.unsqueeze(1)).unsqueeze(2)  # (B, T, 1)
    other_e = torch.where(valid, emissions, other_e)
    other_e[1, 2, 0], other_e[1, 3, 1], other_e[2, 3, 2] = math.inf, -math.inf, math.nan
    other_tags = torch.where(valid.squeeze(2), tags, other_tags)

    def results(e: torch.Tensor, y: torch.Tensor) -> list:
        e = e.clone().requires_grad_()
        nll = crf.nll(e, y, lengths_t, reduction="none")
        nll.sum().backward()
        return [crf.log_partition(e, lengths_t), crf.score(e, y, lengths_t), nll, e.grad]

    first, second = results(emissions, tags), results(other_e, other_tags)
    for a, b in zip(first, second, strict=True):
        assert torch.equal(a, b)
    assert first[-1].masked_select(~valid).eq(0).all()  # no gradient into padding
    assert crf.decode(emissions, lengths_t) == crf.decode(other_e, lengths_t)


def test_batch_equals_each_sequence_alone():
    crf = make_crf()
    lengths = [4, 1, 3]
    emissions, tags, lengths_t = make_batch(lengths)
    nll = crf.nll(emissions, tags, lengths_t, reduction="none")
    paths = crf.decode(emissions, lengths_t)
    for b, L in enumerate(lengths):
        alone = crf.nll(emissions[b : b + 1, :L], tags[b : b + 1, :L], [L], reduction="none")
        assert_close(nll[b : b + 1], alone)
        assert paths[b] == crf.decode(emissions[b : b + 1, :L], [L])[0]


def test_reductions():
    crf = make_crf()
    emissions, tags, lengths = make_batch([4, 1, 3])
    losses = crf.nll(emissions, tags, lengths, reduction="none")
    assert losses.shape == (3,)
    assert_close(crf.nll(emissions, tags, lengths), losses.mean())
    assert_close(crf(emissions, tags, lengths, reduction="sum"), losses.sum())
    assert_close(crf.nll(emissions, tags, lengths, reduction="token_mean"), losses.sum() / 8)


def test_gradcheck():
    crf = make_crf()
    emissions, tags, lengths = make_batch([4, 1, 3])
    names = ["transitions", "start", "end"]
    params = [getattr(crf, n).detach().clone().requires_grad_() for n in names]

    def nll(e: torch.Tensor, *p: torch.Tensor) -> torch.Tensor:
        args = (e, tags, lengths)
        return functional_call(crf, dict(zip(names, p, strict=True)), args, {"reduction": "none"})

    assert torch.autograd.gradcheck(nll, (emissions.requires_grad_(), *params))


def test_init_and_float32_training_step():
    torch.manual_seed(3)
    crf = LinearChainCRF(5)
    torch.manual_seed(3)
    again = LinearChainCRF(5)
    for p, q in zip(crf.parameters(), again.parameters(), strict=True):
        assert p.dtype == torch.float32 and p.abs().max() < 0.1
        assert torch.equal(p, q)
    assert crf.transitions.shape == (5, 5) and crf.start.shape == crf.end.shape == (5,)
    emissions = torch.randn(2, 3, 5, requires_grad=True)
    crf.nll(emissions, torch.tensor([[0, 4, 2], [1, 3, 0]]), torch.tensor([3, 2])).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in crf.parameters())


def with_tag(tags: torch.Tensor, b: int, t: int, tag: int) -> torch.Tensor:
    tags = tags.clone()
    tags[b, t] = tag
    return tags


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda crf, e, y, n: crf.log_partition(e[..., :2], n), r"emissions must be a \(B, T, 3\)"),
        (lambda crf, e, y, n: crf.log_partition(e[0], n), r"emissions must be a \(B, T, 3\)"),
        (lambda crf, e, y, n: crf.log_partition(e.long(), n), "emissions must be floating"),
        (lambda crf, e, y, n: crf.log_partition(e[:, :0], n), "at least one step"),
        (lambda crf, e, y, n: crf.log_partition(e, n[:2]), "lengths must be 3 integers"),
        (lambda crf, e, y, n: crf.log_partition(e, n.double()), "lengths must be 3 integers"),
        (lambda crf, e, y, n: crf.log_partition(e, [4, 0, 3]), r"lengths must be in \[1, 4\]"),
        (lambda crf, e, y, n: crf.decode(e, [5, 1, 3]), r"lengths must be in \[1, 4\]"),
        (lambda crf, e, y, n: crf.score(e, y[:, :3], n), r"tags must be a \(3, 4\) tensor"),
        (lambda crf, e, y, n: crf.score(e, y.double(), n), "tags must be integer"),
        (lambda crf, e, y, n: crf.score(e, with_tag(y, 0, 2, 3), n), r"got 3 at sequence 0"),
        (lambda crf, e, y, n: crf.nll(e, with_tag(y, 2, 0, -1), n), r"got -1 at sequence 2"),
        (lambda crf, e, y, n: crf.nll(e, y, n, reduction="avg"), "reduction must be one of"),
    ],
)
def test_bad_inputs(call, message):
    crf = make_crf()
    emissions, tags, lengths = make_batch([4, 1, 3])
    tags = tags.clamp(0, K - 1)  # valid everywhere unless the case breaks it
    with pytest.raises(ValueError, match=message):
        call(crf, emissions, tags, lengths)


def test_bad_num_tags():
    with pytest.raises(ValueError, match="num_tags must be a positive integer, got 0"):
        LinearChainCRF(0)
