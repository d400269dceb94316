#include <torch/extension.h>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>
#if defined(__SSE__)
#include <immintrin.h>
#endif

namespace {

// The A_<activation> and L_<loss> codes (and A_COUNT, L_COUNT) are generated from evoprune.activations.ACTIVATIONS
// and evoprune.losses.LOSSES and put before this file when it is built (evoprune.backends.fused.kernel_source).

struct Layer {
  int64_t in, out;
  bool tr;      // weight stored (in, out) instead of (out, in)
  int act;
  int half;     // 0: encoder's step counter, 1: decoder's
  float *w, *b, *mw, *mb, *vw, *vb;
  const float *kw, *kb;
  int64_t wn, bn;  // elements per member
};

typedef float v8 __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));
typedef float v8u __attribute__((vector_size(32), aligned(4), may_alias));  // unaligned loads and stores

inline v8 ld(const float* p) { return *reinterpret_cast<const v8u*>(p); }
inline void st(float* p, v8 x) { *reinterpret_cast<v8u*>(p) = x; }

// 8 byte masks -> lanes of all ones (kept) or zeros (pruned)
inline v8i keep8(const uint8_t* k) {
#if defined(__AVX2__)
  const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(k));
  return (v8i)_mm256_cvtepu8_epi32(b) != 0;
#else
  return v8i{k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7]} != 0;
#endif
}
inline v8 bc(float x) { return v8{x, x, x, x, x, x, x, x}; }

inline v8 vsqrt(v8 x) {
#if defined(__AVX__)
  return (v8)_mm256_sqrt_ps((__m256)x);
#else
  v8 r;
  for (int u = 0; u < 8; ++u) r[u] = std::sqrt(x[u]);
  return r;
#endif
}

// exp, Cephes-style (about 1 ulp), for |x| up to 88; vectorizable without -ffast-math
inline v8 vexp(v8 x) {
  x = x < bc(88.3762626647949f) ? x : bc(88.3762626647949f);
  x = x > bc(-87.3365447504f) ? x : bc(-87.3365447504f);
  const v8 magic = bc(12582912.f);  // 1.5 * 2^23: round to nearest
  v8 t = x * bc(1.44269504088896341f) + magic;
  v8 n = t - magic;
  v8 r = x - n * bc(0.693359375f);
  r = r - n * bc(-2.12194440e-4f);
  v8 y = bc(1.9875691500E-4f);
  y = y * r + bc(1.3981999507E-3f);
  y = y * r + bc(8.3334519073E-3f);
  y = y * r + bc(4.1665795894E-2f);
  y = y * r + bc(1.6666665459E-1f);
  y = y * r + bc(5.0000001201E-1f);
  y = y * r * r + r + bc(1.f);
  v8i e = (__builtin_convertvector(n, v8i) + 127) << 23;
  return y * (v8)e;
}

inline float sexp(float x) { return vexp(bc(x))[0]; }

// natural log for x in [0.5, 4) (Cephes logf polynomial), used as log(1 + e) with e in (0, 1]
inline v8 vlog_near1(v8 x) {
  const v8 big = bc(1.41421356237f);
  v8i hi = x > big;
  v8 xs = hi ? x * bc(0.5f) : x;
  v8 ex = hi ? bc(1.f) : bc(0.f);
  v8i hi2 = xs > big;
  xs = hi2 ? xs * bc(0.5f) : xs;
  ex = hi2 ? ex + bc(1.f) : ex;
  v8 f = xs - bc(1.f);
  v8 z = f * f;
  v8 y = bc(7.0376836292E-2f);
  y = y * f + bc(-1.1514610310E-1f);
  y = y * f + bc(1.1676998740E-1f);
  y = y * f + bc(-1.2420140846E-1f);
  y = y * f + bc(1.4249322787E-1f);
  y = y * f + bc(-1.6668057665E-1f);
  y = y * f + bc(2.0000714765E-1f);
  y = y * f + bc(-2.4999993993E-1f);
  y = y * f + bc(3.3333331174E-1f);
  y = y * f * z;
  y = y + ex * bc(-2.12194440e-4f);
  y = y - z * bc(0.5f);
  return f + y + ex * bc(0.693359375f);
}

struct Adam {
  float w1, b2, w2, c, e;
};

// torch.optim.Adam as in evoprune.backends.base.adam_update (masked gradient, lerp, addcmul, one division), for one
// row whose gradient is g[j] = sum_b s[b] * rows[b][j], formed here: the gradient is never stored.
// With zero set, every s[b] is zero and every rows[b][j] finite: the gradient is exactly zero (up to its sign, which
// no result depends on) and is not formed.
inline void adam_row(float* __restrict p, float* __restrict m, float* __restrict v, const uint8_t* __restrict k,
                     const float* const* rows, const float* s, int64_t nb, int64_t n, const Adam& a,
                     bool zero = false) {
  const v8 w1 = bc(a.w1), b2 = bc(a.b2), w2 = bc(a.w2), c = bc(a.c), e = bc(a.e);
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    uint64_t kept8;
    std::memcpy(&kept8, k + j, 8);
    if (kept8 == 0) continue;  // all 8 pruned: weight, moments and update are exactly zero and stay so
    v8 g = bc(0.f);
    if (!zero) {
      g = bc(s[0]) * ld(rows[0] + j);
      for (int64_t b = 1; b < nb; ++b) g += bc(s[b]) * ld(rows[b] + j);
      g = (v8)((v8i)g & keep8(k + j));
    }
    const v8 m0 = ld(m + j);
    const v8 mj = m0 + w1 * (g - m0);
    const v8 vj = ld(v + j) * b2 + w2 * g * g;
    st(m + j, mj);
    st(v + j, vj);
    st(p + j, ld(p + j) - mj * c / (vsqrt(vj) + e));
  }
  for (; j < n; ++j) {
    float g = 0.f;
    if (!zero) {
      g = s[0] * rows[0][j];
      for (int64_t b = 1; b < nb; ++b) g += s[b] * rows[b][j];
      g = k[j] ? g : 0.f;
    }
    const float m0 = m[j];
    const float mj = m0 + a.w1 * (g - m0);
    const float vj = v[j] * a.b2 + a.w2 * g * g;
    m[j] = mj;
    v[j] = vj;
    p[j] -= mj * a.c / (std::sqrt(vj) + a.e);
  }
}

