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

// pass 2: d[0:V] = e^(x - m) * k  (d may be x)
G4_AVX512_TARGET inline void grad_avx512(float* d, const float* x, int V, float m, float k) {
  const __m512 vmax = _mm512_set1_ps(m), vk = _mm512_set1_ps(k);
  int v = 0;
  for (; v + 16 <= V; v += 16) {
    __m512 p = g4::G4_AVX512_NS::exp16(_mm512_sub_ps(_mm512_loadu_ps(x + v), vmax));
    _mm512_storeu_ps(d + v, _mm512_mul_ps(p, vk));
  }
  for (; v < V; v++) d[v] = std::exp(x[v] - m) * k;
}

}  // namespace g4::xent::G4_AVX512_NS
