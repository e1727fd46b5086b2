"""The fused LSTM loops of :mod:`.lstm` and :mod:`.lstm_backward` on the compiled kernels.

Same math, same saved tensors. Two ways to run the steps:

- per step from Python (the default): Python issues the recurrent GEMM (:class:`StepGEMM`,
  oneDNN's packed weights in forward and backward where
  :func:`~rnnkit.layers.fused.gemm.packable`) and one kernel call (``lstm_fwd``,
  ``lstm_bwd``) does all the element-wise work, the LayerNorms included;
- whole sequence in C++ (opt-in, :data:`.kernels.SEQUENCE`; float32 where torch's MKL is
  found and the step GEMM is packed): ``lstm_seq_fwd`` / ``lstm_seq_bwd`` run every step's
  GEMM on W_hh packed once by MKL and the step kernel, without returning to Python.
"""

from __future__ import annotations

from functools import partial

from torch import Tensor

from rnnkit.layers.fused import kernels
from rnnkit.layers.fused.gemm import StepGEMM, packable
from rnnkit.layers.fused.kernels import ptr
from rnnkit.layers.fused.lstm import LSTMMasks
from rnnkit.layers.fused.lstm_backward import _totals

Norm = tuple[Tensor, Tensor, float] | None


def _ln_bias(norm_hh: Norm, bias: Tensor | None) -> Tensor | None:
    """LN_hh's bias with the cell's bias folded in (it is added right after LN_hh)."""
    if norm_hh is None:
        return None
    return norm_hh[1].contiguous() if bias is None else (norm_hh[1] + bias).contiguous()


def _sequence_gemm(x: Tensor, weight_hh: Tensor, B: int) -> int | None:
    """MKL's packed GEMM for a whole-sequence loop, or None: run the steps from Python."""
    return kernels.sequence_gemm(x) if packable(weight_hh, B) else None


def lstm_loop_compiled(
    gx: Tensor,
    h0: Tensor,
    c0: Tensor,
    weight_hh: Tensor,
    bias: Tensor | None,
    peephole: Tensor | None,
    norm_hh: Norm,
    norm_c: Norm,
    masks: LSTMMasks,
    save: bool,
) -> dict[str, Tensor | None]:
    """:func:`~rnnkit.layers.fused.lstm.lstm_loop` with one kernel call per step (or one
    call for the whole sequence)."""
    T, B, G = gx.shape
    H = G // 4
    n = T if save else 1
    new = partial(kernels.buffer, gx)
    hs, cs = new(T + 1, B, H), new(T + 1, B, H)
    hs[0], cs[0] = h0, c0
    acts, tcs = new(n, B, G), new(n, B, H)
    ctil = cs[1:] if save and masks.zone_c is None else new(n, B, H)  # c~ before zoneout
    ah = new(n, B, G) if norm_hh is not None else None  # a_h = W_hh x_h, for LN's backward
    mu, rs = (new(n, B, 1), new(n, B, 1)) if norm_hh is not None else (None, None)
    cmu, crs = (new(n, B, 1), new(n, B, 1)) if norm_c is not None else (None, None)
    g_hh, eps_hh = (norm_hh[0], norm_hh[2]) if norm_hh else (None, 0.0)
    g_c, b_c, eps_c = norm_c or (None, None, 0.0)
    params = (gx, peephole, g_hh, _ln_bias(norm_hh, bias), g_c, b_c, masks.candidate)
    bufs = (hs, cs, acts, tcs, ctil, mu, rs, cmu, crs)
    tail = (
        *(ptr(x) for x in params + bufs),
        eps_hh,
        eps_c,
        *kernels.zone(masks.zone_h, H),
        *kernels.zone(masks.zone_c, H),
    )
    head = (kernels.is_double(gx), B, H)
    seq = _sequence_gemm(gx, weight_hh, B)
    if seq is not None:
        bias_seq = bias if norm_hh is None else None  # with LN_hh, the bias is in ln_b
        _forward_sequence(seq, gx, weight_hh, bias_seq, masks.state, save, head, tail, ah)
    else:
        _forward_steps(hs, weight_hh, bias, ah, masks.state, save, head, tail)
    out = {"hs": hs, "cs": cs}
    if save:
        out.update(acts=acts, tcs=tcs, ctil=ctil, ah=ah)
        out.update(mu=mu, rs=rs, cmu=cmu, crs=crs)
    return out


def _forward_sequence(
    seq: int,
    gx: Tensor,
    weight_hh: Tensor,
    bias: Tensor | None,
    m_s: Tensor | None,
    save: bool,
    head: tuple,
    tail: tuple,
    ah: Tensor | None,
) -> None:
    """``lstm_seq_fwd`` over all steps; with ``save``, the GEMM writes a_h into ``ah``."""
    T, B, G = gx.shape
    H = G // 4
    packed = kernels.pack(weight_hh, B, transposed=True)  # x_h (B, H) @ W_hhᵀ
    scratch = gx.new_empty(B * G + B * H)  # gh when not saved, then m_s ⊙ h
    bias = None if bias is None else bias.detach().contiguous()
    kernels.module.lstm_seq_fwd(
        T, int(save), seq, packed.data_ptr(), ptr(m_s), scratch.data_ptr(), ptr(bias),
        0, None, *head, 0, *tail, ptr(ah) if save else None,
    )  # fmt: skip


