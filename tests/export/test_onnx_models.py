"""Every model kind exported to ONNX equals torch in onnxruntime (to 1e-5).

Each model runs at two batch sizes x two lengths (``verify.CASES``), padded rows included; the
reference is the task model's own torch forward (packed sequences, rnnkit's loop).
"""

import pytest
import torch

from rnnkit.export import ExportError, export_onnx
from rnnkit.export.table import MODELS, build
from rnnkit.export.verify import CASES, verify_onnx
from rnnkit.tasks.longrange import LongRangeConfig, LongRangeModel

pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")


@pytest.mark.parametrize("name", sorted(MODELS))
def test_onnxruntime_equals_torch(name, tmp_path):
    model = build(name)
    paths = export_onnx(model, tmp_path / "model.onnx")
    diffs = verify_onnx(model, paths)
    assert set(diffs) == set(CASES) and {B for B, _ in CASES} == {1, 3}
    assert {T for _, T in CASES} == {4, 9}
    assert max(diffs.values()) < 1e-5, diffs


def test_encoder_decoder_writes_two_files(tmp_path):
    paths = export_onnx(build("seq2seq-bilstm-general"), tmp_path / "g2p.onnx")
    assert [p.name for p in paths] == ["g2p.encoder.onnx", "g2p.decoder.onnx"]
    decoder = onnx.load(paths[1]).graph
    assert decoder.input[0].name == "tokens" and decoder.output[0].name == "log_probs"
    assert {o.name for o in decoder.output[1:]} >= {"next.cell.inner.h", "next.cell.inner.c"}


def test_padded_batches_use_sequence_lens_not_packing(tmp_path):
    """The classifier's BiLSTM is one ONNX LSTM node per layer, fed the lengths."""
    (path,) = export_onnx(build("classifier-bilstm-last"), tmp_path / "c.onnx")
    graph = onnx.load(path).graph
    lstms = [n for n in graph.node if n.op_type == "LSTM"]
    assert len(lstms) == 2 and all(n.input[4] for n in lstms)  # input 4: sequence_lens
    dims = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim]
            for i in graph.input}  # fmt: skip
    assert dims == {"tokens": ["B", "T"], "lengths": ["B"]}


def test_batch_rows_do_not_see_each_other(tmp_path):
    """A sequence's logits do not depend on the padded batch around it."""
    from rnnkit.export.verify import run, session

    model = build("classifier-bilstm-last")
    (path,) = export_onnx(model, tmp_path / "c.onnx")
    tokens = torch.tensor([[3, 4, 5, 6, 7], [8, 9, 0, 0, 0]])
    both = run(session(path), {"tokens": tokens, "lengths": torch.tensor([5, 2])})["logits"]
    alone = run(session(path), {"tokens": tokens[1:, :2], "lengths": torch.tensor([2])})
    torch.testing.assert_close(both[1:], alone["logits"], atol=1e-6, rtol=0)


def test_generic_path_is_a_loop_over_time(tmp_path):
    """rnnkit's own cells export as an ONNX Loop whose trip count is the input's length."""
    (path,) = export_onnx(build("classifier-layer-norm-bilstm"), tmp_path / "c.onnx")
    graph = onnx.load(path).graph
    loops = [n for n in graph.node if n.op_type == "Loop"]
    assert len(loops) == 2  # forward and backward direction
    constants = {o for n in graph.node if n.op_type == "Constant" for o in n.output}
    assert all(n.input[0] not in constants for n in loops)  # not a trip count fixed at export


def test_refused_with_a_reason(tmp_path):
    model = LongRangeModel(LongRangeConfig("adding", 2, 1, hidden_size=4)).eval()
    with pytest.raises(ExportError, match="LongRangeModel has no ONNX export") as info:
        export_onnx(model, tmp_path / "m.onnx")
    assert "\n" not in str(info.value)
    assert not (tmp_path / "m.onnx").exists()
