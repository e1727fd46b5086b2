"""metrics.jsonl records, cut back on resume; TensorBoard used when present, skipped when not."""

import json
import sys
import types

from rnnkit.training.metrics_log import MetricsLog, read_metrics


def test_records_are_json_lines_and_a_fresh_start_empties_the_log(tmp_path):
    (tmp_path / "metrics.jsonl").write_text('{"kind": "train", "step": 99}\n')
    log = MetricsLog(tmp_path, tensorboard=False)
    log.start()
    log.write({"kind": "train", "step": 1, "loss": 2.5})
    log.write({"kind": "valid", "step": 1, "valid_nats": 2.0})
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x) for x in lines] == [
        {"kind": "train", "step": 1, "loss": 2.5},
        {"kind": "valid", "step": 1, "valid_nats": 2.0},
    ]
    assert read_metrics(tmp_path, "valid") == [{"kind": "valid", "step": 1, "valid_nats": 2.0}]


def test_resume_cuts_records_written_after_the_checkpoint(tmp_path):
    log = MetricsLog(tmp_path, tensorboard=False)
    log.start()
    log.write({"kind": "train", "step": 10})
    saved = log.size()  # what a checkpoint at step 10 stores
    log.write({"kind": "train", "step": 11})
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write('{"kind": "tra')  # the process died mid-line
    resumed = MetricsLog(tmp_path, tensorboard=False)
    resumed.start(keep_bytes=saved, step=10)
    resumed.write({"kind": "train", "step": 11, "again": True})
    assert [r["step"] for r in read_metrics(tmp_path)] == [10, 11]
    assert read_metrics(tmp_path)[-1]["again"]


def test_no_directory_writes_nothing(tmp_path):
    log = MetricsLog(None)
    log.start()
    log.write({"kind": "train", "step": 1})
    assert log.size() == 0 and list(tmp_path.iterdir()) == []


def test_tensorboard_gets_numeric_fields_when_installed(tmp_path, monkeypatch):
    events = []

    class FakeWriter:
        def __init__(self, log_dir, purge_step=None):
            events.append(("open", log_dir, purge_step))

        def add_scalar(self, tag, value, step):
            events.append((tag, value, step))

        def close(self):
            events.append(("close",))

    fake = types.ModuleType("torch.utils.tensorboard")
    fake.SummaryWriter = FakeWriter
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", fake)
    log = MetricsLog(tmp_path)
    log.start(keep_bytes=0, step=30)
    log.write({"kind": "valid", "step": 40, "valid_nats": 1.5, "note": "text"})
    log.close()
    assert events == [
        ("open", str(tmp_path / "tensorboard"), 31),  # events after step 30 are purged
        ("valid/valid_nats", 1.5, 40),
        ("close",),
    ]


def test_missing_tensorboard_is_skipped_silently(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails
    log = MetricsLog(tmp_path)
    log.start()
    log.write({"kind": "train", "step": 1, "loss": 1.0})
    log.close()
    assert read_metrics(tmp_path) == [{"kind": "train", "step": 1, "loss": 1.0}]
