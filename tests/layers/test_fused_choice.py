"""The fused path choice (``rnnkit.layers.fused.choice``): forced paths, the measured choice
and its cache file.

Every forced path of every registered cell, with zoneout and dropout masks, is compared with
a plain loop over ``cell.step`` written here from the masks' docstrings (outputs, final
state and the gradients of the input, the initial state and every parameter), at the
tolerances of test_fused.py; spies on the loops check that the forced loop and step GEMM
really ran. The measured choice runs on a fake clock, so which candidate wins and how often
anything is timed are exact.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable

import pytest
import torch
from torch import Tensor, nn
from torch.testing import assert_close

from fused_cases import FUSED_CELLS, FixedMask
from rnnkit.cells.gru import GRUCell
from rnnkit.cells.state import LSTMState
from rnnkit.layers import Recurrent
from rnnkit.layers.fused import choice, disabled, fused_gru, fused_lstm, fused_spec, gemm, kernels
from rnnkit.layers.fused import paths as fused_paths
from rnnkit.layers.fused.lstm import LSTMMasks

D, H, T, B = 5, 7, 6, 3  # B = 3 < MIN_PACKED_BATCH: a forced packed GEMM differs from the rule
CELLS = FUSED_CELLS
FORCED = [*choice.CANDIDATES, "compiled", "torch", "rule"]


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    """Each test with its own cache directory and nothing remembered from another test."""
    monkeypatch.setenv(choice.ENV_CACHE, str(tmp_path / "cache"))
    monkeypatch.setenv(choice.ENV_PATH, "auto")
    choice.forget()
    yield tmp_path / "cache" / choice.FILE_NAME
    choice.forget()


class Spy:
    """Wraps the loops of LSTM_LOOPS / GRU_LOOPS; records (loop, packed GEMM?) per forward."""

    def __init__(self, monkeypatch) -> None:
        self.runs: list[tuple[str, bool]] = []
        for table, weight_at in ((fused_paths.LSTM_LOOPS, 3), (fused_paths.GRU_LOOPS, 2)):
            for name, (forward, backward) in list(table.items()):
                wrapped = (self._forward(name, forward, weight_at), backward)
                monkeypatch.setitem(table, name, wrapped)

    def _forward(self, name: str, loop: Callable, weight_at: int) -> Callable:
        def run(*args):
            B = args[0].shape[1]
            self.runs.append((name, gemm.packable(args[weight_at], B)))
            return loop(*args)

        return run


class FakeClock:
    """A clock that only the spied loops advance: each forward costs ``cost[loop]``."""

    def __init__(self, cost: dict[str, float]) -> None:
        self.now, self.cost, self.reads = 0.0, cost, 0

    def __call__(self) -> float:
        self.reads += 1
        return self.now


def scrambled(name: str, dtype: torch.dtype) -> nn.Module:
    cell = CELLS[name](D, H).to(dtype)
    with torch.no_grad():
        for p in cell.parameters():
            p.copy_(torch.randn_like(p) * 0.5)
    return cell


def make_masks(kind: str, lstm: bool, dtype: torch.dtype) -> LSTMMasks:
    """``train``: 0/1 zoneout draws, recurrent and state dropout; ``eval``: zone weights."""
    if kind == "eval":
        return LSTMMasks(zone_h=0.3, zone_c=0.6 if lstm else None)
    zone = functools.partial(torch.bernoulli, torch.full((T, B, H), 0.3, dtype=dtype))
    drop = torch.bernoulli(torch.full((B, H), 0.6, dtype=dtype)) / 0.6
    return LSTMMasks(
        zone_h=zone(), zone_c=zone() if lstm else None, candidate=drop, state=drop.flip(0)
    )


def lerp(new: Tensor, old: Tensor, z: Tensor | float | None) -> Tensor:
    """Zoneout's ``z ⊙ old + (1 - z) ⊙ new`` (z = 1 keeps the old value)."""
    return new if z is None else z * old + (1 - z) * new


