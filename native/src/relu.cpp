/*
 * ReLU of the OPT MLP, all arrays [n] (n = tokens * ffn size):
 *
 *   fwd: y  = max(x, 0)              (y overwritten; y may be x)
 *   bwd: dx = x > 0 ? dy : 0         (dx overwritten; dx may be dy), relu'(0) = 0 as in torch
 *
 * A NaN in x stays NaN in y, so a broken activation is not hidden. Each element is read before it
 * is written, so the aliasing above is safe. Split among threads in contiguous chunks.
 */
#include <immintrin.h>
#include <omp.h>

#include "g4_cpu.h"
#include "g4_internal.h"
#include "g4_simd.h"

namespace {

constexpr int64_t kChunk = 1 << 14;  // elements per work item

void fwd_scalar(float* y, const float* x, int64_t i0, int64_t i1) {
  for (int64_t i = i0; i < i1; i++) y[i] = x[i] < 0.f ? 0.f : x[i];
}

G4_AVX2 void fwd_avx2(float* y, const float* x, int64_t i0, int64_t i1) {
  const __m256 zero = _mm256_setzero_ps();
  int64_t i = i0;
  // maxps returns its second operand when either is NaN: x, so NaN passes through
  for (; i + 8 <= i1; i += 8) _mm256_storeu_ps(y + i, _mm256_max_ps(zero, _mm256_loadu_ps(x + i)));
  fwd_scalar(y, x, i, i1);
}

void bwd_scalar(float* dx, const float* dy, const float* x, int64_t i0, int64_t i1) {
  for (int64_t i = i0; i < i1; i++) dx[i] = x[i] > 0.f ? dy[i] : 0.f;
}

G4_AVX2 void bwd_avx2(float* dx, const float* dy, const float* x, int64_t i0, int64_t i1) {
  const __m256 zero = _mm256_setzero_ps();
  int64_t i = i0;
  for (; i + 8 <= i1; i += 8) {
    __m256 pos = _mm256_cmp_ps(_mm256_loadu_ps(x + i), zero, _CMP_GT_OQ);
    _mm256_storeu_ps(dx + i, _mm256_and_ps(pos, _mm256_loadu_ps(dy + i)));
  }
  bwd_scalar(dx, dy, x, i, i1);
}

}  // namespace

extern "C" {

G4_API void g4_relu_fwd(float* y, const float* x, int64_t n) {
  if (n <= 0) return;
  auto fn = g4::use_avx2() ? fwd_avx2 : fwd_scalar;
  int64_t nc = (n + kChunk - 1) / kChunk;  // chunks [c*kChunk, (c+1)*kChunk) of n
#pragma omp parallel for schedule(static) if (nc > 1) num_threads(g4::threads())
  for (int64_t c = 0; c < nc; c++) fn(y, x, c * kChunk, c * kChunk + kChunk < n ? c * kChunk + kChunk : n);
}

G4_API void g4_relu_bwd(float* dx, const float* dy, const float* x, int64_t n) {
  if (n <= 0) return;
  auto fn = g4::use_avx2() ? bwd_avx2 : bwd_scalar;
  int64_t nc = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (nc > 1) num_threads(g4::threads())
  for (int64_t c = 0; c < nc; c++) {
    fn(dx, dy, x, c * kChunk, c * kChunk + kChunk < n ? c * kChunk + kChunk : n);
  }
}

}  // extern "C"
