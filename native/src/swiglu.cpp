/*
 * SwiGLU gate of the LLaMA MLP, all arrays [n] (n = tokens * intermediate size):
 *
 *   s = sigmoid(g) = 1 / (1 + e^-g),  silu(g) = g * s
 *   fwd: h  = silu(g) * u                                    (h overwritten)
 *   bwd: silu'(g) = s * (1 + g * (1 - s))
 *        dg = dh * u * silu'(g),   du = dh * silu(g)          (dg, du overwritten)
 *
 * The sigmoid is evaluated from e = e^-|g| (never overflows): s = 1/(1+e) for g >= 0 and
 * e/(1+e) for g < 0. Split among threads in contiguous chunks.
 */
#include <immintrin.h>
#include <omp.h>

#include <cmath>

#include "g4_cpu.h"
#include "g4_internal.h"
#include "g4_simd.h"

namespace {

constexpr int64_t kChunk = 1 << 13;  // elements per work item

inline float sigmoid1(float g) {
  float e = std::exp(-std::fabs(g));
  return g >= 0 ? 1.0f / (1.0f + e) : e / (1.0f + e);
}

G4_AVX2 inline __m256 sigmoid8(__m256 g) {
  const __m256 one = _mm256_set1_ps(1.0f), sign = _mm256_set1_ps(-0.0f);
  __m256 e = g4::exp8(_mm256_or_ps(g, sign));           // e^-|g|
  __m256 r = _mm256_div_ps(one, _mm256_add_ps(one, e));  // 1/(1+e)
  __m256 neg = _mm256_cmp_ps(g, _mm256_setzero_ps(), _CMP_LT_OQ);
  return _mm256_blendv_ps(r, _mm256_mul_ps(e, r), neg);  // g < 0: e/(1+e)
}

void fwd_scalar(float* h, const float* g, const float* u, int64_t i0, int64_t i1) {
  for (int64_t i = i0; i < i1; i++) h[i] = g[i] * sigmoid1(g[i]) * u[i];
}

G4_AVX2 void fwd_avx2(float* h, const float* g, const float* u, int64_t i0, int64_t i1) {
  int64_t i = i0;
  for (; i + 8 <= i1; i += 8) {
    __m256 vg = _mm256_loadu_ps(g + i);
    __m256 silu = _mm256_mul_ps(vg, sigmoid8(vg));
    _mm256_storeu_ps(h + i, _mm256_mul_ps(silu, _mm256_loadu_ps(u + i)));
  }
  fwd_scalar(h, g, u, i, i1);
}

void bwd_scalar(float* dg, float* du, const float* dh, const float* g, const float* u, int64_t i0,
                int64_t i1) {
  for (int64_t i = i0; i < i1; i++) {
    float s = sigmoid1(g[i]);
    float dsilu = s * (1.0f + g[i] * (1.0f - s));
    float d = dh[i];  // read before writing: dg or du may be the buffer of dh
    float ui = u[i];
    dg[i] = d * ui * dsilu;
    du[i] = d * (g[i] * s);
  }
}

G4_AVX2 void bwd_avx2(float* dg, float* du, const float* dh, const float* g, const float* u,
                      int64_t i0, int64_t i1) {
  const __m256 one = _mm256_set1_ps(1.0f);
  int64_t i = i0;
  for (; i + 8 <= i1; i += 8) {
    __m256 vg = _mm256_loadu_ps(g + i), vu = _mm256_loadu_ps(u + i), vd = _mm256_loadu_ps(dh + i);
    __m256 s = sigmoid8(vg);
    __m256 dsilu = _mm256_mul_ps(s, _mm256_fmadd_ps(vg, _mm256_sub_ps(one, s), one));
    _mm256_storeu_ps(dg + i, _mm256_mul_ps(_mm256_mul_ps(vd, vu), dsilu));
    _mm256_storeu_ps(du + i, _mm256_mul_ps(vd, _mm256_mul_ps(vg, s)));
  }
  bwd_scalar(dg, du, dh, g, u, i, i1);
}

}  // namespace

extern "C" {

G4_API void g4_swiglu_fwd(float* h, const float* g, const float* u, int64_t n) {
  if (n <= 0) return;
  auto fn = g4::use_avx2() ? fwd_avx2 : fwd_scalar;
  int64_t nc = (n + kChunk - 1) / kChunk;  // chunks [c*kChunk, (c+1)*kChunk) of n
  if (nc == 1) {
    fn(h, g, u, 0, n);  // a decode step's rows: no OpenMP region at all
    return;
  }
#pragma omp parallel for schedule(static) num_threads(g4::threads())
  for (int64_t c = 0; c < nc; c++) fn(h, g, u, c * kChunk, c * kChunk + kChunk < n ? c * kChunk + kChunk : n);
}

G4_API void g4_swiglu_bwd(float* dg, float* du, const float* dh, const float* g, const float* u,
                          int64_t n) {
  if (n <= 0) return;
  auto fn = g4::use_avx2() ? bwd_avx2 : bwd_scalar;
  int64_t nc = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (nc > 1) num_threads(g4::threads())
  for (int64_t c = 0; c < nc; c++) {
    fn(dg, du, dh, g, u, c * kChunk, c * kChunk + kChunk < n ? c * kChunk + kChunk : n);
  }
}

}  // extern "C"
