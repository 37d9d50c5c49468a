// The passes of cross_entropy.cpp on 16-float registers. Compiled natively by cross_entropy.cpp and
// under emulation by native/simde/ (see g4_avx512.h).
#pragma once
#include <cmath>

#include "cross_entropy.h"
#include "g4_avx512.h"

namespace g4::xent::G4_AVX512_NS {

// the max pass: m = max x[0:V]
G4_AVX512_TARGET inline float max_avx512(const float* x, int V) {
  __m512 m0 = _mm512_set1_ps(-INFINITY), m1 = m0;
  int v = 0;
  for (; v + 32 <= V; v += 32) {
    m0 = _mm512_max_ps(m0, _mm512_loadu_ps(x + v));
    m1 = _mm512_max_ps(m1, _mm512_loadu_ps(x + v + 16));
  }
  for (; v + 16 <= V; v += 16) m0 = _mm512_max_ps(m0, _mm512_loadu_ps(x + v));
  float m = g4::G4_AVX512_NS::hmax16(_mm512_max_ps(m0, m1));
  for (; v < V; v++) m = x[v] > m ? x[v] : m;
  return m;
}

// the sum pass: S = sum e^(x - m) (chunks of kChunk in fp32, added in fp64); e^(x - m) stored in d
// unless d is null (d may be x)
G4_AVX512_TARGET inline double exp_sum_avx512(float* d, const float* x, int V, float m) {
  const __m512 vm = _mm512_set1_ps(m);
  double s = 0.0;
  for (int c0 = 0; c0 < V; c0 += kChunk) {
    const int c1 = c0 + kChunk < V ? c0 + kChunk : V;
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    int v = c0;
    for (; v + 32 <= c1; v += 32) {
      const __m512 e0 = g4::G4_AVX512_NS::exp16(_mm512_sub_ps(_mm512_loadu_ps(x + v), vm));
      const __m512 e1 = g4::G4_AVX512_NS::exp16(_mm512_sub_ps(_mm512_loadu_ps(x + v + 16), vm));
      if (d) _mm512_storeu_ps(d + v, e0), _mm512_storeu_ps(d + v + 16, e1);
      a0 = _mm512_add_ps(a0, e0), a1 = _mm512_add_ps(a1, e1);
    }
    for (; v + 16 <= c1; v += 16) {
      const __m512 e = g4::G4_AVX512_NS::exp16(_mm512_sub_ps(_mm512_loadu_ps(x + v), vm));
      if (d) _mm512_storeu_ps(d + v, e);
      a0 = _mm512_add_ps(a0, e);
    }
    s += (double)(g4::G4_AVX512_NS::hsum16(_mm512_add_ps(a0, a1)) + exp_sum_from(d, x, v, c1, m));
  }
  return s;
}

// the scale pass: d[0:V] *= k; returns the fp64 sum of d[v] for v != t
G4_AVX512_TARGET inline double scale_avx512(float* d, int V, float k, int t) {
  const __m512 vk = _mm512_set1_ps(k);
  __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd();  // the sum, lanes 0..7 and 8..15
  int v = 0;
  for (; v + 16 <= V; v += 16) {
    __m512 p = _mm512_mul_ps(_mm512_loadu_ps(d + v), vk);
    _mm512_storeu_ps(d + v, p);
    // the block holding the target: its lane is left out of the sum
    if ((unsigned)(t - v) < 16u) p = _mm512_maskz_mov_ps((__mmask16)~(1u << (t - v)), p);
    s0 = _mm512_add_pd(s0, _mm512_cvtps_pd(_mm512_castps512_ps256(p)));
    s1 = _mm512_add_pd(s1, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(p), 1))));
  }
  return g4::G4_AVX512_NS::hsum8d(_mm512_add_pd(s0, s1)) + scale_from(d, v, V, k, t);
}

}  // namespace g4::xent::G4_AVX512_NS
