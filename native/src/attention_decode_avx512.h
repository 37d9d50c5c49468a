// The vector operations of one decode query (attention_decode.h) on 16-float registers. Compiled
// natively by attention_decode.cpp and under emulation by native/simde/ (see g4_avx512.h).
#pragma once
#include "g4_avx512.h"

namespace g4::decode::G4_AVX512_NS {

// dot(x, y) over D floats;  y += a x;  y *= a
struct DecodeAvx512 {
  G4_AVX512_TARGET static inline float dot(const float* x, const float* y, int D) {
    __m512 a = _mm512_setzero_ps();
    int d = 0;
    for (; d + 16 <= D; d += 16) a = _mm512_fmadd_ps(_mm512_loadu_ps(x + d), _mm512_loadu_ps(y + d), a);
    float s = g4::G4_AVX512_NS::hsum16(a);
    for (; d < D; d++) s += x[d] * y[d];
    return s;
  }
  G4_AVX512_TARGET static inline void axpy(float* y, float a, const float* x, int D) {
    const __m512 va = _mm512_set1_ps(a);
    int d = 0;
    for (; d + 16 <= D; d += 16) _mm512_storeu_ps(y + d, _mm512_fmadd_ps(va, _mm512_loadu_ps(x + d), _mm512_loadu_ps(y + d)));
    for (; d < D; d++) y[d] += a * x[d];
  }
  G4_AVX512_TARGET static inline void scal(float* y, float a, int D) {
    const __m512 va = _mm512_set1_ps(a);
    int d = 0;
    for (; d + 16 <= D; d += 16) _mm512_storeu_ps(y + d, _mm512_mul_ps(va, _mm512_loadu_ps(y + d)));
    for (; d < D; d++) y[d] *= a;
  }
};

}  // namespace g4::decode::G4_AVX512_NS
