// Fused element-wise step kernels for the fused GRU and LSTM loops (rnnkit.layers.fused).
//
// Why: between two recurrent GEMMs a step does a dozen small element-wise ops on (B, 4H)
// tensors. Issued from Python as torch ops, each costs several microseconds of dispatch,
// more than its arithmetic at the sizes RNNs use. Here one call does a step's whole gate
// math in one pass over the rows, vectorised (clones for AVX-512, AVX2 and SSE2 on x86-64
// Linux, chosen at load time) and, for large enough steps, split among torch's threads.
//
// The math is exactly that of the torch-op fallback documented in gru.py / gru_backward.py
// and lstm.py / lstm_backward.py, with the same symbols. Every buffer is a C-contiguous
// array of R (float or double); a saved per-step buffer holds (n, B, X) with n = T when
// the forward pass saves for backward and n = 1 otherwise, and `st` is the step's row in it
// (t or 0). A null pointer means "absent" (no mask, no peephole, ...).
//
// Zone weights (zoneout and frozen steps), Zone{ptr, cols, cst}: `ptr` points at
// (T, B, cols) with cols H or 1; with a null pointer, `cst` is used when cols is -1, and
// there is no zone otherwise. Built with GCC or Clang (setup.py); elsewhere the build is
// skipped and the torch-op loops run.

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>
#include <algorithm>

#ifdef _OPENMP
#include <omp.h>
#endif

