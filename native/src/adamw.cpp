/*
 * AdamW with PyTorch semantics (torch.optim.AdamW, decoupled weight decay), all arrays [n]:
 *
 *   g' = g * grad_scale
 *   p  = p * (1 - lr * wd)                          (decay before the Adam update)
 *   m  = b1 m + (1 - b1) g'
 *   v  = b2 v + (1 - b2) g'^2
 *   p -= (lr / (1 - b1^step)) * m / (sqrt(v) / sqrt(1 - b2^step) + eps)      step counts from 1
 *
 * The scalar factors are computed once in fp64 (as Python computes them for PyTorch) and rounded
 * to fp32; the update is elementwise, split among threads in contiguous chunks.
 */
#include <immintrin.h>
#include <omp.h>

#include <cmath>

#include "g4_cpu.h"
#include "g4_internal.h"

namespace {

constexpr int64_t kChunk = 1 << 14;  // elements per work item

struct Coef {
  float gs;          // grad_scale
  float decay;       // 1 - lr*wd
  float b1, c1;      // beta1, 1 - beta1
  float b2, c2;      // beta2, 1 - beta2
  float step_size;   // lr / (1 - b1^step)
  float inv_bc2s;    // 1 / sqrt(1 - b2^step)
  float eps;
};

void update_scalar(float* p, const float* g, float* m, float* v, int64_t i0, int64_t i1,
                   const Coef& k) {
  for (int64_t i = i0; i < i1; i++) {
    float gi = g[i] * k.gs;
    float mi = k.b1 * m[i] + k.c1 * gi;
    float vi = k.b2 * v[i] + k.c2 * (gi * gi);
    m[i] = mi;
    v[i] = vi;
    float denom = std::sqrt(vi) * k.inv_bc2s + k.eps;
    p[i] = p[i] * k.decay - k.step_size * (mi / denom);
  }
}

G4_AVX2 void update_avx2(float* p, const float* g, float* m, float* v, int64_t i0, int64_t i1,
                         const Coef& k) {
  const __m256 gs = _mm256_set1_ps(k.gs), decay = _mm256_set1_ps(k.decay);
  const __m256 b1 = _mm256_set1_ps(k.b1), c1 = _mm256_set1_ps(k.c1);
  const __m256 b2 = _mm256_set1_ps(k.b2), c2 = _mm256_set1_ps(k.c2);
  const __m256 ss = _mm256_set1_ps(k.step_size), ib = _mm256_set1_ps(k.inv_bc2s);
  const __m256 eps = _mm256_set1_ps(k.eps);
  int64_t i = i0;
  for (; i + 8 <= i1; i += 8) {
    __m256 gi = _mm256_mul_ps(_mm256_loadu_ps(g + i), gs);
    __m256 mi = _mm256_fmadd_ps(b1, _mm256_loadu_ps(m + i), _mm256_mul_ps(c1, gi));
    __m256 vi = _mm256_fmadd_ps(b2, _mm256_loadu_ps(v + i), _mm256_mul_ps(c2, _mm256_mul_ps(gi, gi)));
    _mm256_storeu_ps(m + i, mi);
    _mm256_storeu_ps(v + i, vi);
    __m256 denom = _mm256_fmadd_ps(_mm256_sqrt_ps(vi), ib, eps);
    __m256 upd = _mm256_mul_ps(ss, _mm256_div_ps(mi, denom));
    _mm256_storeu_ps(p + i, _mm256_fmsub_ps(_mm256_loadu_ps(p + i), decay, upd));
  }
  update_scalar(p, g, m, v, i, i1, k);
}

}  // namespace

extern "C" {

G4_API void g4_adamw(float* p, const float* g, float* m, float* v, int64_t n, float lr,
                     float beta1, float beta2, float eps, float weight_decay, int step,
                     float grad_scale) {
  if (n <= 0) return;
  double bc1 = 1.0 - std::pow((double)beta1, (double)step);
  double bc2 = 1.0 - std::pow((double)beta2, (double)step);
  Coef k;
  k.gs = grad_scale;
  k.decay = (float)(1.0 - (double)lr * (double)weight_decay);
  k.b1 = beta1;
  k.c1 = (float)(1.0 - (double)beta1);
  k.b2 = beta2;
  k.c2 = (float)(1.0 - (double)beta2);
  k.step_size = (float)((double)lr / bc1);
  k.inv_bc2s = (float)(1.0 / std::sqrt(bc2));
  k.eps = eps;
  auto fn = g4::use_avx2() ? update_avx2 : update_scalar;
  int64_t nc = (n + kChunk - 1) / kChunk;  // chunks [c*kChunk, (c+1)*kChunk) of n
#pragma omp parallel for schedule(static) if (nc > 1) num_threads(g4::threads())
  for (int64_t c = 0; c < nc; c++) {
    fn(p, g, m, v, c * kChunk, c * kChunk + kChunk < n ? c * kChunk + kChunk : n, k);
  }
}

}  // extern "C"
