import itertools
import math

import pytest
import torch

from rnnkit.cells.state import reorder_state
from rnnkit.decoding import beam_search, greedy

EOS = 0
SOURCES = [[1, 2, 3], [4], [5, 6, 1, 2, 3, 4], [2, 2], [6, 5, 4, 3], [1, 3, 5, 2, 4], [3, 1]]


def beam_table(model, batch=1, **kw):
    return beam_search(
        model.step, model.initial_state(batch), batch_size=batch, bos=model.bos, eos=EOS, **kw
    )


def beam_toy(toys, model, sources, **kw):
    return beam_search(
        model.step,
        model.encode(sources),
        batch_size=len(sources),
        bos=model.bos,
        eos=EOS,
        attention=toys.attention_of,
        **kw,
    )


def replay(toys, model, source, hypothesis):
    """Feed one example bos + tokens (+ eos) alone: its summed log-prob and attention (L, S)."""
    state = model.encode([source])
    fed = [model.bos, *hypothesis.tokens]
    emitted = hypothesis.tokens + ([EOS] if hypothesis.finished else [])
    total, weights = 0.0, []
    for token_in, token_out in zip(fed, emitted, strict=False):
        log_probs, state = model.step(torch.tensor([token_in]), state)
        total += float(log_probs[0, token_out])
        weights.append(toys.attention_of(state)[0])
    return total, torch.stack(weights)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_beam_of_one_is_greedy(toys, seed):
    model = toys.AttentionToy(seed=seed)
    beams = beam_toy(toys, model, SOURCES, beam_size=1, max_length=12)
    paths = greedy(
        model.step, model.encode(SOURCES), batch_size=7, bos=model.bos, eos=EOS, max_length=12
    )
    assert len({len(p.tokens) for p in paths}) > 1  # rows end at different steps
    for [b], g in zip(beams, paths, strict=True):
        assert (b.tokens, b.finished) == (g.tokens, g.finished)
        assert b.score == pytest.approx(g.score, abs=1e-6)
        assert b.log_prob == pytest.approx(g.log_prob, abs=1e-6)


def ranked(toys, sequences, penalty, alpha):
    score = {s: s[1] / toys.lp(len(s[0]) + s[2], penalty, alpha) for s in sequences}
    return sorted(sequences, key=lambda s: -score[s]), score


@pytest.mark.parametrize("n_best", [1, 3, 10])
@pytest.mark.parametrize("penalty,alpha", [("none", 0.6), ("avg", 0.6), ("gnmt", 0.6), ("gnmt", 3)])
def test_wide_beam_finds_the_brute_force_n_best(toys, penalty, alpha, n_best):
    """Beam >= the 364 possible outputs: the search (and its stopping rule) is exhaustive."""
    V, L = 4, 5
    model = toys.TableModel(V, seed=1, eos_bias=0.5)
    everything = list(
        toys.brute_force(model.step, model.initial_state(1), bos=model.bos, vocab=V, max_length=L)
    )
    assert len(everything) == 1 + 3 + 9 + 27 + 81 + 243  # eos after 0..4 tokens, or 5 tokens
    best, score = ranked(toys, everything, penalty, alpha)
    assert all(score[a] - score[b] > 1e-4 for a, b in itertools.pairwise(best[: n_best + 1]))
    [found] = beam_table(
        model, beam_size=400, n_best=n_best, max_length=L, length_penalty=penalty, alpha=alpha
    )
    expected = best[:n_best]
    assert [(tuple(h.tokens), h.finished) for h in found] == [(s[0], s[2]) for s in expected]
    for h, s in zip(found, expected, strict=True):
        assert h.log_prob == pytest.approx(s[1], abs=1e-5)
        assert h.score == pytest.approx(score[s], abs=1e-5)


