"""PerExample: a state field held once per example stands for its rows under every walk."""

from __future__ import annotations

import pytest
import torch

from rnnkit.cells.state import (
    LSTMState,
    PerExample,
    as_rows,
    detach_state,
    flatten_state,
    map_state,
    reorder_state,
    unflatten_state,
)

B, S, D, K = 4, 3, 2, 3


def memory() -> torch.Tensor:
    return torch.randn(B, S, D, generator=torch.Generator().manual_seed(0))


def beam_steps() -> list[torch.Tensor]:
    """Beam search's indices: the expansion to K rows per example, then parents within groups."""
    start = torch.arange(B).repeat_interleave(K)  # (B*K,)
    step = torch.tensor([2, 0, 0, 3, 5, 4, 6, 6, 6, 11, 9, 10])  # each parent in its own group
    drop = torch.tensor([1, 1, 2, 9, 10, 9])  # examples 0 and 3 stay, 1 and 2 stop
    return [start, step, drop]


def test_beam_indices_keep_one_entry_per_example_and_mean_the_same_rows():
    shared, rows = PerExample(memory()), memory()
    for index, (group, examples) in zip(beam_steps(), [(K, B), (K, B), (K, 2)], strict=True):
        shared, rows = reorder_state(shared, index), rows[index]
        assert (shared.group, shared.tensor.shape[0]) == (group, examples)  # never K copies
        assert torch.equal(shared.rows(), rows)


@pytest.mark.parametrize(
    "index",
    [
        torch.tensor([5, 0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11]),  # a parent from another example
        torch.tensor([0, 1, 2, 3, 4]),  # not whole groups
        torch.tensor([0, 1, 2, 6, 7, 8, 6, 7, 8]),  # an example twice: still whole groups
    ],
)
def test_any_other_index_still_gives_the_rows_it_picks(index):
    grouped = reorder_state(PerExample(memory()), torch.arange(B).repeat_interleave(K))
    rows = grouped.rows()
    picked = reorder_state(grouped, index)
    assert torch.equal(picked.rows(), rows[index])


def test_one_row_per_example_stays_one_row_per_example():
    """Greedy decoding drops finished rows: group 1 throughout, no check needed."""
    x = memory()
    picked = reorder_state(PerExample(x), torch.tensor([3, 1]))
    assert picked.group == 1 and torch.equal(picked.tensor, x[[3, 1]])


def test_batch_dim_one_picks_along_it():
    x = memory().transpose(0, 1)  # (S, B, D)
    index = torch.arange(B).repeat_interleave(K)
    shared = reorder_state(PerExample(x), index, batch_dim=1)
    assert shared.group == K and torch.equal(shared.tensor, x)


def test_grouped_rows_line_up_with_their_example():
    shared = reorder_state(PerExample(memory()), torch.arange(B).repeat_interleave(K))
    queries = torch.arange(B * K * D, dtype=torch.float32).view(B * K, D)
    grouped = shared.grouped(queries)  # (B, K, D)
    assert grouped.shape == (B, K, D)
    assert torch.equal(grouped[2, 1], queries[2 * K + 1])
    assert torch.equal(as_rows(shared), shared.rows()) and as_rows(queries) is queries


def test_map_detach_flatten_keep_the_field_per_example():
    shared = PerExample(memory().requires_grad_(), 2)
    state = (LSTMState(torch.ones(8, 1), torch.zeros(8, 1)), shared, None)
    detached = detach_state(state)
    assert isinstance(detached[1], PerExample) and detached[1].group == 2
    assert not detached[1].tensor.requires_grad
    doubled = map_state(lambda a, b: a + b, state, state)
    torch.testing.assert_close(doubled[1].tensor, 2 * shared.tensor)
    tensors, structure = flatten_state(state)
    assert tensors[2] is shared.tensor
    back = unflatten_state(tensors, structure)
    assert back[1].tensor is shared.tensor and back[1].group == 2
    assert isinstance(back[0], LSTMState)
