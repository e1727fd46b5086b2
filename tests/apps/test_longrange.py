"""The long-range job: its batch source, model, solved watch, report, table and command line."""

import json
import math

import pytest
import torch

import rnnkit as rk
from cli_helpers import assert_one_line_error, rnnkit
from rnnkit.apps.longrange import (
    CELL_PRESETS,
    PRESETS,
    LongRangeReport,
    SolvedWatch,
    build_model,
    ntm_test_lengths,
    task_spec,
    train_longrange,
)
from rnnkit.apps.longrange_table import (
    REPRODUCTION_ROWS,
    Row,
    markdown_table,
    reproduce,
    row_config,
)
from rnnkit.data.longrange import ADDING_BASELINE_MSE, adding_problem, copy_baseline
from rnnkit.data.synthetic_batches import (
    SEED_STRIDE,
    SequenceBatch,
    SyntheticBatches,
    fixed_batches,
)
from rnnkit.tasks.longrange import (
    TASK_METRICS,
    LongRangeConfig,
    LongRangeModel,
    check_cell_task,
)
from rnnkit.tasks.pretrained import load_weights
from rnnkit.training.checkpoint import load_run_record
from rnnkit.training.config import TrainConfig
from rnnkit.training.gradients import NonFiniteError


def make_adding(B, g):
    return SequenceBatch(*adding_problem(B, 6, generator=g))


def tiny_config(**fields):
    return TrainConfig(**{"batch_size": 4, "lr": 1e-2, "max_steps": 6, "eval_every": 3,
                          **fields})  # fmt: skip


# -- the source -------------------------------------------------------------------------


def test_batch_i_comes_from_its_own_seed():
    source = SyntheticBatches(make_adding, 3, seed=2)
    source.next_batch()
    second = source.next_batch()
    want = adding_problem(3, 6, generator=torch.Generator().manual_seed(2 * SEED_STRIDE + 1))
    torch.testing.assert_close(second.x, want[0])
    torch.testing.assert_close(second.y, want[1])


def test_source_state_round_trip_gives_the_same_next_batch():
    source = SyntheticBatches(make_adding, 4, seed=1, epoch_batches=2)
    for _ in range(5):
        source.next_batch()
    state = json.loads(json.dumps(source.state_dict()))  # JSON-able
    resumed = SyntheticBatches(make_adding, 4, seed=1, epoch_batches=2)
    resumed.load_state_dict(state)
    assert resumed.epoch == source.epoch == 2 and resumed.sequences == 20
    a, b = source.next_batch(), resumed.next_batch()
    torch.testing.assert_close(a.x, b.x)
    torch.testing.assert_close(a.y, b.y)
    assert not torch.equal(a.x, source.next_batch().x)  # the next one is fresh


def test_validation_batches_differ_from_training_batches():
    valid = fixed_batches(make_adding, 2, 4, seed=0)
    train = SyntheticBatches(make_adding, 4, seed=0).next_batch()
    assert len(valid) == 2 and not torch.equal(valid[0].x, train.x)
    torch.testing.assert_close(valid[1].x, fixed_batches(make_adding, 2, 4, seed=0)[1].x)


# -- the model --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("task", "cell", "T"),
    [("adding", "tanh", 5), ("adding", "irnn", 5), ("copy", "lstm", 3),
     ("ntm-copy", "ntm", 3), ("ntm-copy", "gru", 3)],
)  # fmt: skip
def test_every_task_trains_a_step_and_evaluates_its_metrics(task, cell, T):
    spec = task_spec(task, T, valid_sequences=10)
    torch.manual_seed(0)
    model = build_model(spec, cell, {"hidden_size": 6, "memory_slots": 4, "memory_width": 3})
    loss, metrics = model.loss(spec.make(2, torch.Generator().manual_seed(0)))
    loss.backward()
    assert torch.isfinite(loss) and metrics["tokens"] > 0
    assert all(p.grad is not None for p in model.parameters())
    scores = model.evaluate(spec.valid)
    assert tuple(scores) == TASK_METRICS[task] == model.METRICS
    assert all(math.isfinite(v) for v in scores.values())