// out[b] = dot(rows[b], w) for b < NB: the rows share each load of w; 2 * NB independent accumulators
template <int NB>
inline void dot_rows(const float* const* rows, const float* __restrict w, int64_t n, float* out) {
  const float* r[NB];
  v8 a[NB], c[NB];
  for (int b = 0; b < NB; ++b) { r[b] = rows[b]; a[b] = bc(0.f); c[b] = bc(0.f); }
  int64_t j = 0;
  for (; j + 16 <= n; j += 16) {
    const v8 x = ld(w + j), y = ld(w + j + 8);
    for (int b = 0; b < NB; ++b) {
      a[b] += x * ld(r[b] + j);
      c[b] += y * ld(r[b] + j + 8);
    }
  }
  if (j + 8 <= n) {
    const v8 x = ld(w + j);
    for (int b = 0; b < NB; ++b) a[b] += x * ld(r[b] + j);
    j += 8;
  }
  for (int b = 0; b < NB; ++b) {
    const v8 t = a[b] + c[b];
    float s = ((t[0] + t[4]) + (t[1] + t[5])) + ((t[2] + t[6]) + (t[3] + t[7]));
    for (int64_t q = j; q < n; ++q) s += w[q] * r[b][q];
    out[b] = s;
  }
}

inline void multidot(const float* const* rows, int64_t nb, const float* w, int64_t n, float* out) {
  int64_t b = 0;
  for (; b + 6 <= nb; b += 6) dot_rows<6>(rows + b, w, n, out + b);
  switch (nb - b) {
    case 5: dot_rows<5>(rows + b, w, n, out + b); break;
    case 4: dot_rows<4>(rows + b, w, n, out + b); break;
    case 3: dot_rows<3>(rows + b, w, n, out + b); break;
    case 2: dot_rows<2>(rows + b, w, n, out + b); break;
    case 1: dot_rows<1>(rows + b, w, n, out + b); break;
    default: break;
  }
}

// z[b][j] += sum_k h[b][k] * W[k][j] for a weight stored (in, out): register tiles of up to 6 rows x 16 columns
template <int NB>
inline void tile_rows(float* const* z, const float* const* h, const float* __restrict w, int64_t in, int64_t out) {
  int64_t j = 0;
  for (; j + 16 <= out; j += 16) {
    v8 acc[NB][2];
    for (int b = 0; b < NB; ++b) { acc[b][0] = ld(z[b] + j); acc[b][1] = ld(z[b] + j + 8); }
    for (int64_t k = 0; k < in; ++k) {
      const v8 x = ld(w + k * out + j), y = ld(w + k * out + j + 8);
      for (int b = 0; b < NB; ++b) {
        const v8 hk = bc(h[b][k]);
        acc[b][0] += hk * x;
        acc[b][1] += hk * y;
      }
    }
    for (int b = 0; b < NB; ++b) { st(z[b] + j, acc[b][0]); st(z[b] + j + 8, acc[b][1]); }
  }
  for (; j < out; ++j)
    for (int b = 0; b < NB; ++b) {
      float s = z[b][j];
      for (int64_t k = 0; k < in; ++k) s += h[b][k] * w[k * out + j];
      z[b][j] = s;
    }
}

inline void matmul_tr(float* const* z, const float* const* h, int64_t nb, const float* w, int64_t in, int64_t out) {
  int64_t b = 0;
  for (; b + 6 <= nb; b += 6) tile_rows<6>(z + b, h + b, w, in, out);
  switch (nb - b) {
    case 5: tile_rows<5>(z + b, h + b, w, in, out); break;
    case 4: tile_rows<4>(z + b, h + b, w, in, out); break;
    case 3: tile_rows<3>(z + b, h + b, w, in, out); break;
    case 2: tile_rows<2>(z + b, h + b, w, in, out); break;
    case 1: tile_rows<1>(z + b, h + b, w, in, out); break;
    default: break;
  }
}

// y += s * x
inline void axpy(float* __restrict y, float s, const float* __restrict x, int64_t n) {
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) y[j] += s * x[j];
}

inline void activate(int act, float* z, int64_t n) {
  switch (act) {
    case A_RELU:
#pragma omp simd
      for (int64_t j = 0; j < n; ++j) z[j] = z[j] > 0.f ? z[j] : 0.f;
      break;
    case A_SIGMOID: {
      int64_t j = 0;
      for (; j + 8 <= n; j += 8) st(z + j, bc(1.f) / (bc(1.f) + vexp(-ld(z + j))));
      for (; j < n; ++j) z[j] = 1.f / (1.f + sexp(-z[j]));
      break;
    }
    case A_TANH:
      for (int64_t j = 0; j < n; ++j) z[j] = std::tanh(z[j]);
      break;
    case A_LEAKY_RELU:
#pragma omp simd
      for (int64_t j = 0; j < n; ++j) z[j] = z[j] > 0.f ? z[j] : z[j] * 0.01f;
      break;
    case A_ELU:
      for (int64_t j = 0; j < n; ++j) z[j] = z[j] > 0.f ? z[j] : std::expm1(z[j]);
      break;
    default:
      break;
  }
}

