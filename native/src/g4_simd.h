// AVX2/FMA building blocks shared by the CPU kernels (not part of the C ABI): horizontal
// reductions of a __m256 and a vectorised exp. Every function here is compiled for AVX2/FMA only,
// so it may be called only from G4_AVX2 functions reached after a g4::use_avx2() check.
#pragma once
#include <immintrin.h>

#include "g4_internal.h"

namespace g4 {

// sum of the 8 lanes
G4_AVX2 static inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// max of the 8 lanes
G4_AVX2 static inline float hmax8(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// sum of the 4 lanes of a double vector
G4_AVX2 static inline double hsum4d(__m256d v) {
  __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
  s = _mm_add_sd(s, _mm_unpackhi_pd(s, s));
  return _mm_cvtsd_f64(s);
}

// e^x, within ~2 ulp of expf for x in [-87.3, 88.0]; 0 below -87.3 (where expf is subnormal),
// clamped to e^88 above; NaN in, NaN out (so a NaN logit or activation stays visible).
//   x = n ln2 + r, |r| <= ln2/2  ->  e^x = 2^n * P(r), P the Cephes degree-6 polynomial
G4_AVX2 static inline __m256 exp8(__m256 x_in) {
  const __m256 lo = _mm256_set1_ps(-87.3365447505f), hi = _mm256_set1_ps(88.0f);
  __m256 under = _mm256_cmp_ps(x_in, lo, _CMP_LT_OQ);
  __m256 nan = _mm256_cmp_ps(x_in, x_in, _CMP_UNORD_Q);
  __m256 x = _mm256_min_ps(_mm256_max_ps(x_in, lo), hi);
  __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                             _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  // r = x - n ln2 with ln2 split into a part exact in float and a correction
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  __m256 r2 = _mm256_mul_ps(r, r);
  p = _mm256_fmadd_ps(p, r2, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  // 2^n by building the exponent field; n in [-126, 127] after the clamp
  __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  __m256 y = _mm256_mul_ps(p, _mm256_castsi256_ps(e));
  return _mm256_blendv_ps(_mm256_andnot_ps(under, y), x_in, nan);
}

}  // namespace g4
