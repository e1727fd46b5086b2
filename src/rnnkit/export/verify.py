"""Exported files against torch: the largest absolute difference, case by case.

Each case is a batch size B and a length T (tokens, words, source length, or decoder steps
for an image model); every batch but one-row ones has padding (row 0 is T long, the others
shorter). Needs ``onnxruntime`` (``pip install rnnkit[onnx]``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from rnnkit.data.tagging import TagBatch
from rnnkit.export.graph import FlatState
from rnnkit.export.padded import ExportError

CASES = ((1, 4), (3, 4), (1, 9), (3, 9))  # (B, T): two batch sizes x two lengths


def session(path: Path) -> Any:
    """An onnxruntime CPU session (one thread: tests share the machine)."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise ExportError("verifying needs onnxruntime: pip install 'rnnkit[onnx]'") from None
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run(sess: Any, feeds: dict[str, Tensor]) -> dict[str, Tensor]:
    """One onnxruntime call with torch tensors in and out, by name (unused feeds dropped)."""
    names = [o.name for o in sess.get_outputs()]
    wanted = {i.name for i in sess.get_inputs()}
    outs = sess.run(names, {k: v.numpy() for k, v in feeds.items() if k in wanted})
    return {n: torch.from_numpy(np.asarray(o)) for n, o in zip(names, outs, strict=True)}


def max_diff(a: Sequence[Tensor], b: Sequence[Tensor]) -> float:
    """Largest |x - y| over the pairs. Equal values differ by 0 (a pointer's masked positions are
    -inf on both sides: their difference would be NaN, which ``max`` silently passes over), and
    a NaN on either side counts as infinitely far."""
    diffs = (torch.where(x.float() == y.float(), 0.0, (x.float() - y.float()).abs())
             for x, y in zip(a, b, strict=True))  # fmt: skip
    return max(float(d.nan_to_num(nan=float("inf"), posinf=float("inf")).max()) for d in diffs)


def lengths_for(B: int, T: int, generator: torch.Generator) -> Tensor:
    """(B,) lengths: row 0 is T long, the others random in [1, T) (padding) when T > 1."""
    lengths = torch.randint(1, max(T, 2), (B,), generator=generator).clamp(max=T)
    lengths[0] = T
    return lengths


def padded_ids(B: int, T: int, low: int, high: int, lengths: Tensor, g: torch.Generator) -> Tensor:
    """(B, T) random ids in [low, high), 0 past each length."""
    ids = torch.randint(low, high, (B, T), generator=g)
    return ids.masked_fill(torch.arange(T)[None] >= lengths[:, None], 0)


@torch.no_grad()
def check_language_model(model: nn.Module, paths: list[Path], B: int, T: int, g: Any) -> float:
    """The step function fed T tokens one by one against the model's forward over all T."""
    sess, config = session(paths[0]), model.config
    tokens = torch.randint(0, config.vocab_size, (B, T), generator=g)
    logits, final = model(tokens)
    names = ["h", "c"] if config.cell == "lstm" else ["h"]
    state = {n: torch.zeros(config.num_layers, B, config.hidden_size) for n in names}
    diff = 0.0
    for t in range(T):
        out = run(sess, {"tokens": tokens[:, t], **state})
        diff = max(diff, max_diff([out["log_probs"]], [logits[:, t].log_softmax(-1)]))
        state = {n: out[f"{n}_out"] for n in names}
    final = final if isinstance(final, tuple) else (final,)
    return max(diff, max_diff([state[n] for n in names], final))


@torch.no_grad()
def check_classifier(model: nn.Module, paths: list[Path], B: int, T: int, g: Any) -> float:
    lengths = lengths_for(B, T, g)
    tokens = padded_ids(B, T, 1, model.config.vocab_size, lengths, g)
    out = run(session(paths[0]), {"tokens": tokens, "lengths": lengths})
    return max_diff([out["logits"]], [model(tokens, lengths)])


