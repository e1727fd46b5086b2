"""rnnkit.reference: hand-written BPTT against finite differences and against torch autograd."""

from __future__ import annotations

import subprocess
import sys
from types import ModuleType

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rnnkit.cells import GRUCell, LSTMCell, LSTMState, SimpleRNNCell
from rnnkit.layers import Recurrent
from rnnkit.reference import gru, lstm, rnn
from rnnkit.reference.gradcheck import max_relative_error, numerical_gradient
from rnnkit.reference.softmax import (
    init_output,
    output_backward,
    output_forward,
    softmax_cross_entropy,
)

T, B, D, H, V = 5, 3, 4, 6, 7
MODELS: dict[str, ModuleType] = {"rnn": rnn, "lstm": lstm, "gru": gru}
Arrays = dict[str, np.ndarray]


def problem(name: str, *, head: bool, seed: int = 0) -> tuple[Arrays, Arrays]:
    """Every array the loss depends on (parameters, xs, h0 [, c0], [W_hy, b_y]) and the
    fixed loss weights: P (T, B, H) on every h_t, q on h_T, [r on c_T], [targets]."""
    rng = np.random.default_rng(seed)
    arrays = MODELS[name].init_params(D, H, rng)
    arrays["xs"] = rng.standard_normal((T, B, D))
    arrays["h0"] = rng.standard_normal((B, H)) * 0.5
    if name == "lstm":
        arrays["c0"] = rng.standard_normal((B, H)) * 0.5
    weights = {"P": rng.standard_normal((T, B, H)), "q": rng.standard_normal((B, H))}
    weights["r"] = rng.standard_normal((B, H))
    if head:
        arrays.update(init_output(H, V, rng))
        arrays["b_y"] += rng.standard_normal(V) * 0.1
        weights["targets"] = rng.integers(0, V, T * B)
    return arrays, weights


def forward(name: str, arrays: Arrays) -> Arrays:
    states = (arrays["h0"], arrays["c0"]) if name == "lstm" else (arrays["h0"],)
    return MODELS[name].forward(arrays, arrays["xs"], *states)


def loss_of(name: str, arrays: Arrays, weights: Arrays) -> float:
    """L = Σ P ⊙ hs + Σ q ⊙ h_T (+ Σ r ⊙ c_T) (+ mean CE of the output layer on hs)."""
    cache = forward(name, arrays)
    loss = np.sum(weights["P"] * cache["hs"]) + np.sum(weights["q"] * cache["hs"][-1])
    if name == "lstm":
        loss += np.sum(weights["r"] * cache["cs"][-1])
    if "targets" in weights:
        logits = output_forward(arrays, cache["hs"].reshape(T * B, H))
        loss += softmax_cross_entropy(logits, weights["targets"])[0]
    return float(loss)


def backward(name: str, arrays: Arrays, weights: Arrays) -> Arrays:
    """The hand-written gradient of :func:`loss_of` for every array."""
    cache = forward(name, arrays)
    dhs, head_grads = weights["P"].copy(), {}
    if "targets" in weights:
        hs = cache["hs"].reshape(T * B, H)
        _, dlogits = softmax_cross_entropy(output_forward(arrays, hs), weights["targets"])
        head_grads, dhs_head = output_backward(arrays, hs, dlogits)
        dhs += dhs_head.reshape(T, B, H)
    extra = {"dc_T": weights["r"]} if name == "lstm" else {}
    grads = MODELS[name].backward(arrays, cache, dhs, dh_T=weights["q"], **extra)
    return {**grads, **head_grads}


CASES = [("rnn", True), ("rnn", False), ("lstm", False), ("lstm", True), ("gru", False)]


@pytest.mark.parametrize(("name", "head"), CASES)
def test_backward_equals_central_differences(name: str, head: bool) -> None:
    arrays, weights = problem(name, head=head)
    analytic = backward(name, arrays, weights)
    # ε = 1e-5 balances truncation and rounding (see gradcheck's docstring): the worst entry
    # agrees to ~1e-7, where the default 1e-6 leaves ~2e-6 on the smallest gradients.
    numeric = numerical_gradient(lambda a: loss_of(name, a, weights), arrays, eps=1e-5)
    assert analytic.keys() == numeric.keys() == arrays.keys()
    for key in arrays:
        assert analytic[key].shape == arrays[key].shape, key
        assert max_relative_error(analytic[key], numeric[key]) < 1e-6, key


def test_gradcheck_helpers() -> None:
    rng = np.random.default_rng(1)
    arrays = {"x": rng.standard_normal((2, 3)), "w": rng.standard_normal(3)}
    numeric = numerical_gradient(lambda a: float(np.sum(np.sin(a["x"]) * a["w"])), arrays)
    assert max_relative_error(numeric["x"], np.cos(arrays["x"]) * arrays["w"]) < 1e-8
    assert max_relative_error(numeric["w"], np.sin(arrays["x"]).sum(axis=0)) < 1e-8
    assert max_relative_error(np.array([1.0, 0.0]), np.array([1.1, 0.0])) == pytest.approx(
        0.1 / 1.1
    )
    with pytest.raises(ValueError, match="shapes differ"):
        max_relative_error(np.zeros(2), np.zeros(3))