def _forward_steps(
    hs: Tensor,
    weight_hh: Tensor,
    bias: Tensor | None,
    ah: Tensor | None,
    m_s: Tensor | None,
    save: bool,
    head: tuple,
    tail: tuple,
) -> None:
    """The steps from Python: the step GEMM, then ``lstm_fwd``. With LN_hh, gh = a_h: the
    plain GEMM writes it into ``ah``, the kernel copies the packed GEMM's output there."""
    T, B = hs.shape[0] - 1, hs.shape[1]
    gemm = StepGEMM(weight_hh, B, bias if ah is None else None)
    into = ah is not None and gemm.packed is None
    AH = ah.unbind(0) if ah is not None else None
    copy_to = ptr(ah) if save and not into else None  # the kernel indexes it by step
    HS, fwd = hs.unbind(0), kernels.module.lstm_fwd
    for t in range(T):
        x_h = HS[t] if m_s is None else HS[t] * m_s
        gh = gemm(x_h, out=AH[t if save else 0]) if into else gemm(x_h)
        fwd(t, gh.data_ptr(), *head, t if save else 0, *tail, copy_to)


def lstm_backward_compiled(
    run: dict,
    dout: Tensor,
    dh_T: Tensor | None,
    dc_T: Tensor | None,
    weight_hh: Tensor,
    bias: Tensor | None,
    peephole: Tensor | None,
    norm_hh: Norm,
    norm_c: Norm,
    masks: LSTMMasks,
) -> dict[str, Tensor | None]:
    """:func:`~rnnkit.layers.fused.lstm_backward.lstm_backward` on the kernels."""
    T, B, G = run["acts"].shape
    H = G // 4
    dA = kernels.buffer(dout, T, B, G)
    dah = dA if norm_hh is None else kernels.buffer(dout, T, B, G)  # d(W_hh x_h): through LN_hh
    zeros = dout.new_zeros
    dln = (zeros(G), zeros(G)) if norm_hh is not None else (None, None)
    dlc = (zeros(H), zeros(H)) if norm_c is not None else (None, None)
    saved = (dout, run["acts"], run["tcs"], run["cs"], run["ctil"], peephole, masks.candidate)
    ln = (run["ah"], run["mu"], run["rs"], None if norm_hh is None else norm_hh[0])
    lc = (run["cmu"], run["crs"], None if norm_c is None else norm_c[0])
    tail = (
        *(ptr(x) for x in (*saved, *ln, *lc, dA, dah, *dln, *dlc)),
        *kernels.zone(masks.zone_h, H),
        *kernels.zone(masks.zone_c, H),
    )
    head = (kernels.is_double(dout), B, H)
    dh = dout[T - 1] if dh_T is None else dout[T - 1] + dh_T
    dc = dout.new_zeros(B, H) if dc_T is None else dc_T.contiguous()
    seq = _sequence_gemm(dout, weight_hh, B)
    steps = _backward_steps if seq is None else _backward_sequence
    dh, dc = steps(seq, weight_hh, dah, masks.state, dh.contiguous(), dc, head, tail)
    grads = _totals(run, dA, dah, dh, dc, peephole, masks)
    if norm_hh is not None:
        grads["norm_hh"] = dln
    if norm_c is not None:
        grads["norm_c"] = dlc
    if bias is not None:
        grads["bias"] = dln[1] if norm_hh is not None else dA.sum((0, 1))
    return grads


def _backward_sequence(
    seq: int | None, weight_hh: Tensor, dah: Tensor, m_s, dh: Tensor, dc: Tensor, head, tail
) -> tuple[Tensor, Tensor]:
    """``lstm_seq_bwd`` over all steps: the gradients of h0 and c0."""
    T, B, G = dah.shape
    H = G // 4
    packed = kernels.pack(weight_hh, B, transposed=False)  # dah (B, 4H) @ W_hh
    pairs = dah.new_empty(2, 2, B, H)  # (dc_prev, carry) for even and odd steps
    scratch = dah.new_empty(B, H)
    kernels.module.lstm_seq_bwd(
        T, seq, packed.data_ptr(), ptr(m_s), scratch.data_ptr(), pairs.data_ptr(),
        0, dh.data_ptr(), dc.data_ptr(), None, None, *head, *tail,
    )  # fmt: skip
    return pairs[0, 1], pairs[0, 0]


def _backward_steps(
    seq: None, weight_hh: Tensor, dah: Tensor, m_s, dh: Tensor, dc: Tensor, head, tail
) -> tuple[Tensor, Tensor]:
    """The steps from Python: ``lstm_bwd``, then dh_{t-1} = carry + m_s ⊙ (dah[t] @ W_hh),
    the GEMM on oneDNN's packed W_hh where :func:`packable` (measured about 15-20 % faster
    than ``addmm`` on AVX-512 at C1/C2), else ``addmm``."""
    T, B = dah.shape[0], dah.shape[1]
    gemm, DAH = StepGEMM(weight_hh.t(), B), dah.unbind(0)  # x (B, 4H) -> x @ W_hh (B, H)
    dcs = (dh.new_empty(dh.shape), dh.new_empty(dh.shape))
    carries = (dh.new_empty(dh.shape), dh.new_empty(dh.shape))
    bwd = kernels.module.lstm_bwd
    for t in range(T - 1, -1, -1):
        dc_prev, carry = dcs[t % 2], carries[t % 2]  # carry = dout[t-1] + z_h dh
        bwd(t, dh.data_ptr(), dc.data_ptr(), dc_prev.data_ptr(), carry.data_ptr(), *head, *tail)
        dh = gemm(DAH[t], carry) if m_s is None else carry.addcmul_(gemm(DAH[t]), m_s)
        dc = dc_prev
    return dh, dc
