"""The cells' tanh (2 σ(2x) - 1 on the CPU) against torch.tanh, and its gradient."""

import torch

from rnnkit.cells.activations import MIN_ELEMENTS, tanh


def test_equals_torch_tanh_to_a_float32_ulp_of_one():
    x = torch.cat([torch.linspace(-20, 20, 100_001), torch.randn(10_000) * 3])
    error = (tanh(x) - torch.tanh(x)).abs().max().item()
    assert error <= 2.5e-7
    assert tanh(torch.tensor([-50.0, 50.0])).tolist() == [-1.0, 1.0]  # saturates exactly


def test_small_tensors_keep_torch_tanh():
    x = torch.randn(MIN_ELEMENTS - 1)
    assert torch.equal(tanh(x), torch.tanh(x))
    big = torch.randn(MIN_ELEMENTS)
    assert not torch.equal(tanh(big), torch.tanh(big))  # the identity ran: rounding differs


def test_float64_is_exact_to_rounding():
    x = torch.randn(MIN_ELEMENTS, dtype=torch.float64) * 4
    torch.testing.assert_close(tanh(x), torch.tanh(x), rtol=0, atol=1e-15)


def test_gradient_is_one_minus_tanh_squared():
    x = torch.randn(MIN_ELEMENTS, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(tanh, (x,), fast_mode=True)
    tanh(x).sum().backward()
    torch.testing.assert_close(x.grad, 1 - torch.tanh(x.detach()) ** 2)
