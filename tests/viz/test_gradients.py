"""Vanishing/exploding-gradient pictures: the numbers against hand checks, the PNGs, the CLI."""

import pytest
import torch
from torch import Tensor, nn

from cli_helpers import assert_one_line_error, rnnkit
from rnnkit.apps.longrange import (
    STATE_GRADIENT_SEQUENCES,
    build_model,
    make_trainer,
    task_spec,
)
from rnnkit.cells import LSTMCell, LSTMState, RecurrentCell
from rnnkit.training.config import TrainConfig
from rnnkit.training.state_gradients import state_gradient_norms
from rnnkit.viz.gradients import (
    eigenvalue_curves,
    gradient_flow,
    matrix_with_radius,
    plot_eigenvalues,
    plot_gradient_flow,
    power_norms,
    read_state_gradients,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class LinearCell(RecurrentCell):
    """h_t = U h_{t-1} + x_t: backpropagation multiplies by U^T once per step, exactly."""

    def __init__(self, U: Tensor) -> None:
        super().__init__(U.shape[0], U.shape[0])
        self.U = nn.Parameter(U)

    def step(self, gx: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        h = state @ self.U.T + gx
        return h, h


def test_power_norms_of_a_diagonal_matrix_are_powers_of_its_eigenvalue():
    lam = 0.8
    U = torch.diag(torch.tensor([lam, -lam, lam], dtype=torch.float64))
    s0 = torch.tensor([0.3, -1.2, 2.0], dtype=torch.float64)
    want = lam ** torch.arange(11, dtype=torch.float64) * s0.norm()
    torch.testing.assert_close(power_norms(U, s0, 10), want)


def test_random_matrices_have_the_asked_spectral_radius():
    g = torch.Generator().manual_seed(0)
    for radius in (0.9, 1.0, 1.1):
        U = matrix_with_radius(16, radius, generator=g)
        assert torch.linalg.eigvals(U).abs().max().item() == pytest.approx(radius)
    curves = eigenvalue_curves(steps=200, size=16)
    assert curves[0.9][-1] < 1e-3 < 1e3 < curves[1.1][-1]


def test_state_gradients_of_a_linear_rnn_are_powers_of_u_transposed():
    torch.manual_seed(0)
    T, B, H = 7, 3, 4
    U = torch.randn(H, H, dtype=torch.float64) * 0.6
    x = torch.randn(T, B, H, dtype=torch.float64)
    w = torch.randn(B, H, dtype=torch.float64)  # L_T(b) = w_b · h_T, so ∂L_T/∂h_T = w_b
    norms = state_gradient_norms(LinearCell(U), x, lambda h: (h * w).sum(-1))
    # ∂L_T/∂h_t = (U^T)^{T-t} w_b, i.e. the row vector w_b U^{T-t}
    want = torch.stack([(w @ torch.linalg.matrix_power(U, T - t)).norm(dim=-1).mean()
                        for t in range(1, T + 1)])  # fmt: skip
    torch.testing.assert_close(norms, want)


def test_state_gradients_equal_those_of_a_run_restarted_at_h_t():
    torch.manual_seed(1)
    cell = LSTMCell(2, 3).double()
    x = torch.randn(5, 1, 2, dtype=torch.float64)
    w = torch.randn(1, 3, dtype=torch.float64)
    norms = state_gradient_norms(cell, x, lambda h: (h * w).sum(-1))
    state = cell.zero_state(x[0])
    for x_k in x[:2]:
        _, state = cell(x_k, state)
    h2 = state.h.detach().requires_grad_()  # h_2 as a leaf; c_2 held fixed
    state = LSTMState(h2, state.c.detach())
    for x_k in x[2:]:
        _, state = cell(x_k, state)
    (grad,) = torch.autograd.grad((state.h * w).sum(), h2)
    assert norms[1].item() == pytest.approx(grad.norm().item())


def test_gradient_flow_measures_each_cell_before_and_after_training():
    flow = gradient_flow(("tanh", "lstm"), T=6, steps=2, hidden_size=4, batch_size=3)
    assert set(flow.init) == set(flow.trained) == set(flow.mse) == {"tanh", "lstm"}
    assert all(g.shape == (6,) and torch.isfinite(g).all() for g in flow.init.values())
    assert flow.ratios("init")["tanh"] > 0
    assert not gradient_flow(("gru",), T=4, steps=0, hidden_size=2, batch_size=2).trained


def test_the_plots_are_png_files(tmp_path):
    pytest.importorskip("matplotlib")
    eig = plot_eigenvalues(eigenvalue_curves(size=4, steps=5), tmp_path / "e.png")
    flow = gradient_flow(("tanh", "gru"), T=4, steps=1, hidden_size=3, batch_size=2)
    grad = plot_gradient_flow(flow, tmp_path / "g.png")
    assert eig.read_bytes()[:8] == grad.read_bytes()[:8] == PNG_MAGIC


def test_plot_commands_write_pngs(tmp_path):
    pytest.importorskip("matplotlib")
    out = rnnkit("plot", "gradients", "--out", tmp_path / "plots", "--T", "4", "--steps", "1",
                 "--cells", "irnn,gru", "--hidden-size", "3", "--batch-size", "2",
                 cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "plots" / "gradient_flow.png").read_bytes()[:8] == PNG_MAGIC
    assert "irnn" in out.stdout and "after 1 updates" in out.stdout


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["gradients", "--out", "d", "--cells", "tanh,ntm"], ["--cells", "tanh,ntm"]),
        (["gradients", "--out", "d", "--T", "1"], ["--T", "got 1"]),
        (["eigenvalues", "--out", "e.png", "--radii", "0.9,big"], ["--radii", "big"]),
        (["state-gradients", "nowhere", "--out", "s.png"], ["nowhere", "not found"]),
    ],
)
def test_bad_plot_options_are_one_line_errors(tmp_path, args, needles):
    assert_one_line_error(rnnkit("plot", *args, cwd=tmp_path), *needles)


