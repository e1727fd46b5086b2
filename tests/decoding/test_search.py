import math
from collections import Counter

import pytest
import torch

from rnnkit.decoding import greedy, sample, sample_token

EOS = 0
SOURCES = [[1, 2, 3], [4], [5, 6, 1, 2, 3, 4], [2, 2], [6, 5, 4, 3], [1, 3, 5, 2, 4], [3, 1]]


def run(decoder, model, sources, toys, **kw):
    return decoder(
        model.step,
        model.encode(sources),
        batch_size=len(sources),
        bos=model.bos,
        eos=EOS,
        attention=toys.attention_of,
        **kw,
    )


def argmax_by_hand(toys, model, source, max_length, min_length=0):
    """One example alone, argmax at each step: tokens, log-prob, finished, attention (L, S)."""
    state, token, tokens, total, weights = model.encode([source]), model.bos, [], 0.0, []
    for t in range(max_length):
        log_probs, state = model.step(torch.tensor([token]), state)
        if t < min_length:
            log_probs[0, EOS] = float("-inf")
        token = int(log_probs[0].argmax())
        total += float(log_probs[0, token])
        weights.append(toys.attention_of(state)[0])
        if token == EOS:
            return tokens, total, True, torch.stack(weights)
        tokens.append(token)
    return tokens, total, False, torch.stack(weights)


@pytest.mark.parametrize("seed,min_length", [(0, 0), (3, 0), (5, 0), (0, 5)])
def test_greedy_is_the_argmax_path_of_each_example_alone(toys, seed, min_length):
    model = toys.AttentionToy(seed=seed)
    found = run(greedy, model, SOURCES, toys, max_length=12, min_length=min_length)
    assert len({len(h.tokens) for h in found}) > 1  # rows finish at different steps
    for source, h in zip(SOURCES, found, strict=True):
        tokens, log_prob, finished, weights = argmax_by_hand(toys, model, source, 12, min_length)
        assert (h.tokens, h.finished) == (tokens, finished)
        assert h.log_prob == pytest.approx(log_prob, abs=1e-5)
        assert h.score == h.log_prob
        assert len(h.tokens) >= min_length
        torch.testing.assert_close(h.attention[:, : len(source)], weights)
        assert not h.attention[:, len(source) :].any()


def test_sampling_at_temperature_zero_is_greedy(toys):
    model = toys.AttentionToy(seed=3)
    cold = run(sample, model, SOURCES, toys, max_length=12, temperature=0.0)
    hot = run(greedy, model, SOURCES, toys, max_length=12)
    for c, h in zip(cold, hot, strict=True):
        assert (c.tokens, c.finished, c.log_prob) == (h.tokens, h.finished, h.log_prob)
        torch.testing.assert_close(c.attention, h.attention)


def test_seeded_sampling_is_reproducible(toys):
    model = toys.AttentionToy(seed=5)

    def draw(seed):
        g = torch.Generator().manual_seed(seed)
        return [h.tokens for h in run(sample, model, SOURCES, toys, max_length=10, generator=g)]

    assert draw(1) == draw(1)
    assert draw(1) != draw(2)


def filtered(log_probs, temperature, top_k, top_p):
    """softmax(filter(log_probs / T)) written out in plain Python (see test_sampling.py)."""
    z = [x / temperature for x in log_probs]
    kept = sorted(range(len(z)), key=lambda i: -z[i])[: top_k or len(z)]
    if top_p is not None:
        total = sum(math.exp(z[i]) for i in kept)
        masses = [sum(math.exp(z[j]) for j in kept[:n]) / total for n in range(len(kept))]
        kept = [i for i, mass in zip(kept, masses, strict=True) if mass < top_p]
    total = sum(math.exp(z[i]) for i in kept)
    return [math.exp(z[i]) / total if i in kept else 0.0 for i in range(len(z))]


def sequence_probabilities(model, max_length, temperature, top_k, top_p):
    """Exact P(sequence) under per-step filtered sampling, by enumeration (finished: eos kept)."""
    out = {}

    def walk(prefix, token, count, p):
        log_probs, count = model.step(torch.tensor([token]), count)
        q = filtered(log_probs[0].tolist(), temperature, top_k, top_p)
        for v, qv in enumerate(q):
            if qv == 0.0:
                continue
            if v == EOS or len(prefix) + 1 == max_length:
                out[(*prefix, v)] = p * qv
            else:
                walk((*prefix, v), v, count, p * qv)

    walk((), model.bos, model.initial_state(1), 1.0)
    return out