@pytest.mark.parametrize("min_length,ngram", [(2, 0), (5, 0), (0, 1), (3, 2), (1, 1)])
def test_wide_beam_obeys_min_length_and_no_repeat_ngram_exactly(toys, min_length, ngram):
    V, L = 4, 5
    model = toys.TableModel(V, seed=3, eos_bias=1.0)
    allowed = [
        s
        for s in toys.brute_force(
            model.step, model.initial_state(1), bos=model.bos, vocab=V, max_length=L
        )
        if (not s[2] or len(s[0]) >= min_length) and not (ngram and toys.has_repeat(s[0], ngram))
    ]
    best, _ = ranked(toys, allowed, "none", 0.0)
    [found] = beam_table(
        model, beam_size=400, n_best=5, max_length=L, min_length=min_length, no_repeat_ngram=ngram
    )
    assert [(tuple(h.tokens), h.finished) for h in found] == [(s[0], s[2]) for s in best[:5]]


def test_no_possible_sequence_gives_no_hypothesis(toys):
    model = toys.TableModel(4)  # 3 tokens besides eos: 4 distinct ones cannot be generated
    [found] = beam_table(
        model, beam_size=4, n_best=2, max_length=6, min_length=4, no_repeat_ngram=1
    )
    assert found == []


def test_an_example_decodes_the_same_alone_and_in_a_padded_batch(toys):
    model = toys.AttentionToy(seed=4)
    kw = {"beam_size": 4, "n_best": 3, "max_length": 10, "length_penalty": "gnmt"}
    batch = beam_toy(toys, model, SOURCES, **kw)
    for source, together in zip(SOURCES, batch, strict=True):
        [alone] = beam_toy(toys, model, [source], **kw)
        assert len(alone) == len(together) == 3
        for a, b in zip(alone, together, strict=True):
            assert (a.tokens, a.finished) == (b.tokens, b.finished)
            assert a.score == pytest.approx(b.score, abs=1e-5)
            assert a.log_prob == pytest.approx(b.log_prob, abs=1e-5)
            S = len(source)
            torch.testing.assert_close(a.attention, b.attention[:, :S])
            assert not b.attention[:, S:].any()  # padding never attended


@pytest.mark.parametrize(
    "seed,eos_rate,beam,n_best", [(0, 0.3, 3, 1), (0, 1.0, 4, 2), (3, 0.3, 4, 3), (3, 1.0, 3, 1)]
)
def test_examples_stopping_at_different_steps_decode_as_they_do_alone(
    toys, seed, eos_rate, beam, n_best
):
    # a stopped example leaves the batch (Beams.rows picks the rows kept): the examples that go
    # on must keep their own rows, in order, with their own state and scores
    model = toys.AttentionToy(seed=seed, eos_rate=eos_rate)
    rows = []

    def step(tokens, state):
        rows.append(len(tokens))
        return model.step(tokens, state)

    kw = {"beam_size": beam, "n_best": n_best, "max_length": 12}
    batch = beam_search(step, model.encode(SOURCES), batch_size=len(SOURCES), bos=model.bos,
                        eos=EOS, attention=toys.attention_of, **kw)  # fmt: skip
    shrinks = sum(later < now for now, later in itertools.pairwise(rows))
    assert shrinks >= 2  # examples stopped at two different steps at least, others went on
    for source, together in zip(SOURCES, batch, strict=True):
        [alone] = beam_toy(toys, model, [source], **kw)
        assert [(h.tokens, h.finished) for h in together] == [(h.tokens, h.finished) for h in alone]
        for a, b in zip(alone, together, strict=True):
            assert b.log_prob == pytest.approx(a.log_prob, abs=1e-6)
            assert b.score == pytest.approx(a.score, abs=1e-6)
            torch.testing.assert_close(b.attention[:, : len(source)], a.attention)


class Recording:
    """A table model whose state carries the path fed to each row, and a log of those paths."""

    def __init__(self, model, max_length):
        self.model, self.max_length, self.paths = model, max_length, []

    def initial_state(self, batch):
        path = torch.full((batch, self.max_length), -1)
        return self.model.initial_state(batch), path

    def step(self, tokens, state):
        count, path = state
        path = path.clone()
        path[torch.arange(len(tokens)), count] = tokens
        self.paths += path.tolist()
        log_probs, count = self.model.step(tokens, count)
        return log_probs, (count, path)


