"""``rnnkit plot``: training curves and pictures of vanishing and exploding gradients (PNG).

- ``rnnkit plot curves RUN_DIR [RUN_DIR ...] --out FILE.png``: training and validation curves
  from each run's ``metrics.jsonl``, overlaid.
- ``rnnkit plot eigenvalues --out FILE.png``: ‖U^t s_0‖ over t for spectral radius 0.9, 1, 1.1.
- ``rnnkit plot gradients --out DIR``: ‖∂L_T/∂h_t‖ against T - t for tanh RNN, IRNN, LSTM and
  GRU on the adding problem, at initialisation and after a short training (300 updates), into
  ``DIR/gradient_flow.png``.
- ``rnnkit plot state-gradients RUN_DIR --out FILE.png``: the same measure logged at every
  validation of a ``rnnkit train longrange --log-state-gradients`` run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rnnkit.cli.common import OneLineParser, UsageError, bounded, seed_type
from rnnkit.cli.outputs import add_overwrite_option, check_output, check_output_folder
from rnnkit.tasks.longrange import CELLS

FLOW_NAME = "gradient_flow.png"
EPILOG = """examples:
  rnnkit plot curves runs/lm runs/lm-gru --out curves.png
  rnnkit plot eigenvalues --out docs/images/eigenvalues.png
  rnnkit plot gradients --out docs/images                  # under a minute on 2 CPU cores
  rnnkit plot gradients --T 200 --steps 1000 --cells irnn,lstm --out plots
  rnnkit plot state-gradients runs/adding-irnn --out irnn-gradients.png
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plot",
        help="plot training curves or vanishing/exploding gradients (PNG)",
        description="Training curves (docs/inspect.md) and pictures for the lecture on "
        "long-range dependencies (docs/longrange.md).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    kinds = p.add_subparsers(dest="plot", required=True, parser_class=OneLineParser)
    add_curves_parser(kinds)
    eig = kinds.add_parser("eigenvalues", help="‖U^t s_0‖ over t for spectral radius 0.9, 1, 1.1")
    eig.add_argument("--out", type=Path, required=True, metavar="FILE.png")
    eig.add_argument("--steps", type=bounded(int, 1, 10_000), default=100, help="t = 0..steps")
    eig.add_argument("--size", type=bounded(int, 1, 4096), default=64, help="U is size x size")
    eig.add_argument("--radii", default="0.9,1.0,1.1", help="comma-separated spectral radii")
    eig.add_argument("--seed", type=seed_type(), default=0)
    add_overwrite_option(eig)
    eig.set_defaults(run=run_eigenvalues)
    flow = kinds.add_parser("gradients", help="‖∂L_T/∂h_t‖ against T - t per cell (adding)")
    flow.add_argument("--out", type=Path, required=True, metavar="DIR",
                      help=f"directory for {FLOW_NAME}")  # fmt: skip
    flow.add_argument("--T", type=bounded(int, 2, 100_000), default=100, help="sequence length")
    flow.add_argument(
        "--steps",
        type=bounded(int, 0, 10**6),
        default=300,
        help="training updates before the second panel; 0: initialisation only",
    )
    flow.add_argument("--cells", default="tanh,irnn,lstm,gru",
                      help=f"comma-separated, from {', '.join(CELLS[:4])}")  # fmt: skip
    flow.add_argument("--hidden-size", type=bounded(int, 1, 65536), default=64)
    flow.add_argument("--batch-size", type=bounded(int, 1, 65536), default=50,
                      help="sequences per update and in the measured batch")  # fmt: skip
    flow.add_argument("--seed", type=seed_type(), default=0)
    add_overwrite_option(flow)
    flow.set_defaults(run=run_gradients)
    logged = kinds.add_parser("state-gradients", help="‖∂L_T/∂h_t‖ logged during a long-range "
                              "run (train longrange --log-state-gradients)")  # fmt: skip
    logged.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    logged.add_argument("--out", type=Path, required=True, metavar="FILE.png")
    add_overwrite_option(logged)
    logged.set_defaults(run=run_state_gradients)


def add_curves_parser(kinds: argparse._SubParsersAction) -> None:
    """``rnnkit plot curves``: the options of the curves plot."""
    from rnnkit.viz.curves import X_AXES

    curves = kinds.add_parser("curves", help="training/validation curves of runs, overlaid")
    curves.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR",
                        help="training run directories (each holds metrics.jsonl)")  # fmt: skip
    curves.add_argument("--out", type=Path, required=True, metavar="FILE.png")
    curves.add_argument("--x", choices=X_AXES, default="step", help="horizontal axis")
    curves.add_argument("--metric", help="validation metric of the right panel "
                        "(default: the monitored one, e.g. accuracy)")  # fmt: skip
    add_overwrite_option(curves)
    curves.set_defaults(run=run_curves)


