import json
import random

import pytest
import torch

from rnnkit.data.padded import (
    BucketBatches,
    PaddedBatch,
    iter_batches,
    pad_batch,
    padding_fraction,
    truncate,
)


def make_data(n: int, seed: int = 0, skewed: bool = False) -> tuple[list[list[int]], list[int]]:
    """``n`` sequences whose tokens encode their position: ids ``[i + 2] * length``."""
    rng = random.Random(seed)
    if skewed:  # mostly short, a long tail
        lengths = [1 + int(rng.expovariate(1 / 15)) for _ in range(n)]
    else:
        lengths = [rng.randint(1, 12) for _ in range(n)]
    return [[i + 2] * k for i, k in enumerate(lengths)], [i % 3 for i in range(n)]


def check_batch(batch: PaddedBatch, sequences: list[list[int]], labels: list[int]) -> None:
    """The batch's rows are the examples its ``index`` names, padded with 0."""
    for row, i in enumerate(batch.index.tolist()):
        k = len(sequences[i])
        assert batch.lengths[row] == k
        assert batch.tokens[row, :k].tolist() == sequences[i]
        assert not batch.tokens[row, k:].any()
        assert batch.labels[row] == labels[i]


def test_truncate_head_and_head_tail_exact():
    ids = list(range(10))
    assert truncate(ids, 4) == [0, 1, 2, 3]
    assert truncate(ids, 5, keep="head_tail") == [0, 1, 2, 8, 9]  # head half rounds up
    assert truncate(ids, 4, keep="head_tail") == [0, 1, 8, 9]
    assert truncate(ids, 1, keep="head_tail") == [0]
    assert truncate(ids, 10, keep="head_tail") == ids
    assert truncate(ids, None) == ids and truncate(ids, None) is not ids
    assert truncate([7, 8], 5, keep="head_tail") == [7, 8]


def test_truncate_rejects_bad_arguments():
    with pytest.raises(ValueError, match="head_tail"):
        truncate([1, 2], 1, keep="tail")
    with pytest.raises(ValueError):
        truncate([1, 2], 0)


def test_pad_batch_exact():
    batch = pad_batch([[5, 6, 7], [8]], [1, 0], [4, 2])
    assert batch.tokens.tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch.tokens.dtype == torch.long and batch.lengths.tolist() == [3, 1]
    assert batch.labels.tolist() == [1, 0] and batch.index.tolist() == [4, 2]
    moved = batch.to("cpu")
    assert torch.equal(moved.tokens, batch.tokens) and len(moved) == 2
    assert pad_batch([[1]], None, [0]).to("cpu").labels is None


def test_pad_batch_rejects_empty_sequences():
    with pytest.raises(ValueError, match="example 9 is empty"):
        pad_batch([[1], []], None, [3, 9])


