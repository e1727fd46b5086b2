"""Attention scorers against hand-written formulas; masks; gradients; argument checks."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.func import functional_call

from rnnkit.layers import Attention
from rnnkit.layers.attention import SCORERS

B, T, S, DQ, DK, A = 3, 4, 5, 6, 7, 9


def _sizes(kind: str) -> tuple[int, int]:
    """(Dq, Dk): dot needs them equal."""
    return (DQ, DQ) if kind == "dot" else (DQ, DK)


def reference_scores(attention: Attention, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """score(q_t, k_s) straight from the docstring, one (b, t, s) at a time: (B, T, S)."""
    out = torch.empty(q.shape[0], q.shape[1], k.shape[1], dtype=q.dtype)
    for b in range(q.shape[0]):
        for t in range(q.shape[1]):
            for s in range(k.shape[1]):
                qt, ks = q[b, t], k[b, s]
                if attention.kind == "additive":
                    W_q, W_k = attention.query_proj.weight, attention.key_proj.weight
                    b_k, v = attention.key_proj.bias, attention.v.weight[0]
                    out[b, t, s] = v @ torch.tanh(W_q @ qt + W_k @ ks + b_k)
                elif attention.kind == "dot":
                    out[b, t, s] = qt @ ks
                else:
                    out[b, t, s] = qt @ attention.key_proj.weight @ ks
    return out


def reference_attend(scores: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor | None):
    """Masked softmax by exp / sum over the valid positions, then sum_s a_s k_s (einsum)."""
    valid = torch.ones_like(scores, dtype=torch.bool) if mask is None else mask.unsqueeze(1)
    e = torch.where(valid, torch.exp(scores - scores.amax(-1, keepdim=True)), 0.0)
    weights = e / e.sum(-1, keepdim=True)  # (B, T, S)
    return torch.einsum("bts,bsd->btd", weights, keys), weights


def _source_mask() -> torch.Tensor:
    lengths = torch.tensor([S, 2, 4])
    return torch.arange(S) < lengths.unsqueeze(1)  # (B, S)


@pytest.mark.parametrize("kind", SCORERS)
def test_scores_match_the_formulas(kind):
    torch.manual_seed(0)
    Dq, Dk = _sizes(kind)
    attention = Attention(Dq, Dk, kind=kind, attention_size=A if kind == "additive" else None)
    q, k = torch.randn(B, T, Dq), torch.randn(B, S, Dk)
    with torch.no_grad():
        expected = reference_scores(attention, q, k)
        got = attention.scores(q, attention.prepare(k))  # (B, T, S)
        torch.testing.assert_close(got, expected)
        got_2d = attention.scores(q[:, 1], attention.prepare(k))  # (B, S)
        torch.testing.assert_close(got_2d, expected[:, 1])


@pytest.mark.parametrize("kind", SCORERS)
def test_prepare_shapes(kind):
    Dq, Dk = _sizes(kind)
    attention = Attention(Dq, Dk, kind=kind, attention_size=A if kind == "additive" else None)
    width = {"additive": A, "dot": Dk, "general": Dq}[kind]
    assert attention.prepare(torch.randn(B, S, Dk)).shape == (B, S, width)


@pytest.mark.parametrize("kind", SCORERS)
@pytest.mark.parametrize("three_d", [False, True])
def test_forward_matches_masked_softmax(kind, three_d):
    torch.manual_seed(1)
    Dq, Dk = _sizes(kind)
    attention = Attention(Dq, Dk, kind=kind)
    q, k, mask = torch.randn(B, T, Dq), torch.randn(B, S, Dk), _source_mask()
    with torch.no_grad():
        context_ref, weights_ref = reference_attend(reference_scores(attention, q, k), k, mask)
        query = q if three_d else q[:, 0]
        context, weights = attention(query, k, mask)
        prepared = attention(query, k, mask, prepared=attention.prepare(k))
    if not three_d:
        context_ref, weights_ref = context_ref[:, 0], weights_ref[:, 0]
    assert context.shape == ((B, T, Dk) if three_d else (B, Dk))
    torch.testing.assert_close(context, context_ref)
    torch.testing.assert_close(weights, weights_ref)
    torch.testing.assert_close(prepared, (context, weights), rtol=0, atol=0)


@pytest.mark.parametrize("kind", SCORERS)
def test_masked_weights_are_zero_and_rows_sum_to_one(kind):
    torch.manual_seed(2)
    Dq, Dk = _sizes(kind)
    attention = Attention(Dq, Dk, kind=kind)
    mask = _source_mask()
    _, weights = attention(torch.randn(B, T, Dq), torch.randn(B, S, Dk), mask)
    assert torch.all(weights.masked_select(~mask.unsqueeze(1).expand_as(weights)) == 0)
    torch.testing.assert_close(weights.sum(-1), torch.ones(B, T))


@pytest.mark.parametrize("kind", SCORERS)
def test_padding_values_change_nothing(kind):
    """New values at padded positions: same context, weights and gradients at valid ones."""
    torch.manual_seed(3)
    Dq, Dk = _sizes(kind)
    attention = Attention(Dq, Dk, kind=kind).double()
    q, mask = torch.randn(B, T, Dq, dtype=torch.float64), _source_mask()
    k = torch.randn(B, S, Dk, dtype=torch.float64)
    other = torch.where(mask.unsqueeze(-1), k, 100 * torch.randn_like(k))

    def run(keys):
        query, keys = q.clone().requires_grad_(), keys.clone().requires_grad_()
        context, weights = attention(query, keys, mask)
        (context.square().sum() + (weights * torch.arange(S)).sum()).backward()
        grads = [query.grad, keys.grad[mask]] + [p.grad.clone() for p in attention.parameters()]
        attention.zero_grad()
        return context, weights, grads, keys.grad[~mask]

    context, weights, grads, padded_grad = run(k)
    context2, weights2, grads2, _ = run(other)
    torch.testing.assert_close(context2, context)
    torch.testing.assert_close(weights2, weights, rtol=0, atol=0)
    torch.testing.assert_close(grads2, grads)
    assert torch.all(padded_grad == 0)


@pytest.mark.parametrize("kind", SCORERS)
@pytest.mark.parametrize("three_d", [False, True])
def test_gradcheck(kind, three_d):
    torch.manual_seed(4)
    Dq, Dk = (3, 3) if kind == "dot" else (3, 2)
    attention = Attention(Dq, Dk, kind=kind, attention_size=4 if kind == "additive" else None)
    attention = attention.double()
    names = [n for n, _ in attention.named_parameters()]
    params = [p.detach().clone().requires_grad_() for p in attention.parameters()]
    shape = (2, 3, Dq) if three_d else (2, Dq)
    q = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    k = torch.randn(2, 4, Dk, dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([[True, True, True, True], [True, True, False, False]])

    def run(q, k, *weights):
        return functional_call(attention, dict(zip(names, weights, strict=True)), (q, k, mask))

    assert torch.autograd.gradcheck(run, (q, k, *params))


@pytest.mark.parametrize("kind", SCORERS)
def test_init_matches_torch_linear(kind):
    Dq, Dk = _sizes(kind)
    torch.manual_seed(5)
    attention = Attention(Dq, Dk, kind=kind, attention_size=A if kind == "additive" else None)
    torch.manual_seed(5)
    if kind == "additive":
        linears = [nn.Linear(Dq, A, bias=False), nn.Linear(Dk, A), nn.Linear(A, 1, bias=False)]
    else:
        linears = [nn.Linear(Dk, Dq, bias=False)] if kind == "general" else []
    expected = [p for linear in linears for p in linear.parameters()]
    torch.testing.assert_close(list(attention.parameters()), expected, rtol=0, atol=0)
    assert attention.num_parameters() == sum(p.numel() for p in attention.parameters())


def test_default_attention_size_is_query_size():
    assert Attention(DQ, DK, kind="additive").query_proj.weight.shape == (DQ, DQ)


@pytest.mark.parametrize(
    ("args", "kwargs", "words"),
    [
        ((DQ, DK), {"kind": "bilinear"}, "'additive', 'dot', 'general'"),
        ((DQ, DK), {"kind": "dot"}, "query_size=6, key_size=7"),
        ((DQ, DK), {"kind": "general", "attention_size": 4}, "attention_size"),
        ((DQ, DK), {"kind": "additive", "attention_size": 0}, "attention_size"),
        ((0, DK), {}, "query_size"),
        ((DQ, 2.5), {}, "key_size"),
    ],
)
def test_bad_arguments(args, kwargs, words):
    with pytest.raises(ValueError, match=words) as error:
        Attention(*args, **kwargs)
    assert "\n" not in str(error.value)


def test_bad_inputs():
    attention = Attention(DQ, DK)
    k = attention.prepare(torch.randn(B, S, DK))
    with pytest.raises(ValueError, match="mask must be bool"):
        attention.scores(torch.randn(B, DQ), k, torch.ones(B, S))
    with pytest.raises(ValueError, match=r"\(3, 5\)"):
        attention.scores(torch.randn(B, DQ), k, torch.ones(B, S + 1, dtype=torch.bool))
    with pytest.raises(ValueError, match="query must be"):
        attention.scores(torch.randn(DQ), k)
