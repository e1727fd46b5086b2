"""The export table: model kind x (exported, max |onnxruntime - torch| at 2 lengths x 2 batches).

Usage::

    python benchmarks/export_table.py

Tiny seeded models of every kind (``rnnkit.export.table``) are exported with
``rnnkit.export.export_onnx`` (TorchScript exporter, opset 17) and run in onnxruntime on
seeded random inputs at batch sizes 1 and 3 and lengths 4 and 9 (batches of 3 are padded: row 0
is full length, the others shorter); each cell is the largest absolute difference from torch
over every output (log-probabilities, logits, emissions, and every state tensor). A refused
model prints its reason. Needs ``pip install 'rnnkit[onnx]'``; takes about a minute.
"""

from __future__ import annotations

import torch

from rnnkit.export import EXPORTER
from rnnkit.export.table import export_table
from rnnkit.export.verify import CASES


def main() -> None:
    torch.set_num_threads(1)
    rows = export_table()
    heads = [f"B={B},T={T}" for B, T in CASES]
    print(f"exporter: {EXPORTER}; onnxruntime vs torch, max abs difference")
    print(f"| model | exported | {' | '.join(heads)} |")
    print("|---|---|" + "---|" * len(heads))
    for row in rows:
        if row.reason:
            print(f"| {row.name} | refused: {row.reason} |" + " |" * len(heads))
            continue
        cells = " | ".join(f"{row.diffs[c]:.1e}" for c in CASES)
        print(f"| {row.name} | yes ({row.files} file{'s' * (row.files > 1)}) | {cells} |")


if __name__ == "__main__":
    main()
