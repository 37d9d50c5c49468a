// Compiles the AVX-512 headers included after it (native/src/g4_avx512.h, *_avx512.h) against SIMDe,
// which implements the AVX-512 intrinsics in portable code: the same source runs on CPUs without
// AVX-512, so that the paths' arithmetic is tested everywhere. Only g4_force_simd_level selects it;
// a CPU with AVX-512 runs the native compilation.
#pragma once
#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/x86/avx512.h>
#include <simde/x86/f16c.h>

// The AVX-512F names the kernels use that this SIMDe release lacks, built from ones it has, lane for
// lane as Intel's guide defines them (its AVX512_BF16 has the one the GEMV uses, _mm512_dpbf16_ps):
//   __mmask16, _MM_FROUND_NO_EXC: the mask type and the rounding flag
//   _mm512_cvtepu16_epi32(a): 16 uint16 -> 16 int32, zero-extended (VPMOVZXWD)
//   _mm512_cvtph_ps(a):       16 binary16 -> 16 binary32, exact (VCVTPH2PS)
//   _mm512_cvttps_epi32(a):   16 float -> 16 int32, truncated (VCVTTPS2DQ)
//   _mm512_cvtps_pd(a):       8 float -> 8 double, exact (VCVTPS2PD)
typedef simde__mmask16 __mmask16;
#ifndef _MM_FROUND_NO_EXC
#define _MM_FROUND_NO_EXC SIMDE_MM_FROUND_NO_EXC
#endif

#ifndef _mm512_cvtepu16_epi32
static inline simde__m512i g4_emulated_cvtepu16_epi32(simde__m256i a) {
  return simde_mm512_inserti64x4(simde_mm512_castsi256_si512(simde_mm256_cvtepu16_epi32(simde_mm256_castsi256_si128(a))),
                                 simde_mm256_cvtepu16_epi32(simde_mm256_extracti128_si256(a, 1)), 1);
}
#define _mm512_cvtepu16_epi32(a) g4_emulated_cvtepu16_epi32(a)
#endif

#ifndef _mm512_cvtph_ps
static inline simde__m512 g4_emulated_cvtph_ps(simde__m256i a) {
  return simde_mm512_insertf32x8(simde_mm512_castps256_ps512(simde_mm256_cvtph_ps(simde_mm256_castsi256_si128(a))),
                                 simde_mm256_cvtph_ps(simde_mm256_extracti128_si256(a, 1)), 1);
}
#define _mm512_cvtph_ps(a) g4_emulated_cvtph_ps(a)
#endif

#ifndef _mm512_cvttps_epi32
static inline simde__m512i g4_emulated_cvttps_epi32(simde__m512 a) {
  return simde_mm512_inserti64x4(simde_mm512_castsi256_si512(simde_mm256_cvttps_epi32(simde_mm512_castps512_ps256(a))),
                                 simde_mm256_cvttps_epi32(simde_mm256_castpd_ps(simde_mm512_extractf64x4_pd(simde_mm512_castps_pd(a), 1))), 1);
}
#define _mm512_cvttps_epi32(a) g4_emulated_cvttps_epi32(a)
#endif

#ifndef _mm512_cvtps_pd
static inline simde__m512d g4_emulated_cvtps_pd(simde__m256 a) {
  return simde_mm512_insertf64x4(simde_mm512_castpd256_pd512(simde_mm256_cvtps_pd(simde_mm256_castps256_ps128(a))),
                                 simde_mm256_cvtps_pd(simde_mm256_extractf128_ps(a, 1)), 1);
}
#define _mm512_cvtps_pd(a) g4_emulated_cvtps_pd(a)
#endif

#define G4_AVX512_TARGET
#define G4_AVX512BF16_TARGET
#define G4_AVX512_NS emulated
#include "g4_avx512.h"