// g <- gradient w.r.t. the pre-activation, from the gradient w.r.t. a = act(z)
inline void act_backward(int act, float* __restrict g, const float* __restrict a, int64_t n) {
  switch (act) {
    case A_RELU:
#pragma omp simd
      for (int64_t j = 0; j < n; ++j) g[j] = a[j] > 0.f ? g[j] : 0.f;
      break;
    case A_SIGMOID:
#pragma omp simd
      for (int64_t j = 0; j < n; ++j) g[j] = g[j] * a[j] * (1.f - a[j]);
      break;
    case A_TANH:
#pragma omp simd
      for (int64_t j = 0; j < n; ++j) g[j] = g[j] * (1.f - a[j] * a[j]);
      break;
    case A_LEAKY_RELU:
#pragma omp simd
      for (int64_t j = 0; j < n; ++j) g[j] = a[j] > 0.f ? g[j] : g[j] * 0.01f;
      break;
    case A_ELU:
#pragma omp simd
      for (int64_t j = 0; j < n; ++j) g[j] = a[j] > 0.f ? g[j] : g[j] * (a[j] + 1.f);
      break;
    default:
      break;
  }
}

// loss summed over the minibatch (double) and its gradient w.r.t. the output, scaled by 1 / (B * D)
double loss_grad(int loss, const float* out, const float* const* x, float* g, int64_t B, int64_t D) {
  const float scale = (float)(1.0 / ((double)B * (double)D));
  double total = 0.0;
  for (int64_t b = 0; b < B; ++b) {
    const float* __restrict o = out + b * D;
    const float* __restrict t = x[b];
    float* __restrict gb = g + b * D;
    if (loss == L_L1) {
      double s = 0.0;
#pragma omp simd reduction(+ : s)
      for (int64_t j = 0; j < D; ++j) {
        const float d = o[j] - t[j];
        s += std::fabs(d);
        gb[j] = d > 0.f ? scale : (d < 0.f ? -scale : 0.f);
      }
      total += s;
    } else if (loss == L_MSE) {
      const float s2 = (float)(2.0 * (1.0 / ((double)B * (double)D)));
      double s = 0.0;
#pragma omp simd reduction(+ : s)
      for (int64_t j = 0; j < D; ++j) {
        const float d = o[j] - t[j];
        s += d * d;
        gb[j] = d * s2;
      }
      total += s;
    } else if (loss == L_BCE_LOGITS) {  // max(z, 0) - z x + log1p(exp(-|z|)); gradient sigmoid(z) - x
      double s = 0.0;
      int64_t j = 0;
      for (; j + 8 <= D; j += 8) {
        const v8 z = ld(o + j), x = ld(t + j);
        const v8 az = z < bc(0.f) ? -z : z;
        const v8 ez = vexp(-az);
        const v8 sig = z >= bc(0.f) ? bc(1.f) / (bc(1.f) + ez) : ez / (bc(1.f) + ez);
        const v8 l = (z > bc(0.f) ? z : bc(0.f)) - z * x + vlog_near1(bc(1.f) + ez);
        float ls = 0.f;
        for (int u = 0; u < 8; ++u) ls += l[u];
        s += ls;
        st(gb + j, (sig - x) * bc(scale));
      }
      for (; j < D; ++j) {
        const float z = o[j];
        const float ez = std::exp(-std::fabs(z));
        const float sig = z >= 0.f ? 1.f / (1.f + ez) : ez / (1.f + ez);
        s += (z > 0.f ? z : 0.f) - z * t[j] + std::log1p(ez);
        gb[j] = (sig - t[j]) * scale;
      }
      total += s;
    } else {  // plain BCE on a clamped output, logs clamped at -100 as F.binary_cross_entropy
      const float lo = 1e-7f, hi = (float)(1.0 - 1e-7);
      double s = 0.0;
      for (int64_t j = 0; j < D; ++j) {
        const float y = o[j];
        const float p = std::min(std::max(y, lo), hi);
        const float lp = std::max(std::log(p), -100.f), lq = std::max(std::log(1.f - p), -100.f);
        s += -(t[j] * lp + (1.f - t[j]) * lq);
        const bool inside = y >= lo && y <= hi;
        gb[j] = inside ? (p - t[j]) / std::max(p * (1.f - p), 1e-12f) * scale : 0.f;
      }
      total += s;
    }
  }
  return total;
}

inline bool all_zero(const float* x, int64_t n) {
  bool z = true;
  for (int64_t b = 0; b < n; ++b) z &= x[b] == 0.f;
  return z;
}

struct Member {
  std::vector<Layer> L;
  std::vector<std::vector<float>> acts;        // post-activation outputs, (B, out) per layer
  std::vector<std::vector<uint8_t>> kw, kb;    // byte masks
  std::vector<float> g, gp, col, col2, ones;
  std::vector<const float*> hin, grow;
  std::vector<float*> zr;
};