@pytest.mark.parametrize(
    "temperature,top_k,top_p", [(1.0, None, None), (0.7, 3, None), (1.3, None, 0.8), (2.0, 3, 0.9)]
)
def test_sampled_sequences_follow_the_filtered_distribution(toys, temperature, top_k, top_p):
    model = toys.TableModel(5, seed=2, eos_bias=1.0)
    n, L = 40_000, 3
    exact = sequence_probabilities(model, L, temperature, top_k, top_p)
    assert sum(exact.values()) == pytest.approx(1.0)
    found = sample(
        model.step,
        model.initial_state(n),
        batch_size=n,
        bos=model.bos,
        eos=EOS,
        max_length=L,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        generator=torch.Generator().manual_seed(0),
    )
    counts = Counter((*h.tokens, EOS) if h.finished else tuple(h.tokens) for h in found)
    assert set(counts) <= set(exact)  # nothing outside the filtered support
    common = [s for s, p in exact.items() if n * p >= 20]
    assert all(counts[s] > 0 for s in common)
    rest = 1.0 - sum(exact[s] for s in common)
    observed_rest = n - sum(counts[s] for s in common)
    chi2 = sum((counts[s] - n * exact[s]) ** 2 / (n * exact[s]) for s in common)
    if rest * n >= 20:
        chi2 += (observed_rest - n * rest) ** 2 / (n * rest)
    df = len(common)
    assert chi2 < df + 6 * math.sqrt(2 * df)  # ~ 6 standard deviations
    for h in found[:50]:  # the model's own log-prob, not the tempered one
        emitted = h.tokens + [EOS] * h.finished
        inputs = [model.bos, *h.tokens]
        pairs = enumerate(zip(inputs, emitted, strict=False))
        total = sum(float(model.table[t, i, o]) for t, (i, o) in pairs)
        assert h.log_prob == pytest.approx(total, abs=1e-5)


def test_sample_draws_each_step_with_sample_token(toys):
    """One row: each step is exactly one ``sample_token`` call on the step's log-probs."""
    model = toys.TableModel(6, steps=8, seed=4)
    kw = {"temperature": 0.8, "top_k": 4, "top_p": 0.9}
    [h] = sample(
        model.step,
        model.initial_state(1),
        batch_size=1,
        bos=model.bos,
        eos=EOS,
        max_length=8,
        generator=torch.Generator().manual_seed(3),
        **kw,
    )
    g, token, count, tokens = (
        torch.Generator().manual_seed(3),
        model.bos,
        model.initial_state(1),
        [],
    )
    for _ in range(8):
        log_probs, count = model.step(torch.tensor([token]), count)
        token = int(sample_token(log_probs, generator=g, **kw)[0])
        if token == EOS:
            break
        tokens.append(token)
    assert h.tokens == tokens


def test_min_length_holds_for_sampling(toys):
    model = toys.TableModel(4, seed=6, eos_bias=3.0)
    kw = {"batch_size": 200, "bos": model.bos, "eos": EOS, "max_length": 6}
    free = sample(model.step, model.initial_state(200), **kw)
    assert min(len(h.tokens) for h in free) < 3
    found = sample(model.step, model.initial_state(200), min_length=3, **kw)
    assert all(len(h.tokens) >= 3 for h in found)


@pytest.mark.parametrize(
    "kwargs,name",
    [
        ({"temperature": -0.1}, "temperature"),
        ({"top_k": 0}, "top_k"),
        ({"top_p": 0.0}, "top_p"),
        ({"top_p": 1.2}, "top_p"),
        ({"max_length": 0}, "max_length"),
        ({"min_length": 9}, "min_length"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_bad_arguments_raise_naming_the_argument(toys, kwargs, name):
    model = toys.TableModel(4)
    args = {"batch_size": 1, "bos": model.bos, "eos": EOS, "max_length": 5, **kwargs}
    with pytest.raises(ValueError, match=f"^{name} must"):
        sample(model.step, model.initial_state(1), **args)
    if name not in ("temperature", "top_k", "top_p"):
        with pytest.raises(ValueError, match=f"^{name} must"):
            greedy(model.step, model.initial_state(1), **args)
