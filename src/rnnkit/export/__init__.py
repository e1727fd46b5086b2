"""Export rnnkit models for other runtimes (ONNX), and check them in onnxruntime."""

from rnnkit.export.onnx import EXPORTER, OPSET, export_onnx, model_graphs
from rnnkit.export.padded import ExportError

__all__ = ["EXPORTER", "OPSET", "ExportError", "export_onnx", "model_graphs"]
