"""A CTC recogniser's acoustic/visual model in ONNX: onnxruntime's log-probs and frame counts
equal torch's on padded batches of lines."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from rnnkit.export import export_onnx
from rnnkit.export.verify import run, session, verify_onnx
from rnnkit.tasks.ctc import CTCConfig, CTCRecognizer

pytest.importorskip("onnxruntime")


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_onnxruntime_equals_torch(tmp_path: Path, cell: str) -> None:
    torch.manual_seed(0)
    model = CTCRecognizer(CTCConfig("0123456789", channels=4, hidden_size=8, cell=cell)).eval()
    paths = export_onnx(model, tmp_path / "ctc.onnx")
    for diff in verify_onnx(model, paths).values():
        assert diff <= 1e-4  # docs/export.md: 1e-4 · max(1, |torch|); log-probs here are small
    images = torch.rand(2, 1, 8, 30)
    widths = torch.tensor([30, 11])  # 15 and 5 frames
    images[1, ..., 11:] = 0
    out = run(session(paths[0]), {"images": images, "widths": widths})
    assert out["lengths"].tolist() == [15, 5]
    with torch.no_grad():
        expected, _ = model(images, widths)
    torch.testing.assert_close(out["log_probs"][1, :5], expected[1, :5], atol=1e-5, rtol=0)