def test_finished_hypotheses_are_never_extended(toys):
    table = toys.TableModel(5, steps=8, seed=5, eos_bias=1.5)
    model = Recording(table, max_length=8)
    found = beam_search(
        model.step,
        model.initial_state(2),
        batch_size=2,
        bos=table.bos,
        eos=EOS,
        beam_size=4,
        n_best=4,
        max_length=8,
    )
    for path in model.paths:  # whatever a row is fed after an eos is an eos
        fed = [t for t in path if t != -1]
        if EOS in fed:
            assert set(fed[fed.index(EOS) :]) == {EOS}
    assert sum(h.finished for hyps in found for h in hyps) >= 4
    for h in (h for hyps in found for h in hyps):  # the log-prob stops at the eos
        emitted = h.tokens + [EOS] * h.finished
        inputs = [table.bos, *h.tokens]
        total = sum(
            float(table.table[t, i, o])
            for t, (i, o) in enumerate(zip(inputs, emitted, strict=False))
        )
        assert h.log_prob == pytest.approx(total, abs=1e-5)
        assert EOS not in h.tokens


def test_length_penalties_by_hand():
    """P(eos) = 0.5 at step 0; after one token P(eos) = 0.6, P(a) = 0.4; max_length 2."""
    probs = torch.tensor([[0.5, 0.5], [0.6, 0.4]])  # (step, V): eos = 0, a = 1

    def step(tokens, count):
        return probs[count].log().expand(len(tokens), -1), count + 1

    hyps = {  # tokens: (log_prob, L with the eos)
        (): (math.log(0.5), 1),
        (1,): (math.log(0.5 * 0.6), 2),
        (1, 1): (math.log(0.5 * 0.4), 2),
    }
    penalties = {
        ("none", 0.6): lambda L: 1.0,
        ("avg", 0.6): lambda L: L,
        ("gnmt", 1.0): lambda L: (5 + L) / 6,
        ("gnmt", 4.0): lambda L: ((5 + L) / 6) ** 4,
    }
    orders = {}
    for (kind, alpha), lp in penalties.items():
        [found] = beam_search(
            step,
            torch.zeros(1, dtype=torch.long),
            batch_size=1,
            bos=2,
            eos=EOS,
            beam_size=3,
            n_best=3,
            max_length=2,
            length_penalty=kind,
            alpha=alpha,
        )
        expected = sorted(hyps, key=lambda t: -hyps[t][0] / lp(hyps[t][1]))
        assert [tuple(h.tokens) for h in found] == expected
        assert [h.finished for h in found] == [t != (1, 1) for t in expected]
        for h in found:
            log_prob, L = hyps[tuple(h.tokens)]
            assert h.log_prob == pytest.approx(log_prob, abs=1e-6)
            assert h.score == pytest.approx(log_prob / lp(L), abs=1e-6)
        orders[kind, alpha] = expected
    assert orders["none", 0.6][0] == () and orders["avg", 0.6][0] == (1,)  # avg favours longer
    assert orders["gnmt", 1.0][0] == () and orders["gnmt", 4.0][0] == (1,)


@pytest.mark.parametrize("penalty", ["none", "avg", "gnmt"])
def test_n_best_are_sorted_and_scored_with_their_penalty(toys, penalty):
    model = toys.AttentionToy(seed=6)
    found = beam_toy(
        toys, model, SOURCES, beam_size=5, n_best=5, max_length=9, length_penalty=penalty, alpha=0.8
    )
    for hyps in found:
        assert len(hyps) == 5
        assert len({tuple(h.tokens) for h in hyps}) == 5
        scores = [h.score for h in hyps]
        assert scores == sorted(scores, reverse=True)
        for h in hyps:
            L = len(h.tokens) + h.finished
            assert h.score == pytest.approx(h.log_prob / toys.lp(L, penalty, 0.8), abs=1e-6)
            assert L <= 9 and (h.finished or L == 9)


