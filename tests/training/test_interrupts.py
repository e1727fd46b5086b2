"""SIGINT and SIGTERM keep the work done: the trainer finishes its update, saves the resumable
state and stops; resuming from it gives the uninterrupted run's weights bit for bit. Also the
time-based saves (a fake clock) and the throughput of a resumed session."""

import itertools
import json
import os
import re
import signal
import subprocess
import sys
import threading

import pytest
import torch

from rnnkit.cli import main
from rnnkit.data.vocab import CharVocab
from rnnkit.errors import CheckpointError, Interrupted
from rnnkit.tasks.language_model import LanguageModel, LanguageModelConfig
from rnnkit.training import checkpoint
from rnnkit.training.interrupts import SignalGuard
from rnnkit.training.metrics_log import read_metrics
from rnnkit.training.trainer import TrainConfig, Trainer

TEXT = "to be or not to be, that is the question; whether 'tis nobler in the mind\n" * 30
TIMING = ("elapsed_s", "tokens_per_s")  # wall-clock fields: the only ones that may differ


@pytest.fixture(autouse=True)
def usual_signals():
    """A user's process: Ctrl-C raises KeyboardInterrupt, SIGTERM ends it. A test runner's
    worker may have set them otherwise (an ignored SIGINT is left alone by the guard)."""
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    yield
    for signum, handler in previous.items():
        if handler is not None:
            signal.signal(signum, handler)


def trainer(out, *, clock=None, **train) -> Trainer:
    """A 1x16 LSTM with dropout on a char stream; 4 columns of 16 steps (64 tokens) an update."""
    vocab = CharVocab.from_text(TEXT)
    torch.manual_seed(0)
    config = LanguageModelConfig(len(vocab), hidden_size=16, num_layers=1, dropout=0.2)
    model = LanguageModel(config, vocab)
    ids = vocab.encode(TEXT)
    fields = {"batch_size": 4, "bptt": 16, "max_steps": 24, "eval_every": 10, "log_every": 1,
              "save_every": 1000, "save_every_minutes": None, **train}  # fmt: skip
    timing = {} if clock is None else {"clock": clock}
    return Trainer(model, ids[:1800], ids[1800:], TrainConfig(**fields), out_dir=out,
                   progress=False, **timing)  # fmt: skip


def signal_at(step: int, signum: int) -> dict:
    """Callbacks that send this process ``signum`` at the end of update ``step``."""

    def send(t: Trainer, m: dict) -> None:
        if m["step"] == step:
            os.kill(os.getpid(), signum)

    return {"on_step_end": [send]}


def weights(t: Trainer) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in t.model.state_dict().items()}


def untimed(out) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in TIMING} for r in read_metrics(out)]


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    """The uninterrupted run: its final weights and its log."""
    out = tmp_path_factory.mktemp("whole")
    t = trainer(out)
    t.fit()
    return weights(t), untimed(out)


@pytest.mark.parametrize("step", [3, 14], ids=["before-validation", "after-validation"])
def test_sigint_saves_the_state_and_resuming_gives_the_uninterrupted_weights(tmp_path, whole, step):
    before = signal.getsignal(signal.SIGINT)
    t = trainer(tmp_path)
    t.callbacks = signal_at(step, signal.SIGINT)
    with pytest.raises(Interrupted) as stopped:
        t.fit()
    assert signal.getsignal(signal.SIGINT) is before  # the handler is put back
    e = stopped.value
    assert (e.signum, e.step) == (signal.SIGINT, step)  # the update under way was finished
    assert e.state_dir == tmp_path / "trainer_state" / f"step-{step:06d}"
    assert checkpoint.step_dirs(tmp_path) == [e.state_dir]
    assert e.best == (step >= 10) == (tmp_path / "config.json").is_file()  # validated at 10
    resumed = trainer(tmp_path)
    assert resumed.resume() == step
    resumed.fit()
    want_weights, want_log = whole
    got = weights(resumed)
    assert got.keys() == want_weights.keys()
    assert all(torch.equal(got[k], want_weights[k]) for k in got)
    assert untimed(tmp_path) == want_log  # every loss, lr and validation, bit for bit


