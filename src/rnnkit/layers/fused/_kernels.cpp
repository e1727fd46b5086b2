// Fused element-wise step kernels for the fused GRU and LSTM loops (rnnkit.layers.fused).
//
// Why: between two recurrent GEMMs a step does a dozen small element-wise ops on (B, 4H)
// tensors. Issued from Python as torch ops, each costs several microseconds of dispatch,
// more than its arithmetic at the sizes RNNs use. Here one call does a step's whole gate
// math in one pass over the rows, vectorised (AVX2 clone on x86-64, chosen at load time).
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

#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(__clang__)
#define RNNKIT_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define RNNKIT_CLONES
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
RNNKIT_CLONES void gru_after_fwd(i64 t, i64 B, i64 H, i64 st, const R* gx, const R* gh, R* hs,
                                 R* rz, R* cand, R* ghn, const R* m_s, const R* m_g,
                                 Zone<R> zone) {
    Rows<R> rows(H);
    for (i64 b = 0; b < B; ++b) {
        const i64 row = t * B + b, srow = st * B + b;
        const R* __restrict__ gxr = gx + row * 3 * H;
        const R* __restrict__ ghr = gh + b * 3 * H;
        R* __restrict__ r = rz + srow * 2 * H;
        R* __restrict__ n = cand + srow * H;
        R* __restrict__ g = ghn + srow * H;
        for (i64 j = 0; j < 2 * H; ++j) r[j] = sig(gxr[j] + ghr[j]);
        for (i64 j = 0; j < H; ++j) {
            g[j] = ghr[2 * H + j];
            n[j] = tanh_(gxr[2 * H + j] + r[j] * g[j]);
        }
        gru_update(H, hs + row * H, r + H, n, rows.mask(m_s, b), rows.mask(m_g, b),
                   rows.zone(zone, row, rows.fill_h), hs + (row + B) * H);
    }
}

// reset_before, first half: r, z = σ(gx_rz + grz) with grz = W_rz x_h + b_rz; rh = r ⊙ x_h.
template <typename R>
RNNKIT_CLONES void gru_before_fwd_rz(i64 t, i64 B, i64 H, i64 st, const R* gx, const R* grz,
                                     const R* hs, R* rz, R* rh, const R* m_s) {
    Rows<R> rows(H);
    for (i64 b = 0; b < B; ++b) {
        const i64 row = t * B + b, srow = st * B + b;
        const R* __restrict__ gxr = gx + row * 3 * H;
        const R* __restrict__ gr = grz + b * 2 * H;
        const R* __restrict__ h = hs + row * H;
        const R* __restrict__ ms = rows.mask(m_s, b);
        R* __restrict__ r = rz + srow * 2 * H;
        R* __restrict__ o = rh + srow * H;
        for (i64 j = 0; j < 2 * H; ++j) r[j] = sig(gxr[j] + gr[j]);
        for (i64 j = 0; j < H; ++j) o[j] = r[j] * (h[j] * ms[j]);
    }
}