def test_logged_state_gradients_are_the_models_own_at_each_validation(tmp_path):
    # a run logs ‖∂L_T/∂h_t‖ at every validation; the last record equals a fresh measurement
    # of the final model with the adding loss written out by hand
    spec = task_spec("adding", 5, valid_sequences=20)
    torch.manual_seed(0)
    model = build_model(spec, "gru", {"hidden_size": 4})
    config = TrainConfig(batch_size=4, lr=1e-2, max_steps=6, eval_every=3)
    trainer, _ = make_trainer(spec, model, config, tmp_path, progress=False, state_gradients=True)
    trainer.fit()
    logged = read_state_gradients(tmp_path)
    assert sorted(logged) == [3, 6] and all(len(n) == 5 for n in logged.values())
    batch = spec.valid[0]
    x, y = batch.x[:STATE_GRADIENT_SEQUENCES].transpose(0, 1), batch.y[:STATE_GRADIENT_SEQUENCES]
    by_hand = state_gradient_norms(model.cell, x, lambda h: (model.head(h)[:, 0] - y) ** 2)
    torch.testing.assert_close(logged[6], by_hand.double(), rtol=1e-6, atol=0)
    assert not torch.equal(logged[3], logged[6])  # training changed the flow


def test_plot_state_gradients_of_a_run(tmp_path):
    pytest.importorskip("matplotlib")
    run = tmp_path / "run"
    out = rnnkit("train", "longrange", "--task", "adding", "--cell", "tanh", "--T", "4",
                 "--hidden-size", "3", "--max-steps", "4", "--eval-every", "2",
                 "--valid-sequences", "10", "--log-state-gradients", "--no-progress",
                 "--out", run, cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr
    plot = rnnkit("plot", "state-gradients", run, "--out", tmp_path / "s.png", cwd=tmp_path)
    assert plot.returncode == 0, plot.stderr
    assert (tmp_path / "s.png").read_bytes()[:8] == PNG_MAGIC and "update 4:" in plot.stdout


def test_state_gradients_need_a_task_read_at_the_last_step(tmp_path):
    result = rnnkit("train", "longrange", "--task", "copy", "--log-state-gradients",
                    "--out", tmp_path / "r", cwd=tmp_path)  # fmt: skip
    assert_one_line_error(result, "copy", "last step")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "metrics.jsonl").write_text('{"kind": "train", "step": 1, "loss": 1.0}\n')
    assert_one_line_error(rnnkit("plot", "state-gradients", empty, "--out", tmp_path / "e.png",
                                 cwd=tmp_path), "--log-state-gradients")  # fmt: skip
