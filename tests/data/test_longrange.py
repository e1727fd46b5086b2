"""Long-range task generators: layouts checked by hand, baselines, determinism."""

from __future__ import annotations

import math

import pytest
import torch

from rnnkit.data.longrange import (
    ADDING_BASELINE_MSE,
    adding_problem,
    copy_baseline,
    copy_memory,
    ntm_copy,
    pixel_permutation,
    sequential_digits,
)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --- adding problem ---


@pytest.mark.parametrize("T", [2, 7, 50])
def test_adding_shapes_and_two_marks_one_per_half(T):
    x, y = adding_problem(64, T, generator=gen())
    assert x.shape == (64, T, 2) and y.shape == (64,)
    assert x.dtype == y.dtype == torch.float32
    marks = x[..., 1]
    assert set(marks.unique().tolist()) <= {0.0, 1.0}
    half = T // 2
    assert torch.equal(marks[:, :half].sum(1), torch.ones(64))
    assert torch.equal(marks[:, half:].sum(1), torch.ones(64))
    assert bool(((x[..., 0] >= 0) & (x[..., 0] < 1)).all())


def test_adding_target_is_the_sum_of_the_marked_values():
    x, y = adding_problem(5, 10, generator=gen(3))
    for b in range(5):
        marked = [float(x[b, t, 0]) for t in range(10) if x[b, t, 1] == 1]
        assert len(marked) == 2
        assert math.isclose(float(y[b]), marked[0] + marked[1], rel_tol=1e-6)


def test_adding_baseline_is_one_sixth_empirically():
    assert math.isclose(ADDING_BASELINE_MSE, 2 / 12)
    _, y = adding_problem(200_000, 4, generator=gen(1))
    mse = float((y - 1).pow(2).mean())
    assert abs(mse - ADDING_BASELINE_MSE) < 0.003


def test_adding_is_deterministic_per_generator_state():
    a, b = adding_problem(8, 20, generator=gen(5)), adding_problem(8, 20, generator=gen(5))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    c = adding_problem(8, 20, generator=gen(6))
    assert not torch.equal(a[0], c[0])


# --- copy memory ---


def test_copy_layout_by_hand():
    x, y = copy_memory(2, 4, generator=gen(0), symbols=3, length=2)  # T + 2L = 8 steps
    assert x.shape == y.shape == (2, 8) and x.dtype == y.dtype == torch.long
    for b in range(2):
        s1, s2 = int(x[b, 0]), int(x[b, 1])
        assert 1 <= s1 <= 3 and 1 <= s2 <= 3
        # s_1 s_2 | 0 0 0 (T - 1 blanks) | delimiter 4 | 0 0 (L blanks)
        assert x[b].tolist() == [s1, s2, 0, 0, 0, 4, 0, 0]
        # 0 × (T + L) | s_1 s_2
        assert y[b].tolist() == [0, 0, 0, 0, 0, 0, s1, s2]


def test_copy_default_tokens_and_symbol_range():
    x, y = copy_memory(500, 30, generator=gen(2))
    assert x.shape == (500, 50)
    assert torch.equal(x[:, 10 + 29], torch.full((500,), 9))  # the delimiter at L + T - 1
    symbols = x[:, :10]
    assert int(symbols.min()) == 1 and int(symbols.max()) == 8
    assert torch.equal(y[:, 40:], symbols) and not y[:, :40].any()
    assert not x[:, 10:39].any() and not x[:, 40:].any()


def test_copy_baseline_formula():
    assert math.isclose(copy_baseline(100), 10 * math.log(8) / 120)
    assert math.isclose(copy_baseline(5, symbols=3, length=2), 2 * math.log(3) / 9)


def test_copy_is_deterministic():
    a, b = copy_memory(4, 10, generator=gen(7)), copy_memory(4, 10, generator=gen(7))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


# --- NTM copy ---


