import pytest
import torch

from rnnkit.data.batching import StreamBatches


def test_shapes_and_targets_shift_by_one():
    ids = torch.arange(103)
    batches = StreamBatches(ids, batch_size=4, bptt=7)
    assert batches.column_length == 25 and len(batches) == 4  # 7 + 7 + 7 + 4
    shapes = [tuple(x.shape) for x, _ in batches]
    assert shapes == [(4, 7), (4, 7), (4, 7), (4, 4)]
    for x, y in batches:
        assert torch.equal(y, x + 1)  # the stream is 0, 1, 2, ...: next token = id + 1


def test_chunk_k_plus_one_continues_chunk_k_in_every_column():
    ids = torch.randint(0, 50, (1001,), generator=torch.Generator().manual_seed(0))
    batches = StreamBatches(ids, batch_size=5, bptt=13)
    columns = torch.cat([x for x, _ in batches], dim=1)  # (B, L) glued back together
    for b in range(5):
        start = b * batches.column_length
        assert torch.equal(columns[b], ids[start : start + batches.column_length])
    for k in range(len(batches) - 1):
        (_, y0), (x1, _) = batches.chunk(k), batches.chunk(k + 1)
        assert torch.equal(y0[:, -1], x1[:, 0])  # last target of k is first input of k + 1


def test_too_short_stream_is_an_error():
    with pytest.raises(ValueError, match="too short"):
        StreamBatches(torch.arange(3), batch_size=4, bptt=2)