@pytest.mark.parametrize(("n", "batch_size", "bucket_size"), [(1, 4, 50), (7, 3, 1), (101, 8, 3)])
def test_every_example_once_per_epoch(n, batch_size, bucket_size):
    sequences, labels = make_data(n)
    source = BucketBatches(sequences, labels, batch_size, seed=3, bucket_size=bucket_size)
    assert source.batches_per_epoch == -(-n // batch_size)
    orders = []
    for epoch in range(3):
        seen = []
        for position in range(source.batches_per_epoch):
            assert (source.epoch, source.position) == (epoch, position)
            batch = source.next_batch()
            check_batch(batch, sequences, labels)
            assert len(batch) <= batch_size
            seen += batch.index.tolist()
        assert sorted(seen) == list(range(n))
        orders.append(seen)
    assert (source.epoch, source.position) == (3, 0)
    if n > 10:
        assert orders[0] != orders[1] != orders[2]


def test_same_seed_same_batches_and_unshuffled_order_is_fixed():
    sequences, labels = make_data(50)
    a = BucketBatches(sequences, labels, 4, seed=1)
    b = BucketBatches(sequences, labels, 4, seed=1)
    c = BucketBatches(sequences, labels, 4, seed=2)
    assert a.epoch_plan(0) == b.epoch_plan(0) != c.epoch_plan(0)
    fixed = BucketBatches(sequences, labels, 4, seed=1, shuffle=False, bucket_size=2)
    assert fixed.epoch_plan(0) == fixed.epoch_plan(1)
    assert fixed.epoch_plan(0)[0] == sorted(range(8), key=lambda i: -len(sequences[i]))[:4]


def test_bucketing_wastes_far_less_padding_than_random_batches():
    sequences, labels = make_data(2000, skewed=True)

    def one_epoch(bucket_size: int) -> list[PaddedBatch]:
        source = BucketBatches(sequences, labels, 32, seed=0, bucket_size=bucket_size)
        return [source.next_batch() for _ in range(source.batches_per_epoch)]

    bucketed, random_batches = padding_fraction(one_epoch(50)), padding_fraction(one_epoch(1))
    sorted_all = padding_fraction(iter_batches(sequences, None, 32))  # the least possible
    assert random_batches > 0.6
    assert bucketed < 0.25 * random_batches
    assert bucketed < 2 * sorted_all


def take(source: BucketBatches, count: int) -> list[list[int]]:
    return [source.next_batch().index.tolist() for _ in range(count)]


@pytest.mark.parametrize("consumed", [0, 5, 12, 13, 20])  # 13 batches per epoch
def test_resume_gives_the_same_next_batches(consumed):
    sequences, labels = make_data(50)
    weights = [1.0 + (y == 2) for y in labels]
    for sampler_weights in (None, weights):
        kwargs = {"seed": 7, "bucket_size": 2, "sampler_weights": sampler_weights}
        uninterrupted = BucketBatches(sequences, labels, 4, **kwargs)
        take(uninterrupted, consumed)
        state = json.loads(json.dumps(uninterrupted.state_dict()))
        resumed = BucketBatches(sequences, labels, 4, **kwargs)
        resumed.load_state_dict(state)
        assert (resumed.epoch, resumed.position) == (consumed // 13, consumed % 13)
        assert take(resumed, 20) == take(uninterrupted, 20)


def test_load_state_dict_rejects_other_data_or_bad_positions():
    sequences, labels = make_data(20)
    source = BucketBatches(sequences, labels, 4, seed=0)
    other = BucketBatches(sequences, labels, 4, seed=1)
    with pytest.raises(ValueError, match="seed"):
        source.load_state_dict(other.state_dict())
    with pytest.raises(ValueError, match="position"):
        source.load_state_dict({"epoch": 0, "position": 5})
    source.load_state_dict({"epoch": 2, "position": 4})
    assert (source.epoch, source.position) == (2, 4)


def test_balanced_sampling_draws_minority_classes_as_often_as_majority():
    n = 1200
    labels = [0] * 1000 + [1] * 150 + [2] * 50
    sequences = [[1 + i % 5] for i in range(n)]
    counts = {y: labels.count(y) for y in set(labels)}
    weights = [1.0 / counts[y] for y in labels]
    source = BucketBatches(sequences, labels, 16, seed=0, sampler_weights=weights)
    drawn = torch.cat([source.next_batch().labels for _ in range(2 * source.batches_per_epoch)])
    assert len(drawn) == 2 * n
    shares = torch.bincount(drawn, minlength=3).double() / len(drawn)
    # Each share is ~1/3 with standard deviation sqrt(p(1-p)/2400) ~ 0.01: 5 sigma is 0.05.
    assert torch.allclose(shares, torch.full((3,), 1 / 3, dtype=torch.double), atol=0.05)


def test_constructor_rejects_bad_input():
    sequences, labels = make_data(5)
    with pytest.raises(ValueError, match="non-empty"):
        BucketBatches([[1], []], [0, 1], 2, seed=0)
    with pytest.raises(ValueError):
        BucketBatches(sequences, labels[:4], 2, seed=0)
    with pytest.raises(ValueError, match="sampler_weights"):
        BucketBatches(sequences, labels, 2, seed=0, sampler_weights=[1.0, -1.0, 1.0, 1.0, 1.0])


def test_iter_batches_covers_everything_longest_first_and_puts_outputs_back():
    sequences, labels = make_data(23)
    batches = list(iter_batches(sequences, None, 5))
    assert [len(b) for b in batches] == [5, 5, 5, 5, 3]
    assert all(b.labels is None for b in batches)
    lengths = torch.cat([b.lengths for b in batches]).tolist()
    assert lengths == sorted(lengths, reverse=True)
    outputs = [0] * len(sequences)
    for batch in batches:  # a "prediction": the first token of each row
        for i, first in zip(batch.index.tolist(), batch.tokens[:, 0].tolist(), strict=True):
            outputs[i] = first
    assert outputs == [s[0] for s in sequences]
    for batch in iter_batches(sequences, labels, 4):
        check_batch(batch, sequences, labels)
    assert padding_fraction(iter_batches(sequences, None, 1)) == 0.0
    assert padding_fraction([]) == 0.0


def test_shards_of_two_ranks_partition_every_global_batch():
    sequences = [[1] * (i % 7 + 1) for i in range(23)]
    labels = [i % 2 for i in range(23)]
    whole = BucketBatches(sequences, labels, 4, seed=3)
    ranks = [BucketBatches(sequences, labels, 4, seed=3) for _ in range(2)]
    for rank, source in enumerate(ranks):
        source.shard(rank, 2)
    for _ in range(2 * whole.batches_per_epoch):
        rows = whole.next_batch().index.tolist()
        parts = [source.next_batch().index.tolist() for source in ranks]
        if len(rows) >= 2:
            assert sorted(parts[0] + parts[1]) == sorted(rows) and not set(parts[0]) & set(parts[1])
        else:  # a one-row batch: both ranks get that row
            assert parts == [rows, rows]