def run_curves(args: argparse.Namespace) -> None:
    from rnnkit.viz.curves import plot_curves, read_curves

    check_output(args.out, "--out", overwrite=args.overwrite)
    names = [run.name or str(run) for run in args.runs]
    if len(set(names)) < len(names):  # same directory names: label by the whole path
        names = [str(run) for run in args.runs]
    runs = [read_curves(d, x=args.x, name=n) for d, n in zip(args.runs, names, strict=True)]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    path = plot_curves(runs, args.out, x=args.x, metric=args.metric)
    for run in runs:
        last = f"last train loss {run.train[-1][1]:.4g}" if run.train else "no train records"
        print(f"{run.name}: {len(run.train)} train, {max(map(len, run.valid.values()), default=0)}"
              f" valid records; {last}")  # fmt: skip
    print(f"plot: {path}")


def parse_list(text: str, option: str, parse: type, allowed: tuple | None = None) -> list:
    """``"a,b"`` -> ``[parse("a"), parse("b")]``, distinct, each in ``allowed``; one-line errors."""
    try:
        items = [parse(part.strip()) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UsageError(
            f"{option}: expected comma-separated {parse.__name__}s, got {text!r}"
        ) from None
    bad = [i for i in items if allowed is not None and i not in allowed]
    if not items or bad or len(set(items)) < len(items):
        within = f" from {', '.join(map(str, allowed))}" if allowed else ""
        raise UsageError(f"{option} must list distinct values{within}, got {text!r}")
    return items


def run_eigenvalues(args: argparse.Namespace) -> None:
    from rnnkit.viz.gradients import eigenvalue_curves, plot_eigenvalues

    check_output(args.out, "--out", overwrite=args.overwrite)
    radii = parse_list(args.radii, "--radii", float)
    if any(not 0 < r <= 10 for r in radii):
        raise UsageError(f"--radii must be in (0, 10], got {args.radii!r}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    curves = eigenvalue_curves(radii, size=args.size, steps=args.steps, seed=args.seed)
    path = plot_eigenvalues(curves, args.out)
    for radius, norms in curves.items():
        print(f"ρ = {radius:g}: ‖U^{args.steps} s_0‖ = {float(norms[-1]):.3g}")
    print(f"plot: {path}")


def run_gradients(args: argparse.Namespace) -> None:
    from rnnkit.viz.gradients import gradient_flow, plot_gradient_flow

    cells = parse_list(args.cells, "--cells", str, CELLS[:4])
    check_output_folder(args.out, "--out")
    check_output(args.out / FLOW_NAME, "--out", overwrite=args.overwrite)
    args.out.mkdir(parents=True, exist_ok=True)
    flow = gradient_flow(cells, T=args.T, steps=args.steps, hidden_size=args.hidden_size,
                         batch_size=args.batch_size, seed=args.seed)  # fmt: skip
    path = plot_gradient_flow(flow, args.out / FLOW_NAME)
    print(f"‖∂L_T/∂h_1‖ / ‖∂L_T/∂h_T‖, T = {args.T}:")
    for cell in cells:
        after = ""
        if flow.trained:
            after = (f"; after {args.steps} updates {flow.ratios('trained')[cell]:.3g} "
                     f"(valid MSE {flow.mse[cell]:.4f})")  # fmt: skip
        print(f"  {cell:5s} at init {flow.ratios('init')[cell]:.3g}{after}")
    print(f"plot: {path}")


def run_state_gradients(args: argparse.Namespace) -> None:
    from rnnkit.viz.gradients import plot_state_gradients, read_state_gradients

    check_output(args.out, "--out", overwrite=args.overwrite)
    logged = read_state_gradients(args.run_dir)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    path = plot_state_gradients(logged, args.out, title=str(args.run_dir))
    for step in (min(logged), max(logged)):
        norms = logged[step]
        ratio = float(norms[0] / norms[-1]) if norms[-1] > 0 else float("nan")
        print(f"update {step:,}: ‖∂L_T/∂h_1‖ / ‖∂L_T/∂h_T‖ = {ratio:.3g}")
    print(f"plot: {path}")