// One clone per x86-64 level: AVX-512 (v4), AVX2 + FMA (v3), SSE2; the loader picks one.
#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(__clang__)
#define RNNKIT_CLONES \
    __attribute__((noinline, target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define RNNKIT_CLONES __attribute__((noinline))
#endif
#define RNNKIT_INLINE inline __attribute__((always_inline))

namespace {

typedef int64_t i64;

// ---------------------------------------------------------------- scalar math ----------

// exp(x) for float: Cephes-style range reduction x = n ln2 + r and a degree-5 polynomial
// (about 1 ulp), written with plain arithmetic so that the compiler vectorises the loops.
RNNKIT_INLINE float exp_(float x) {
    x = x < -87.3f ? -87.3f : x;
    x = x > 88.3f ? 88.3f : x;
    const float magic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
    float n = (x * 1.44269504088896341f + magic) - magic;
    // A NaN x passes both clamps: n = 0 keeps the int conversion below defined (converting
    // NaN to int is undefined behaviour), while r, and so the result, stay NaN.
    n = n == n ? n : 0.0f;
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    std::memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

RNNKIT_INLINE double exp_(double x) { return std::exp(x); }

template <typename R>
RNNKIT_INLINE R sig(R x) {
    return R(1) / (R(1) + exp_(-x));
}

// tanh(x) = 2 σ(2x) - 1, as in the torch-op fallback.
template <typename R>
RNNKIT_INLINE R tanh_(R x) {
    return R(2) * sig(x + x) - R(1);
}

// torch.lerp's formula: exact at both ends (a frozen step keeps its state bit for bit).
template <typename R>
RNNKIT_INLINE R lerp_(R a, R b, R w) {
    return w < R(0.5) ? a + w * (b - a) : b - (b - a) * (R(1) - w);
}

template <typename R>
struct Zone {
    const R* ptr;  // (T, B, cols)
    i64 cols;      // H, 1, or -1 (use cst); anything else with a null ptr: no zone
    R cst;
};

// Per-row views that keep the inner loops free of branches: an absent mask reads a row of
// ones, an absent zone a row of zeros, a per-row or constant zone weight a filled row.
template <typename R>
struct Rows {
    i64 H;
    std::vector<R> ones, zeros, fill_h, fill_c;
    explicit Rows(i64 H_) : H(H_), ones(H_, R(1)), zeros(H_, R(0)), fill_h(H_), fill_c(H_) {}
    const R* mask(const R* m, i64 b) const { return m ? m + b * H : ones.data(); }
    const R* zone(const Zone<R>& z, i64 row, std::vector<R>& fill) const {
        if (z.ptr && z.cols != 1) return z.ptr + row * H;
        if (!z.ptr && z.cols != -1) return zeros.data();
        R w = z.ptr ? z.ptr[row] : z.cst;
        std::fill(fill.begin(), fill.end(), w);
        return fill.data();
    }
};

// ---------------------------------------------------------------- threads --------------
//
// A step's rows are independent: with more than one thread allowed (torch.set_num_threads;
// the extension links libgomp, the OpenMP runtime torch itself runs on, so it shares
// torch's thread pool), they are split into one contiguous block per thread. Smaller
// steps than kParallelMin elements run on the calling thread: the fork would cost more
// than it saves. Each kernel below is a `*_rows(b0, b1, ...)` over a block of rows
// (cloned per ISA level) and a driver that splits the rows.

constexpr i64 kParallelMin = 4096;

// run(b0, b1, part) on each block; returns the number of parts (1: all on this thread).
template <typename F>
int split_rows(i64 B, i64 H, F&& run) {
#ifdef _OPENMP
    if (B > 1 && B * H >= kParallelMin && omp_get_max_threads() > 1 && !omp_in_parallel()) {
        const int parts = static_cast<int>(std::min<i64>(B, omp_get_max_threads()));
#pragma omp parallel num_threads(parts)
        {
            const i64 n = omp_get_num_threads(), k = omp_get_thread_num();
            run(B * k / n, B * (k + 1) / n, static_cast<int>(k));
        }
        return parts;
    }
#endif
    run(0, B, 0);
    return 1;
}

// ---------------------------------------------------------------- GRU forward ----------
//
// reset_after: gh = W_hh x_h + b_hh (B, 3H) from the step GEMM.
//   r, z = σ(gx_rz + gh_rz);  n = tanh(gx_n + r ⊙ gh_n)
//   h~ = lerp(m_g ⊙ n, x_h, z) = (1 - z) ⊙ (m_g ⊙ n) + z ⊙ x_h;  h_t = lerp(h~, h, z_h[t])
// Saves rz (r | z), cand (n) and ghn (gh_n).

// h_t = lerp(lerp(m_g n, x_h, z), h, z_h), x_h = m_s h: the update shared by both forms.
template <typename R>
RNNKIT_INLINE void gru_update(i64 H, const R* __restrict__ h, const R* __restrict__ z,
                              const R* __restrict__ n, const R* __restrict__ ms,
                              const R* __restrict__ mg, const R* __restrict__ w,
                              R* __restrict__ hn) {
    for (i64 j = 0; j < H; ++j) hn[j] = lerp_(lerp_(n[j] * mg[j], h[j] * ms[j], z[j]), h[j], w[j]);
}

template <typename R>
struct GRUFwd {
    i64 t, B, H, st;
    const R *gx, *gh, *m_s, *m_g;  // gh: the step GEMM's output (gn for reset_before's n)
    R *hs, *rz, *cand, *extra;     // extra: ghn (reset_after) or rh = r ⊙ x_h (before)
    Zone<R> zone;
};

template <typename R>
RNNKIT_CLONES void gru_after_fwd_rows(i64 b0, i64 b1, const GRUFwd<R>& k) {
    const i64 B = k.B, H = k.H;
    Rows<R> rows(H);
    for (i64 b = b0; b < b1; ++b) {
        const i64 row = k.t * B + b, srow = k.st * B + b;
        const R* __restrict__ gxr = k.gx + row * 3 * H;
        const R* __restrict__ ghr = k.gh + b * 3 * H;
        R* __restrict__ r = k.rz + srow * 2 * H;
        R* __restrict__ n = k.cand + srow * H;
        R* __restrict__ g = k.extra + srow * H;
        for (i64 j = 0; j < 2 * H; ++j) r[j] = sig(gxr[j] + ghr[j]);
        for (i64 j = 0; j < H; ++j) {
            g[j] = ghr[2 * H + j];
            n[j] = tanh_(gxr[2 * H + j] + r[j] * g[j]);
        }
        gru_update(H, k.hs + row * H, r + H, n, rows.mask(k.m_s, b), rows.mask(k.m_g, b),
                   rows.zone(k.zone, row, rows.fill_h), k.hs + (row + B) * H);
    }
}

// reset_before, first half: r, z = σ(gx_rz + grz) with grz = W_rz x_h + b_rz; rh = r ⊙ x_h.
template <typename R>
RNNKIT_CLONES void gru_before_fwd_rz_rows(i64 b0, i64 b1, const GRUFwd<R>& k) {
    const i64 B = k.B, H = k.H;
    Rows<R> rows(H);
    for (i64 b = b0; b < b1; ++b) {
        const i64 row = k.t * B + b, srow = k.st * B + b;
        const R* __restrict__ gxr = k.gx + row * 3 * H;
        const R* __restrict__ gr = k.gh + b * 2 * H;
        const R* __restrict__ h = k.hs + row * H;
        const R* __restrict__ ms = rows.mask(k.m_s, b);
        R* __restrict__ r = k.rz + srow * 2 * H;
        R* __restrict__ o = k.extra + srow * H;
        for (i64 j = 0; j < 2 * H; ++j) r[j] = sig(gxr[j] + gr[j]);
        for (i64 j = 0; j < H; ++j) o[j] = r[j] * (h[j] * ms[j]);
    }
}

// reset_before, second half: n = tanh(gx_n + gn) with gn = W_n (r ⊙ x_h) + b_n; h update.
template <typename R>
RNNKIT_CLONES void gru_before_fwd_n_rows(i64 b0, i64 b1, const GRUFwd<R>& k) {
    const i64 B = k.B, H = k.H;
    Rows<R> rows(H);
    for (i64 b = b0; b < b1; ++b) {
        const i64 row = k.t * B + b, srow = k.st * B + b;
        const R* __restrict__ gxr = k.gx + row * 3 * H + 2 * H;
        const R* __restrict__ g = k.gh + b * H;
        R* __restrict__ n = k.cand + srow * H;
        for (i64 j = 0; j < H; ++j) n[j] = tanh_(gxr[j] + g[j]);
        gru_update(H, k.hs + row * H, k.rz + srow * 2 * H + H, n, rows.mask(k.m_s, b),
                   rows.mask(k.m_g, b), rows.zone(k.zone, row, rows.fill_h), k.hs + (row + B) * H);
    }
}

// ---------------------------------------------------------------- GRU backward ---------
//
// From dh (the gradient of h_t), step t:
//   dh~ = (1 - z_h) dh;  da_n = dh~ (1 - z) m_g (1 - n²);  da_z = dh~ (x_h - m_g n) z (1 - z)
//   reset_after:  da_r = da_n gh_n r (1 - r);  dgh = (da_r | da_z | da_n r)
//   reset_before: da_r = d(r x_h) x_h r (1 - r), after the W_n GEMM (gru_before_bwd_r)
//   dgx[t] = (da_r | da_z | da_n)
//   direct = z dh~ (the part of dx_h that skips W_hh), carry = dout[t-1] + z_h dh.
// Without a mask on the state (m_s null), carry is added into direct, so that
// dh_{t-1} = direct + dgh @ W_hh is one addmm; otherwise
// dh_{t-1} = m_s ⊙ (direct + dgh @ W_hh) + carry.

template <typename R>
struct GRUBwd {
    i64 t, B, H;
    const R *dh, *dout, *hs, *rz, *cand, *ghn, *m_s, *m_g;  // dh: drh in gru_before_bwd_r
    R *dgx, *dgh, *direct, *carry;
    Zone<R> zone;
};

template <typename R>
RNNKIT_CLONES void gru_bwd_rows(i64 b0, i64 b1, const GRUBwd<R>& k) {
    const i64 B = k.B, H = k.H, t = k.t;
    Rows<R> rows(H);
    for (i64 b = b0; b < b1; ++b) {
        const i64 row = t * B + b;
        const R* __restrict__ d = k.dh + b * H;
        const R* __restrict__ h = k.hs + row * H;
        const R* __restrict__ r = k.rz + row * 2 * H;
        const R* __restrict__ z = r + H;
        const R* __restrict__ n = k.cand + row * H;
        const R* __restrict__ prev = t > 0 ? k.dout + (row - B) * H : rows.zeros.data();
        const R* __restrict__ ms = rows.mask(k.m_s, b);
        const R* __restrict__ mg = rows.mask(k.m_g, b);
        const R* __restrict__ w = rows.zone(k.zone, row, rows.fill_h);
        R* __restrict__ dg = k.dgx + row * 3 * H;
        R* __restrict__ dir = k.direct + b * H;
        for (i64 j = 0; j < H; ++j) {
            R dhn = d[j] * (R(1) - w[j]);
            dg[2 * H + j] = dhn * (R(1) - z[j]) * mg[j] * (R(1) - n[j] * n[j]);
            dg[H + j] = dhn * (h[j] * ms[j] - mg[j] * n[j]) * z[j] * (R(1) - z[j]);
            dir[j] = dhn * z[j];
        }
        if (k.ghn) {  // reset_after
            const R* __restrict__ g = k.ghn + row * H;
            R* __restrict__ dgr = k.dgh + row * 3 * H;
            for (i64 j = 0; j < H; ++j) {
                R a_n = dg[2 * H + j];
                dg[j] = dgr[j] = a_n * g[j] * r[j] * (R(1) - r[j]);
                dgr[H + j] = dg[H + j];
                dgr[2 * H + j] = a_n * r[j];
            }
        }
        if (k.m_s) {
            R* __restrict__ car = k.carry + b * H;
            for (i64 j = 0; j < H; ++j) car[j] = prev[j] + w[j] * d[j];
        } else {
            for (i64 j = 0; j < H; ++j) dir[j] += prev[j] + w[j] * d[j];
        }
    }
}

// reset_before, after drh = da_n @ W_n: da_r = drh x_h r (1 - r);  direct += r drh.
template <typename R>
RNNKIT_CLONES void gru_before_bwd_r_rows(i64 b0, i64 b1, const GRUBwd<R>& k) {
    const i64 B = k.B, H = k.H;
    Rows<R> rows(H);
    for (i64 b = b0; b < b1; ++b) {
        const i64 row = k.t * B + b;
        const R* __restrict__ e = k.dh + b * H;
        const R* __restrict__ h = k.hs + row * H;
        const R* __restrict__ ms = rows.mask(k.m_s, b);
        const R* __restrict__ r = k.rz + row * 2 * H;
        R* __restrict__ dg = k.dgx + row * 3 * H;
        R* __restrict__ dir = k.direct + b * H;
        for (i64 j = 0; j < H; ++j) {
            dg[j] = e[j] * (h[j] * ms[j]) * r[j] * (R(1) - r[j]);
            dir[j] += r[j] * e[j];
        }
    }
}

// ---------------------------------------------------------------- LSTM forward ---------
//
// With a = gx[t] + gh (gh = W_hh x_h + b from the step GEMM), or, with LN_hh,
// a = gx[t] + LN_hh(a_h) (a_h = W_hh x_h, normalised over its 4H units with gain
// ln_g and bias ln_b, which already includes b):
//   a_i += w_ci c;  a_f += w_cf c                          (peepholes)
//   i, f = σ(a_i), σ(a_f);  g = tanh(a_g);  c~ = f c + i (m_g g)
//   o = σ(a_o + w_co c~)                                   (peephole w_co)
//   h~ = o tanh(c~)  or  o tanh(LN_c(c~));  h_t = lerp(h~, h, z_h);  c_t = lerp(c~, c, z_c)
// Saves acts (i | f | g | o), tcs (the tanh), ctil (c~) and the LN statistics (mean, 1/σ);
// with LN_hh and a non-null `ah`, also a copy of a_h (the step GEMM's output) for backward.

template <typename R>
RNNKIT_INLINE void moments(const R* __restrict__ x, i64 n, R eps, R* mu, R* rs) {
    R s = 0;
#pragma omp simd reduction(+ : s)
    for (i64 k = 0; k < n; ++k) s += x[k];
    R m = s / R(n), v = 0;
#pragma omp simd reduction(+ : v)
    for (i64 k = 0; k < n; ++k) v += (x[k] - m) * (x[k] - m);
    *mu = m;
    *rs = R(1) / std::sqrt(v / R(n) + eps);
}

struct LSTMShape {
    i64 t, B, H, st;
};

template <typename R>
struct LSTMFwd {
    const R *gx, *gh, *peep, *ln_g, *ln_b, *lc_g, *lc_b, *m_g;
    R *hs, *cs, *acts, *tcs, *ctil, *mu, *rs, *cmu, *crs, *ah;
    const R* bias;  // (4H,) added to gx + gh without LN_hh; null: already in gh
    R eps_hh, eps_c;
    Zone<R> zh, zc;
};

template <typename R>
RNNKIT_CLONES void lstm_fwd_rows(i64 b0, i64 b1, const LSTMShape& s, const LSTMFwd<R>& k) {
    const i64 B = s.B, H = s.H, G = 4 * H;
    Rows<R> rows(H);
    std::vector<R> lc(H);
    for (i64 b = b0; b < b1; ++b) {
        const i64 row = s.t * B + b, srow = s.st * B + b;
        const R* __restrict__ gx = k.gx + row * G;
        const R* __restrict__ gh = k.gh + b * G;
        const R* __restrict__ c = k.cs + row * H;
        const R* __restrict__ h = k.hs + row * H;
        const R* __restrict__ mg = rows.mask(k.m_g, b);
        R* __restrict__ a = k.acts + srow * G;
        R *ai = a, *af = a + H, *ag = a + 2 * H, *ao = a + 3 * H;
        R* __restrict__ tc = k.tcs + srow * H;
        R* ct = k.ctil + srow * H;  // may be c_t itself (no zone on c)
        if (k.ln_g) {
            R mu, rs;
            moments(gh, G, k.eps_hh, &mu, &rs);
            k.mu[srow] = mu, k.rs[srow] = rs;
            if (k.ah && k.ah + srow * G != gh) std::memcpy(k.ah + srow * G, gh, G * sizeof(R));
            for (i64 j = 0; j < G; ++j) a[j] = gx[j] + ((gh[j] - mu) * rs * k.ln_g[j] + k.ln_b[j]);
        } else if (k.bias) {
            for (i64 j = 0; j < G; ++j) a[j] = gx[j] + gh[j] + k.bias[j];
        } else {
            for (i64 j = 0; j < G; ++j) a[j] = gx[j] + gh[j];
        }
        if (k.peep) {
            for (i64 j = 0; j < H; ++j) ai[j] += k.peep[j] * c[j];
            for (i64 j = 0; j < H; ++j) af[j] += k.peep[H + j] * c[j];
        }
        for (i64 j = 0; j < 2 * H; ++j) a[j] = sig(a[j]);
        for (i64 j = 0; j < H; ++j) ag[j] = tanh_(ag[j]);
        for (i64 j = 0; j < H; ++j) ct[j] = af[j] * c[j] + ai[j] * (ag[j] * mg[j]);
        if (k.peep) {
            for (i64 j = 0; j < H; ++j) ao[j] += k.peep[2 * H + j] * ct[j];
        }
        for (i64 j = 0; j < H; ++j) ao[j] = sig(ao[j]);
        const R* cn = ct;
        if (k.lc_g) {
            R mu, rs;
            moments(ct, H, k.eps_c, &mu, &rs);
            k.cmu[srow] = mu, k.crs[srow] = rs;
            for (i64 j = 0; j < H; ++j) lc[j] = (ct[j] - mu) * rs * k.lc_g[j] + k.lc_b[j];
            cn = lc.data();
        }
        for (i64 j = 0; j < H; ++j) tc[j] = tanh_(cn[j]);
        const R* __restrict__ wh = rows.zone(k.zh, row, rows.fill_h);
        const R* __restrict__ wc = rows.zone(k.zc, row, rows.fill_c);
        R* __restrict__ hn = k.hs + (row + B) * H;
        R* cnext = k.cs + (row + B) * H;
        for (i64 j = 0; j < H; ++j) hn[j] = lerp_(ao[j] * tc[j], h[j], wh[j]);
        for (i64 j = 0; j < H; ++j) cnext[j] = lerp_(ct[j], c[j], wc[j]);
    }
}

// ---------------------------------------------------------------- LSTM backward --------
//
// From dh, dc (the gradients of h_t, c_t), step t:
//   dh~ = (1 - z_h) dh;  dc~ = (1 - z_c) dc
//   da_o = dh~ tanh o (1 - o);  dc~ += dh~ o (1 - tanh²) (through LN_c's backward)
//   dc~ += da_o w_co;  da_i = dc~ m_g g i (1 - i);  da_f = dc~ c f (1 - f)
//   da_g = dc~ i m_g (1 - g²);  dc_{t-1} = dc~ f + z_c dc + da_i w_ci + da_f w_cf
//   dah = da, or LN_hh's backward of da;  carry = dout[t-1] + z_h dh
// so that dh_{t-1} = carry + m_s ⊙ (dah @ W_hh). LayerNorm gain and bias gradients are
// summed into dln_g, dln_b (4H) and dlc_g, dlc_b (H).

// LayerNorm backward of one row: dx = rs (dy γ - mean(dy γ) - x̂ mean(dy γ x̂)), x̂ = (x - μ) rs.
// dx may be dy.
template <typename R>
RNNKIT_INLINE void ln_row_backward(const R* dy, const R* __restrict__ x, i64 n, R mu, R rs,
                                   const R* __restrict__ gamma, R* dx, R* __restrict__ dgamma,
                                   R* __restrict__ dbeta) {
    R s1 = 0, s2 = 0;
#pragma omp simd reduction(+ : s1, s2)
    for (i64 j = 0; j < n; ++j) {
        R xh = (x[j] - mu) * rs, dxh = dy[j] * gamma[j];
        s1 += dxh, s2 += dxh * xh;
        dgamma[j] += dy[j] * xh, dbeta[j] += dy[j];
    }
    s1 /= R(n), s2 /= R(n);
    for (i64 j = 0; j < n; ++j) dx[j] = rs * (dy[j] * gamma[j] - s1 - (x[j] - mu) * rs * s2);
}

template <typename R>
struct LSTMBwd {
    const R *dh, *dc, *dout, *acts, *tcs, *cs, *ctil, *peep, *m_g;
    const R *ah, *mu, *rs, *ln_g, *cmu, *crs, *lc_g;
    R *da, *dah, *dc_prev, *carry, *dln_g, *dln_b, *dlc_g, *dlc_b;
    Zone<R> zh, zc;
};

template <typename R>
RNNKIT_CLONES void lstm_bwd_rows(i64 b0, i64 b1, const LSTMShape& s, const LSTMBwd<R>& k) {
    const i64 B = s.B, H = s.H, G = 4 * H, t = s.t;
    Rows<R> rows(H);
    std::vector<R> dct_row(H), peep0(3 * H, R(0));
    const R* __restrict__ peep = k.peep ? k.peep : peep0.data();
    for (i64 b = b0; b < b1; ++b) {
        const i64 row = t * B + b;
        const R* __restrict__ a = k.acts + row * G;
        const R *ai = a, *af = a + H, *ag = a + 2 * H, *ao = a + 3 * H;
        const R* __restrict__ tc = k.tcs + row * H;
        const R* __restrict__ c = k.cs + row * H;
        const R* __restrict__ dh = k.dh + b * H;
        const R* __restrict__ dc = k.dc + b * H;
        const R* __restrict__ prev = t > 0 ? k.dout + (row - B) * H : rows.zeros.data();
        const R* __restrict__ mg = rows.mask(k.m_g, b);
        const R* __restrict__ wh = rows.zone(k.zh, row, rows.fill_h);
        const R* __restrict__ wc = rows.zone(k.zc, row, rows.fill_c);
        R* __restrict__ d = k.da + row * G;
        R *di = d, *df = d + H, *dg = d + 2 * H, *dO = d + 3 * H;
        R* __restrict__ dct = dct_row.data();
        R* __restrict__ dcp = k.dc_prev + b * H;
        R* __restrict__ car = k.carry + b * H;
        for (i64 j = 0; j < H; ++j) {
            R dhn = dh[j] * (R(1) - wh[j]), u = dhn * ao[j], v = u * tc[j];
            dO[j] = v * (R(1) - ao[j]);
            dct[j] = u * (R(1) - tc[j] * tc[j]);
            car[j] = prev[j] + wh[j] * dh[j];
        }
        if (k.lc_g) {
            ln_row_backward(dct, k.ctil + row * H, H, k.cmu[row], k.crs[row], k.lc_g, dct,
                            k.dlc_g, k.dlc_b);
        }
        for (i64 j = 0; j < H; ++j) {
            R x = dct[j] + dc[j] * (R(1) - wc[j]) + dO[j] * peep[2 * H + j];
            dg[j] = x * ai[j] * mg[j] * (R(1) - ag[j] * ag[j]);
            di[j] = x * mg[j] * ag[j] * ai[j] * (R(1) - ai[j]);
            df[j] = x * af[j] * c[j] * (R(1) - af[j]);
            dcp[j] = x * af[j] + wc[j] * dc[j] + di[j] * peep[j] + df[j] * peep[H + j];
        }
        if (k.ln_g) {
            ln_row_backward(d, k.ah + row * G, G, k.mu[row], k.rs[row], k.ln_g, k.dah + row * G,
                            k.dln_g, k.dln_b);
        }
    }
}

// The LayerNorm gain and bias gradients are sums over rows: block 0 adds into the outputs,
// every other block into its own zeroed buffer, added after the blocks in block order (the
// same numbers for the same thread count).
template <typename R>
void lstm_bwd(const LSTMShape& s, const LSTMBwd<R>& k) {
    const i64 H = s.H, G = 4 * H, width = 2 * G + 2 * H;
#ifdef _OPENMP
    const i64 max_parts = std::max(1, omp_get_max_threads());
#else
    const i64 max_parts = 1;
#endif
    const bool sums = k.dln_g || k.dlc_g;
    std::vector<R> partial(sums ? (max_parts - 1) * width : 0, R(0));
    const int parts = split_rows(s.B, H, [&](i64 b0, i64 b1, int part) {
        LSTMBwd<R> mine = k;
        if (sums && part > 0) {
            R* p = partial.data() + (part - 1) * width;
            mine.dln_g = k.dln_g ? p : nullptr, mine.dln_b = k.dln_g ? p + G : nullptr;
            mine.dlc_g = k.dlc_g ? p + 2 * G : nullptr;
            mine.dlc_b = k.dlc_g ? p + 2 * G + H : nullptr;
        }
        lstm_bwd_rows<R>(b0, b1, s, mine);
    });
    for (int part = 1; sums && part < parts; ++part) {
        const R* p = partial.data() + (part - 1) * width;
        R* outs[4] = {k.dln_g, k.dln_b, k.dlc_g, k.dlc_b};
        const i64 offs[4] = {0, G, 2 * G, 2 * G + H}, lens[4] = {G, G, H, H};
        for (int q = 0; q < 4; ++q) {
            if (!outs[q]) continue;
            for (i64 j = 0; j < lens[q]; ++j) outs[q][j] += p[offs[q] + j];
        }
    }
}

// ---------------------------------------------------------------- whole sequences ------
//
// With MKL's packed GEMM (cblas_sgemm_pack / cblas_sgemm_compute of the MKL inside torch,
// found by kernels.py and handed over as addresses), a float32 LSTM runs its whole forward
// or backward loop here: per step one GEMM on W_hh packed once, and the step kernel above,
// without returning to Python (whose per-step calls cost more than the element-wise work).
//
// Forward step t: gh = x_h W_hhᵀ (into ah[t] when LN_hh saves it), then lstm_fwd_rows,
// which adds gx[t] (and the bias, or LN_hh). Backward step t (from T - 1 down): lstm_bwd,
// then carry += m_s ⊙ (dah[t] W_hh), which is dh_{t-1}; dc_prev is dc_{t-1}. The two
// (dh, dc) buffer pairs alternate; step t writes pair t % 2, so the gradients of h0 and c0
// end in pair 0.

typedef void (*SgemmCompute)(int layout, int transa, int transb, int m, int n, int k,
                             const float* a, int lda, const float* b, int ldb, float beta,
                             float* c, int ldc);
constexpr int kRowMajor = 101, kNoTrans = 111, kPacked = 151;

struct Seq {
    i64 T;
    bool save;
    SgemmCompute gemm;
    const float* packed;  // W_hh packed as the GEMM's right operand
    const float* m_s;     // (B, H) mask on the h a step reads, or null
    float* scratch;       // (B, 4H): gh when not saved; (B, H) x_h = m_s ⊙ h follows it
};

void lstm_seq_fwd(const Seq& q, i64 B, i64 H, LSTMFwd<float> k) {
    const i64 G = 4 * H;
    float* x_h = q.scratch + B * G;
    float* ah = k.ah;
    k.ah = nullptr;  // the GEMM writes a_h where it is kept
    for (i64 t = 0; t < q.T; ++t) {
        const i64 st = q.save ? t : 0;
        const float* h = k.hs + t * B * H;
        if (q.m_s) {
            for (i64 j = 0; j < B * H; ++j) x_h[j] = h[j] * q.m_s[j];
            h = x_h;
        }
        float* gh = ah && q.save ? ah + t * B * G : q.scratch;
        q.gemm(kRowMajor, kNoTrans, kPacked, B, G, H, h, H, q.packed, G, 0.0f, gh, G);
        k.gh = gh;
        LSTMShape s{t, B, H, st};
        split_rows(B, H, [&](i64 b0, i64 b1, int) { lstm_fwd_rows<float>(b0, b1, s, k); });
    }
}

// dh, dc: the gradients of h_T, c_T; pairs: (dc_prev, carry) x 2, each (B, H).
void lstm_seq_bwd(const Seq& q, i64 B, i64 H, LSTMBwd<float> k, float* pairs) {
    const i64 G = 4 * H, BH = B * H;
    for (i64 t = q.T - 1; t >= 0; --t) {
        float* dc_prev = pairs + (t % 2) * 2 * BH;
        float* carry = dc_prev + BH;
        k.dc_prev = dc_prev, k.carry = carry;
        lstm_bwd<float>(LSTMShape{t, B, H, 0}, k);
        const float* dah = k.dah + t * B * G;
        if (!q.m_s) {
            q.gemm(kRowMajor, kNoTrans, kPacked, B, H, G, dah, G, q.packed, H, 1.0f, carry, H);
        } else {
            q.gemm(kRowMajor, kNoTrans, kPacked, B, H, G, dah, G, q.packed, H, 0.0f, q.scratch,
                   H);
            for (i64 j = 0; j < BH; ++j) carry[j] += q.m_s[j] * q.scratch[j];
        }
        k.dh = carry, k.dc = dc_prev;
    }
}

// GRU, reset after (float32): step t: gh = b_hh + x_h W_hhᵀ (the bias rows copied into
// the GEMM's output, then beta = 1), then gru_after_fwd_rows. Backward step t:
// gru_bwd_rows, then direct += dgh[t] W_hh, and with m_s, direct = m_s ⊙ direct + carry:
// dh_{t-1}; step t writes direct t % 2, so the gradient of h0 ends in direct 0.
void gru_seq_fwd(const Seq& q, const float* bias, GRUFwd<float> k) {
    const i64 B = k.B, H = k.H, G = 3 * H;
    float* gh = q.scratch;
    float* x_h = q.scratch + B * G;
    for (i64 t = 0; t < q.T; ++t) {
        const float* h = k.hs + t * B * H;
        if (q.m_s) {
            for (i64 j = 0; j < B * H; ++j) x_h[j] = h[j] * q.m_s[j];
            h = x_h;
        }
        for (i64 b = 0; b < B; ++b) {
            if (bias) std::memcpy(gh + b * G, bias, G * sizeof(float));
            else std::fill(gh + b * G, gh + (b + 1) * G, 0.0f);
        }
        q.gemm(kRowMajor, kNoTrans, kPacked, B, G, H, h, H, q.packed, G, 1.0f, gh, G);
        k.t = t, k.st = q.save ? t : 0, k.gh = gh;
        split_rows(B, H, [&](i64 b0, i64 b1, int) { gru_after_fwd_rows<float>(b0, b1, k); });
    }
}

// directs: 2 x (B, H); k.dh: the gradient of h_T.
void gru_seq_bwd(const Seq& q, GRUBwd<float> k, float* directs) {
    const i64 B = k.B, H = k.H, G = 3 * H, BH = B * H;
    for (i64 t = q.T - 1; t >= 0; --t) {
        float* d = directs + (t % 2) * BH;
        k.t = t, k.direct = d;
        split_rows(B, H, [&](i64 b0, i64 b1, int) { gru_bwd_rows<float>(b0, b1, k); });
        q.gemm(kRowMajor, kNoTrans, kPacked, B, H, G, k.dgh + t * B * G, G, q.packed, H, 1.0f,
               d, H);
        if (q.m_s) {
            for (i64 j = 0; j < BH; ++j) d[j] = d[j] * q.m_s[j] + k.carry[j];
        }
        k.dh = d;
    }
}

// ----------------------------------------------------------------- Python glue ---------
//
// Every entry point takes integers (sizes, the step t, data pointers; None for a null
// pointer) and floats, in the order of the Python wrappers in kernels.py: first what
// changes from step to step, then `double` (0: float32, 1: float64), B, H, then the rest.
// The work runs with the GIL released.

struct Args {
    PyObject* const* a;
    bool ok = true;
    i64 i(Py_ssize_t k) {
        i64 v = PyLong_AsLongLong(a[k]);
        if (v == -1 && PyErr_Occurred()) ok = false;
        return v;
    }
    template <typename R>
    R* p(Py_ssize_t k) {
        if (a[k] == Py_None) return nullptr;
        void* v = PyLong_AsVoidPtr(a[k]);
        if (!v && PyErr_Occurred()) ok = false;
        return static_cast<R*>(v);
    }
    double f(Py_ssize_t k) {
        double v = PyFloat_AsDouble(a[k]);
        if (v == -1.0 && PyErr_Occurred()) ok = false;
        return v;
    }
    template <typename R>
    Zone<R> zone(Py_ssize_t k) {
        return Zone<R>{p<const R>(k), i(k + 1), static_cast<R>(f(k + 2))};
    }
};

// Runs rows(b0, b1, k) over the step's rows, split among the threads, without the GIL.
template <typename K, typename F>
void run_rows(i64 B, i64 H, const K& k, F rows) {
    Py_BEGIN_ALLOW_THREADS;
    split_rows(B, H, [&](i64 b0, i64 b1, int) { rows(b0, b1, k); });
    Py_END_ALLOW_THREADS;
}

// gru_after_fwd(t, gh, double, B, H, st, gx, hs, rz, cand, ghn, m_s, m_g, zone x3)
template <typename R>
void gru_after_fwd_call(Args& a) {
    GRUFwd<R> k{a.i(0), a.i(3), a.i(4), a.i(5)};
    k.gh = a.p<const R>(1), k.gx = a.p<const R>(6), k.m_s = a.p<const R>(11);
    k.hs = a.p<R>(7), k.rz = a.p<R>(8), k.cand = a.p<R>(9), k.extra = a.p<R>(10);
    k.m_g = a.p<const R>(12);
    k.zone = a.zone<R>(13);
    if (a.ok) run_rows(k.B, k.H, k, gru_after_fwd_rows<R>);
}

// gru_before_fwd_rz(t, grz, double, B, H, st, gx, hs, rz, rh, m_s)
template <typename R>
void gru_before_fwd_rz_call(Args& a) {
    GRUFwd<R> k{a.i(0), a.i(3), a.i(4), a.i(5)};
    k.gh = a.p<const R>(1), k.gx = a.p<const R>(6), k.hs = a.p<R>(7);
    k.rz = a.p<R>(8), k.extra = a.p<R>(9);
    k.m_s = a.p<const R>(10);
    if (a.ok) run_rows(k.B, k.H, k, gru_before_fwd_rz_rows<R>);
}

// gru_before_fwd_n(t, gn, double, B, H, st, gx, hs, rz, cand, m_s, m_g, zone x3)
template <typename R>
void gru_before_fwd_n_call(Args& a) {
    GRUFwd<R> k{a.i(0), a.i(3), a.i(4), a.i(5)};
    k.gh = a.p<const R>(1), k.gx = a.p<const R>(6), k.rz = a.p<R>(8);
    k.hs = a.p<R>(7), k.cand = a.p<R>(9);
    k.m_s = a.p<const R>(10), k.m_g = a.p<const R>(11);
    k.zone = a.zone<R>(12);
    if (a.ok) run_rows(k.B, k.H, k, gru_before_fwd_n_rows<R>);
}

// gru_bwd(t, dh, direct, carry, double, B, H, dout, hs, rz, cand, ghn, dgx, dgh,
//         m_s, m_g, zone x3)
template <typename R>
void gru_bwd_call(Args& a) {
    GRUBwd<R> k{a.i(0), a.i(5), a.i(6)};
    k.dh = a.p<const R>(1), k.dout = a.p<const R>(7), k.hs = a.p<const R>(8);
    k.direct = a.p<R>(2), k.carry = a.p<R>(3);
    k.rz = a.p<const R>(9), k.cand = a.p<const R>(10), k.ghn = a.p<const R>(11);
    k.dgx = a.p<R>(12), k.dgh = a.p<R>(13);
    k.m_s = a.p<const R>(14), k.m_g = a.p<const R>(15);
    k.zone = a.zone<R>(16);
    if (a.ok) run_rows(k.B, k.H, k, gru_bwd_rows<R>);
}

// gru_before_bwd_r(t, drh, direct, double, B, H, hs, rz, dgx, m_s)
template <typename R>
void gru_before_bwd_r_call(Args& a) {
    GRUBwd<R> k{a.i(0), a.i(4), a.i(5)};
    k.dh = a.p<const R>(1), k.hs = a.p<const R>(6), k.rz = a.p<const R>(7);
    k.direct = a.p<R>(2), k.dgx = a.p<R>(8);
    k.m_s = a.p<const R>(9);
    if (a.ok) run_rows(k.B, k.H, k, gru_before_bwd_r_rows<R>);
}

// lstm_fwd(t, gh, double, B, H, st, gx, peep, ln_g, ln_b, lc_g, lc_b, m_g, hs, cs, acts,
//          tcs, ctil, mu, rs, cmu, crs, eps_hh, eps_c, zone_h x3, zone_c x3, ah)
// ah: where a_h (= gh, with LN_hh) is saved for backward; None when gh is already there
// or nothing is saved.
template <typename R>
LSTMFwd<R> lstm_fwd_args(Args& a) {
    LSTMFwd<R> k{};
    k.gh = a.p<const R>(1), k.gx = a.p<const R>(6), k.peep = a.p<const R>(7);
    k.ln_g = a.p<const R>(8), k.ln_b = a.p<const R>(9);
    k.lc_g = a.p<const R>(10), k.lc_b = a.p<const R>(11), k.m_g = a.p<const R>(12);
    k.hs = a.p<R>(13), k.cs = a.p<R>(14), k.acts = a.p<R>(15), k.tcs = a.p<R>(16);
    k.ctil = a.p<R>(17), k.mu = a.p<R>(18), k.rs = a.p<R>(19);
    k.cmu = a.p<R>(20), k.crs = a.p<R>(21);
    k.eps_hh = static_cast<R>(a.f(22)), k.eps_c = static_cast<R>(a.f(23));
    k.zh = a.zone<R>(24), k.zc = a.zone<R>(27), k.ah = a.p<R>(30);
    return k;
}

template <typename R>
void lstm_fwd_call(Args& a) {
    LSTMShape s{a.i(0), a.i(3), a.i(4), a.i(5)};
    LSTMFwd<R> k = lstm_fwd_args<R>(a);
    if (!a.ok) return;
    Py_BEGIN_ALLOW_THREADS;
    split_rows(s.B, s.H, [&](i64 b0, i64 b1, int) { lstm_fwd_rows<R>(b0, b1, s, k); });
    Py_END_ALLOW_THREADS;
}

// lstm_bwd(t, dh, dc, dc_prev, carry, double, B, H, dout, acts, tcs, cs, ctil, peep, m_g,
//          ah, mu, rs, ln_g, cmu, crs, lc_g, da, dah, dln_g, dln_b, dlc_g, dlc_b,
//          zone_h x3, zone_c x3)
template <typename R>
LSTMBwd<R> lstm_bwd_args(Args& a) {
    LSTMBwd<R> k{};
    k.dh = a.p<const R>(1), k.dc = a.p<const R>(2);
    k.dc_prev = a.p<R>(3), k.carry = a.p<R>(4);
    k.dout = a.p<const R>(8), k.acts = a.p<const R>(9), k.tcs = a.p<const R>(10);
    k.cs = a.p<const R>(11), k.ctil = a.p<const R>(12), k.peep = a.p<const R>(13);
    k.m_g = a.p<const R>(14), k.ah = a.p<const R>(15), k.mu = a.p<const R>(16);
    k.rs = a.p<const R>(17), k.ln_g = a.p<const R>(18), k.cmu = a.p<const R>(19);
    k.crs = a.p<const R>(20), k.lc_g = a.p<const R>(21);
    k.da = a.p<R>(22), k.dah = a.p<R>(23), k.dln_g = a.p<R>(24), k.dln_b = a.p<R>(25);
    k.dlc_g = a.p<R>(26), k.dlc_b = a.p<R>(27);
    k.zh = a.zone<R>(28), k.zc = a.zone<R>(31);
    return k;
}

template <typename R>
void lstm_bwd_call(Args& a) {
    LSTMShape s{a.i(0), a.i(6), a.i(7), 0};
    LSTMBwd<R> k = lstm_bwd_args<R>(a);
    if (!a.ok) return;
    Py_BEGIN_ALLOW_THREADS;
    lstm_bwd<R>(s, k);
    Py_END_ALLOW_THREADS;
}

// The whole-sequence loops (float32 only): their own arguments, then those of lstm_fwd /
// lstm_bwd (whose per-step ones, t, gh, dc_prev and carry, are not read; dh and dc are the
// gradients of h_T and c_T).
//   lstm_seq_fwd(T, save, gemm, packed, m_s, scratch, bias, <lstm_fwd's 31>)
//   lstm_seq_bwd(T, gemm, packed, m_s, scratch, pairs, <lstm_bwd's 34>)
Seq seq_args(Args& a, bool fwd) {
    Seq q{a.i(0), fwd && a.i(1) != 0};
    const Py_ssize_t o = fwd ? 2 : 1;
    q.gemm = reinterpret_cast<SgemmCompute>(a.p<void>(o));
    q.packed = a.p<const float>(o + 1), q.m_s = a.p<const float>(o + 2);
    q.scratch = a.p<float>(o + 3);
    return q;
}

bool float_only(Args& a, Py_ssize_t at, const char* name) {
    if (a.i(at) != 0 && a.ok) {
        PyErr_Format(PyExc_TypeError, "%s runs float32 only", name);
        a.ok = false;
    }
    return a.ok;
}

PyObject* py_lstm_seq_fwd(PyObject*, PyObject* const* args, Py_ssize_t n) {
    if (n != 38) {
        PyErr_Format(PyExc_TypeError, "lstm_seq_fwd takes 38 arguments (%zd given)", n);
        return nullptr;
    }
    Args a{args}, rest{args + 7};
    Seq q = seq_args(a, true);
    const float* bias = a.p<const float>(6);
    LSTMFwd<float> k = lstm_fwd_args<float>(rest);
    i64 B = rest.i(3), H = rest.i(4);
    k.bias = bias;
    if (!a.ok || !rest.ok || !float_only(rest, 2, "lstm_seq_fwd")) return nullptr;
    Py_BEGIN_ALLOW_THREADS;
    lstm_seq_fwd(q, B, H, k);
    Py_END_ALLOW_THREADS;
    Py_RETURN_NONE;
}

PyObject* py_lstm_seq_bwd(PyObject*, PyObject* const* args, Py_ssize_t n) {
    if (n != 40) {
        PyErr_Format(PyExc_TypeError, "lstm_seq_bwd takes 40 arguments (%zd given)", n);
        return nullptr;
    }
    Args a{args}, rest{args + 6};
    Seq q = seq_args(a, false);
    float* pairs = a.p<float>(5);
    LSTMBwd<float> k = lstm_bwd_args<float>(rest);
    i64 B = rest.i(6), H = rest.i(7);
    if (!a.ok || !rest.ok || !float_only(rest, 5, "lstm_seq_bwd")) return nullptr;
    Py_BEGIN_ALLOW_THREADS;
    lstm_seq_bwd(q, B, H, k, pairs);
    Py_END_ALLOW_THREADS;
    Py_RETURN_NONE;
}

// gru_seq_fwd(T, save, gemm, packed, m_s, scratch, bias, <gru_after_fwd's 16>)
// gru_seq_bwd(T, gemm, packed, m_s, scratch, directs, <gru_bwd's 19>); scratch unused
PyObject* py_gru_seq_fwd(PyObject*, PyObject* const* args, Py_ssize_t n) {
    if (n != 23) {
        PyErr_Format(PyExc_TypeError, "gru_seq_fwd takes 23 arguments (%zd given)", n);
        return nullptr;
    }
    Args a{args}, r{args + 7};
    Seq q = seq_args(a, true);
    const float* bias = a.p<const float>(6);
    GRUFwd<float> k{0, r.i(3), r.i(4), 0};
    k.gx = r.p<const float>(6), k.m_s = r.p<const float>(11);
    k.hs = r.p<float>(7), k.rz = r.p<float>(8), k.cand = r.p<float>(9), k.extra = r.p<float>(10);
    k.m_g = r.p<const float>(12);
    k.zone = r.zone<float>(13);
    if (!a.ok || !r.ok || !float_only(r, 2, "gru_seq_fwd")) return nullptr;
    Py_BEGIN_ALLOW_THREADS;
    gru_seq_fwd(q, bias, k);
    Py_END_ALLOW_THREADS;
    Py_RETURN_NONE;
}

PyObject* py_gru_seq_bwd(PyObject*, PyObject* const* args, Py_ssize_t n) {
    if (n != 25) {
        PyErr_Format(PyExc_TypeError, "gru_seq_bwd takes 25 arguments (%zd given)", n);
        return nullptr;
    }
    Args a{args}, r{args + 6};
    Seq q = seq_args(a, false);
    float* directs = a.p<float>(5);
    GRUBwd<float> k{0, r.i(5), r.i(6)};
    k.dh = r.p<const float>(1), k.dout = r.p<const float>(7), k.hs = r.p<const float>(8);
    k.carry = r.p<float>(3);
    k.rz = r.p<const float>(9), k.cand = r.p<const float>(10), k.ghn = r.p<const float>(11);
    k.dgx = r.p<float>(12), k.dgh = r.p<float>(13);
    k.m_s = r.p<const float>(14), k.m_g = r.p<const float>(15);
    k.zone = r.zone<float>(16);
    if (!a.ok || !r.ok || !float_only(r, 4, "gru_seq_bwd")) return nullptr;
    Py_BEGIN_ALLOW_THREADS;
    gru_seq_bwd(q, k, directs);
    Py_END_ALLOW_THREADS;
    Py_RETURN_NONE;
}

// The `double` flag sits right after the per-step arguments.
#define ENTRY(name, nargs, dbl_at)                                                       \
    PyObject* py_##name(PyObject*, PyObject* const* args, Py_ssize_t n) {               \
        if (n != nargs) {                                                                \
            PyErr_Format(PyExc_TypeError, #name " takes %d arguments (%zd given)", nargs, n); \
            return nullptr;                                                              \
        }                                                                                \
        Args a{args};                                                                    \
        if (a.i(dbl_at))                                                                 \
            name##_call<double>(a);                                                      \
        else                                                                             \
            name##_call<float>(a);                                                       \
        if (PyErr_Occurred()) return nullptr;                                            \
        Py_RETURN_NONE;                                                                  \
    }

ENTRY(gru_after_fwd, 16, 2)
ENTRY(gru_before_fwd_rz, 11, 2)
ENTRY(gru_before_fwd_n, 15, 2)
ENTRY(gru_bwd, 19, 4)
ENTRY(gru_before_bwd_r, 10, 3)
ENTRY(lstm_fwd, 31, 2)
ENTRY(lstm_bwd, 34, 5)

// row_blocks(B, H): how many blocks (threads) a step of B rows of H units is split into.
PyObject* py_row_blocks(PyObject*, PyObject* const* args, Py_ssize_t n) {
    if (n != 2) {
        PyErr_Format(PyExc_TypeError, "row_blocks takes 2 arguments (%zd given)", n);
        return nullptr;
    }
    Args a{args};
    i64 B = a.i(0), H = a.i(1);
    if (!a.ok) return nullptr;
    return PyLong_FromLong(split_rows(B, H, [](i64, i64, int) {}));
}

#define METHOD(name) {#name, (PyCFunction)(void (*)(void))py_##name, METH_FASTCALL, nullptr}

PyMethodDef methods[] = {
    METHOD(gru_after_fwd), METHOD(gru_before_fwd_rz), METHOD(gru_before_fwd_n),
    METHOD(gru_bwd),       METHOD(gru_before_bwd_r),  METHOD(lstm_fwd),
    METHOD(lstm_bwd),      METHOD(row_blocks),       METHOD(lstm_seq_fwd),
    METHOD(lstm_seq_bwd),  METHOD(gru_seq_fwd),      METHOD(gru_seq_bwd),
    {nullptr, nullptr, 0, nullptr},
};

PyModuleDef module = {PyModuleDef_HEAD_INIT, "_kernels",
                      "Fused element-wise step kernels (see kernels.py).", -1, methods,
                      nullptr, nullptr, nullptr, nullptr};

}  // namespace

PyMODINIT_FUNC PyInit__kernels(void) {
    PyObject* m = PyModule_Create(&module);
#ifdef _OPENMP
    const long openmp = 1;
#else
    const long openmp = 0;
#endif
    if (m && PyModule_AddIntConstant(m, "OPENMP", openmp) < 0) {
        Py_DECREF(m);
        return nullptr;
    }
    return m;
}
