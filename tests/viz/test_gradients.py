"""Vanishing/exploding-gradient pictures: the numbers against hand checks, the PNGs, the CLI."""

import pytest
import torch
from torch import Tensor, nn

from cli_helpers import assert_one_line_error, rnnkit
from rnnkit.cells import LSTMCell, LSTMState, RecurrentCell
from rnnkit.viz.gradients import (
    eigenvalue_curves,
    gradient_flow,
    matrix_with_radius,
    plot_eigenvalues,
    plot_gradient_flow,
    power_norms,
    state_gradient_norms,
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
    ],
)
def test_bad_plot_options_are_one_line_errors(tmp_path, args, needles):
    assert_one_line_error(rnnkit("plot", *args, cwd=tmp_path), *needles)
