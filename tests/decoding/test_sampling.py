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
