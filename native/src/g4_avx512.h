// AVX-512F building blocks shared by the kernels' AVX-512 paths (not part of the C ABI). Like every
// AVX-512 header here it is compiled twice: for the CPU's own AVX-512F after avx512_native.h, and
// against SIMDe's emulation after native/simde/avx512_emulated.h. Those define G4_AVX512_TARGET (the
// target attribute, or nothing) and G4_AVX512_NS (the namespace that keeps the two apart).
#pragma once
#include "exp_poly.h"

namespace g4::G4_AVX512_NS {

// the sum of the 16 lanes: halves, then quarters, then pairs
G4_AVX512_TARGET static inline float hsum16(__m512 v) {
  __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// the max of the 16 lanes
G4_AVX512_TARGET static inline float hmax16(__m512 v) {
  __m256 h = _mm256_max_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// the sum of the 8 lanes of a double vector
G4_AVX512_TARGET static inline double hsum8d(__m512d v) {
  __m256d h = _mm256_add_pd(_mm512_castpd512_pd256(v), _mm512_extractf64x4_pd(v, 1));
  __m128d s = _mm_add_pd(_mm256_castpd256_pd128(h), _mm256_extractf128_pd(h, 1));
  return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

// e^x lane by lane: g4_simd.h's exp8 (same range, accuracy, clamping and NaN rule) on 16 lanes
G4_AVX512_TARGET static inline __m512 exp16(__m512 x_in) {
  using namespace exp_poly;
  const __m512 lo = _mm512_set1_ps(kLo), hi = _mm512_set1_ps(kHi);
  const __mmask16 under = _mm512_cmp_ps_mask(x_in, lo, _CMP_LT_OQ);
  const __mmask16 nan = _mm512_cmp_ps_mask(x_in, x_in, _CMP_UNORD_Q);
  __m512 x = _mm512_min_ps(_mm512_max_ps(x_in, lo), hi);
  __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(kLog2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(kLn2Hi), x);  // r = x - n ln2
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(kLn2Lo), r);
  __m512 p = _mm512_set1_ps(kP[0]);
  for (int i = 1; i < 6; i++) p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP[i]));
  __m512 r2 = _mm512_mul_ps(r, r);
  p = _mm512_fmadd_ps(p, r2, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  // 2^n by building the exponent field; n is integral, so truncating it is exact
  __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvttps_epi32(n), _mm512_set1_epi32(127)), 23);
  __m512 y = _mm512_maskz_mov_ps((__mmask16)~under, _mm512_mul_ps(p, _mm512_castsi512_ps(e)));
  return _mm512_mask_blend_ps(nan, y, x_in);
}

}  // namespace g4::G4_AVX512_NS
