"""Data-parallel training: 2 gloo processes on CPU equal one process on the same global batch."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from safetensors.torch import load_file

from rnnkit.tasks.language_model import LanguageModel, LanguageModelConfig
from rnnkit.training.distributed import DistributedError, Workers
from rnnkit.training.trainer import TrainConfig, Trainer

SETUP = """
import torch
from rnnkit.tasks.language_model import LanguageModel, LanguageModelConfig
from rnnkit.training.trainer import TrainConfig, Trainer

def build(out_dir):
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(13, (1200,), generator=g)
    torch.manual_seed(0)
    model = LanguageModel(LanguageModelConfig(13, hidden_size=10, num_layers=2))
    config = TrainConfig(batch_size=4, bptt=10, tbptt_k2=6, random_bptt=True, lr=0.01,
                         max_steps=8, eval_every=4, save_every=4, log_every=1)
    losses = []
    callbacks = {"on_step_end": [lambda t, m: losses.append(m["loss"])]}
    trainer = Trainer(model, ids[:1000], ids[1000:], config, out_dir=out_dir,
                      callbacks=callbacks, progress=False)
    return trainer, losses
"""

WORKER = """
import json, sys
import torch.distributed as dist
import torch.multiprocessing as mp
from safetensors.torch import save_file

def work(rank, tmp):
    dist.init_process_group("gloo", init_method=f"file://{tmp}/rendezvous", rank=rank,
                            world_size=2)
    trainer, losses = build(f"{tmp}/run")
    trainer.fit()
    save_file(dict(trainer.model.state_dict()), f"{tmp}/params-{rank}.safetensors")
    with open(f"{tmp}/losses-{rank}.json", "w") as f:
        json.dump({"losses": losses, "columns": trainer.source.inputs.shape[0]}, f)
    dist.destroy_process_group()

if __name__ == "__main__":
    import torch._dynamo  # noqa: F401  (what the optimizer imports: once, before the fork)
    mp.start_processes(work, args=(sys.argv[1],), nprocs=2, start_method="fork")
"""


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    """One 2-process run, shared: forked from a launcher that has run no torch op yet."""
    tmp_path = tmp_path_factory.mktemp("ddp")
    script = tmp_path / "ddp.py"
    script.write_text(textwrap.dedent(SETUP) + textwrap.dedent(WORKER))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return tmp_path


def test_two_gloo_processes_match_one_process_on_the_global_batch(ddp_run, tmp_path):
    namespace: dict = {}
    exec(textwrap.dedent(SETUP), namespace)
    single, losses = namespace["build"](tmp_path / "single")
    single.fit()
    ranks = [json.loads((ddp_run / f"losses-{r}.json").read_text()) for r in (0, 1)]
    assert [r["columns"] for r in ranks] == [2, 2]  # each rank reads half the columns
    assert ranks[0]["losses"] == ranks[1]["losses"]  # the averaged loss, on every rank
    assert ranks[0]["losses"] == pytest.approx(losses, rel=1e-5)
    params = [load_file(ddp_run / f"params-{r}.safetensors") for r in (0, 1)]
    for name, value in single.model.state_dict().items():
        assert torch.equal(params[0][name], params[1][name]), name  # ranks stay identical
        torch.testing.assert_close(params[0][name], value, rtol=1e-4, atol=1e-5, msg=name)


def test_rank_zero_alone_writes_and_checkpoints_hold_every_ranks_state(ddp_run):
    records = (ddp_run / "run" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(r)["step"] for r in records if '"train"' in r] == list(range(1, 9))
    tensors = load_file(ddp_run / "run" / "trainer_state" / "step-000008" / "trainer.safetensors")
    assert {"rng.torch.0", "rng.torch.1", "hidden.0.0", "hidden.1.0"} <= set(tensors)
    assert tensors["hidden.1.0"].shape == (2, 2, 10)  # (layers, columns of rank 1, H)
    assert not torch.equal(tensors["rng.torch.0"], tensors["rng.torch.1"])  # own dropout RNG
    model = LanguageModel.from_pretrained(ddp_run / "run")
    assert model.config.hidden_size == 10


def test_columns_are_disjoint_equal_shares():
    assert [Workers(r, 4).columns(8) for r in range(4)] == [
        slice(0, 2),
        slice(2, 4),
        slice(4, 6),
        slice(6, 8),
    ]
    assert Workers().columns(5) == slice(0, 5)
    with pytest.raises(DistributedError, match="batch_size 6 must be divisible by the 4"):
        Workers(1, 4).columns(6)


def test_single_process_collectives_are_identities():
    workers = Workers.current()
    assert (workers.rank, workers.world_size, workers.is_main) == (0, 1, True)
    p = torch.nn.Parameter(torch.ones(2))
    p.grad = torch.full((2,), 3.0)
    workers.average_gradients([p])
    assert p.grad.tolist() == [3.0, 3.0] and workers.sum([1.5]) == [1.5]
    assert workers.broadcast(2.5) == 2.5


def test_trainer_rejects_a_batch_it_cannot_split(monkeypatch):
    monkeypatch.setattr(Workers, "current", classmethod(lambda cls: cls(0, 3)))
    model = LanguageModel(LanguageModelConfig(5, hidden_size=4, num_layers=1))
    ids = torch.randint(5, (100,))
    with pytest.raises(DistributedError, match="batch_size 4 must be divisible by the 3"):
        Trainer(model, ids, ids, TrainConfig(batch_size=4, max_steps=1), progress=False)
