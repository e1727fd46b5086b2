"""EmbeddingDropout: whole word types dropped and the rest rescaled by 1/(1-p)."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from rnnkit.regularizers import EmbeddingDropout


def test_every_occurrence_of_a_word_shares_its_fate():
    torch.manual_seed(0)
    embedding = nn.Embedding(20, 5)
    drop = EmbeddingDropout(0.4)
    tokens = torch.randint(0, 20, (8, 30))
    out = drop(embedding, tokens)  # (8, 30, 5)
    rows = embedding.weight.detach()
    dropped = set()
    for token, vector in zip(tokens.reshape(-1).tolist(), out.reshape(-1, 5), strict=True):
        if torch.count_nonzero(vector) == 0:
            dropped.add(token)
        else:
            assert token not in dropped
            assert_close(vector, rows[token] / 0.6)
    for token, vector in zip(tokens.reshape(-1).tolist(), out.reshape(-1, 5), strict=True):
        assert (torch.count_nonzero(vector) == 0) == (token in dropped)
    assert 0 < len(dropped) < 20


def test_new_mask_per_call_and_plain_lookup_in_eval():
    torch.manual_seed(1)
    embedding = nn.Embedding(50, 4)
    drop = EmbeddingDropout(0.5)
    tokens = torch.arange(50)
    assert not torch.equal(drop(embedding, tokens), drop(embedding, tokens))
    drop.eval()
    assert torch.equal(drop(embedding, tokens), embedding(tokens))
    assert torch.equal(EmbeddingDropout(0.0)(embedding, tokens), embedding(tokens))


def test_padding_idx_gets_no_gradient_and_p_is_checked():
    embedding = nn.Embedding(6, 3, padding_idx=0)
    out = EmbeddingDropout(0.2)(embedding, torch.tensor([[0, 1, 2, 0]]))
    out.sum().backward()
    assert torch.count_nonzero(embedding.weight.grad[0]) == 0
    with pytest.raises(ValueError, match="p must be a probability in \\[0, 1\\), got -0.5"):
        EmbeddingDropout(-0.5)


@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
def test_gradcheck_with_a_fixed_mask(training):
    embedding = nn.Embedding(7, 3).double()
    tokens = torch.tensor([[1, 2, 2], [6, 0, 1]])
    weight = embedding.weight.detach().requires_grad_()
    drop = EmbeddingDropout(0.5).train(training)

    def f(weight):
        torch.manual_seed(3)
        return drop(FixedEmbedding(weight), tokens)

    assert torch.autograd.gradcheck(f, (weight,))


class FixedEmbedding(nn.Embedding):
    """An embedding whose weight is a given tensor (for gradcheck)."""

    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__(*weight.shape)
        del self.weight
        self.weight = weight
