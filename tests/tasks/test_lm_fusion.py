"""A character LM as the fusion LM of CTC decoding: its scores are the model's own steps."""

from __future__ import annotations

import pytest
import torch

from rnnkit.data.vocab import CharVocab
from rnnkit.decoding.ctc import prefix_beam_search
from rnnkit.errors import CheckpointError
from rnnkit.tasks.language_model import LanguageModel, LanguageModelConfig
from rnnkit.tasks.lm_fusion import label_fusion

LABELS = [None, "1", "2", "x"]  # the blank, two digits, and a label the LM never saw


def char_lm(cell: str = "lstm") -> LanguageModel:
    torch.manual_seed(0)
    vocab = CharVocab.from_text("12\n")
    return LanguageModel(LanguageModelConfig(len(vocab), cell=cell, hidden_size=8, num_layers=2),
                         vocab).eval()  # fmt: skip


def by_hand(model: LanguageModel, text: str) -> torch.Tensor:
    """log p(next char | "\\n" + text) from the whole model, one sequence."""
    ids = model.vocab.encode("\n" + text)[None]  # (1, L)
    logits, _ = model(ids)
    return logits[0, -1].log_softmax(-1)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_entries_are_the_models_next_char_log_probs(cell: str) -> None:
    model = char_lm(cell)
    fusion = label_fusion(model, LABELS)
    stoi = model.vocab.stoi
    root = fusion.root_entry()
    expected = by_hand(model, "")
    assert root.next_log_probs[1] == pytest.approx(expected[stoi["1"]].item(), abs=1e-5)
    assert root.next_log_probs[2] == pytest.approx(expected[stoi["2"]].item(), abs=1e-5)
    assert root.next_log_probs[3] == float("-inf")  # "x": never proposed
    one, two = fusion.extend([root, root], [1, 2])  # "1" and "2", in one batched step
    deeper = fusion.extend([one], [2])[0]  # "12"
    for entry, text in ((one, "1"), (two, "2"), (deeper, "12")):
        expected = by_hand(model, text)
        for k, char in ((1, "1"), (2, "2")):
            assert entry.next_log_probs[k] == pytest.approx(expected[stoi[char]].item(), abs=1e-5)


def test_fused_score_adds_the_lm_log_prob_of_the_prefix() -> None:
    model = char_lm()
    torch.manual_seed(1)
    log_probs = torch.randn(1, 4, 4).log_softmax(-1)
    found = prefix_beam_search(log_probs, torch.tensor([4]), beam_size=30,
                               lm=label_fusion(model, LABELS), lm_weight=0.5)[0]  # fmt: skip
    plain = {tuple(h.tokens): h.log_prob for h in prefix_beam_search(
        log_probs, torch.tensor([4]), beam_size=30)[0]}  # fmt: skip
    for h in found[:5]:
        text = "".join(LABELS[k] for k in h.tokens)
        lm = sum(by_hand(model, text[:i])[model.vocab.stoi[c]].item() for i, c in enumerate(text))
        assert h.score == pytest.approx(plain[tuple(h.tokens)] + 0.5 * lm, abs=1e-4)


def test_refuses_what_cannot_fuse() -> None:
    model = char_lm()
    with pytest.raises(CheckpointError, match="knows none of the labels"):
        label_fusion(model, [None, "a", "b"])
    with pytest.raises(CheckpointError, match="line start"):
        label_fusion(model, LABELS, bos="\t")
