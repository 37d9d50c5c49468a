// The primitives of attention.h's Scalar on 16-float registers, for the tile kernels' AVX-512 path.
// Compiled natively by attention.cpp and under emulation by native/simde/ (see g4_avx512.h).
#pragma once
#include "attention.h"
#include "g4_avx512.h"

namespace g4::attention::G4_AVX512_NS {

struct Avx512 {
  // four independent accumulators, one per 16-key column block: one broadcast of x[d] feeds 4 FMAs
  G4_AVX512_TARGET static inline void scores(float* s, const float* x, const float* Xt, int D) {
    __m512 a[BK / 16];
    for (int c = 0; c < BK / 16; c++) a[c] = _mm512_setzero_ps();
    for (int d = 0; d < D; d++) {
      const __m512 xd = _mm512_set1_ps(x[d]);
      for (int c = 0; c < BK / 16; c++) a[c] = _mm512_fmadd_ps(xd, _mm512_loadu_ps(Xt + d * BK + 16 * c), a[c]);
    }
    for (int c = 0; c < BK / 16; c++) _mm512_storeu_ps(s + 16 * c, a[c]);
  }
  G4_AVX512_TARGET static inline float mask(float* s, const int32_t* segt, int32_t si, int r0, int r1, float scale) {
    const __m512i lo = _mm512_set1_epi32(r0 - 1), hi = _mm512_set1_epi32(r1), vsi = _mm512_set1_epi32(si);
    const __m512 ninf = _mm512_set1_ps(NEG_INF), sc = _mm512_set1_ps(scale);
    __m512 mx = ninf;
    for (int c = 0; c < BK; c += 16) {
      const __m512i lane = _mm512_add_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                            _mm512_set1_epi32(c));
      const __mmask16 in = _mm512_cmpgt_epi32_mask(lane, lo) & _mm512_cmpgt_epi32_mask(hi, lane) &
                           _mm512_cmpeq_epi32_mask(_mm512_loadu_si512((const void*)(segt + c)), vsi);
      const __m512 x = _mm512_mask_blend_ps(in, ninf, _mm512_mul_ps(sc, _mm512_loadu_ps(s + c)));
      _mm512_storeu_ps(s + c, x);
      mx = _mm512_max_ps(mx, x);
    }
    return g4::G4_AVX512_NS::hmax16(mx);
  }
  G4_AVX512_TARGET static inline float expsub(float* p, const float* s, float sub) {
    const __m512 ninf = _mm512_set1_ps(NEG_INF), vs = _mm512_set1_ps(sub);
    __m512 sum = _mm512_setzero_ps();
    for (int c = 0; c < BK; c += 16) {
      const __m512 x = _mm512_loadu_ps(s + c);
      const __m512 e = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x, ninf, _CMP_NEQ_OQ),
                                           g4::G4_AVX512_NS::exp16(_mm512_sub_ps(x, vs)));
      _mm512_storeu_ps(p + c, e);
      sum = _mm512_add_ps(sum, e);
    }
    return g4::G4_AVX512_NS::hsum16(sum);
  }
  // 64 floats of y at a time held in registers over all n rows, even and odd rows in separate
  // accumulators so two FMA chains are in flight; then 16 at a time; D % 16 leftovers in a scalar tail
  G4_AVX512_TARGET static inline void acc(float* y, const float* c, int64_t cs, const float* rows, int64_t rs, int n,
                                          int D) {
    int d = 0;
    for (; d + 64 <= D; d += 64) {
      __m512 e[4], o[4];
      for (int u = 0; u < 4; u++) e[u] = _mm512_loadu_ps(y + d + 16 * u), o[u] = _mm512_setzero_ps();
      int r = 0;
      for (; r + 2 <= n; r += 2) {
        const float *x0 = rows + r * rs + d, *x1 = x0 + rs;
        const __m512 c0 = _mm512_set1_ps(c[r * cs]), c1 = _mm512_set1_ps(c[(r + 1) * cs]);
        for (int u = 0; u < 4; u++) {
          e[u] = _mm512_fmadd_ps(c0, _mm512_loadu_ps(x0 + 16 * u), e[u]);
          o[u] = _mm512_fmadd_ps(c1, _mm512_loadu_ps(x1 + 16 * u), o[u]);
        }
      }
      if (r < n) {
        const __m512 c0 = _mm512_set1_ps(c[r * cs]);
        for (int u = 0; u < 4; u++) e[u] = _mm512_fmadd_ps(c0, _mm512_loadu_ps(rows + r * rs + d + 16 * u), e[u]);
      }
      for (int u = 0; u < 4; u++) _mm512_storeu_ps(y + d + 16 * u, _mm512_add_ps(e[u], o[u]));
    }
    for (; d + 16 <= D; d += 16) {
      __m512 e = _mm512_loadu_ps(y + d);
      for (int r = 0; r < n; r++) e = _mm512_fmadd_ps(_mm512_set1_ps(c[r * cs]), _mm512_loadu_ps(rows + r * rs + d), e);
      _mm512_storeu_ps(y + d, e);
    }
    for (; d < D; d++)
      for (int r = 0; r < n; r++) y[d] += c[r * cs] * rows[r * rs + d];
  }
  static G4_INLINE void scal(float* y, float a, int D) { Scalar::scal(y, a, D); }
};

}  // namespace g4::attention::G4_AVX512_NS
