"""Frame prediction models: shapes, per-frame MSE by hand, overfitting, save and load."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cli_helpers import assert_one_line_error, rnnkit
from rnnkit.checkpoint import load
from rnnkit.data.digits import split_scans
from rnnkit.data.moving_digits import moving_digits
from rnnkit.tasks.frames import FramesConfig, FramesModel, per_frame_mse


def small(model: str, **options) -> FramesModel:
    torch.manual_seed(0)
    fields = {"hidden_channels": 8, "kernel_size": 3, "patch": 4, "hidden_size": 32,
              "num_layers": 1, **options}  # fmt: skip
    return FramesModel(FramesConfig(24, 3, 2, model=model, **fields))


@pytest.mark.parametrize("kind", ["convlstm", "convgru", "fc-lstm"])
def test_shapes(kind: str) -> None:
    model = small(kind, num_layers=2)
    frames = torch.rand(2, 5, 24, 24)
    assert model(frames[:, :3]).shape == (2, 2, 24, 24)
    loss, metrics = model.loss(frames)
    assert loss.item() > 0 and metrics["tokens"] == 2 * 2 * 24 * 24


def test_per_frame_mse_by_hand() -> None:
    predicted, truth = torch.zeros(1, 2, 2, 2), torch.zeros(1, 2, 2, 2)
    truth[0, 0, 0, 0], truth[0, 1] = 1.0, 0.5  # frame errors: 1 and 4 x 0.25 = 1
    assert per_frame_mse(predicted, truth) == pytest.approx(1.0)


def test_convlstm_overfits_eight_sequences() -> None:
    train, _, _ = split_scans(seed=0)
    frames = moving_digits(train, 8, seed=0, frames=5, canvas=24, scale=1, digits=1, speed=2.0)
    model = small("convlstm", hidden_channels=16)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = model.evaluate([frames])["mse"]
    for _ in range(150):
        optimizer.zero_grad()
        model.loss(frames)[0].backward()
        optimizer.step()
    assert model.evaluate([frames])["mse"] < 0.3 * first


def test_save_load_predicts_the_same(tmp_path: Path) -> None:
    model = small("convgru").eval()
    model.save_pretrained(tmp_path / "m")
    frames = torch.rand(2, 3, 24, 24)
    torch.testing.assert_close(load(tmp_path / "m").predict(frames), model.predict(frames),
                               rtol=0, atol=0)  # fmt: skip


def test_sizes_the_convolutions_cannot_take_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not divide"):
        FramesConfig(48, 10, 10, patch=5)
    result = rnnkit("train", "frames", "--preset", "tiny", "--patch", "5", "--no-progress",
                    "--out", "run", cwd=tmp_path)  # fmt: skip
    assert_one_line_error(result, "patch 5 does not divide the 48-pixel canvas")


def test_cli_reports_models_and_baselines(tmp_path: Path) -> None:
    result = rnnkit("train", "frames", "--preset", "tiny", "--models", "convgru,fc-lstm",
                    "--no-progress", "--out", "run", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    for row in ("baseline: copy the last frame", "baseline: mean observed frame", "convgru",
                "fc-lstm"):  # fmt: skip
        assert row in result.stdout
    assert (tmp_path / "run" / "report.json").is_file()
    assert load(tmp_path / "run" / "convgru").config.model == "convgru"