def test_ntm_copy_layout():
    x, y, mask = ntm_copy(3, 4, generator=gen(0), bits=5)
    assert x.shape == (3, 10, 7) and y.shape == (3, 4, 5) and mask.shape == (10,)
    assert x.dtype == y.dtype == torch.float32 and mask.dtype == torch.bool
    assert mask.tolist() == [False] * 6 + [True] * 4
    assert torch.equal(x[:, 1:5, :5], y)
    assert set(y.unique().tolist()) <= {0.0, 1.0}
    start, delimiter = x[..., 5], x[..., 6]
    assert torch.equal(start, torch.tensor([[1.0] + [0.0] * 9] * 3))
    assert torch.equal(delimiter, torch.tensor([[0.0] * 5 + [1.0] + [0.0] * 4] * 3))
    assert not x[:, 0, :5].any() and not x[:, 5:, :5].any()


def test_ntm_copy_is_deterministic():
    a, b = ntm_copy(2, 3, generator=gen(4)), ntm_copy(2, 3, generator=gen(4))
    assert all(torch.equal(p, q) for p, q in zip(a, b, strict=True))


# --- bad arguments ---


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: adding_problem(2, 1, generator=gen()), "T must be an integer >= 2, got 1"),
        (lambda: copy_memory(2, 0, generator=gen()), "T must be a positive integer, got 0"),
        (lambda: copy_memory(2, 5, generator=gen(), length=0), "length must be a positive"),
        (lambda: ntm_copy(2, 3, generator=gen(), bits=0), "bits must be a positive integer"),
        (lambda: sequential_digits(order="column"), "order must be one of 'pixel', 'row'"),
    ],
)
def test_bad_arguments_raise_one_line(call, message):
    with pytest.raises(ValueError) as error:
        call()
    assert message in str(error.value) and "\n" not in str(error.value)


# --- sequential digits ---


def test_pixel_and_row_orders_reshape_the_scans():
    pytest.importorskip("sklearn")
    from rnnkit.data.digits import load_scans

    images, _ = load_scans()
    pixel = sequential_digits(order="pixel")
    row = sequential_digits(order="row")
    for p, r in zip(pixel, row, strict=True):
        assert p.x.shape == (len(p), 64, 1) and r.x.shape == (len(r), 8, 8)
        assert p.x.dtype == torch.float32 and p.y.dtype == torch.long
        assert torch.equal(p.y, r.y) and torch.equal(p.scan_ids, r.scan_ids)
        scans = torch.tensor(images)[p.scan_ids]  # (n, 8, 8)
        assert torch.equal(r.x, scans)
        assert torch.equal(p.x[:, :, 0], scans.reshape(-1, 64))
        assert torch.equal(p.x[:, 9, 0], scans[:, 1, 1])  # step 9 = row 1, column 1
    sizes = [len(part) for part in pixel]
    assert sum(sizes) == 1797 and sizes == [1257, 180, 360]
    ids = torch.cat([part.scan_ids for part in pixel])
    assert len(set(ids.tolist())) == 1797


def test_permuted_uses_one_fixed_permutation():
    pytest.importorskip("sklearn")
    plain = sequential_digits(order="pixel")
    permuted = sequential_digits(order="pixel", permuted=True)
    again = sequential_digits(order="pixel", permuted=True)
    perm = pixel_permutation(0)
    assert sorted(perm.tolist()) == list(range(64)) and not torch.equal(perm, torch.arange(64))
    assert torch.equal(pixel_permutation(0), perm)
    for p, q, r in zip(plain, permuted, again, strict=True):
        assert torch.equal(q.x, r.x) and torch.equal(q.y, p.y)
        assert torch.equal(q.x[:, :, 0], p.x[:, perm, 0])
    rows = sequential_digits(order="row", permuted=True)[0]
    assert torch.equal(rows.x.reshape(-1, 64), permuted[0].x[:, :, 0])


def test_split_is_stratified_and_seeded():
    pytest.importorskip("sklearn")
    train, _, test = sequential_digits(seed=0)
    counts = torch.bincount(test.y, minlength=10)
    assert int(counts.min()) >= 35 and int(counts.max()) <= 37  # 20% of ~180 per digit
    other = sequential_digits(seed=1)[2]
    assert not torch.equal(test.scan_ids, other.scan_ids)
    assert torch.equal(sequential_digits(seed=0)[0].scan_ids, train.scan_ids)