def reference(cell: nn.Module, x: Tensor, state, m: LSTMMasks):
    """The step loop: h seen through the state mask, candidate mask, zoneout of h and c."""
    cell.candidate_dropout = None if m.candidate is None else FixedMask(m.candidate)
    gx, outs = cell.project_input(x), []
    for t in range(x.shape[0]):
        z_h = m.zone_h[t] if isinstance(m.zone_h, Tensor) else m.zone_h
        z_c = m.zone_c[t] if isinstance(m.zone_c, Tensor) else m.zone_c
        if isinstance(state, Tensor):
            seen = state if m.state is None else state * m.state
            _, new = cell.step(gx[t], seen)
            state = lerp(new, state, z_h)
            outs.append(state)
        else:
            seen = state if m.state is None else LSTMState(state.h * m.state, state.c)
            _, new = cell.step(gx[t], seen)
            state = LSTMState(lerp(new.h, state.h, z_h), lerp(new.c, state.c, z_c))
            outs.append(state.h)
    cell.candidate_dropout = None
    return torch.stack(outs), state


def fused(cell: nn.Module, x: Tensor, state, masks: LSTMMasks):
    """The same through fused_lstm / fused_gru, with the cell's registered spec."""
    spec, gx = fused_spec(cell), cell.project_input(x)
    if isinstance(cell, GRUCell):
        return fused_gru(
            gx, state, spec.weight_hh, spec.bias_hh, reset_after=spec.reset_after, masks=masks
        )
    out, h, c = fused_lstm(
        gx, state.h, state.c, spec.weight_hh, bias=spec.bias, peephole=spec.peephole,
        norm_hh=spec.norm_hh, norm_c=spec.norm_c, masks=masks,
    )  # fmt: skip
    return out, LSTMState(h, c)


def outputs_and_grads(run, cell, x, state, masks) -> list[Tensor]:
    out, final = run(cell, x, state, masks)
    fields = [final] if isinstance(final, Tensor) else list(final)
    leaves = [x, *([state] if isinstance(state, Tensor) else list(state)), *cell.parameters()]
    loss = (out * torch.linspace(-1, 2, H, dtype=x.dtype)).square().sum()
    loss = loss + sum(f.sin().sum() for f in fields)
    return [out, *fields, *torch.autograd.grad(loss, leaves)]


def problem(name: str, dtype: torch.dtype):
    cell = scrambled(name, dtype)
    x = torch.randn(T, B, D, dtype=dtype, requires_grad=True)
    h0, c0 = (torch.randn(B, H, dtype=dtype, requires_grad=True) for _ in range(2))
    return cell, x, (h0 if isinstance(cell, GRUCell) else LSTMState(h0, c0))