def test_sigterm_saves_the_state_too(tmp_path):
    before = signal.getsignal(signal.SIGTERM)
    t = trainer(tmp_path)
    t.callbacks = signal_at(5, signal.SIGTERM)
    with pytest.raises(Interrupted) as stopped:
        t.fit()
    assert (stopped.value.signum, stopped.value.step) == (signal.SIGTERM, 5)
    assert checkpoint.step_dirs(tmp_path) == [tmp_path / "trainer_state" / "step-000005"]
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_second_signal_during_the_save_aborts_it(tmp_path):
    t = trainer(tmp_path, save_every=4)
    t.callbacks = signal_at(6, signal.SIGINT)
    write_model = t.write_model

    def impatient(directory):  # the user presses Ctrl-C again while the state is written
        write_model(directory)
        if t.step == 6:
            os.kill(os.getpid(), signal.SIGINT)

    t.write_model = impatient
    with pytest.raises(KeyboardInterrupt) as stopped:
        t.fit()
    assert not isinstance(stopped.value, Interrupted)  # aborted: no claim that it saved
    assert checkpoint.step_dirs(tmp_path) == [tmp_path / "trainer_state" / "step-000004"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_the_guard_leaves_signals_alone_outside_the_main_thread():
    seen = []

    def guarded():
        with SignalGuard() as guard:
            seen.append((guard.received, signal.getsignal(signal.SIGINT)))

    thread = threading.Thread(target=guarded)
    thread.start()
    thread.join()
    assert seen == [(None, signal.default_int_handler)]


@pytest.mark.parametrize(
    "minutes, saved",
    [(1.0, [3, 6, 9, 10]), (2.0, [5, 10]), (None, [10])],  # 25 s an update: by hand
)
def test_the_state_is_saved_by_time(tmp_path, minutes, saved):
    """A fake clock moves 25 s per update, so minute saves fall after updates 3 (75 s), 6
    (150 s: 75 s since 75), 9; two-minute ones after 5 (125 s); the budget's at 10."""
    t = trainer(tmp_path, clock=itertools.count(0, 25).__next__, max_steps=10,
                save_every_minutes=minutes, keep_last=10)  # fmt: skip
    t.fit()
    assert [int(p.name[5:]) for p in checkpoint.step_dirs(tmp_path)] == saved


def test_throughput_after_a_resume_counts_only_that_session(tmp_path):
    """64 tokens an update: 1 s an update (64 tokens/s) for 6 updates, then resumed at 2 s an
    update (32 tokens/s). Counting the first session too would give 640 / 14 s = 45.7."""
    first = trainer(tmp_path, clock=itertools.count(0, 1).__next__, max_steps=6)
    first.fit()
    second = trainer(tmp_path, clock=itertools.count(0, 2).__next__, max_steps=10)
    assert second.resume() == 6
    second.fit()
    speeds = [(r["step"], r["tokens_per_s"]) for r in read_metrics(tmp_path, "train")]
    assert speeds == [(s, 64.0) for s in range(1, 7)] + [(s, 32.0) for s in range(7, 11)]
    assert second.throughput() == 32.0  # what `train lm` prints at the end


# -- the command line ---------------------------------------------------------------------

RUN = ["train", "lm", "--preset", "tiny", "--max-steps", "12", "--eval-every", "10",
       "--log-every", "1", "--no-progress", "--sample-length", "0"]  # fmt: skip


@pytest.fixture
def text(tmp_path):
    path = tmp_path / "text.txt"
    path.write_text("ROMEO: O, she doth teach the torches to burn bright!\n" * 40)
    return path


def interrupt_at(monkeypatch, step: int) -> None:
    """Every Trainer sends SIGINT at the end of update ``step`` (as Ctrl-C would)."""
    emit = Trainer.emit

    def emitting(self, event, metrics):
        emit(self, event, metrics)
        if event == "on_step_end" and metrics["step"] == step:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(Trainer, "emit", emitting)


def test_cli_ctrl_c_says_what_was_saved_and_resume_continues(tmp_path, text, monkeypatch, capsys):
    out = tmp_path / "run"
    interrupt_at(monkeypatch, 4)  # before the first validation (at 10)
    assert main([*RUN, "--text", str(text), "--out", str(out)]) == 130
    err = capsys.readouterr().err.strip()
    assert err == (
        f"rnnkit: interrupted at step 4; resumable state saved in {out}/trainer_state/"
        f"step-000004; no best model yet (no validation); continue with: rnnkit train lm "
        f"--resume {out}"
    )
    monkeypatch.undo()
    assert main(["train", "lm", "--resume", str(out), "--no-progress", "--sample-length", "0"]) == 0
    printed = capsys.readouterr().out
    assert "after 12 steps (resumed from step 4)" in printed
    speed = float(re.search(r"\(([\d,.]+) chars/s\)", printed)[1].replace(",", ""))
    last = read_metrics(out, "train")[-1]
    assert last["step"] == 12
    assert abs(speed - last["tokens_per_s"]) <= 0.55  # the same figure, rounded two ways


def test_cli_ctrl_c_during_start_up_is_one_line(tmp_path, text, monkeypatch, capsys):
    from rnnkit.apps import language_model

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(language_model, "char_corpus", interrupted)  # while reading the text
    assert main([*RUN, "--text", str(text), "--out", str(tmp_path / "run")]) == 130
    err = capsys.readouterr().err
    assert err == (
        "rnnkit: interrupted; no resumable state yet; no best model yet (no validation)\n"
    )
    monkeypatch.setattr("rnnkit.cli.build_parser", interrupted)  # while importing the commands
    assert main(["sample", "--help"]) == 130
    assert capsys.readouterr().err == "rnnkit: interrupted\n"


def test_cli_resume_without_state_says_it_starts_over(tmp_path, text, capsys):
    out = tmp_path / "run"
    assert main([*RUN, "--text", str(text), "--out", str(out), "--max-steps", "2"]) == 0
    for state in checkpoint.step_dirs(out):  # as if killed before its first save
        for f in state.iterdir():
            f.unlink()
        state.rmdir()
    capsys.readouterr()
    assert main(["train", "lm", "--resume", str(out), "--no-progress", "--sample-length", "0"]) == 0
    captured = capsys.readouterr()
    assert f"note: {out}: no resumable state; starting over" in captured.err
    assert "after 2 steps" in captured.out and "resumed" not in captured.out


#: the real CLI in a new process that sends itself $SIGNAL after update $AT, as a user or a
#: job scheduler would from outside
SIGNALLER = """
import os, signal, sys
from rnnkit.training.trainer import Trainer
emit = Trainer.emit
def signalling_emit(self, event, metrics):
    emit(self, event, metrics)
    if event == "on_step_end" and metrics["step"] == int(os.environ["AT"]):
        os.kill(os.getpid(), int(os.environ["SIGNAL"]))
Trainer.emit = signalling_emit
from rnnkit.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_cli_process_stopped_by_sigterm_after_a_validation(tmp_path, text):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "AT": "11", "SIGNAL": str(int(signal.SIGTERM))}
    argv = [sys.executable, "-c", SIGNALLER, *RUN, "--text", str(text), "--out", "run"]
    done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 128 + signal.SIGTERM, done.stderr
    assert done.stderr == (
        "rnnkit: interrupted at step 11; resumable state saved in run/trainer_state/step-000011; "
        "the best model so far is in run; continue with: rnnkit train lm --resume run\n"
    )
    assert [p.name for p in checkpoint.step_dirs(tmp_path / "run")] == ["step-000011"]
    assert [r["step"] for r in read_metrics(tmp_path / "run", "valid")] == [10]


#: two forked gloo ranks; only rank 1 receives SIGINT, after update 3
DDP = """
import json, os, signal, sys
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from rnnkit.errors import CheckpointError, Interrupted
from rnnkit.tasks.language_model import LanguageModel, LanguageModelConfig
from rnnkit.training.trainer import TrainConfig, Trainer

def work(rank, tmp):
    dist.init_process_group("gloo", init_method=f"file://{tmp}/rendezvous", rank=rank,
                            world_size=2)
    ids = torch.randint(13, (1200,), generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    model = LanguageModel(LanguageModelConfig(13, hidden_size=10, num_layers=1))
    config = TrainConfig(batch_size=4, bptt=10, max_steps=8, eval_every=4, save_every=100)
    send = lambda t, m: m["step"] == 3 and rank == 1 and os.kill(os.getpid(), signal.SIGINT)
    trainer = Trainer(model, ids[:1000], ids[1000:], config, out_dir=f"{tmp}/run",
                      callbacks={"on_step_end": [send]}, progress=False)
    try:
        trainer.fit()
        result = {"finished": trainer.step}
    except Interrupted as e:
        result = {"step": e.step, "signum": e.signum, "best": e.best}
    with open(f"{tmp}/result-{rank}.json", "w") as f:
        json.dump(result, f)
    dist.destroy_process_group()

if __name__ == "__main__":
    import torch._dynamo  # noqa: F401  (what the optimizer imports: once, before the fork)
    mp.start_processes(work, args=(sys.argv[1],), nprocs=2, start_method="fork")
"""


def test_a_signal_to_one_rank_stops_every_rank_at_the_same_update(tmp_path):
    """The save is collective (every rank's RNG and carried state), so a signal that reaches
    one rank only must stop all of them after the same update, or the others would hang."""
    script = tmp_path / "ddp.py"
    script.write_text(DDP)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True,
                          text=True, env=env, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    results = [json.loads((tmp_path / f"result-{r}.json").read_text()) for r in (0, 1)]
    assert results == [{"step": 3, "signum": signal.SIGINT, "best": False}] * 2
    assert [p.name for p in checkpoint.step_dirs(tmp_path / "run")] == ["step-000003"]


def test_a_run_recorded_before_time_based_saves_still_resumes(tmp_path):
    """A run.json written before ``save_every_minutes`` existed reads back with its default;
    a bad value of it is still refused, naming the field."""
    from rnnkit.apps import tag
    from rnnkit.apps.runs import RunConfig, load_record, save_record

    data = tag.TagData(str(tmp_path / "t.conllu"), str(tmp_path / "d.conllu"))
    model = tag.JOB.complete_model(tag.PRESETS["tiny"].model)
    config = RunConfig(data, model, TrainConfig(**tag.PRESETS["tiny"].training))
    path = save_record(tmp_path, tag.JOB, config)
    record = json.loads(path.read_text())
    del record["training"]["save_every_minutes"]
    path.write_text(json.dumps(record))
    assert load_record(tmp_path, tag.JOB).training.save_every_minutes == 5.0
    record["training"]["save_every_minutes"] = -1
    path.write_text(json.dumps(record))
    with pytest.raises(CheckpointError, match=r"field training.save_every_minutes: must be in"):
        load_record(tmp_path, tag.JOB)


def test_cli_interrupted_sort_names_the_models_directory_and_offers_no_resume(
    tmp_path, monkeypatch, capsys
):
    """``train sort`` trains each model into OUT/<model> and refuses --resume (it regenerates
    its lists), so the line points there and tells the user to start again."""
    out = tmp_path / "sort"
    interrupt_at(monkeypatch, 3)
    args = ["train", "sort", "--preset", "tiny", "--models", "plain", "--no-progress"]
    assert main([*args, "--out", str(out)]) == 130
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"rnnkit: interrupted at step 3; resumable state saved in {out}/plain/trainer_state/"
        "step-000003; no best model yet (no validation); start it again to train more"
    )
