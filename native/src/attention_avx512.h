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
  // y[0:16U] += sum_r c[r*cs] rows[r*rs + 0:16U], held in registers over all n rows, with R sets of
  // accumulators taking rows in turn so that R*U independent FMA chains are in flight
  template <int U, int R>
  G4_AVX512_TARGET static G4_INLINE void acc_block(float* y, const float* c, int64_t cs, const float* rows, int64_t rs,
                                                int n) {
    __m512 a[R][U];
    for (int u = 0; u < U; u++) {
      a[0][u] = _mm512_loadu_ps(y + 16 * u);
      for (int q = 1; q < R; q++) a[q][u] = _mm512_setzero_ps();
    }
    int r = 0;
    for (; r + R <= n; r += R) {
      for (int q = 0; q < R; q++) {
        const __m512 cq = _mm512_set1_ps(c[(r + q) * cs]);
        for (int u = 0; u < U; u++) a[q][u] = _mm512_fmadd_ps(cq, _mm512_loadu_ps(rows + (r + q) * rs + 16 * u), a[q][u]);
      }
    }
    for (; r < n; r++) {
      const __m512 cr = _mm512_set1_ps(c[r * cs]);
      for (int u = 0; u < U; u++) a[0][u] = _mm512_fmadd_ps(cr, _mm512_loadu_ps(rows + r * rs + 16 * u), a[0][u]);
    }
    for (int u = 0; u < U; u++) {
      for (int q = 1; q < R; q++) a[0][u] = _mm512_add_ps(a[0][u], a[q][u]);
      _mm512_storeu_ps(y + 16 * u, a[0][u]);
    }
  }
  // blocks of 64, 32 and 16 floats of y, eight FMA chains each; D % 16 leftovers in a scalar tail
  G4_AVX512_TARGET static inline void acc(float* y, const float* c, int64_t cs, const float* rows, int64_t rs, int n,
                                          int D) {
    int d = 0;
    for (; d + 64 <= D; d += 64) acc_block<4, 2>(y + d, c, cs, rows + d, rs, n);
    if (d + 32 <= D) acc_block<2, 4>(y + d, c, cs, rows + d, rs, n), d += 32;
    if (d + 16 <= D) acc_block<1, 8>(y + d, c, cs, rows + d, rs, n), d += 16;
    for (; d < D; d++)
      for (int r = 0; r < n; r++) y[d] += c[r * cs] * rows[r * rs + d];
  }
  static G4_INLINE void scal(float* y, float a, int D) { Scalar::scal(y, a, D); }
};

}  // namespace g4::attention::G4_AVX512_NS
