"""ONNX recurrent nodes with sequence_lens against torch.nn's layers run on packed sequences."""

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnkit.export.padded import PaddedRecurrent
from rnnkit.export.verify import run, session

pytest.importorskip("onnxruntime")


class Layer(nn.Module):
    """``(x, lengths, h0[, c0]) -> (output, h_n[, c_n])`` through :class:`PaddedRecurrent`."""

    def __init__(self, layer: nn.RNNBase) -> None:
        super().__init__()
        self.padded = PaddedRecurrent(layer, "test")

    def forward(self, x, lengths, *hx):
        out, hidden = self.padded(x, hx[0] if len(hx) == 1 else hx, lengths=lengths)
        return (out, *hidden) if isinstance(hidden, tuple) else (out, hidden)


def packed_reference(layer, x, lengths, hx):
    """torch.nn's layer on the packed batch, padded back (zeros past each length)."""
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out, hidden = layer(packed, hx[0] if len(hx) == 1 else hx)
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    return (out, *hidden) if isinstance(hidden, tuple) else (out, hidden)


@pytest.mark.parametrize(
    "make",
    [
        lambda: nn.LSTM(3, 4, num_layers=2, batch_first=True, bidirectional=True),
        lambda: nn.GRU(3, 4, num_layers=2, batch_first=True, bidirectional=True),
        lambda: nn.RNN(3, 4, batch_first=True, bidirectional=True, nonlinearity="relu"),
        lambda: nn.LSTM(3, 4, batch_first=True, bias=False),
    ],
)
def test_sequence_lens_nodes_equal_packed_torch(make, tmp_path):
    torch.manual_seed(0)
    layer = make().eval()
    states = 2 if isinstance(layer, nn.LSTM) else 1
    rows = layer.num_layers * (2 if layer.bidirectional else 1)
    example = (torch.randn(2, 5, 3), torch.tensor([5, 2]), *[torch.randn(rows, 2, 4)] * states)
    names = ["x", "lengths", *["h0", "c0"][:states]]
    axes = {"x": {0: "B", 1: "T"}, "lengths": {0: "B"}, "h0": {1: "B"}, "c0": {1: "B"}}
    with torch.no_grad():
        torch.onnx.export(Layer(layer), example, str(tmp_path / "l.onnx"), dynamo=False,
                          input_names=names, dynamic_axes=axes, opset_version=17)  # fmt: skip
    sess = session(tmp_path / "l.onnx")
    for B, T in ((1, 4), (3, 4), (1, 9), (3, 9)):
        x, lengths = torch.randn(B, T, 3), torch.tensor([T, 1, T - 2][:B])
        hx = [torch.randn(rows, B, 4) for _ in range(states)]
        got = list(run(sess, dict(zip(names, (x, lengths, *hx), strict=True))).values())
        with torch.no_grad():
            want = packed_reference(layer, x, lengths, hx)
        for g, w in zip(got, want, strict=True):
            torch.testing.assert_close(g, w, atol=1e-5, rtol=0)