def test_min_length_is_respected(toys):
    model = toys.AttentionToy(seed=7)
    short = beam_toy(toys, model, SOURCES, beam_size=3, n_best=3, max_length=12)
    assert min(len(h.tokens) for hyps in short for h in hyps) < 4
    found = beam_toy(toys, model, SOURCES, beam_size=3, n_best=3, max_length=12, min_length=4)
    assert all(len(h.tokens) >= 4 for hyps in found for h in hyps)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_no_repeat_ngram_is_respected(toys, n):
    model = toys.TableModel(6, steps=1, seed=8, sharpness=0.3)
    model.table[0, 1:6, 1:] += 4 * torch.eye(5)  # each token loves repeating itself
    model.table = model.table.log_softmax(-1)
    repeats = beam_table(model, batch=1, beam_size=4, n_best=4, max_length=10)
    assert all(toys.has_repeat(tuple(h.tokens), n) for h in repeats[0])
    [found] = beam_table(model, batch=1, beam_size=4, n_best=4, max_length=10, no_repeat_ngram=n)
    assert len(found) == 4
    assert not any(toys.has_repeat(tuple(h.tokens), n) for h in found)


def test_attention_is_recorded_along_each_hypothesis_path(toys):
    model = toys.AttentionToy(seed=2)
    found = beam_toy(toys, model, SOURCES, beam_size=4, n_best=4, max_length=8)
    for source, hyps in zip(SOURCES, found, strict=True):
        for h in hyps:
            log_prob, weights = replay(toys, model, source, h)
            assert h.attention.shape == (len(h.tokens) + h.finished, len(SOURCES[2]))
            torch.testing.assert_close(h.attention[:, : len(source)], weights)
            assert h.log_prob == pytest.approx(log_prob, abs=1e-5)


def test_a_custom_reorder_follows_the_beams(toys):
    """State with the batch on dim 1 (torch's layout) and its own reorder: the same beams."""
    model = toys.AttentionToy(seed=3)

    def flip(state):  # batch dim 0 <-> 1
        return tuple(s.transpose(0, 1) for s in state)

    def step(tokens, state):
        log_probs, state = model.step(tokens, flip(state))
        return log_probs, flip(state)

    def reorder(state, index):
        return reorder_state(state, index, batch_dim=1)

    found = beam_search(
        step,
        flip(model.encode(SOURCES)),
        batch_size=7,
        bos=model.bos,
        eos=EOS,
        beam_size=3,
        n_best=3,
        max_length=8,
        reorder=reorder,
    )
    reference = beam_toy(toys, model, SOURCES, beam_size=3, n_best=3, max_length=8)
    for hyps, ref in zip(found, reference, strict=True):
        assert [h.tokens for h in hyps] == [r.tokens for r in ref]
        assert [h.score for h in hyps] == pytest.approx([r.score for r in ref], abs=1e-6)


@pytest.mark.parametrize(
    "kwargs,name",
    [
        ({"beam_size": 0}, "beam_size"),
        ({"n_best": 0}, "n_best"),
        ({"n_best": 3, "beam_size": 2}, "n_best"),
        ({"max_length": 0}, "max_length"),
        ({"min_length": 6}, "min_length"),
        ({"min_length": -1}, "min_length"),
        ({"length_penalty": "wu"}, "length_penalty"),
        ({"alpha": -0.5}, "alpha"),
        ({"no_repeat_ngram": -1}, "no_repeat_ngram"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_bad_arguments_raise_naming_the_argument(toys, kwargs, name):
    model = toys.TableModel(4)
    args = {"batch_size": 1, "bos": model.bos, "eos": EOS, "max_length": 5, **kwargs}
    with pytest.raises(ValueError, match=f"^{name} must"):
        beam_search(model.step, model.initial_state(1), **args)
