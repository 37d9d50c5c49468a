/*
 * Elementwise operations of the training loop, all arrays [n]:
 *   add:   y = a + b            (y may alias a or b: each element is read before it is written)
 *   scale: x *= s               (gradient clipping, loss scaling)
 *   sumsq: sum_i x_i^2 in fp64  (global gradient norm)
 *
 * sumsq is deterministic whatever the thread count: the array is cut into fixed blocks of
 * kSumBlock elements, each block is summed in fp64 on whichever thread gets it, and the block sums
 * are added in block order on one thread. (The AVX2 and scalar paths sum a block in different
 * orders, so the two agree to rounding, not bit for bit.)
 */
#include <immintrin.h>
#include <omp.h>

#include <vector>

#include "g4_cpu.h"
#include "g4_internal.h"
#include "g4_simd.h"

namespace {

constexpr int64_t kParallelMin = 1 << 15;  // below this an op runs on one thread
constexpr int64_t kSumBlock = 1 << 14;     // elements per fp64 partial of sumsq

// ---- add ----------------------------------------------------------------------------------

void add_scalar(float* y, const float* a, const float* b, int64_t i0, int64_t i1) {
  for (int64_t i = i0; i < i1; i++) y[i] = a[i] + b[i];
}

G4_AVX2 void add_avx2(float* y, const float* a, const float* b, int64_t i0, int64_t i1) {
  int64_t i = i0;
  for (; i + 8 <= i1; i += 8) {
    _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
  }
  add_scalar(y, a, b, i, i1);
}

// ---- scale --------------------------------------------------------------------------------

void scale_scalar(float* x, float s, int64_t i0, int64_t i1) {
  for (int64_t i = i0; i < i1; i++) x[i] *= s;
}

G4_AVX2 void scale_avx2(float* x, float s, int64_t i0, int64_t i1) {
  const __m256 vs = _mm256_set1_ps(s);
  int64_t i = i0;
  for (; i + 8 <= i1; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), vs));
  scale_scalar(x, s, i, i1);
}

// ---- sumsq: one block [i0, i1) in fp64 ----------------------------------------------------

double sumsq_scalar(const float* x, int64_t i0, int64_t i1) {
  double s = 0;
  for (int64_t i = i0; i < i1; i++) s += (double)x[i] * (double)x[i];
  return s;
}

G4_AVX2 double sumsq_avx2(const float* x, int64_t i0, int64_t i1) {
  // two 4-lane fp64 accumulators: lanes 0..3 and 4..7 of each 8-float load
  __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
  int64_t i = i0;
  for (; i + 8 <= i1; i += 8) {
    __m256 v = _mm256_loadu_ps(x + i);
    __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
    __m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
    s0 = _mm256_fmadd_pd(lo, lo, s0);
    s1 = _mm256_fmadd_pd(hi, hi, s1);
  }
  return g4::hsum4d(_mm256_add_pd(s0, s1)) + sumsq_scalar(x, i, i1);
}

}  // namespace

extern "C" {

G4_API void g4_add(float* y, const float* a, const float* b, int64_t n) {
  if (n <= 0) return;
  auto fn = g4::use_avx2() ? add_avx2 : add_scalar;
  if (n < kParallelMin) {
    fn(y, a, b, 0, n);
    return;
  }
  constexpr int64_t chunk = 1 << 14;
#pragma omp parallel for schedule(static) num_threads(g4::threads())
  for (int64_t c = 0; c < (n + chunk - 1) / chunk; c++) {
    int64_t i0 = c * chunk, i1 = i0 + chunk < n ? i0 + chunk : n;
    fn(y, a, b, i0, i1);
  }
}

G4_API void g4_scale(float* x, int64_t n, float s) {
  if (n <= 0) return;
  auto fn = g4::use_avx2() ? scale_avx2 : scale_scalar;
  if (n < kParallelMin) {
    fn(x, s, 0, n);
    return;
  }
  constexpr int64_t chunk = 1 << 14;
#pragma omp parallel for schedule(static) num_threads(g4::threads())
  for (int64_t c = 0; c < (n + chunk - 1) / chunk; c++) {
    int64_t i0 = c * chunk, i1 = i0 + chunk < n ? i0 + chunk : n;
    fn(x, s, i0, i1);
  }
}

G4_API double g4_sumsq(const float* x, int64_t n) {
  if (n <= 0) return 0.0;
  auto fn = g4::use_avx2() ? sumsq_avx2 : sumsq_scalar;
  int64_t nb = (n + kSumBlock - 1) / kSumBlock;  // blocks [b*kSumBlock, (b+1)*kSumBlock)
  if (nb == 1) return fn(x, 0, n);
  std::vector<double> part(nb);
#pragma omp parallel for schedule(static) if (n >= kParallelMin) num_threads(g4::threads())
  for (int64_t b = 0; b < nb; b++) {
    int64_t i0 = b * kSumBlock, i1 = i0 + kSumBlock < n ? i0 + kSumBlock : n;
    part[b] = fn(x, i0, i1);
  }
  double s = 0;
  for (int64_t b = 0; b < nb; b++) s += part[b];  // fixed order: same result on any thread count
  return s;
}

}  // extern "C"