def test_the_ntm_head_reads_the_controller_output_and_this_steps_read():
    spec = task_spec("ntm-copy", 2, valid_sequences=10)
    torch.manual_seed(0)
    model = build_model(spec, "ntm", {"hidden_size": 5, "memory_slots": 6, "memory_width": 3})
    x = spec.valid[0].x[:3]  # (B, T, bits + 2)
    ntm = model.cell.ntm
    state, logits = ntm.initial_state(3), []
    for t in range(x.shape[1]):  # the NTM stepped by hand; the head on [h_t; r_t]
        h, state = ntm(x[:, t], state)
        logits.append(model.head(torch.cat([h, state.read], -1)))
    torch.testing.assert_close(model(x), torch.stack(logits, 1))


def test_digits_read_row_by_row_with_a_test_split():
    pytest.importorskip("sklearn")
    spec = task_spec("digits", 8)
    assert spec.input_size == 8 and spec.train_size > 1000 and set(spec.test) == {"test_accuracy"}
    model = build_model(spec, "irnn", {"hidden_size": 4})
    batch = spec.make(5, torch.Generator().manual_seed(0))
    assert batch.x.shape == (5, 8, 8) and model(batch.x).shape == (5, 10)
    assert set(model.evaluate(spec.valid)) == {"accuracy", "loss"}


def test_irnn_is_relu_with_identity_recurrence():
    model = LongRangeModel(LongRangeConfig("adding", 2, 1, cell="irnn", hidden_size=5))
    torch.testing.assert_close(model.cell.weight_hh.detach(), torch.eye(5))
    assert model.cell.nonlinearity == "relu"


def test_copy_accuracy_counts_only_the_copied_symbols():
    spec = task_spec("copy", 4, valid_sequences=10)
    model = build_model(spec, "gru", {"hidden_size": 4})
    batch = spec.valid[0]
    perfect = torch.nn.functional.one_hot(batch.y, 9).float() * 50  # (B, T, 9)
    tally = model.tally(perfect, batch)
    right, count = tally["accuracy"]
    assert right == count == batch.y.shape[0] * 10  # L = 10 symbols per sequence
    assert tally["cross_entropy"][0] / tally["cross_entropy"][1] < 1e-6
    wrong = perfect.roll(1, dims=-1)  # every step wrong
    assert model.tally(wrong, batch)["accuracy"][0] == 0


def test_ntm_copy_bit_error_of_right_and_wrong_logits():
    spec = task_spec("ntm-copy", 3, valid_sequences=6)
    model = build_model(spec, "lstm", {"hidden_size": 4})
    batch = spec.valid[-1]  # length 3
    logits = torch.zeros(*batch.x.shape[:2], 8)
    logits[:, batch.mask] = (2 * batch.y - 1) * 20
    assert model.tally(logits, batch)["bit_error"][0] == 0
    assert model.tally(-logits, batch)["bit_error"][0] == batch.y.numel()
    assert ntm_test_lengths(20) == (30, 40, 50) and set(spec.test) == {
        f"bit_error@{n}" for n in ntm_test_lengths(3)
    }


def test_bad_task_lengths_and_cells_are_one_line_errors():
    with pytest.raises(ValueError, match="T of the adding task must be an integer >= 2, got 1"):
        task_spec("adding", 1)
    with pytest.raises(ValueError, match="64 .* or 8"):
        task_spec("digits", 10)
    with pytest.raises(ValueError, match="task must be one of"):
        task_spec("sorting", 10)
    with pytest.raises(ValueError, match="'ntm' runs only on the ntm-copy task"):
        LongRangeConfig("adding", 2, 1, cell="ntm")


def test_baselines_and_thresholds():
    assert task_spec("adding", 10, valid_sequences=10).baseline == ADDING_BASELINE_MSE
    copy = task_spec("copy", 100, valid_sequences=10)
    assert copy.baseline == copy_baseline(100) and copy.threshold == 0.1 * copy_baseline(100)


# -- solved watch, report, table ----------------------------------------------------------