# --- against rnnkit's torch cells, autograd in float64 ------------------------------------

TORCH_CELLS = {
    "rnn": lambda: SimpleRNNCell(D, H, nonlinearity="tanh"),
    "lstm": lambda: LSTMCell(D, H),
    "gru": lambda: GRUCell(D, H, reset_after=True),
}


def torch_run(name: str, arrays: Arrays, weights: Arrays, unroll: str):
    """Outputs (hs [, c_T]) and the autograd gradient of the same loss for every array."""
    cell = TORCH_CELLS[name]().double()
    with torch.no_grad():
        for pname, p in cell.named_parameters():
            p.copy_(torch.from_numpy(arrays[pname]))
    params = dict(cell.named_parameters())
    leaves = {k: torch.tensor(v, requires_grad=True) for k, v in arrays.items() if k not in params}
    xs = leaves["xs"]
    state = LSTMState(leaves["h0"], leaves["c0"]) if name == "lstm" else leaves["h0"]
    if unroll == "loop":
        outs = []
        for t in range(T):
            h, state = cell(xs[t], state)
            outs.append(h)
        hs = torch.stack(outs)  # (T, B, H)
    else:
        hs, state = Recurrent(cell)(xs, state)
    w = {k: torch.from_numpy(v) for k, v in weights.items()}
    loss = (w["P"] * hs).sum() + (w["q"] * hs[-1]).sum()
    if name == "lstm":
        loss = loss + (w["r"] * state.c).sum()
    if "targets" in w:
        logits = F.linear(hs.reshape(T * B, H), leaves["W_hy"], leaves["b_y"])  # (T·B, V)
        loss = loss + F.cross_entropy(logits, w["targets"])
    loss.backward()
    outputs = {"hs": hs.detach().numpy(), "loss": np.array(loss.item())}
    if name == "lstm":
        outputs["c_T"] = state.c.detach().numpy()
    tensors = {**params, **leaves}
    return outputs, {k: tensors[k].grad.numpy() for k in arrays}


@pytest.mark.parametrize("unroll", ["loop", "Recurrent"])
@pytest.mark.parametrize(("name", "head"), CASES)
def test_forward_and_every_gradient_equal_torch_autograd(
    name: str, head: bool, unroll: str
) -> None:
    arrays, weights = problem(name, head=head, seed=2)
    expected_out, expected_grads = torch_run(name, arrays, weights, unroll)
    cache = forward(name, arrays)
    outputs = {"hs": cache["hs"], "loss": np.array(loss_of(name, arrays, weights))}
    if name == "lstm":
        outputs["c_T"] = cache["cs"][-1]
    grads = backward(name, arrays, weights)
    assert outputs.keys() == expected_out.keys()
    assert grads.keys() == expected_grads.keys()
    for key in outputs:
        np.testing.assert_allclose(outputs[key], expected_out[key], rtol=1e-9, atol=1e-12)
    for key in grads:
        np.testing.assert_allclose(grads[key], expected_grads[key], rtol=1e-9, atol=1e-12)


def test_parameter_layout_matches_the_torch_cells() -> None:
    for name, make in TORCH_CELLS.items():
        params = MODELS[name].init_params(D, H, np.random.default_rng(0))
        shapes = {k: tuple(p.shape) for k, p in make().named_parameters()}
        assert {k: p.shape for k, p in params.items()} == shapes
        assert all(p.dtype == np.float64 for p in params.values())


def test_softmax_cross_entropy_equals_torch() -> None:
    rng = np.random.default_rng(3)
    logits, targets = rng.standard_normal((6, V)) * 3, rng.integers(0, V, 6)
    for reduction in ("mean", "sum"):
        loss, dlogits = softmax_cross_entropy(logits, targets, reduction)
        x = torch.tensor(logits, requires_grad=True)
        expected = F.cross_entropy(x, torch.from_numpy(targets), reduction=reduction)
        expected.backward()
        np.testing.assert_allclose(loss, expected.item(), rtol=1e-12)
        np.testing.assert_allclose(dlogits, x.grad.numpy(), rtol=1e-9, atol=1e-15)
    with pytest.raises(ValueError, match="reduction must be one of"):
        softmax_cross_entropy(logits, targets, "none")


# --- NumPy only ---------------------------------------------------------------------------

NO_TORCH = """
import importlib.util, sys, types
location = importlib.util.find_spec("rnnkit").submodule_search_locations  # runs no __init__
parent = types.ModuleType("rnnkit")
parent.__path__ = list(location)
sys.modules["rnnkit"] = parent  # so only the reference package's own imports run
import rnnkit.reference, rnnkit.reference.char_rnn
assert "torch" not in sys.modules, "rnnkit.reference imported torch"
print("ok")
"""


def test_reference_package_imports_no_torch() -> None:
    result = subprocess.run(
        [sys.executable, "-c", NO_TORCH], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_import_rnnkit_reference_loads_no_torch() -> None:
    code = "import sys, rnnkit.reference; assert 'torch' not in sys.modules"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert result.returncode == 0
