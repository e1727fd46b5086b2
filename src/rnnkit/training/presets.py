"""Named presets for ``rnnkit train lm``: architecture and training settings that go together."""

from __future__ import annotations

from typing import Any

#: name -> (LanguageModelConfig fields, TrainConfig fields, one-line description)
LM_PRESETS: dict[str, tuple[dict[str, Any], dict[str, Any], str]] = {
    "default": (
        {"cell": "lstm", "hidden_size": 256, "num_layers": 2, "dropout": 0.1},
        {
            "batch_size": 64,
            "bptt": 100,
            "lr": 3e-3,
            "schedule": "cosine",  # decays over the time budget to min_lr_ratio * lr
            "warmup_steps": 50,
            "max_minutes": 15.0,
            "eval_every": 250,
        },
        "2x256 LSTM, 15 minutes on a 2-core CPU: ~1.5 nats/char on tinyshakespeare",
    ),
    "quick": (
        {"cell": "lstm", "hidden_size": 128, "num_layers": 2, "dropout": 0.0},
        {"batch_size": 32, "bptt": 64, "lr": 3e-3, "max_minutes": 2.0, "eval_every": 200},
        "2x128 LSTM, 2 minutes: recognisable text, a first look",
    ),
    "tiny": (
        {"cell": "lstm", "hidden_size": 32, "num_layers": 1, "dropout": 0.0},
        {"batch_size": 8, "bptt": 32, "lr": 1e-2, "max_steps": 30, "eval_every": 10},
        "1x32 LSTM, 30 steps: smoke tests",
    ),
}
