// What the paths of cross_entropy.cpp share (not part of the C ABI): the chunk of the sum pass and
// the scalar code every path ends a row with; the AVX-512 path's passes under SIMDe's emulation are
// defined in native/simde/.
#pragma once
#include <cmath>

namespace g4::xent {

constexpr int kChunk = 512;  // terms of e^(x - m) summed in fp32 before they are added in fp64

// the sum pass one element at a time on [v0, v1): e^(x[v] - m), stored in d[v] unless d is null;
// returns their sum. The scalar path, and the tail of a chunk on the vector ones.
inline float exp_sum_from(float* d, const float* x, int v0, int v1, float m) {
  float s = 0.f;
  for (int v = v0; v < v1; v++) {
    const float e = std::exp(x[v] - m);
    if (d) d[v] = e;
    s += e;
  }
  return s;
}

// the scale pass one element at a time from v0 on: d[v] *= k; returns the fp64 sum of those d[v]
// with v != t. The scalar path, and the tail of the vector ones.
inline double scale_from(float* d, int v0, int V, float k, int t) {
  double others = 0.0;
  for (int v = v0; v < V; v++) {
    d[v] *= k;
    others += v == t ? 0.0 : (double)d[v];
  }
  return others;
}

float max_avx512_emulated(const float* x, int V);
double exp_sum_avx512_emulated(float* d, const float* x, int V, float m);
double scale_avx512_emulated(float* d, int V, float k, int t);

}  // namespace g4::xent
