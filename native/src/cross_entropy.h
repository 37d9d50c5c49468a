// What the paths of cross_entropy.cpp share (not part of the C ABI): the chunk of pass 1 and a row's
// statistics; the AVX-512 path's two passes under SIMDe's emulation are defined in native/simde/.
#pragma once

namespace g4::xent {

constexpr int kChunk = 512;  // floats per pass-1 chunk (2 KiB, L1 resident)

struct RowStats {
  float max;   // m
  double sum;  // S = sum e^(x - m)
};

RowStats stats_avx512_emulated(const float* x, int V);
void grad_avx512_emulated(float* d, const float* x, int V, float m, float k);

}  // namespace g4::xent
