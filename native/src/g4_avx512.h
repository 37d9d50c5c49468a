// AVX-512F building blocks shared by the kernels' AVX-512 paths (not part of the C ABI). Like every
// AVX-512 header here it is compiled twice: for the CPU's own AVX-512F after avx512_native.h, and
// against SIMDe's emulation after native/simde/avx512_emulated.h. Those define G4_AVX512_TARGET (the
// target attribute, or nothing) and G4_AVX512_NS (the namespace that keeps the two apart).
#pragma once

namespace g4::G4_AVX512_NS {

// the sum of the 16 lanes: halves, then quarters, then pairs
G4_AVX512_TARGET static inline float hsum16(__m512 v) {
  __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

}  // namespace g4::G4_AVX512_NS
