// AVX2/FMA building blocks shared by the CPU kernels (not part of the C ABI): horizontal
// reductions of a __m256, a vectorised exp and log. Every function here is compiled for AVX2/FMA only,
// so it may be called only from G4_AVX2 functions reached after a g4::use_avx2() check.
#pragma once
#include <immintrin.h>

#include "exp_poly.h"
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
// clamped to e^88 above; NaN in, NaN out (so a NaN logit or activation stays visible). exp_poly.h
// has the method and its constants.
G4_AVX2 static inline __m256 exp8(__m256 x_in) {
  using namespace exp_poly;
  const __m256 lo = _mm256_set1_ps(kLo), hi = _mm256_set1_ps(kHi);
  __m256 under = _mm256_cmp_ps(x_in, lo, _CMP_LT_OQ);
  __m256 nan = _mm256_cmp_ps(x_in, x_in, _CMP_UNORD_Q);
  __m256 x = _mm256_min_ps(_mm256_max_ps(x_in, lo), hi);
  __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(kLog2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Hi), x);  // r = x - n ln2
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Lo), r);
  __m256 p = _mm256_set1_ps(kP[0]);
  for (int i = 1; i < 6; i++) p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP[i]));
  __m256 r2 = _mm256_mul_ps(r, r);
  p = _mm256_fmadd_ps(p, r2, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  // 2^n by building the exponent field; n in [-126, 127] after the clamp
  __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  __m256 y = _mm256_mul_ps(p, _mm256_castsi256_ps(e));
  return _mm256_blendv_ps(_mm256_andnot_ps(under, y), x_in, nan);
}

// log(x) for positive normal x (and +inf), within a few ulp of logf: Cephes' logf.
//   x = m 2^e, m in [sqrt(1/2), sqrt(2)) -> log x = log m + e ln2, log m by a degree-9 polynomial in m - 1
G4_AVX2 static inline __m256 log8(__m256 x) {
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256i bits = _mm256_castps_si256(x);
  __m256 e = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(bits, 23), _mm256_set1_epi32(126)));
  __m256 m = _mm256_or_ps(_mm256_castsi256_ps(_mm256_and_si256(bits, _mm256_set1_epi32(0x007fffff))),
                          _mm256_set1_ps(0.5f));  // x = m 2^e, m in [0.5, 1)
  const __m256 small = _mm256_cmp_ps(m, _mm256_set1_ps(0.707106781186547524f), _CMP_LT_OQ);
  e = _mm256_sub_ps(e, _mm256_and_ps(one, small));
  m = _mm256_add_ps(_mm256_sub_ps(m, one), _mm256_and_ps(m, small));  // 2m - 1 when small, else m - 1
  const __m256 z = _mm256_mul_ps(m, m);
  __m256 y = _mm256_set1_ps(7.0376836292e-2f);
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(-1.1514610310e-1f));
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(1.1676998740e-1f));
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(-1.2420140846e-1f));
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(1.4249322787e-1f));
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(-1.6668057665e-1f));
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(2.0000714765e-1f));
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(-2.4999993993e-1f));
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(3.3333331174e-1f));
  y = _mm256_mul_ps(_mm256_mul_ps(y, m), z);
  y = _mm256_fmadd_ps(e, _mm256_set1_ps(-2.12194440e-4f), y);
  y = _mm256_fnmadd_ps(z, _mm256_set1_ps(0.5f), y);
  return _mm256_fmadd_ps(e, _mm256_set1_ps(0.693359375f), _mm256_add_ps(m, y));
}

}  // namespace g4