// data_finite: every data row is finite (a zero multiplier then gives an exactly zero gradient row)
void step(Member& M, int64_t B, const float* const* xrows, int loss, const Adam* adam /* [2] enc, dec */,
          double* total, bool data_finite) {
  const int64_t nl = (int64_t)M.L.size();
  const float** hin = M.hin.data();
  float** zr = M.zr.data();
  float* col = M.col.data();
  // forward
  for (int64_t b = 0; b < B; ++b) hin[b] = xrows[b];
  for (int64_t i = 0; i < nl; ++i) {
    const Layer& l = M.L[i];
    float* a = M.acts[i].data();
    const int64_t in = l.in, out = l.out;
    if (!l.tr) {
      for (int64_t o = 0; o < out; ++o) {
        multidot(hin, B, l.w + o * in, in, col);
        for (int64_t b = 0; b < B; ++b) a[b * out + o] = l.b[o] + col[b];
      }
    } else {
      for (int64_t b = 0; b < B; ++b) {
        std::memset(a + b * out, 0, sizeof(float) * out);
        zr[b] = a + b * out;
      }
      matmul_tr(zr, hin, B, l.w, in, out);
      for (int64_t b = 0; b < B; ++b) axpy(a + b * out, 1.f, l.b, out);
    }
    if (!(i == nl - 1 && loss == L_BCE_LOGITS)) activate(l.act, a, B * out);
    for (int64_t b = 0; b < B; ++b) hin[b] = a + b * out;
  }
  // loss
  const int64_t D = M.L[nl - 1].out;
  const double s = loss_grad(loss, M.acts[nl - 1].data(), xrows, M.g.data(), B, D);
  *total += (double)(float)(s / ((double)B * (double)D)) * (double)B;
  const bool out_finite = std::isfinite(s);  // then every output, and the loss's gradient, is finite
  // backward, with Adam applied to each row of a weight as soon as its gradient can be formed
  float* g = M.g.data();
  float* gp = M.gp.data();
  const float** grow = M.grow.data();
  for (int64_t i = nl - 1; i >= 0; --i) {
    const Layer& l = M.L[i];
    const Adam& ad = adam[l.half];
    const int64_t in = l.in, out = l.out;
    const float* a = M.acts[i].data();
    if (!(i == nl - 1 && loss == L_BCE_LOGITS)) act_backward(l.act, g, a, B * out);
    for (int64_t b = 0; b < B; ++b) {
      hin[b] = i == 0 ? xrows[b] : M.acts[i - 1].data() + b * in;
      grow[b] = g + b * out;
    }
    adam_row(l.b, l.mb, l.vb, M.kb[i].data(), grow, M.ones.data(), B, out, ad);  // bias: sum over the minibatch
    const uint8_t* kw = M.kw[i].data();
    if (!l.tr) {  // (out, in): row o's gradient is sum_b g[b][o] h[b]; g_prev[b] += g[b][o] W[o]
      if (i > 0) std::memset(gp, 0, sizeof(float) * B * in);
      for (int64_t o = 0; o < out; ++o) {
        float* wr = l.w + o * in;
        for (int64_t b = 0; b < B; ++b) col[b] = g[b * out + o];
        if (i > 0)
          for (int64_t b = 0; b < B; ++b)
            if (col[b] != 0.f) axpy(gp + b * in, col[b], wr, in);
        const bool zero = i == 0 && data_finite && all_zero(col, B);
        adam_row(wr, l.mw + o * in, l.vw + o * in, kw + o * in, hin, col, B, in, ad, zero);
      }
    } else {  // (in, out): row k's gradient is sum_b h[b][k] g[b]; g_prev[b][k] = g[b] . W[k]
      // a unit of a ReLU layer below that is off in every row gets a zero gradient whatever g_prev is
      const bool relu_below = i > 0 && M.L[i - 1].act == A_RELU;
      for (int64_t k = 0; k < in; ++k) {
        float* wr = l.w + k * out;
        for (int64_t b = 0; b < B; ++b) col[b] = hin[b][k];
        const bool off = all_zero(col, B);
        if (i > 0) {
          if (relu_below && off) {
            for (int64_t b = 0; b < B; ++b) gp[b * in + k] = 0.f;
          } else {
            multidot(grow, B, wr, out, M.col2.data());
            for (int64_t b = 0; b < B; ++b) gp[b * in + k] = M.col2[b];
          }
        }
        const bool zero = off && i == nl - 1 && out_finite;
        adam_row(wr, l.mw + k * out, l.vw + k * out, kw + k * out, grow, col, B, out, ad, zero);
      }
    }
    std::swap(g, gp);
  }
}

// Denormals flushed to zero while the kernel runs (restored after): Adam's first moment of a weight that gets no
// gradient decays geometrically into the denormal range within ~700 steps, where arithmetic is many times slower.
struct FlushDenormals {
#if defined(__SSE__)
  unsigned csr;
  FlushDenormals() : csr(_mm_getcsr()) { _mm_setcsr(csr | 0x8040u); }  // FTZ | DAZ
  ~FlushDenormals() { _mm_setcsr(csr); }
#endif
};

}  // namespace

