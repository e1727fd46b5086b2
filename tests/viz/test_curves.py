"""Training curves: the series read from metrics.jsonl, the overlaid figure, the CLI."""

import json

import pytest

from cli_helpers import rnnkit
from rnnkit.cli import main
from rnnkit.errors import RnnkitError
from rnnkit.viz.curves import figure, plot_curves, read_curves

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def write_run(directory, records, tail=""):
    directory.mkdir(parents=True, exist_ok=True)
    lines = "".join(json.dumps(r) + "\n" for r in records)
    (directory / "metrics.jsonl").write_text(lines + tail)
    return directory


def lm_records(scale=1.0):
    return [
        {"kind": "train", "step": 10, "loss": 3.0 * scale, "elapsed_s": 1.0, "tokens": 100},
        {"kind": "train", "step": 20, "loss": 2.5 * scale, "elapsed_s": 2.0, "tokens": 200},
        {"kind": "valid", "step": 20, "train_loss": 2.6, "valid_nats": 2.4 * scale,
         "valid_bits": 3.46, "best_valid_nats": 2.4, "elapsed_s": 2.1, "tokens": 200},
        {"kind": "skip", "step": 21, "reason": "nan"},
        {"kind": "train", "step": 30, "loss": 2.0 * scale, "elapsed_s": 3.0, "tokens": 300},
    ]  # fmt: skip


def classifier_records():
    return [
        {"kind": "train", "step": 5, "loss": 0.7},
        {"kind": "valid", "step": 5, "valid_accuracy": 0.6, "valid_loss": 0.65,
         "best_valid_accuracy": 0.6},
        {"kind": "valid", "step": 10, "valid_accuracy": 0.8, "valid_loss": 0.5,
         "best_valid_accuracy": 0.8},
    ]  # fmt: skip


def test_series_are_the_records_values_by_kind(tmp_path):
    run = read_curves(write_run(tmp_path / "lm", lm_records()))
    assert run.name == "lm"
    assert run.train == [(10, 3.0), (20, 2.5), (30, 2.0)]
    assert run.valid == {"valid_nats": [(20, 2.4)], "valid_bits": [(20, 3.46)]}
    assert run.monitor == "valid_nats" and run.valid_loss() == "valid_nats"
    by_time = read_curves(tmp_path / "lm", x="tokens")
    assert by_time.train == [(100, 3.0), (200, 2.5), (300, 2.0)]


def test_a_torn_last_line_of_a_running_run_is_skipped(tmp_path):
    run = read_curves(write_run(tmp_path / "r", lm_records(), tail='{"kind": "tra'))
    assert len(run.train) == 3


def test_runs_overlay_one_colour_each_with_the_monitored_metric_panel(tmp_path):
    runs = [read_curves(write_run(tmp_path / n, classifier_records())) for n in ("a", "b")]
    fig = figure(runs)
    loss_ax, metric_ax = fig.axes
    assert len(loss_ax.lines) == 4  # train and valid_loss per run
    assert [line.get_label() for line in metric_ax.lines] == ["a", "b"]
    assert list(metric_ax.lines[1].get_ydata()) == [0.6, 0.8]
    assert metric_ax.lines[0].get_color() == loss_ax.lines[0].get_color()
    lm = figure([read_curves(write_run(tmp_path / "lm", lm_records()))])
    assert len(lm.axes) == 1  # the monitored metric is the loss itself: one panel
    assert len(figure([runs[0]], metric="loss").axes) == 2
    with pytest.raises(RnnkitError, match="valid_accuracy, valid_loss"):
        figure(runs, metric="bleu")


def test_png_is_written(tmp_path):
    runs = [read_curves(write_run(tmp_path / "a", lm_records()))]
    path = plot_curves(runs, tmp_path / "c.png")
    assert path.read_bytes()[:8] == PNG_MAGIC


def test_bad_lines_and_empty_runs_are_errors_naming_the_file(tmp_path):
    write_run(tmp_path / "bad", lm_records(), tail="not json\n")
    with pytest.raises(RnnkitError, match=r"bad/metrics.jsonl:6: not a JSON record"):
        read_curves(tmp_path / "bad")
    write_run(tmp_path / "empty", [])
    with pytest.raises(RnnkitError, match="no train or valid records"):
        read_curves(tmp_path / "empty")


def test_cli_plots_several_runs(tmp_path):
    write_run(tmp_path / "a", lm_records())
    write_run(tmp_path / "b", lm_records(scale=0.5))
    done = rnnkit("plot", "curves", "a", "b", "--out", "plots/c.png", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "plots/c.png").read_bytes()[:8] == PNG_MAGIC
    assert "b: 3 train, 1 valid records; last train loss 1" in done.stdout


def test_cli_reports_missing_and_empty_runs_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    write_run(tmp_path / "a", lm_records())
    write_run(tmp_path / "empty", [])
    cases = [
        (["a", "nope"], ["nope/metrics.jsonl", "not found"]),
        (["empty"], ["empty/metrics.jsonl", "no train or valid records"]),
        (["a", "--metric", "bleu"], ["--metric 'bleu'", "valid_bits"]),
    ]
    for runs, needles in cases:
        assert main(["plot", "curves", *runs, "--out", "c.png"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and all(n in err[0] for n in needles), err
    assert not (tmp_path / "c.png").exists()
