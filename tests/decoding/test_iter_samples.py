"""The streaming sampler and the draw behind ``sample_token``, against torch.multinomial."""

import pytest
import torch

from rnnkit.decoding.sampling import computing, draw, iter_samples, sample_sequence


@pytest.mark.parametrize(("rows", "vocab"), [(1, 65), (3, 7), (8, 1000), (64, 2)])
def test_draw_is_torch_multinomials_draw(rows, vocab):
    for seed in range(50):
        logits = torch.randn(rows, vocab, generator=torch.Generator().manual_seed(seed)) * 3
        if seed % 2:  # filtered tokens: zero probability
            logits[:, : vocab // 2] = float("-inf")
        probs = logits.softmax(-1)
        ours, theirs = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed)
        expected = torch.multinomial(probs, 1, generator=theirs)[:, 0]
        assert torch.equal(draw(probs, ours), expected)
        assert torch.equal(ours.get_state(), theirs.get_state())  # the same draws consumed
        assert torch.isfinite(logits.gather(1, expected[:, None])).all()


def test_draw_uses_the_global_generator_like_multinomial():
    probs = torch.randn(4, 65, generator=torch.Generator().manual_seed(0)).softmax(-1)
    torch.manual_seed(5)
    expected = torch.multinomial(probs, 1)[:, 0]
    torch.manual_seed(5)
    assert torch.equal(draw(probs), expected)


class Bigram:
    """A toy step: log-probs depend on the current token only; counts its calls and threads."""

    def __init__(self, vocab: int = 9) -> None:
        self.table = torch.randn(vocab, vocab, generator=torch.Generator().manual_seed(0)) * 2
        self.calls, self.threads = 0, set()

    def __call__(self, tokens, state):
        self.calls += 1
        self.threads.add(torch.get_num_threads())
        return self.table[tokens].log_softmax(-1), state


def test_iter_samples_streams_what_sample_sequence_returns():
    prime = torch.tensor([[1, 2], [3, 4], [5, 6]])
    options = {"temperature": 0.8, "top_k": 5}  # two generators in the same (default) state
    whole = sample_sequence(Bigram(), prime, 30, generator=torch.Generator(), **options)
    stream = iter_samples(Bigram(), prime, 30, generator=torch.Generator(), **options)
    first = next(stream)
    assert first.shape == (3,)
    assert torch.equal(torch.stack([first, *stream], 1), whole)


def test_no_step_after_the_last_draw():
    step = Bigram()
    assert len(list(iter_samples(step, torch.tensor([[1, 2, 3]]), 10))) == 10
    assert step.calls == 3 + 10 - 1  # the prime, then one step per draw but the first
    assert sample_sequence(Bigram(), torch.tensor([[1]]), 0).shape == (1, 0)


def test_threads_hold_while_computing_and_are_restored_between_draws():
    before = torch.get_num_threads()
    step = Bigram()
    torch.set_num_threads(2)
    try:
        for _ in iter_samples(step, torch.tensor([[1]]), 5, threads=1):
            assert torch.get_num_threads() == 2  # the caller's own, between draws
        assert step.threads == {1}
        with computing(None):
            assert torch.get_num_threads() == 2 and not torch.is_grad_enabled()
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"temperature": -1.0}, "temperature"),
        ({"top_k": 0}, "top_k"),
        ({"top_p": 2.0}, "top_p"),
        ({"threads": 0}, "threads"),
        ({"length": -1}, "length"),
        ({"prime": torch.zeros(1, 0, dtype=torch.long)}, "prime"),
    ],
)
def test_bad_options_raise_at_the_call_not_at_the_first_draw(kwargs, name):
    args = {"prime": torch.tensor([[1]]), "length": 3, **kwargs}
    with pytest.raises(ValueError, match=name):
        iter_samples(Bigram(), args.pop("prime"), args.pop("length"), **args)
