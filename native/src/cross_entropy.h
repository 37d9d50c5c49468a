// What the paths of cross_entropy.cpp share (not part of the C ABI): the chunk of pass 1 and a row's
// statistics; the AVX-512 path's two passes under SIMDe's emulation are defined in native/simde/.
#pragma once
#include <cmath>

namespace g4::xent {

constexpr int kChunk = 512;  // floats per pass-1 chunk (2 KiB, L1 resident)

struct RowStats {
  float max;   // m
  double sum;  // S = sum e^(x - m)
};

// pass 2 one element at a time from v0 on: d[v] = e^(x[v] - m) * k (d may be x); returns the fp64 sum
// of those d[v] with v != t. The scalar path, and the tail of the vector ones.
inline double grad_from(float* d, const float* x, int v0, int V, float m, float k, int t) {
  double others = 0.0;
  for (int v = v0; v < V; v++) {
    d[v] = std::exp(x[v] - m) * k;
    others += v == t ? 0.0 : (double)d[v];
  }
  return others;
}

RowStats stats_avx512_emulated(const float* x, int V);
double grad_avx512_emulated(float* d, const float* x, int V, float m, float k, int t);

}  // namespace g4::xent
