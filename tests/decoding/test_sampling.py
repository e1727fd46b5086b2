import math

import pytest
import torch

from rnnkit.decoding.sampling import filter_logits, sample_sequence, sample_token


def bigram_step(table: torch.Tensor):
    """A toy model: next-token log-probs depend on the current token only."""

    def step(tokens, state):
        return table[tokens].log_softmax(-1), state

    return step


def test_seeded_sampling_is_reproducible():
    step = bigram_step(torch.randn(7, 7, generator=torch.Generator().manual_seed(0)))
    prime = torch.tensor([[1, 2]])
    runs = [
        sample_sequence(step, prime, 50, generator=torch.Generator().manual_seed(3))
        for _ in range(2)
    ]
    assert torch.equal(runs[0], runs[1])
    other = sample_sequence(step, prime, 50, generator=torch.Generator().manual_seed(4))
    assert not torch.equal(runs[0], other)


def test_temperature_to_zero_equals_greedy_argmax():
    table = torch.randn(9, 9, generator=torch.Generator().manual_seed(1))
    step = bigram_step(table)
    prime = torch.tensor([[0], [5]])
    cold = sample_sequence(step, prime, 20, temperature=1e-4, generator=torch.Generator())
    greedy = []
    token = prime[:, -1]
    for _ in range(20):  # argmax by hand
        token = table[token].argmax(-1)
        greedy.append(token)
    assert torch.equal(cold, torch.stack(greedy, 1))
    assert torch.equal(sample_sequence(step, prime, 20, temperature=0.0), cold)


def test_top_k_only_draws_from_the_k_best():
    logits = torch.tensor([[0.0, 3.0, 1.0, 2.5, -1.0]])
    draws = torch.stack(
        [
            sample_token(logits, top_k=2, generator=torch.Generator().manual_seed(s))
            for s in range(200)
        ]
    )
    assert set(draws.flatten().tolist()) == {1, 3}


def test_top_p_keeps_smallest_set_with_enough_mass():
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    kept = filter_logits(probs.log(), top_p=0.75).isfinite()
    assert kept.tolist() == [[True, True, False, False]]
    assert filter_logits(probs.log(), top_p=0.1).isfinite().sum() == 1  # at least the best one


def reference_distribution(logits, temperature, top_k, top_p):
    """softmax(filter(logits / T)) in plain Python: keep the top k, then in descending order
    every token whose preceding mass (renormalised over the kept ones) is < p."""
    z = [x / temperature for x in logits]
    order = sorted(range(len(z)), key=lambda i: -z[i])
    kept = order[: top_k or len(z)]
    if top_p is not None:
        total = sum(math.exp(z[i]) for i in kept)
        mass, nucleus = 0.0, []
        for i in kept:
            if mass < top_p:
                nucleus.append(i)
            mass += math.exp(z[i]) / total
        kept = nucleus
    total = sum(math.exp(z[i]) for i in kept)
    return [math.exp(z[i]) / total if i in kept else 0.0 for i in range(len(z))]


@pytest.mark.parametrize(
    "temperature,top_k,top_p",
    [
        (1.0, None, None),
        (0.7, None, None),
        (1.5, 3, None),
        (1.0, None, 0.8),
        (0.5, 4, 0.9),
        (2.0, 5, 0.6),
        (1.0, 1, None),
        (1.0, None, 0.2),
    ],
)
def test_sample_token_draws_exactly_the_filtered_softmax(temperature, top_k, top_p):
    logits = [2.0, 0.5, -1.0, 1.2, 0.0, -0.3]
    expected = reference_distribution(logits, temperature, top_k, top_p)
    n = 200_000
    draws = sample_token(
        torch.tensor([logits]).expand(n, -1),
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        generator=torch.Generator().manual_seed(0),
    )
    counts = torch.bincount(draws, minlength=len(logits)).tolist()
    support = {i for i, p in enumerate(expected) if p > 0}
    assert {i for i, c in enumerate(counts) if c > 0} == support  # never outside, all inside
    chi2 = sum((counts[i] - n * expected[i]) ** 2 / (n * expected[i]) for i in support)
    assert chi2 < 30.0  # df <= 5: P(chi2 > 30) < 2e-5


@pytest.mark.parametrize(
    "kwargs,name",
    [
        ({"top_k": 0}, "top_k"),
        ({"top_p": 0.0}, "top_p"),
        ({"top_p": 1.5}, "top_p"),
        ({"temperature": -1.0}, "temperature"),
    ],
)
def test_bad_sampling_options_are_named(kwargs, name):
    with pytest.raises(ValueError, match=name):
        sample_token(torch.zeros(1, 4), **kwargs)