def test_solved_watch_remembers_the_first_validation_past_the_threshold(tmp_path):
    watch = SolvedWatch("mse", 0.01, batch_size=50)
    for step, mse in [(100, 0.2), (200, 0.009), (300, 0.001)]:
        watch(None, {"step": step, "valid_mse": mse})
    assert watch.step == 200 and watch.sequences == 10_000
    maximised = SolvedWatch("accuracy", 0.9, batch_size=2)
    maximised(None, {"step": 5, "valid_accuracy": 0.95})
    assert maximised.sequences == 10
    log = tmp_path / "metrics.jsonl"
    log.write_text('{"kind": "train", "step": 1}\n{"kind": "valid", "step": 7, "valid_mse": 0}\n')
    replayed = SolvedWatch("mse", 0.01, batch_size=3)
    replayed.replay(log)
    assert replayed.sequences == 21
    assert SolvedWatch("accuracy", None, 1).passed(1.0) is False


def test_markdown_table_has_a_row_per_report():
    reports = [
        LongRangeReport("adding", "lstm", 200, "mse", 0.001, 1 / 6, 0.01, 123_000, 10, 500, 2.5),
        LongRangeReport("digits", "gru", 64, "accuracy", 0.9, 0.1, None, None, 10, 320, 1.0,
                        {"test_accuracy": 0.88}),
    ]  # fmt: skip
    lines = markdown_table(reports).splitlines()
    assert len(lines) == 4 and lines[0].startswith("| task | cell | T |")
    assert "123,000 sequences" in lines[2] and "mse 0.0010" in lines[2]
    assert "(no threshold)" in lines[3] and "test_accuracy 0.8800" in lines[3]
    assert {r.task for r in REPRODUCTION_ROWS} == {"adding", "copy", "digits", "ntm-copy"}


# -- runs -------------------------------------------------------------------------------


def test_a_run_writes_its_report_and_a_loadable_best_model(tmp_path):
    report = train_longrange("adding", "gru", 5, {"hidden_size": 4}, tiny_config(), tmp_path,
                             valid_sequences=20, progress=False)  # fmt: skip
    assert report.steps == 6 and report.sequences == 24 and report.metric == "mse"
    assert json.loads((tmp_path / "report.json").read_text())["T"] == 5
    model = rk.load(tmp_path)
    assert isinstance(model, LongRangeModel) and model.config.cell == "gru"


def test_a_resumed_run_ends_where_the_straight_one_does(tmp_path):
    fields = {"hidden_size": 4}
    straight, split = tmp_path / "straight", tmp_path / "split"
    train_longrange("copy", "lstm", 3, fields, tiny_config(save_every=3), straight,
                    valid_sequences=10, progress=False)  # fmt: skip
    train_longrange("copy", "lstm", 3, fields, tiny_config(save_every=3, max_steps=3), split,
                    valid_sequences=10, progress=False)  # fmt: skip
    train_longrange("copy", "lstm", 3, fields, tiny_config(save_every=3), split,
                    valid_sequences=10, progress=False, resume=True)  # fmt: skip
    a = load_weights(straight / "trainer_state" / "step-000006")
    b = load_weights(split / "trainer_state" / "step-000006")
    for name in a:
        torch.testing.assert_close(a[name], b[name], msg=name)


def test_a_nan_loss_ends_the_run_or_only_its_training(tmp_path, monkeypatch):
    def nan_loss(self, batch):
        return (self.head.bias * float("nan")).sum(), {}

    monkeypatch.setattr(LongRangeModel, "loss", nan_loss)
    run = lambda keep_going: train_longrange(  # noqa: E731
        "adding", "tanh", 3, {"hidden_size": 2}, tiny_config(), None, valid_sequences=10,
        progress=False, keep_going=keep_going,
    )  # fmt: skip
    with pytest.raises(NonFiniteError):
        run(False)
    report = run(True)
    assert report.steps == 0 and "non-finite" in report.note and math.isfinite(report.value)
    assert "non-finite" in markdown_table([report])


def test_reproduce_writes_the_table(tmp_path):
    rows = [Row("adding", "tanh", 4, minutes=0.002), Row("copy", "gru", 2, minutes=0.002)]
    table = tmp_path / "table.md"
    reports = reproduce(rows, 1.0, tmp_path / "runs", table=table, progress=False)
    assert [r.cell for r in reports] == ["tanh", "gru"]
    assert len(table.read_text().splitlines()) == 4
    assert (tmp_path / "runs" / "copy-T2-gru" / "report.json").is_file()