void fused_epoch(std::vector<torch::Tensor> params, std::vector<torch::Tensor> exp_avg,
                 std::vector<torch::Tensor> exp_avg_sq, std::vector<torch::Tensor> masks, torch::Tensor total,
                 torch::Tensor data, torch::Tensor orders, int64_t batch, int64_t n_steps, torch::Tensor coefs,
                 std::vector<int64_t> acts, std::vector<bool> transposed, int64_t n_enc, int64_t loss, double b1,
                 double b2) {
  const int64_t nl = (int64_t)acts.size();
  TORCH_CHECK((int64_t)params.size() == 2 * nl && exp_avg.size() == params.size() &&
                  exp_avg_sq.size() == params.size() && masks.size() == params.size(),
              "fused_epoch: need 2 tensors per layer");
  TORCH_CHECK(total.dtype() == torch::kFloat64 && total.is_contiguous(), "fused_epoch: total must be float64");
  TORCH_CHECK(data.dtype() == torch::kFloat32 && data.is_contiguous() && data.dim() == 2, "fused_epoch: data");
  TORCH_CHECK(orders.dtype() == torch::kInt64 && orders.dim() == 2, "fused_epoch: orders");
  TORCH_CHECK(coefs.dtype() == torch::kFloat32 && coefs.is_contiguous(), "fused_epoch: coefs");
  const int64_t N = params[0].size(0);
  TORCH_CHECK(coefs.numel() >= n_steps * 4 * N, "fused_epoch: coefs too short");
  TORCH_CHECK(orders.size(0) == N && orders.size(1) >= n_steps * batch, "fused_epoch: orders too short");
  for (auto* ts : {&params, &exp_avg, &exp_avg_sq, &masks})
    for (auto& t : *ts)
      TORCH_CHECK(t.dtype() == torch::kFloat32 && t.is_contiguous() && t.device().is_cpu() && t.size(0) == N,
                  "fused_epoch: tensors must be contiguous float32 CPU with N members");
  std::vector<Layer> layers(nl);
  for (int64_t i = 0; i < nl; ++i) {
    Layer& l = layers[i];
    const auto& w = params[2 * i];
    l.tr = transposed[i];
    l.in = l.tr ? w.size(1) : w.size(2);
    l.out = l.tr ? w.size(2) : w.size(1);
    l.act = (int)acts[i];
    l.half = i < n_enc ? 0 : 1;
    l.wn = l.in * l.out;
    l.bn = l.out;
    TORCH_CHECK(params[2 * i + 1].numel() == N * l.out, "fused_epoch: bias shape");
    TORCH_CHECK(i == 0 || l.in == layers[i - 1].out, "fused_epoch: layer sizes do not chain");
  }
  TORCH_CHECK(layers[0].in == data.size(1) && layers[nl - 1].out == data.size(1), "fused_epoch: data width");
  const int64_t D = data.size(1);
  const float* X = data.data_ptr<float>();
  const int64_t* ord = orders.data_ptr<int64_t>();
  const int64_t os0 = orders.stride(0), os1 = orders.stride(1);
  const int64_t n_rows = data.size(0);
  const float* C = coefs.data_ptr<float>();
  double* tot = total.data_ptr<double>();
  int64_t maxw = 0;
  for (auto& l : layers) maxw = std::max({maxw, l.in, l.out});

  int64_t n_bad = 0;  // validate every row index before anything is updated
  for (int64_t n = 0; n < N; ++n)
    for (int64_t q = 0; q < n_steps * batch; ++q) {
      const int64_t r = ord[n * os0 + q * os1];
      n_bad += (r < 0) | (r >= n_rows);
    }
  TORCH_CHECK(n_bad == 0, "fused_epoch: row index out of range");
  pybind11::gil_scoped_release no_gil;  // the tensors are extracted; other Python threads may run meanwhile
  bool data_finite = true;
  for (int64_t q = 0; q < n_rows * D; ++q) data_finite &= std::isfinite(X[q]);
  FlushDenormals ftz;
  for (int64_t n = 0; n < N; ++n) {
    Member M;
    M.L = layers;
    M.acts.resize(nl);
    M.kw.resize(nl);
    M.kb.resize(nl);
    for (int64_t i = 0; i < nl; ++i) {
      Layer& l = M.L[i];
      l.w = params[2 * i].data_ptr<float>() + n * l.wn;
      l.b = params[2 * i + 1].data_ptr<float>() + n * l.bn;
      l.mw = exp_avg[2 * i].data_ptr<float>() + n * l.wn;
      l.mb = exp_avg[2 * i + 1].data_ptr<float>() + n * l.bn;
      l.vw = exp_avg_sq[2 * i].data_ptr<float>() + n * l.wn;
      l.vb = exp_avg_sq[2 * i + 1].data_ptr<float>() + n * l.bn;
      l.kw = masks[2 * i].data_ptr<float>() + n * l.wn;
      l.kb = masks[2 * i + 1].data_ptr<float>() + n * l.bn;
      M.acts[i].assign(batch * l.out, 0.f);
      M.kw[i].resize(l.wn);
      M.kb[i].resize(l.bn);
      for (int64_t j = 0; j < l.wn; ++j) M.kw[i][j] = l.kw[j] != 0.f;
      for (int64_t j = 0; j < l.bn; ++j) M.kb[i][j] = l.kb[j] != 0.f;
    }
    M.g.assign(batch * maxw, 0.f);
    M.gp.assign(batch * maxw, 0.f);
    M.col.assign(batch, 0.f);
    M.col2.assign(batch, 0.f);
    M.ones.assign(batch, 1.f);
    M.hin.resize(batch);
    M.grow.resize(batch);
    M.zr.resize(batch);
    std::vector<const float*> rows(batch);
    double acc = 0.0;
    for (int64_t s = 0; s < n_steps; ++s) {
      for (int64_t b = 0; b < batch; ++b) {
        rows[b] = X + ord[n * os0 + (s * batch + b) * os1] * D;
      }
      Adam adam[2];
      for (int h = 0; h < 2; ++h) {
        adam[h].w1 = (float)(1.0 - b1);
        adam[h].b2 = (float)b2;
        adam[h].w2 = (float)(1.0 - b2);
        adam[h].c = C[(s * 4 + 2 * h) * N + n];
        adam[h].e = C[(s * 4 + 2 * h + 1) * N + n];
      }
      step(M, batch, rows.data(), (int)loss, adam, &acc, data_finite);
    }
    tot[n] += acc;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Evaluation: per (member, group, candidate) sums of elementwise errors of a stack of decoders, without ever
// materialising a decoder output.
namespace {

// natural log for positive normal x (Cephes logf: about 1 ulp); only ever called on clamped probabilities
inline v8 vlog(v8 x) {
  const v8i i = (v8i)x;
  v8 e = __builtin_convertvector(((i >> 23) & 0xff) - 126, v8);
  v8 m = (v8)((i & 0x007fffff) | 0x3f000000);  // x = m 2^e, m in [0.5, 1)
  const v8i small = m < bc(0.707106781186547524f);
  e = small ? e - bc(1.f) : e;
  m = small ? m + m - bc(1.f) : m - bc(1.f);
  const v8 z = m * m;
  v8 y = bc(7.0376836292E-2f);
  y = y * m + bc(-1.1514610310E-1f);
  y = y * m + bc(1.1676998740E-1f);
  y = y * m + bc(-1.2420140846E-1f);
  y = y * m + bc(1.4249322787E-1f);
  y = y * m + bc(-1.6668057665E-1f);
  y = y * m + bc(2.0000714765E-1f);
  y = y * m + bc(-2.4999993993E-1f);
  y = y * m + bc(3.3333331174E-1f);
  y = y * m * z;
  y = y + e * bc(-2.12194440e-4f);
  y = y - z * bc(0.5f);
  return m + y + e * bc(0.693359375f);
}

// the final activation on 8 pre-activations (sigmoid vectorized; tanh and elu lane by lane with the C library's
// tanh / expm1: an ulp matters to BCE on an output near 1)
inline v8 vact(int act, v8 a) {
  switch (act) {
    case A_RELU: return a < bc(0.f) ? bc(0.f) : a;
    case A_SIGMOID: return bc(1.f) / (bc(1.f) + vexp(-a));
    case A_TANH:
      for (int u = 0; u < 8; ++u) a[u] = std::tanh(a[u]);
      return a;
    case A_LEAKY_RELU: return a < bc(0.f) ? a * bc(0.01f) : a;
    case A_ELU:
      for (int u = 0; u < 8; ++u) a[u] = a[u] > 0.f ? a[u] : std::expm1(a[u]);
      return a;
    default: return a;
  }
}

// elementwise error of output o against target t: |o - t|, (o - t)^2, or F.binary_cross_entropy on o clamped to
// [1e-7, 1 - 1e-7] (logs clamped at -100), as evoprune.losses._bce
inline v8 verr(int loss, v8 o, v8 t) {
  if (loss == L_L1) {
    const v8 d = o - t;
    return d < bc(0.f) ? -d : d;
  }
  if (loss == L_MSE) {
    const v8 d = o - t;
    return d * d;
  }
  const v8 lo = bc(1e-7f), hi = bc((float)(1.0 - 1e-7));
  v8 p = o < lo ? lo : o;
  p = p > hi ? hi : p;
  v8 lp = vlog(p), lq = vlog(bc(1.f) - p);
  lp = lp < bc(-100.f) ? bc(-100.f) : lp;
  lq = lq < bc(-100.f) ? bc(-100.f) : lq;
  return -(t * lp + (bc(1.f) - t) * lq);
}

inline float hsum(v8 t) { return ((t[0] + t[4]) + (t[1] + t[5])) + ((t[2] + t[6]) + (t[3] + t[7])); }

// hidden-layer activations, NaN-propagating like torch's (a NaN anywhere must make the error sum NaN)
inline void activate_hidden(int act, float* z, int64_t n) {
  for (int64_t j = 0; j < n; ++j) {
    const float a = z[j];
    switch (act) {
      case A_RELU: z[j] = a < 0.f ? 0.f : a; break;
      case A_SIGMOID: z[j] = 1.f / (1.f + std::exp(-a)); break;
      case A_TANH: z[j] = std::tanh(a); break;
      case A_LEAKY_RELU: z[j] = a < 0.f ? a * 0.01f : a; break;
      case A_ELU: z[j] = a > 0.f ? a : std::expm1(a); break;
      default: break;
    }
  }
}

// error sums of NB rows h[b] (length H) through the last layer (wt: (H, D), the weight transposed, and wp: the same
// in panels of 16 outputs, (D / 16, H, 16), for the full blocks; bias: (D,)),
// against target rows t[b]: register tiles of NB rows x 16 outputs; err[b] += the row's sum, bad[b] |= NaN seen
template <int NB>
void last_layer_rows(const float* const* h, const float* __restrict wt, const float* __restrict wp,
                     const float* __restrict bias, float* __restrict hp,
                     const float* const* t, int64_t H, int64_t D, int act, int loss, double* err, v8i* bad,
                     bool skip_zeros, int64_t* live) {
  v8 es[NB];
  v8i nan[NB];
  for (int b = 0; b < NB; ++b) { es[b] = bc(0.f); nan[b] = v8i{0, 0, 0, 0, 0, 0, 0, 0}; }
  int64_t j = 0;
  // the rows' hidden values interleaved, (q, b): broadcasts off one pointer.  With skip_zeros (every weight finite),
  // a unit that is zero in all NB rows adds exactly nothing and is left out: live[q] lists the others.
  int64_t n_live = 0;
  for (int64_t k = 0; k < H; ++k) {
    bool zero = skip_zeros;
    for (int b = 0; b < NB; ++b) zero &= h[b][k] == 0.f;
    if (!zero) {
      for (int b = 0; b < NB; ++b) hp[n_live * NB + b] = h[b][k];
      live[n_live++] = k;
    }
  }
  for (; j + 16 <= D; j += 16) {
    v8 acc[NB][2];
    const v8 b0 = ld(bias + j), b1 = ld(bias + j + 8);
    for (int b = 0; b < NB; ++b) { acc[b][0] = b0; acc[b][1] = b1; }
    const float* wb = wp + j * H;  // this block's (H, 16) panel
    for (int64_t q = 0; q < n_live; ++q) {
      const int64_t k = live[q];
      const v8 x = ld(wb + k * 16), y = ld(wb + k * 16 + 8);
      for (int b = 0; b < NB; ++b) {
        const v8 hk = bc(hp[q * NB + b]);
        acc[b][0] += hk * x;
        acc[b][1] += hk * y;
      }
    }
    for (int b = 0; b < NB; ++b) {
      nan[b] |= (acc[b][0] != acc[b][0]) | (acc[b][1] != acc[b][1]);
      es[b] += verr(loss, vact(act, acc[b][0]), ld(t[b] + j)) + verr(loss, vact(act, acc[b][1]), ld(t[b] + j + 8));
    }
  }
  for (; j < D; j += 8) {  // the last outputs, 8 at a time (lanes past D masked off)
    const int64_t n = std::min<int64_t>(8, D - j);
    for (int b = 0; b < NB; ++b) {
      v8 a = bc(0.f), tv = bc(0.f);
      for (int64_t q = 0; q < n; ++q) {
        float s = bias[j + q];
        for (int64_t k = 0; k < H; ++k) s += h[b][k] * wt[k * D + j + q];
        a[q] = s;
        tv[q] = t[b][j + q];
      }
      const v8 e = verr(loss, vact(act, a), tv);
      v8i lane = v8i{0, 1, 2, 3, 4, 5, 6, 7} < (int32_t)n;
      nan[b] |= (a != a) & lane;
      es[b] += lane ? e : bc(0.f);
    }
  }
  for (int b = 0; b < NB; ++b) {
    err[b] += (double)hsum(es[b]);
    bad[b] |= nan[b];
  }
}

}  // namespace

// sums[n, g, k] = sum over rows b < B and outputs j < D of err(decoder_n(z[n, g, k, b])[j], target[index[n, g], b, j])
torch::Tensor decoder_error_sums(std::vector<torch::Tensor> params, torch::Tensor z, torch::Tensor target,
                                 torch::Tensor index, std::vector<int64_t> acts, bool final_activation,
                                 int64_t loss) {
  const int64_t nl = (int64_t)acts.size();
  TORCH_CHECK(nl >= 1 && (int64_t)params.size() == 2 * nl, "decoder_error_sums: need 2 tensors per layer");
  TORCH_CHECK(z.dtype() == torch::kFloat32 && z.is_contiguous() && z.dim() == 5 && z.device().is_cpu(),
              "decoder_error_sums: z must be contiguous float32 (N, G, K, B, L)");
  TORCH_CHECK(target.dtype() == torch::kFloat32 && target.is_contiguous() && target.dim() == 3 &&
                  target.device().is_cpu(),
              "decoder_error_sums: target must be contiguous float32 (T, B, D)");
  TORCH_CHECK(index.dtype() == torch::kInt64 && index.is_contiguous() && index.dim() == 2,
              "decoder_error_sums: index must be int64 (N, G)");
  TORCH_CHECK(loss == L_L1 || loss == L_MSE || loss == L_BCE, "decoder_error_sums: loss must be l1, mse or bce");
  const int64_t N = z.size(0), G = z.size(1), K = z.size(2), B = z.size(3), L = z.size(4);
  const int64_t T = target.size(0), D = target.size(2);
  TORCH_CHECK(index.size(0) == N && index.size(1) == G, "decoder_error_sums: index shape");
  TORCH_CHECK(target.size(1) == B, "decoder_error_sums: target rows != z rows");
  std::vector<int64_t> in(nl), out(nl);
  for (int64_t i = 0; i < nl; ++i) {
    const auto& w = params[2 * i];
    const auto& b = params[2 * i + 1];
    TORCH_CHECK(w.dtype() == torch::kFloat32 && w.is_contiguous() && w.dim() == 3 && w.size(0) == N &&
                    w.device().is_cpu(),
                "decoder_error_sums: weights must be contiguous float32 (N, out, in)");
    out[i] = w.size(1);
    in[i] = w.size(2);
    TORCH_CHECK(b.dtype() == torch::kFloat32 && b.is_contiguous() && b.numel() == N * out[i],
                "decoder_error_sums: bias shape");
    TORCH_CHECK(in[i] == (i == 0 ? L : out[i - 1]), "decoder_error_sums: layer sizes do not chain");
    TORCH_CHECK(acts[i] >= 0 && acts[i] < A_COUNT, "decoder_error_sums: unknown activation");
  }
  TORCH_CHECK(out[nl - 1] == D, "decoder_error_sums: decoder output width != target width");
  const int64_t* idx = index.data_ptr<int64_t>();
  int64_t n_bad = 0;
  for (int64_t q = 0; q < N * G; ++q) n_bad += (idx[q] < 0) | (idx[q] >= T);
  TORCH_CHECK(n_bad == 0, "decoder_error_sums: target index out of range");
  auto sums = torch::zeros({N, G, K}, torch::dtype(torch::kFloat64));
  double* S = sums.data_ptr<double>();
  const float* Z = z.data_ptr<float>();
  const float* X = target.data_ptr<float>();
  std::vector<const float*> W(nl), Bv(nl);
  for (int64_t i = 0; i < nl; ++i) {
    W[i] = params[2 * i].data_ptr<float>();
    Bv[i] = params[2 * i + 1].data_ptr<float>();
  }
  const int64_t H = in[nl - 1];
  const int last_act = final_activation ? (int)acts[nl - 1] : A_IDENTITY;
  pybind11::gil_scoped_release no_gil;
  at::parallel_for(0, N, 1, [&](int64_t n0, int64_t n1) {
    FlushDenormals ftz;
    std::vector<float> wt(H * D), wp(H * D), hpk(6 * H);
    std::vector<std::vector<float>> acts_buf(nl);
    for (int64_t i = 0; i + 1 < nl; ++i) acts_buf[i].assign(B * out[i], 0.f);
    std::vector<float> col(B);
    std::vector<const float*> hin(B), trow(B);
    std::vector<double> err(B);
    std::vector<v8i> bad(B);
    std::vector<int64_t> live(H);
    for (int64_t n = n0; n < n1; ++n) {
      const float* wl = W[nl - 1] + n * D * H;  // (D, H) -> (H, D)
      bool skip_zeros = true;  // 0 * inf is NaN: units are skipped only when every weight is finite
      for (int64_t q = 0; q < D * H; ++q) skip_zeros &= std::isfinite(wl[q]);
      for (int64_t j = 0; j < D; ++j)
        for (int64_t k = 0; k < H; ++k) wt[k * D + j] = wl[j * H + k];
      for (int64_t j = 0; j < D / 16 * 16; ++j)
        for (int64_t k = 0; k < H; ++k) wp[(j / 16) * 16 * H + k * 16 + j % 16] = wl[j * H + k];
      const float* bl = Bv[nl - 1] + n * D;
      for (int64_t g = 0; g < G; ++g) {
        const float* tg = X + idx[n * G + g] * B * D;
        for (int64_t b = 0; b < B; ++b) trow[b] = tg + b * D;
        for (int64_t kk = 0; kk < K; ++kk) {
          const float* zr = Z + (((n * G + g) * K + kk) * B) * L;
          for (int64_t b = 0; b < B; ++b) hin[b] = zr + b * L;
          for (int64_t i = 0; i + 1 < nl; ++i) {  // hidden layers, all rows
            float* a = acts_buf[i].data();
            const float* w = W[i] + n * out[i] * in[i];
            const float* bi = Bv[i] + n * out[i];
            for (int64_t o = 0; o < out[i]; ++o) {
              multidot(hin.data(), B, w + o * in[i], in[i], col.data());
              for (int64_t b = 0; b < B; ++b) a[b * out[i] + o] = bi[o] + col[b];
            }
            activate_hidden((int)acts[i], a, B * out[i]);
            for (int64_t b = 0; b < B; ++b) hin[b] = a + b * out[i];
          }
          for (int64_t b = 0; b < B; ++b) { err[b] = 0.0; bad[b] = v8i{0, 0, 0, 0, 0, 0, 0, 0}; }
          const float* const* hp = hin.data();
          const float* const* tp = trow.data();
          int64_t b = 0;
          for (; b + 6 <= B; b += 6)
            last_layer_rows<6>(hp + b, wt.data(), wp.data(), bl, hpk.data(), tp + b, H, D, last_act, (int)loss, &err[b], &bad[b], skip_zeros,
                                live.data());
          switch (B - b) {
            case 5: last_layer_rows<5>(hp + b, wt.data(), wp.data(), bl, hpk.data(), tp + b, H, D, last_act, (int)loss, &err[b], &bad[b], skip_zeros,
                                live.data()); break;
            case 4: last_layer_rows<4>(hp + b, wt.data(), wp.data(), bl, hpk.data(), tp + b, H, D, last_act, (int)loss, &err[b], &bad[b], skip_zeros,
                                live.data()); break;
            case 3: last_layer_rows<3>(hp + b, wt.data(), wp.data(), bl, hpk.data(), tp + b, H, D, last_act, (int)loss, &err[b], &bad[b], skip_zeros,
                                live.data()); break;
            case 2: last_layer_rows<2>(hp + b, wt.data(), wp.data(), bl, hpk.data(), tp + b, H, D, last_act, (int)loss, &err[b], &bad[b], skip_zeros,
                                live.data()); break;
            case 1: last_layer_rows<1>(hp + b, wt.data(), wp.data(), bl, hpk.data(), tp + b, H, D, last_act, (int)loss, &err[b], &bad[b], skip_zeros,
                                live.data()); break;
            default: break;
          }
          double s = 0.0;
          bool any_nan = false;
          for (int64_t r = 0; r < B; ++r) {
            s += err[r];
            for (int u = 0; u < 8; ++u) any_nan |= bad[r][u] != 0;
          }
          S[(n * G + g) * K + kk] = any_nan ? std::nan("") : s;
        }
      }
    }
  });
  return sums;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("fused_epoch", torch::wrap_pybind_function(fused_epoch), "fused_epoch");
  m.def("decoder_error_sums", torch::wrap_pybind_function(decoder_error_sums), "decoder_error_sums");
}
