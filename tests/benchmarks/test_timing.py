"""The benchmark's timing rule (benchmarks/timing.py) and its report columns (report.py).

The rounds run on a fake clock that only the timed calls advance, so the per-round ratios,
their median and min–max, and the round at which the stopping rule fires are exact.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import report  # noqa: E402
import run  # noqa: E402
import timing  # noqa: E402
from models import CONFIGS, ROWS  # noqa: E402


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def costing(clock: FakeClock, costs: list[float]):
    """A call whose n-th run (the warm-up is run 0) advances the clock by costs[n]."""
    runs = iter(costs)

    def call() -> None:
        clock.now += next(runs)

    return call


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(timing, "_clock", fake)
    return fake


@pytest.mark.parametrize(
    ("n", "ranks"),
    [(5, (1, 5)), (6, (1, 6)), (8, (1, 8)), (9, (2, 8)), (10, (2, 9)), (20, (6, 15))],
)
def test_median_interval_takes_the_binomial_order_statistics(n, ranks):
    """The 95 % ranks of a sign-test table; below n = 6 no interval reaches 95 %: min–max."""
    values = [float(v) for v in range(n, 0, -1)]  # unsorted on purpose
    assert timing.median_interval(values) == ranks


def test_ratios_are_taken_round_by_round():
    t = timing.Timings({"base": [1.0, 2.0, 4.0], "row": [2.0, 2.0, 2.0]})
    assert t.ratios("base", "row") == [0.5, 1.0, 2.0]
    assert t.ratio("base", "row") == timing.Spread(1.0, 0.5, 2.0)
    assert str(t.ratio("base", "row")) == "1.00× (0.50–2.00)"
    assert t.median("base") == 2.0 and t.rounds == 3


def test_a_steady_ratio_stops_at_the_first_round_the_rule_is_consulted(clock):
    calls = {"base": costing(clock, [1.0] * 50), "row": costing(clock, [2.0] * 50)}
    t = timing.timed_rounds(calls, min_time=0, watch=[("base", "row")])
    assert t.rounds == timing.MIN_ROUNDS and t.settled is True
    assert t.ratio("base", "row") == timing.Spread(0.5, 0.5, 0.5)
    assert t.seconds == 3.0 * timing.MIN_ROUNDS


def test_a_ratio_settles_once_its_interval_is_within_tolerance(clock):
    """Two outliers among steady rounds: at 6-8 rounds the interval is min–max (0.4 .. 0.62,
    not within ±5 % of 0.5); at 9 it is the 2nd..8th values, all 0.5."""
    row = [1.0, 2.5, 2.0, 2.0, 2.0, 1.625, 2.0, 2.0, 2.0, 2.0] + [2.0] * 40  # exact in binary
    calls = {"base": costing(clock, [1.0] * 50), "row": costing(clock, row)}
    t = timing.timed_rounds(calls, min_time=0, watch=[("base", "row")], tolerance=0.05)
    assert t.rounds == 9 and t.settled is True
    assert t.ratio("base", "row").median == 0.5
    assert t.ratio("base", "row").low == pytest.approx(0.4)


def test_a_noisy_ratio_runs_to_the_round_limit_or_the_time_cap(clock):
    noisy = [1.0, 1.0, 3.0] * 40
    calls = {"base": costing(clock, [1.0] * 120), "row": costing(clock, noisy)}
    t = timing.timed_rounds(calls, min_time=0, watch=[("base", "row")], max_rounds=10)
    assert t.rounds == 10 and t.settled is False
    calls = {"base": costing(clock, [1.0] * 120), "row": costing(clock, noisy[1:])}
    t = timing.timed_rounds(calls, min_time=0, watch=[("base", "row")], time_cap=20.0)
    assert t.rounds == 7 and t.settled is False and t.seconds == 20.0  # 4+2+2+4+2+2+4


def test_fixed_rounds_and_the_old_interleaved_api(clock):
    calls = {"a": costing(clock, [9.0, 1.0, 3.0, 2.0]), "b": costing(clock, [9.0, 4.0] * 2)}
    t = timing.timed_rounds(calls, min_time=0, rounds=3, watch=[("a", "b")])
    assert t.samples == {"a": [1.0, 3.0, 2.0], "b": [4.0, 9.0, 4.0]} and t.settled is None
    calls = {"a": costing(clock, [9.0, 1.0, 3.0, 2.0]), "b": costing(clock, [9.0, 4.0] * 2)}
    assert timing.interleaved(calls, rounds=3, min_time=0) == {"a": 2.0, "b": 4.0}


def test_the_report_table_shows_each_ratio_median_and_min_max():
    rows = [ROWS[0], ROWS[1], ROWS[4]]  # nn.LSTM, nn.GRU, rnnkit.GRU (vs both)
    labels = [r.label for r in rows]
    train_samples = ([1.0, 1.0, 1.0], [2.0, 2.0, 2.0], [2.0, 1.0, 4.0])
    train = timing.Timings(dict(zip(labels, train_samples, strict=True)), True, 12.0)
    infer = timing.Timings(dict(zip(labels, ([1.0], [1.0], [0.5]), strict=True)), None, 1.0)
    text = report.config_table(CONFIGS[0], rows, {"train": train, "infer": infer}, 0.05)
    lines = text.splitlines()
    assert "train: 3 rounds, 12 s, every ratio pinned to ±5 %; infer: 1 round, 1 s" in text
    gru = next(line for line in lines if line.startswith(f"| {labels[2]} |"))
    cells = [c.strip() for c in gru.strip("|").split("|")]
    assert cells[1] == "2000.0"  # median ms
    assert cells[3:5] == ["0.50× (0.25–1.00)", "1.00× (0.50–2.00)"]
    assert cells[7:9] == ["2.00× (2.00–2.00)", "2.00× (2.00–2.00)"]


def test_quick_run_writes_the_new_columns(tmp_path):
    out = tmp_path / "bench.md"
    argv = ["--quick", "--configs", "C3", "--only", "zoneout", "--no-checkpoint"]
    run.main([*argv, "--output", str(out)])
    text = out.read_text()
    assert "train: 1 round, " in text
    zoneout = next(line for line in text.splitlines() if line.startswith("| LSTM + zoneout"))
    assert zoneout.count("×") == 2 and zoneout.count("(") == 2  # train and infer vs nn.LSTM


def test_bad_options_are_one_line_errors(capsys):
    with pytest.raises(SystemExit):
        run.parse_args(["--rounds", "0"])
    assert "--rounds must be at least 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run.parse_args(["--tolerance", "2"])
    assert "--tolerance must be in (0, 1)" in capsys.readouterr().err
