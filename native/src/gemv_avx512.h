// The AVX-512 block of the GEMV (gemv.h): the AVX2 path's blocking on 16-float registers. Compiled
// natively by gemv.cpp and under emulation by native/simde/ (see g4_avx512.h).
#pragma once
#include "g4_avx512.h"
#include "gemv.h"

namespace g4::gemv::G4_AVX512_NS {

// 16 weights widened to fp32
template <class W>
struct Sixteen;

template <>
struct Sixteen<F32> {
  G4_AVX512_TARGET static inline __m512 load(const float* p) { return _mm512_loadu_ps(p); }
};

template <>
struct Sixteen<Bf16> {
  // bf16 is the high half of an fp32: zero-extend to 32 bits and shift into place
  G4_AVX512_TARGET static inline __m512 load(const uint16_t* p) {
    __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i*)p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
  }
};

template <>
struct Sixteen<F16> {
  G4_AVX512_TARGET static inline __m512 load(const uint16_t* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i*)p));
  }
};

// R rows of W against MB rows of A, one accumulator register per (row of W, row of A)
template <class W, int R, int MB>
struct Block {
  G4_AVX512_TARGET static inline void run(const Args& g, int64_t j, int m0) {
    const typename W::T* w[R];
    const float* a[MB];
    for (int r = 0; r < R; r++) w[r] = static_cast<const typename W::T*>(g.w) + (j + r) * g.ldw;
    for (int i = 0; i < MB; i++) a[i] = g.a + (m0 + i) * g.lda;
    // at least 8 accumulators, as on the AVX2 path, so that enough FMAs are independent
    constexpr int U = R * MB >= 8 ? 1 : (8 / (R * MB) > 4 ? 4 : 8 / (R * MB));
    __m512 acc[U][R][MB];
    for (int u = 0; u < U; u++)
      for (int r = 0; r < R; r++)
        for (int i = 0; i < MB; i++) acc[u][r][i] = _mm512_setzero_ps();
    int k = 0;
    for (; k + 16 * U <= g.K; k += 16 * U) {
      for (int u = 0; u < U; u++) {
        __m512 wv[R];
        for (int r = 0; r < R; r++) wv[r] = Sixteen<W>::load(w[r] + k + 16 * u);
        for (int i = 0; i < MB; i++) {
          const __m512 av = _mm512_loadu_ps(a[i] + k + 16 * u);
          for (int r = 0; r < R; r++) acc[u][r][i] = _mm512_fmadd_ps(wv[r], av, acc[u][r][i]);
        }
      }
    }
    for (; k + 16 <= g.K; k += 16) {
      __m512 wv[R];
      for (int r = 0; r < R; r++) wv[r] = Sixteen<W>::load(w[r] + k);
      for (int i = 0; i < MB; i++) {
        const __m512 av = _mm512_loadu_ps(a[i] + k);
        for (int r = 0; r < R; r++) acc[0][r][i] = _mm512_fmadd_ps(wv[r], av, acc[0][r][i]);
      }
    }
    for (int u = 1; u < U; u++)
      for (int r = 0; r < R; r++)
        for (int i = 0; i < MB; i++) acc[0][r][i] = _mm512_add_ps(acc[0][r][i], acc[u][r][i]);
    for (int i = 0; i < MB; i++) {
      for (int r = 0; r < R; r++) {
        float s = g4::G4_AVX512_NS::hsum16(acc[0][r][i]);
        for (int kk = k; kk < g.K; kk++) s += W::one(w[r] + kk) * a[i][kk];
        store(g, m0 + i, j + r, s);
      }
    }
  }
};

}  // namespace g4::gemv::G4_AVX512_NS