def test_a_run_of_some_rows_updates_them_in_the_earlier_table(tmp_path):
    first, second = Row("adding", "tanh", 4, minutes=0.002), Row("copy", "gru", 2, minutes=0.002)
    table = tmp_path / "table.md"
    reproduce([first, second], 1.0, tmp_path / "runs", table=table, progress=False)
    before = table.read_text().splitlines()
    (again,) = reproduce([Row("copy", "gru", 2, minutes=0.003)], 1.0, tmp_path / "runs",
                         table=table, progress=False)  # fmt: skip
    after = table.read_text().splitlines()
    assert len(after) == 4 and after[2] == before[2]  # the adding row is kept as it was
    assert after[3] == markdown_table([again]).splitlines()[2]


def test_parallel_rows_come_back_in_row_order(tmp_path):
    # the first row trains longer, so the second ends first; the table keeps row order
    rows = [Row("adding", "tanh", 4, minutes=0.05), Row("copy", "gru", 2, minutes=0.002)]
    table = tmp_path / "table.md"
    reports = reproduce(rows, 1.0, tmp_path / "runs", table=table, progress=False, jobs=2)
    assert [(r.task, r.cell) for r in reports] == [("adding", "tanh"), ("copy", "gru")]
    lines = table.read_text().splitlines()
    assert lines[2].startswith("| adding | tanh") and lines[3].startswith("| copy | gru")
    for row, report in zip(rows, reports, strict=True):
        saved = json.loads((tmp_path / "runs" / row.name / "report.json").read_text())
        assert saved["value"] == report.value and saved["steps"] == report.steps > 0


def test_a_cell_preset_changes_only_its_own_cell():
    assert row_config(Row("adding", "irnn", 200), 10, 0).lr == 1e-4
    assert row_config(Row("adding", "tanh", 200), 10, 0).lr == PRESETS["adding"].training["lr"]
    for (task, cell), (model, training) in CELL_PRESETS.items():
        assert task in PRESETS and check_cell_task(cell, task) is None
        assert set(training) <= set(TrainConfig.__dataclass_fields__)
        assert set(model) <= set(LongRangeConfig.__dataclass_fields__)


def test_the_command_line_takes_the_cells_preset(tmp_path):
    result = rnnkit("train", "longrange", "--task", "adding", "--cell", "irnn", "--T", "5",
                    "--hidden-size", "4", "--max-steps", "2", "--valid-sequences", "10",
                    "--no-progress", "--out", tmp_path / "run", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert load_run_record(tmp_path / "run", "longrange", version=2)["training"]["lr"] == 1e-4


# -- command line -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--T", "0"], ["--T", "got 0"]),
        (["--task", "sorting"], ["--task", "sorting"]),
        (["--task", "adding", "--cell", "ntm"], ["--cell ntm", "ntm-copy"]),
        (["--reproduce", "t.md", "--cell", "gru"], ["--reproduce", "--cell"]),
    ],
)
def test_bad_command_lines_are_one_line_errors(tmp_path, args, needles):
    result = rnnkit("train", "longrange", *args, "--out", tmp_path / "run", cwd=tmp_path)
    assert_one_line_error(result, *needles)


def test_rows_are_chosen_by_task_or_by_name():
    from rnnkit.cli.train_longrange import chosen_rows

    chosen = chosen_rows("adding, digits-T64-irnn")
    assert [r.name for r in chosen] == ["adding-T200-tanh", "adding-T200-irnn",
                                        "adding-T200-lstm", "adding-T200-gru",
                                        "digits-T64-irnn"]  # fmt: skip
    assert chosen_rows(None) == list(REPRODUCTION_ROWS)


def test_unknown_rows_are_a_one_line_error(tmp_path):
    result = rnnkit("train", "longrange", "--reproduce", "t.md", "--rows", "adding,sorting",
                    "--out", tmp_path / "runs", cwd=tmp_path)  # fmt: skip
    assert_one_line_error(result, "--rows", "sorting")
