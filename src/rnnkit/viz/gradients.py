r"""Pictures of vanishing and exploding gradients (PNG, matplotlib's ``plot`` extra).

(a) The lecture's eigenvalue demo. Backpropagation through a linear recurrence
:math:`s_t = U s_{t-1}` multiplies by :math:`U^\top` once per step, so a signal t steps away
is scaled like :math:`\|U^t s_0\| \approx \rho(U)^t \|s_0\|`: it dies out for a spectral
radius :math:`\rho < 1` and blows up for :math:`\rho > 1` (:func:`power_norms`).

(b) Gradient flow in real cells. For a loss :math:`L_T` read at the last step,

.. math::
    \frac{\partial L_T}{\partial h_t}
      = \frac{\partial L_T}{\partial h_T} \prod_{k=t+1}^{T} \frac{\partial h_k}{\partial h_{k-1}}

and :func:`~rnnkit.training.state_gradients.state_gradient_norms` measures
:math:`\|\partial L_T / \partial h_t\|` for every t in one backward pass.
:func:`gradient_flow` does this for several cells at initialisation and after a short training
on the adding problem.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from rnnkit.errors import RnnkitError
from rnnkit.training.metrics_log import METRICS_NAME
from rnnkit.training.state_gradients import state_gradient_norms
from rnnkit.viz.curves import metrics_records
from rnnkit.viz.figures import pyplot, save_png

RADII = (0.9, 1.0, 1.1)  # the demo's spectral radii
FLOW_CELLS = ("tanh", "irnn", "lstm", "gru")
FLOW_STEPS = 300  # updates of the short training on the adding problem
FLOW_T = 100  # adding-problem length of the gradient-flow plot
FLOW_HIDDEN = 64  # units per cell in the gradient-flow plot
FLOW_BATCH = 50  # sequences per update, and sequences the norms are averaged over


# -- (a) the eigenvalue demo ------------------------------------------------------------


def power_norms(U: Tensor, s0: Tensor, steps: int) -> Tensor:
    """‖U^t s_0‖ for t = 0..steps: (H, H), (H,) -> (steps + 1,), by s_t = U s_{t-1}."""
    norms, s = [s0.norm()], s0
    for _ in range(steps):
        s = U @ s  # s_t (H,)
        norms.append(s.norm())
    return torch.stack(norms)


def matrix_with_radius(size: int, radius: float, *, generator: torch.Generator) -> Tensor:
    """A random (size, size) matrix W ~ N(0, 1/size), rescaled to spectral radius ``radius``."""
    W = torch.randn(size, size, generator=generator, dtype=torch.float64) / size**0.5
    return W * (radius / torch.linalg.eigvals(W).abs().max())


def eigenvalue_curves(
    radii: Sequence[float] = RADII, *, size: int = 64, steps: int = 100, seed: int = 0
) -> dict[float, Tensor]:
    """Radius -> ‖U^t s_0‖ (steps + 1,), one random U per radius, the same unit s_0 for all."""
    g = torch.Generator().manual_seed(seed)
    s0 = torch.randn(size, generator=g, dtype=torch.float64)
    s0 = s0 / s0.norm()
    return {r: power_norms(matrix_with_radius(size, r, generator=g), s0, steps) for r in radii}


def plot_eigenvalues(curves: dict[float, Tensor], path: str | Path) -> Path:
    """‖U^t s_0‖ against t on a log scale, with the ρ^t line of each radius dashed."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for radius, norms in curves.items():
        t = torch.arange(len(norms))
        (line,) = ax.semilogy(t, norms.numpy(), label=rf"$\rho(U) = {radius:g}$")
        ax.semilogy(t, (radius ** t.double()).numpy(), "--", color=line.get_color(), lw=0.8)
    ax.set_xlabel(r"$t$")
    ax.set_ylabel(r"$\Vert U^t s_0 \Vert$  (dashed: $\rho^t$)")
    ax.set_title("repeated multiplication by U: vanishing or exploding")
    ax.legend()
    return save_png(fig, path)


# -- (b) gradient flow ------------------------------------------------------------------


@dataclass
class GradientFlow:
    """‖∂L_T/∂h_t‖ per cell, at initialisation and after ``steps`` training updates."""

    T: int
    steps: int
    init: dict[str, Tensor] = field(default_factory=dict)  # cell -> (T,)
    trained: dict[str, Tensor] = field(default_factory=dict)  # cell -> (T,)
    mse: dict[str, float] = field(default_factory=dict)  # cell -> valid MSE after training

    def ratios(self, phase: str) -> dict[str, float]:
        """Cell -> ‖∂L_T/∂h_1‖ / ‖∂L_T/∂h_T‖: how much of the gradient crosses T - 1 steps."""
        curves = self.init if phase == "init" else self.trained
        return {c: float(g[0] / g[-1]) if g[-1] > 0 else float("nan") for c, g in curves.items()}


