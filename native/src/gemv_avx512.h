// The AVX-512 blocks of the GEMV (gemv.h): the AVX2 path's blocking on 16-float registers, and for
// bf16 weights on CPUs with AVX512_BF16 the same blocking over VDPBF16PS, which multiplies 32 bf16
// pairs exactly and adds each lane's two products to its fp32 sum (activations rounded to bf16 first,
// by gemv.cpp). Compiled natively by gemv.cpp and under emulation by native/simde/ (see g4_avx512.h).
#pragma once
#include <cstring>

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

// 32 bf16 values from memory
G4_AVX512BF16_TARGET static inline __m512bh load_bf16x32(const uint16_t* p) {
  __m512bh v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// R rows of bf16 W against MB rows of g.ab (A rounded to bf16): C = alpha * bf16(A) W^T + beta * C
template <class W, int R, int MB>
struct DotBf16 {
  G4_AVX512BF16_TARGET static inline void run(const Args& g, int64_t j, int m0) {
    const uint16_t* w[R];
    const uint16_t* a[MB];
    for (int r = 0; r < R; r++) w[r] = static_cast<const uint16_t*>(g.w) + (j + r) * g.ldw;
    for (int i = 0; i < MB; i++) a[i] = g.ab + (int64_t)(m0 + i) * g.K;
    constexpr int U = R * MB >= 8 ? 1 : (8 / (R * MB) > 4 ? 4 : 8 / (R * MB));
    __m512 acc[U][R][MB];
    for (int u = 0; u < U; u++)
      for (int r = 0; r < R; r++)
        for (int i = 0; i < MB; i++) acc[u][r][i] = _mm512_setzero_ps();
    int k = 0;
    for (; k + 32 * U <= g.K; k += 32 * U) {
      for (int u = 0; u < U; u++) {
        __m512bh wv[R];
        for (int r = 0; r < R; r++) wv[r] = load_bf16x32(w[r] + k + 32 * u);
        for (int i = 0; i < MB; i++) {
          const __m512bh av = load_bf16x32(a[i] + k + 32 * u);
          for (int r = 0; r < R; r++) acc[u][r][i] = _mm512_dpbf16_ps(acc[u][r][i], wv[r], av);
        }
      }
    }
    for (; k + 32 <= g.K; k += 32) {
      __m512bh wv[R];
      for (int r = 0; r < R; r++) wv[r] = load_bf16x32(w[r] + k);
      for (int i = 0; i < MB; i++) {
        const __m512bh av = load_bf16x32(a[i] + k);
        for (int r = 0; r < R; r++) acc[0][r][i] = _mm512_dpbf16_ps(acc[0][r][i], wv[r], av);
      }
    }
    for (int u = 1; u < U; u++)
      for (int r = 0; r < R; r++)
        for (int i = 0; i < MB; i++) acc[0][r][i] = _mm512_add_ps(acc[0][r][i], acc[u][r][i]);
    for (int i = 0; i < MB; i++) {
      for (int r = 0; r < R; r++) {
        float s = g4::G4_AVX512_NS::hsum16(acc[0][r][i]);
        for (int kk = k; kk < g.K; kk++) s += Bf16::one(w[r] + kk) * Bf16::one(a[i] + kk);  // exact products
        store(g, m0 + i, j + r, s);
      }
    }
  }
};

}  // namespace g4::gemv::G4_AVX512_NS