@pytest.mark.parametrize("masks_kind", ["train", "eval"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("path", FORCED)
@pytest.mark.parametrize("name", list(CELLS))
def test_every_forced_path_matches_the_step_loop(name, path, dtype, masks_kind, monkeypatch):
    torch.manual_seed(0)
    cell, x, state = problem(name, dtype)
    masks = make_masks(masks_kind, not name.startswith("gru"), dtype)
    spy = Spy(monkeypatch)
    with choice.forced(path):
        got = outputs_and_grads(fused, cell, x, state, masks)
    want = outputs_and_grads(reference, cell, x, state, masks)
    rtol, scale = (1e-4, 2e-5) if dtype == torch.float32 else (1e-10, 1e-10)
    for g, w in zip(got, want, strict=True):
        assert_close(g, w, rtol=rtol, atol=scale * float(w.detach().abs().max()))
    loop, _, gemm_name = path.partition("/")
    usable = kernels.available()
    expect_loop = "compiled" if usable and loop in ("compiled", "rule") else "torch"
    expect_pack = dtype == torch.float32 and gemm_name == "packed" and gemm.can_pack(x)
    assert spy.runs == [(expect_loop, expect_pack)]


def test_forced_step_mode_takes_the_generic_loop():
    torch.manual_seed(1)
    layer = Recurrent(scrambled("layer_norm", torch.float32), zoneout=0.2, recurrent_dropout=0.3)
    x = torch.randn(T, B, D)
    with choice.forced("step"):
        assert fused_spec(layer.cell) is None
        torch.manual_seed(2)
        got, _ = layer(x)
    with disabled():
        torch.manual_seed(2)
        want, _ = layer(x)
    assert fused_spec(layer.cell) is not None
    assert torch.equal(got, want)


def test_bad_mode_is_a_one_line_error(monkeypatch):
    monkeypatch.setenv(choice.ENV_PATH, "fastest")
    with pytest.raises(ValueError, match=r"^RNNKIT_FUSED_PATH must be one of auto, rule, step, "):
        choice.mode()
    with (
        pytest.raises(ValueError, match=r"^forced\(path\) must be one of .*; got 'gpu'$"),
        choice.forced("gpu"),
    ):
        pass


def lstm_call(dtype=torch.float32, requires_grad: bool = True) -> Callable[[], list[Tensor]]:
    """A small peephole LSTM problem with every mask: a call that runs it, for training
    (outputs and gradients) or inference (outputs)."""
    torch.manual_seed(3)
    cell, x, state = problem("peephole", dtype)
    masks = make_masks("train", True, dtype)
    if requires_grad:
        return functools.partial(outputs_and_grads, fused, cell, x, state, masks)
    cell.requires_grad_(False)
    x, state = x.detach(), LSTMState(state.h.detach(), state.c.detach())

    def infer() -> list[Tensor]:
        out, (h, c) = fused(cell, x, state, masks)
        return [out, h, c]

    return infer


def clocked(monkeypatch, cost: dict[str, float]) -> FakeClock:
    """A fake clock the spied loops advance by their ``cost`` (seconds per forward)."""
    clock = FakeClock(cost)
    spy = Spy(monkeypatch)
    runs = spy.runs

    class Advancing(list):
        def append(self, item):
            clock.now += cost[item[0]] + (0.5 if item[1] else 0.0)  # packing costs 0.5
            super().append(item)

    spy.runs = Advancing(runs)
    monkeypatch.setattr(choice, "_clock", clock)
    clock.spy = spy
    return clock


@pytest.mark.skipif(kernels.module is None, reason="compiled kernels not built")
@pytest.mark.parametrize("train", [True, False])
def test_the_fastest_candidate_is_chosen_cached_and_reused(cache_dir, monkeypatch, train):
    clock = clocked(monkeypatch, {"compiled": 3.0, "torch": 1.0})
    call = lstm_call(requires_grad=train)
    first = call()
    assert clock.reads > 0
    data = json.loads(cache_dir.read_text())
    assert data["format"] == choice.FORMAT and data["machine"] == choice.machine()
    [(key, entry)] = data["choices"].items()
    assert entry["path"] == "torch/addmm" and ("train" if train else "infer") in key
    assert set(entry["ms"]) == set(choice.CANDIDATES)
    assert clock.spy.runs[-1] == ("torch", False)  # the real call ran the choice
    with choice.forced("torch/addmm"):
        forced = call()
    for a, b in zip(first, forced, strict=True):
        assert torch.equal(a, b)  # timing changed nothing but the path
    reads = clock.reads
    call()  # same process: remembered
    choice.forget()
    call()  # a new process: read from the file
    assert clock.reads == reads
    assert json.loads(cache_dir.read_text()) == data


def test_another_path_replaces_the_rule_only_if_faster_in_every_round():
    rule = "compiled/packed"
    samples = {rule: [1.0, 1.0, 1.0], "torch/addmm": [0.5, 0.5, 0.5], "torch/packed": [0.8] * 3}
    assert choice.fastest(samples, rule) == "torch/addmm"
    samples["torch/addmm"] = [0.5, 0.5, 1.2]  # fastest median, but lost one round
    assert choice.fastest(samples, rule) == rule
    samples["torch/addmm"] = [0.5, 0.5, 0.98]  # won it by less than MARGIN (3 %)
    assert choice.fastest(samples, rule) == rule
    assert choice.fastest({"a": [1.0, 1.0, 1.0], "b": [2.0, 0.5, 2.0]}, "a") == "a"
    assert choice.fastest({"a": [2.0], "b": [1.0]}, "c") == "b"  # no rule among them


@pytest.mark.skipif(kernels.module is None, reason="compiled kernels not built")
def test_a_choice_made_without_the_kernels_is_not_reused_with_them(cache_dir, monkeypatch):
    clock = clocked(monkeypatch, {"compiled": 1.0, "torch": 2.0})
    monkeypatch.setattr(kernels, "ENABLED", False)
    lstm_call(requires_grad=False)()
    monkeypatch.setattr(kernels, "ENABLED", True)
    reads = clock.reads
    lstm_call(requires_grad=False)()
    assert clock.reads > reads and clock.spy.runs[-1] == ("compiled", False)
    entries = json.loads(cache_dir.read_text())["choices"]
    assert sorted(len(e["ms"]) for e in entries.values()) == [2, 4]


def test_measuring_draws_no_random_numbers_and_leaves_the_inputs(monkeypatch):
    torch.manual_seed(4)
    cell, x, state = problem("gru_before", torch.float32)
    masks = make_masks("train", False, torch.float32)
    before = [t.clone() for t in (x, state, *vars(masks).values()) if isinstance(t, Tensor)]
    rng = torch.get_rng_state()
    fused(cell, x, state, masks)
    assert torch.equal(torch.get_rng_state(), rng)
    after = [t for t in (x, state, *vars(masks).values()) if isinstance(t, Tensor)]
    assert all(torch.equal(a, b) for a, b in zip(before, after, strict=True))


def foreign_files() -> dict[str, tuple[str, str]]:
    """What a cache file may hold that is not ours -> (file text, the note's words)."""
    ours = {"format": choice.FORMAT, "version": choice.VERSION, "machine": choice.machine()}
    good = json.dumps({**ours, "choices": {"k": {"path": "torch/addmm"}}})
    return {
        "corrupted": ("\x00\xff{]garbage", "unreadable"),
        "truncated": (good[: len(good) // 2], "unreadable"),
        "not ours": (json.dumps([1, 2]), "not an rnnkit fused path cache"),
        "other version": (json.dumps({**json.loads(good), "version": 99}), "version 99"),
        "other machine": (
            json.dumps({**json.loads(good), "machine": {**choice.machine(), "cpu": "Z80"}}),
            "another machine",
        ),
        "bad entry": (json.dumps({**ours, "choices": {"k": {"path": "gpu"}}}), "malformed"),
    }


@pytest.mark.parametrize("case", list(foreign_files()))
def test_a_foreign_cache_file_is_ignored_with_a_note_and_rewritten(case, cache_dir, monkeypatch):
    text, words = foreign_files()[case]
    cache_dir.parent.mkdir(parents=True)
    cache_dir.write_bytes(text.encode("latin-1"))
    clock = clocked(monkeypatch, {"compiled": 1.0, "torch": 2.0})
    with pytest.warns(RuntimeWarning, match=f"fused path cache .*{words}.*ignored") as notes:
        lstm_call(requires_grad=False)()
    assert len(notes) == 1 and "\n" not in str(notes[0].message)
    assert clock.reads > 0
    data = json.loads(cache_dir.read_text())
    assert data["machine"] == choice.machine() and data["version"] == choice.VERSION
    expect = "compiled/addmm" if kernels.module is not None else "torch/addmm"
    assert [e["path"] for e in data["choices"].values()] == [expect]


def test_an_unwritable_cache_dir_keeps_the_choice_in_memory(tmp_path, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    monkeypatch.setenv(choice.ENV_CACHE, str(blocker / "cache"))
    clock = clocked(monkeypatch, {"compiled": 1.0, "torch": 2.0})
    with pytest.warns(RuntimeWarning, match="cannot write .*choices kept in memory"):
        lstm_call(requires_grad=False)()
    reads = clock.reads
    lstm_call(requires_grad=False)()
    assert clock.reads == reads


def test_rule_mode_and_a_single_candidate_time_nothing(monkeypatch, cache_dir):
    clock = clocked(monkeypatch, {"compiled": 1.0, "torch": 2.0})
    monkeypatch.setenv(choice.ENV_PATH, "rule")
    lstm_call(requires_grad=False)()
    monkeypatch.setenv(choice.ENV_PATH, "auto")
    monkeypatch.setattr(kernels, "ENABLED", False)  # torch ops only, and float64: no packing
    lstm_call(dtype=torch.float64, requires_grad=False)()
    assert clock.reads == 0 and not cache_dir.exists()
    assert clock.spy.runs == [("compiled" if kernels.module else "torch", False), ("torch", False)]


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(choice.ENV_CACHE, str(tmp_path / "x"))
    assert choice.cache_dir() == tmp_path / "x"
    monkeypatch.delenv(choice.ENV_CACHE)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert choice.cache_dir() == tmp_path / "xdg" / "rnnkit"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert choice.cache_dir() == tmp_path / "home" / ".cache" / "rnnkit"