def gradient_flow(
    cells: Sequence[str] = FLOW_CELLS,
    *,
    T: int = FLOW_T,
    steps: int = FLOW_STEPS,
    hidden_size: int = FLOW_HIDDEN,
    batch_size: int = FLOW_BATCH,
    seed: int = 0,
) -> GradientFlow:
    """Measure each cell on one fixed adding-problem batch, before and after ``steps`` updates.

    Training uses the adding preset's optimiser (Adam 1e-3, gradient-norm clip 1) with the one
    Trainer; ``steps`` 0 measures at initialisation only.
    """
    from rnnkit.apps.longrange import PRESETS, build_model, make_trainer, task_spec
    from rnnkit.data.longrange import adding_problem
    from rnnkit.training.config import TrainConfig

    spec = task_spec("adding", T, seed=seed, valid_sequences=batch_size)
    x, y = adding_problem(batch_size, T, generator=torch.Generator().manual_seed(seed + 1))
    x = x.transpose(0, 1)  # (T, B, 2)
    flow = GradientFlow(T, steps)
    for name in cells:
        torch.manual_seed(seed)
        model = build_model(spec, name, {"hidden_size": hidden_size})
        loss = lambda h, m=model: m.last_step_losses(h, y)  # noqa: E731  (B,)
        flow.init[name] = state_gradient_norms(model.cell, x, loss)
        if steps == 0:
            continue
        fields = {**PRESETS["adding"].training, "batch_size": batch_size, "max_steps": steps,
                  "max_minutes": None, "eval_every": steps, "seed": seed}  # fmt: skip
        trainer, _ = make_trainer(spec, model, TrainConfig(**fields), None, progress=False)
        flow.mse[name] = trainer.fit()["valid_mse"]
        flow.trained[name] = state_gradient_norms(model.cell, x, loss)
    return flow


def plot_gradient_flow(flow: GradientFlow, path: str | Path) -> Path:
    """‖∂L_T/∂h_t‖ against T - t on a log scale: one panel per phase, one line per cell."""
    plt = pyplot()
    phases = [("at initialisation", flow.init)]
    if flow.trained:
        phases.append((f"after {flow.steps} updates", flow.trained))
    fig, axes = plt.subplots(1, len(phases), figsize=(5 * len(phases), 3.8), sharey=True,
                             squeeze=False)  # fmt: skip
    for ax, (title, curves) in zip(axes[0], phases, strict=True):
        for name, norms in curves.items():
            distance = torch.arange(flow.T - 1, -1, -1)  # T - t for t = 1..T
            ax.semilogy(distance.numpy(), norms.clamp_min(1e-30).detach().numpy(), label=name)
        ax.set_xlabel(r"$T - t$ (steps back from the loss)")
        ax.set_title(f"adding problem, T = {flow.T}: {title}", fontsize=10)
    axes[0][0].set_ylabel(r"$\Vert \partial L_T / \partial h_t \Vert$ (floor $10^{-30}$)")
    axes[0][-1].legend()
    return save_png(fig, path)


# -- (c) gradient flow logged during training ---------------------------------------------

MAX_LOGGED_LINES = 12  # validations drawn, evenly spread over the run


def read_state_gradients(run_dir: str | Path) -> dict[int, Tensor]:
    """Update -> ‖∂L_T/∂h_t‖ (T,) from a run trained with ``--log-state-gradients``."""
    path = Path(run_dir) / METRICS_NAME
    logged = {r["step"]: torch.tensor(r["norms"], dtype=torch.float64)
              for r in metrics_records(path) if r.get("kind") == "state_gradients"}  # fmt: skip
    if not logged:
        raise RnnkitError(f"{path}: no state_gradients records (train with "
                          f"--log-state-gradients)")  # fmt: skip
    return logged


def plot_state_gradients(logged: dict[int, Tensor], path: str | Path, *, title: str) -> Path:
    """‖∂L_T/∂h_t‖ against T - t on a log scale, one line per logged update, dark to light."""
    plt = pyplot()
    steps = sorted(logged)
    if len(steps) > MAX_LOGGED_LINES:
        picks = torch.linspace(0, len(steps) - 1, MAX_LOGGED_LINES).round().long()
        steps = [steps[int(i)] for i in picks]
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    colours = plt.get_cmap("viridis")
    for n, step in enumerate(steps):
        norms = logged[step]
        distance = torch.arange(len(norms) - 1, -1, -1)  # T - t for t = 1..T
        ax.semilogy(distance.numpy(), norms.clamp_min(1e-30).numpy(), label=f"update {step:,}",
                    color=colours(n / max(len(steps) - 1, 1)))  # fmt: skip
    ax.set_xlabel(r"$T - t$ (steps back from the loss)")
    ax.set_ylabel(r"$\Vert \partial L_T / \partial h_t \Vert$ (floor $10^{-30}$)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7)
    return save_png(fig, path)