// reset_before, second half: n = tanh(gx_n + gn) with gn = W_n (r ⊙ x_h) + b_n; h update.
template <typename R>
RNNKIT_CLONES void gru_before_fwd_n(i64 t, i64 B, i64 H, i64 st, const R* gx, const R* gn,
                                    R* hs, const R* rz, R* cand, const R* m_s, const R* m_g,
                                    Zone<R> zone) {
    Rows<R> rows(H);
    for (i64 b = 0; b < B; ++b) {
        const i64 row = t * B + b, srow = st * B + b;
        const R* __restrict__ gxr = gx + row * 3 * H + 2 * H;
        const R* __restrict__ g = gn + b * H;
        R* __restrict__ n = cand + srow * H;
        for (i64 j = 0; j < H; ++j) n[j] = tanh_(gxr[j] + g[j]);
        gru_update(H, hs + row * H, rz + srow * 2 * H + H, n, rows.mask(m_s, b),
                   rows.mask(m_g, b), rows.zone(zone, row, rows.fill_h), hs + (row + B) * H);
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
RNNKIT_CLONES void gru_bwd(i64 t, i64 B, i64 H, const R* dh, const R* dout, const R* hs,
                           const R* rz, const R* cand, const R* ghn, R* dgx, R* dgh, R* direct,
                           R* carry, const R* m_s, const R* m_g, Zone<R> zone) {
    Rows<R> rows(H);
    for (i64 b = 0; b < B; ++b) {
        const i64 row = t * B + b;
        const R* __restrict__ d = dh + b * H;
        const R* __restrict__ h = hs + row * H;
        const R* __restrict__ r = rz + row * 2 * H;
        const R* __restrict__ z = r + H;
        const R* __restrict__ n = cand + row * H;
        const R* __restrict__ prev = t > 0 ? dout + (row - B) * H : rows.zeros.data();
        const R* __restrict__ ms = rows.mask(m_s, b);
        const R* __restrict__ mg = rows.mask(m_g, b);
        const R* __restrict__ w = rows.zone(zone, row, rows.fill_h);
        R* __restrict__ dg = dgx + row * 3 * H;
        R* __restrict__ dir = direct + b * H;
        for (i64 j = 0; j < H; ++j) {
            R dhn = d[j] * (R(1) - w[j]);
            dg[2 * H + j] = dhn * (R(1) - z[j]) * mg[j] * (R(1) - n[j] * n[j]);
            dg[H + j] = dhn * (h[j] * ms[j] - mg[j] * n[j]) * z[j] * (R(1) - z[j]);
            dir[j] = dhn * z[j];
        }
        if (ghn) {  // reset_after
            const R* __restrict__ g = ghn + row * H;
            R* __restrict__ dgr = dgh + row * 3 * H;
            for (i64 j = 0; j < H; ++j) {
                R a_n = dg[2 * H + j];
                dg[j] = dgr[j] = a_n * g[j] * r[j] * (R(1) - r[j]);
                dgr[H + j] = dg[H + j];
                dgr[2 * H + j] = a_n * r[j];
            }
        }
        if (m_s) {
            R* __restrict__ car = carry + b * H;
            for (i64 j = 0; j < H; ++j) car[j] = prev[j] + w[j] * d[j];
        } else {
            for (i64 j = 0; j < H; ++j) dir[j] += prev[j] + w[j] * d[j];
        }
    }
}

// reset_before, after drh = da_n @ W_n: da_r = drh x_h r (1 - r);  direct += r drh.
template <typename R>
RNNKIT_CLONES void gru_before_bwd_r(i64 t, i64 B, i64 H, const R* drh, const R* hs, const R* rz,
                                    R* dgx, R* direct, const R* m_s) {
    Rows<R> rows(H);
    for (i64 b = 0; b < B; ++b) {
        const i64 row = t * B + b;
        const R* __restrict__ e = drh + b * H;
        const R* __restrict__ h = hs + row * H;
        const R* __restrict__ ms = rows.mask(m_s, b);
        const R* __restrict__ r = rz + row * 2 * H;
        R* __restrict__ dg = dgx + row * 3 * H;
        R* __restrict__ dir = direct + b * H;
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
// Saves acts (i | f | g | o), tcs (the tanh), ctil (c~) and the LN statistics (mean, 1/σ).

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
    R *hs, *cs, *acts, *tcs, *ctil, *mu, *rs, *cmu, *crs;
    R eps_hh, eps_c;
    Zone<R> zh, zc;
};

template <typename R>
RNNKIT_CLONES void lstm_fwd(LSTMShape s, LSTMFwd<R> k) {
    const i64 B = s.B, H = s.H, G = 4 * H;
    Rows<R> rows(H);
    std::vector<R> lc(H);
    for (i64 b = 0; b < B; ++b) {
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
            for (i64 j = 0; j < G; ++j) a[j] = gx[j] + ((gh[j] - mu) * rs * k.ln_g[j] + k.ln_b[j]);
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
RNNKIT_CLONES void lstm_bwd(LSTMShape s, LSTMBwd<R> k) {
    const i64 B = s.B, H = s.H, G = 4 * H, t = s.t;
    Rows<R> rows(H);
    std::vector<R> dct_row(H), peep0(3 * H, R(0));
    const R* __restrict__ peep = k.peep ? k.peep : peep0.data();
    for (i64 b = 0; b < B; ++b) {
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

// gru_after_fwd(t, gh, double, B, H, st, gx, hs, rz, cand, ghn, m_s, m_g, zone x3)
template <typename R>
void gru_after_fwd_call(Args& a) {
    i64 t = a.i(0), B = a.i(3), H = a.i(4), st = a.i(5);
    auto gh = a.p<const R>(1), gx = a.p<const R>(6), m_s = a.p<const R>(11);
    auto hs = a.p<R>(7), rz = a.p<R>(8), cand = a.p<R>(9), ghn = a.p<R>(10);
    auto m_g = a.p<const R>(12);
    auto zone = a.zone<R>(13);
    if (!a.ok) return;
    Py_BEGIN_ALLOW_THREADS;
    gru_after_fwd<R>(t, B, H, st, gx, gh, hs, rz, cand, ghn, m_s, m_g, zone);
    Py_END_ALLOW_THREADS;
}

// gru_before_fwd_rz(t, grz, double, B, H, st, gx, hs, rz, rh, m_s)
template <typename R>
void gru_before_fwd_rz_call(Args& a) {
    i64 t = a.i(0), B = a.i(3), H = a.i(4), st = a.i(5);
    auto grz = a.p<const R>(1), gx = a.p<const R>(6), hs = a.p<const R>(7);
    auto rz = a.p<R>(8), rh = a.p<R>(9);
    auto m_s = a.p<const R>(10);
    if (!a.ok) return;
    Py_BEGIN_ALLOW_THREADS;
    gru_before_fwd_rz<R>(t, B, H, st, gx, grz, hs, rz, rh, m_s);
    Py_END_ALLOW_THREADS;
}

// gru_before_fwd_n(t, gn, double, B, H, st, gx, hs, rz, cand, m_s, m_g, zone x3)
template <typename R>
void gru_before_fwd_n_call(Args& a) {
    i64 t = a.i(0), B = a.i(3), H = a.i(4), st = a.i(5);
    auto gn = a.p<const R>(1), gx = a.p<const R>(6), rz = a.p<const R>(8);
    auto hs = a.p<R>(7), cand = a.p<R>(9);
    auto m_s = a.p<const R>(10), m_g = a.p<const R>(11);
    auto zone = a.zone<R>(12);
    if (!a.ok) return;
    Py_BEGIN_ALLOW_THREADS;
    gru_before_fwd_n<R>(t, B, H, st, gx, gn, hs, rz, cand, m_s, m_g, zone);
    Py_END_ALLOW_THREADS;
}

// gru_bwd(t, dh, direct, carry, double, B, H, dout, hs, rz, cand, ghn, dgx, dgh,
//         m_s, m_g, zone x3)
template <typename R>
void gru_bwd_call(Args& a) {
    i64 t = a.i(0), B = a.i(5), H = a.i(6);
    auto dh = a.p<const R>(1), dout = a.p<const R>(7), hs = a.p<const R>(8);
    auto direct = a.p<R>(2), carry = a.p<R>(3);
    auto rz = a.p<const R>(9), cand = a.p<const R>(10), ghn = a.p<const R>(11);
    auto dgx = a.p<R>(12), dgh = a.p<R>(13);
    auto m_s = a.p<const R>(14), m_g = a.p<const R>(15);
    auto zone = a.zone<R>(16);
    if (!a.ok) return;
    Py_BEGIN_ALLOW_THREADS;
    gru_bwd<R>(t, B, H, dh, dout, hs, rz, cand, ghn, dgx, dgh, direct, carry, m_s, m_g, zone);
    Py_END_ALLOW_THREADS;
}

// gru_before_bwd_r(t, drh, direct, double, B, H, hs, rz, dgx, m_s)
template <typename R>
void gru_before_bwd_r_call(Args& a) {
    i64 t = a.i(0), B = a.i(4), H = a.i(5);
    auto drh = a.p<const R>(1), hs = a.p<const R>(6), rz = a.p<const R>(7);
    auto direct = a.p<R>(2), dgx = a.p<R>(8);
    auto m_s = a.p<const R>(9);
    if (!a.ok) return;
    Py_BEGIN_ALLOW_THREADS;
    gru_before_bwd_r<R>(t, B, H, drh, hs, rz, dgx, direct, m_s);
    Py_END_ALLOW_THREADS;
}

// lstm_fwd(t, gh, double, B, H, st, gx, peep, ln_g, ln_b, lc_g, lc_b, m_g, hs, cs, acts,
//          tcs, ctil, mu, rs, cmu, crs, eps_hh, eps_c, zone_h x3, zone_c x3)
template <typename R>
void lstm_fwd_call(Args& a) {
    LSTMShape s{a.i(0), a.i(3), a.i(4), a.i(5)};
    LSTMFwd<R> k{};
    k.gh = a.p<const R>(1), k.gx = a.p<const R>(6), k.peep = a.p<const R>(7);
    k.ln_g = a.p<const R>(8), k.ln_b = a.p<const R>(9);
    k.lc_g = a.p<const R>(10), k.lc_b = a.p<const R>(11), k.m_g = a.p<const R>(12);
    k.hs = a.p<R>(13), k.cs = a.p<R>(14), k.acts = a.p<R>(15), k.tcs = a.p<R>(16);
    k.ctil = a.p<R>(17), k.mu = a.p<R>(18), k.rs = a.p<R>(19);
    k.cmu = a.p<R>(20), k.crs = a.p<R>(21);
    k.eps_hh = static_cast<R>(a.f(22)), k.eps_c = static_cast<R>(a.f(23));
    k.zh = a.zone<R>(24), k.zc = a.zone<R>(27);
    if (!a.ok) return;
    Py_BEGIN_ALLOW_THREADS;
    lstm_fwd<R>(s, k);
    Py_END_ALLOW_THREADS;
}

// lstm_bwd(t, dh, dc, dc_prev, carry, double, B, H, dout, acts, tcs, cs, ctil, peep, m_g,
//          ah, mu, rs, ln_g, cmu, crs, lc_g, da, dah, dln_g, dln_b, dlc_g, dlc_b,
//          zone_h x3, zone_c x3)
template <typename R>
void lstm_bwd_call(Args& a) {
    LSTMShape s{a.i(0), a.i(6), a.i(7), 0};
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
    if (!a.ok) return;
    Py_BEGIN_ALLOW_THREADS;
    lstm_bwd<R>(s, k);
    Py_END_ALLOW_THREADS;
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
ENTRY(lstm_fwd, 30, 2)
ENTRY(lstm_bwd, 34, 5)

#define METHOD(name) {#name, (PyCFunction)(void (*)(void))py_##name, METH_FASTCALL, nullptr}

PyMethodDef methods[] = {
    METHOD(gru_after_fwd), METHOD(gru_before_fwd_rz), METHOD(gru_before_fwd_n),
    METHOD(gru_bwd),       METHOD(gru_before_bwd_r),  METHOD(lstm_fwd),
    METHOD(lstm_bwd),      {nullptr, nullptr, 0, nullptr},
};

PyModuleDef module = {PyModuleDef_HEAD_INIT, "_kernels",
                      "Fused element-wise step kernels (see kernels.py).", -1, methods,
                      nullptr, nullptr, nullptr, nullptr};

}  // namespace

PyMODINIT_FUNC PyInit__kernels(void) { return PyModule_Create(&module); }
