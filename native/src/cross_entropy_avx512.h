// The two passes of cross_entropy.cpp on 16-float registers. Compiled natively by cross_entropy.cpp
// and under emulation by native/simde/ (see g4_avx512.h).
#pragma once
#include <cmath>

#include "cross_entropy.h"
#include "g4_avx512.h"

namespace g4::xent::G4_AVX512_NS {

// pass 1: running max and sum of one row x[0:V]
G4_AVX512_TARGET inline RowStats stats_avx512(const float* x, int V) {
  float m = -INFINITY;
  double s = 0;
  for (int c0 = 0; c0 < V; c0 += kChunk) {
    int c1 = c0 + kChunk < V ? c0 + kChunk : V;
    // chunk max
    __m512 vm = _mm512_set1_ps(-INFINITY);
    int v = c0;
    for (; v + 16 <= c1; v += 16) vm = _mm512_max_ps(vm, _mm512_loadu_ps(x + v));
    float cm = g4::G4_AVX512_NS::hmax16(vm);
    for (; v < c1; v++) cm = x[v] > cm ? x[v] : cm;
    if (cm > m) {
      s *= std::exp((double)m - (double)cm);
      m = cm;
    }
    // chunk sum of e^(x - m), two 16-lane float accumulators, then fp64
    const __m512 vmax = _mm512_set1_ps(m);
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    v = c0;
    for (; v + 32 <= c1; v += 32) {
      a0 = _mm512_add_ps(a0, g4::G4_AVX512_NS::exp16(_mm512_sub_ps(_mm512_loadu_ps(x + v), vmax)));
      a1 = _mm512_add_ps(a1, g4::G4_AVX512_NS::exp16(_mm512_sub_ps(_mm512_loadu_ps(x + v + 16), vmax)));
    }
    for (; v + 16 <= c1; v += 16) a0 = _mm512_add_ps(a0, g4::G4_AVX512_NS::exp16(_mm512_sub_ps(_mm512_loadu_ps(x + v), vmax)));
    double cs = g4::G4_AVX512_NS::hsum16(_mm512_add_ps(a0, a1));
    for (; v < c1; v++) cs += std::exp(x[v] - m);
    s += cs;
  }
  return {m, s};
}

// pass 2: d[0:V] = e^(x - m) * k (d may be x); returns the fp64 sum of d[v] for v != t
G4_AVX512_TARGET inline double grad_avx512(float* d, const float* x, int V, float m, float k, int t) {
  const __m512 vmax = _mm512_set1_ps(m), vk = _mm512_set1_ps(k);
  __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd();  // the sum, lanes 0..7 and 8..15
  int v = 0;
  for (; v + 16 <= V; v += 16) {
    __m512 p = _mm512_mul_ps(g4::G4_AVX512_NS::exp16(_mm512_sub_ps(_mm512_loadu_ps(x + v), vmax)), vk);
    _mm512_storeu_ps(d + v, p);
    // the block holding the target: its lane is left out of the sum
    if ((unsigned)(t - v) < 16u) p = _mm512_maskz_mov_ps((__mmask16)~(1u << (t - v)), p);
    s0 = _mm512_add_pd(s0, _mm512_cvtps_pd(_mm512_castps512_ps256(p)));
    s1 = _mm512_add_pd(s1, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(p), 1))));
  }
  return g4::G4_AVX512_NS::hsum8d(_mm512_add_pd(s0, s1)) + grad_from(d, x, v, V, m, k, t);
}

}  // namespace g4::xent::G4_AVX512_NS