@torch.no_grad()
def check_tagger(model: nn.Module, paths: list[Path], B: int, T: int, g: Any) -> float:
    config, L = model.config, 5
    lengths = lengths_for(B, T, g)
    words = padded_ids(B, T, 2, config.word_vocab_size, lengths, g)
    spelled = torch.randint(1, L + 1, (B, T), generator=g)
    chars = torch.randint(2, config.char_vocab_size, (B, T, L), generator=g)
    chars = chars.masked_fill(torch.arange(L) >= spelled[..., None], 0) * (words > 0)[..., None]
    feeds = {"words": words, "chars": chars, "lengths": lengths}
    out = run(session(paths[0]), feeds)
    return max_diff([out["emissions"]], [model(TagBatch(words, chars, lengths, None, lengths))])


def check_steps(model: nn.Module, paths: list[Path], feeds: dict, steps: int) -> float:
    """Encoder outputs and ``steps`` greedy decoder steps (torch's tokens fed to both)."""
    encoder, decoder = session(paths[0]), session(paths[1])
    state = model.start(SimpleNamespace(**feeds))
    flat = FlatState(state)
    names, mine = flat.names, run(encoder, feeds)
    diff = max_diff([mine[n] for n in names], flat.flatten(state))
    tokens = torch.full((len(next(iter(feeds.values()))),), model.bos, dtype=torch.long)
    for _ in range(steps):
        out = run(decoder, {"tokens": tokens, **mine})
        log_probs, state = model.decode_step(tokens, state)
        diff = max(diff, max_diff([out["log_probs"]], [log_probs]))
        mine.update({n[len("next.") :]: v for n, v in out.items() if n.startswith("next.")})
        diff = max(diff, max_diff([mine[n] for n in names], flat.flatten(state)))
        tokens = log_probs.argmax(-1)
    return diff


@torch.no_grad()
def check_seq2seq(model: nn.Module, paths: list[Path], B: int, T: int, g: Any) -> float:
    lengths = lengths_for(B, T, g)
    source = padded_ids(B, T, 4, model.config.source_vocab_size, lengths, g)
    return check_steps(model, paths, {"source": source, "source_lengths": lengths}, T)


@torch.no_grad()
def check_context(model: nn.Module, paths: list[Path], B: int, T: int, g: Any) -> float:
    """Images are fixed-size: T counts decoder steps; widths vary (the attention mask)."""
    config = model.config
    images = torch.rand(B, 1, config.image_height, config.image_width, generator=g)
    widths = torch.randint(1, config.image_width // 8 + 1, (B,), generator=g)
    return check_steps(model, paths, {"images": images, "widths": widths}, T)


@torch.no_grad()
def check_ctc(model: nn.Module, paths: list[Path], B: int, T: int, g: Any) -> float:
    """Images of ``2 T`` columns (T frames), zero right of each width: log-probs and lengths."""
    widths = 2 * lengths_for(B, T, g)  # FRAME = 2 columns a frame: at least one frame
    images = torch.rand(B, 1, model.config.image_height, 2 * T, generator=g)
    images = images * (torch.arange(2 * T) < widths[:, None])[:, None, None, :]
    out = run(session(paths[0]), {"images": images, "widths": widths})
    return max_diff([out["log_probs"], out["lengths"]], list(model(images, widths)))


CHECKS: dict[str, Callable[..., float]] = {
    "LanguageModel": check_language_model,
    "SequenceClassifier": check_classifier,
    "Tagger": check_tagger,
    "Seq2Seq": check_seq2seq,
    "ContextToSequence": check_context,
    "CTCRecognizer": check_ctc,
}


def verify_onnx(
    model: nn.Module, paths: list[Path], cases: Sequence[tuple[int, int]] = CASES, seed: int = 0
) -> dict[tuple[int, int], float]:
    """Max |onnxruntime - torch| for each (B, T) case, on seeded random inputs."""
    model = model.eval()
    g = torch.Generator().manual_seed(seed)
    check = CHECKS[type(model).__name__]
    return {(B, T): check(model, paths, B, T, g) for B, T in cases}
