/*
 * dtype conversion between fp32 and the 16-bit storage formats of checkpoints, all arrays [n].
 *
 *   bf16 = the upper 16 bits of an fp32 (1 sign, 8 exponent, 7 mantissa bits):
 *     bf16 -> f32: bits << 16 (exact)
 *     f32 -> bf16: round to nearest even on the 16 dropped bits; NaN stays NaN (quiet, sign and
 *                  upper payload kept) instead of rounding into Inf
 *   f16 = IEEE binary16 (1 sign, 5 exponent bias 15, 10 mantissa bits, subnormals below 2^-14):
 *     f16 -> f32: exact; NaN comes back quiet with its payload
 *     f32 -> f16: round to nearest even, overflow (|x| >= 65520) to Inf, gradual underflow into
 *                  the subnormals, NaN -> quiet NaN with the upper payload
 *
 * The AVX2 path uses integer arithmetic for bf16 and the F16C instructions (vcvtph2ps /
 * vcvtps2ph with round-to-nearest-even) for f16; both give the same bits as the scalar path.
 * Parallel over blocks of the array with OpenMP.
 */
#include <immintrin.h>
#include <omp.h>

#include <cstring>

#include "g4_cpu.h"
#include "g4_internal.h"

#define G4_AVX2_F16C __attribute__((target("avx2,fma,f16c")))

namespace {

const bool g_cpu_has_f16c = __builtin_cpu_supports("f16c");

// below this many elements a conversion runs on one thread
constexpr int64_t kParallelMin = 1 << 15;

inline uint32_t f32_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

inline float bits_f32(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// ---- scalar reference conversions ---------------------------------------------------------

inline uint16_t f32_to_bf16_1(float f) {
  uint32_t u = f32_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x0040u);  // NaN -> quiet
  // add 0x7fff plus the lowest kept bit: rounds half to even, carries into the exponent
  // (and from the largest finite values into Inf) exactly as the format requires
  u += 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}

inline float f16_to_f32_1(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
  if (exp == 0x1f) return bits_f32(sign | 0x7f800000u | (mant << 13) | (mant ? 0x00400000u : 0u));
  if (exp != 0) return bits_f32(sign | ((exp + 112u) << 23) | (mant << 13));  // rebias 15 -> 127
  if (mant == 0) return bits_f32(sign);
  // subnormal: mant * 2^-24, exact in fp32 (mant < 2^10)
  float v = (float)mant * 5.9604644775390625e-8f;
  return bits_f32(sign | f32_bits(v));
}

inline uint16_t f32_to_f16_1(float f) {
  uint32_t u = f32_bits(f);
  uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
  uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return sign | 0x7e00u | (uint16_t)((a >> 13) & 0x3ffu);  // NaN -> quiet
  if (a >= 0x477ff000u) return sign | 0x7c00u;  // >= 65520 (half-way above 65504): Inf
  if (a >= 0x38800000u) {                        // >= 2^-14: a normal half
    // rebias the exponent (127 -> 15) and round the 13 dropped mantissa bits to nearest even;
    // a carry out of the mantissa correctly bumps the exponent
    uint32_t r = a - (112u << 23);
    r += 0x0fffu + ((r >> 13) & 1u);
    return sign | (uint16_t)(r >> 13);
  }
  // subnormal half: value = m * 2^-24. With e the fp32 biased exponent and full = 1.mant * 2^23,
  // value * 2^24 = full >> (126 - e); round the shifted-out bits to nearest even.
  uint32_t e = a >> 23;
  if (e < 102) return sign;  // < 2^-25 (at most half the smallest subnormal, ties to 0): zero
  uint32_t full = (a & 0x7fffffu) | 0x800000u;
  uint32_t shift = 126 - e;  // 14 .. 24
  uint32_t m = full >> shift, rem = full & ((1u << shift) - 1), half = 1u << (shift - 1);
  if (rem > half || (rem == half && (m & 1u))) m++;  // m == 0x400 is the smallest normal: fine
  return sign | (uint16_t)m;
}

void bf16_to_f32_scalar(float* out, const uint16_t* in, int64_t i0, int64_t i1) {
  for (int64_t i = i0; i < i1; i++) out[i] = bits_f32((uint32_t)in[i] << 16);
}
void f16_to_f32_scalar(float* out, const uint16_t* in, int64_t i0, int64_t i1) {
  for (int64_t i = i0; i < i1; i++) out[i] = f16_to_f32_1(in[i]);
}
void f32_to_bf16_scalar(uint16_t* out, const float* in, int64_t i0, int64_t i1) {
  for (int64_t i = i0; i < i1; i++) out[i] = f32_to_bf16_1(in[i]);
}
void f32_to_f16_scalar(uint16_t* out, const float* in, int64_t i0, int64_t i1) {
  for (int64_t i = i0; i < i1; i++) out[i] = f32_to_f16_1(in[i]);
}

// ---- AVX2 paths, 8 elements per step, scalar tail ----------------------------------------

G4_AVX2 void bf16_to_f32_avx2(float* out, const uint16_t* in, int64_t i0, int64_t i1) {
  int64_t i = i0;
  for (; i + 8 <= i1; i += 8) {
    __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i*)(in + i)));
    _mm256_storeu_ps(out + i, _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)));
  }
  bf16_to_f32_scalar(out, in, i, i1);
}

G4_AVX2 void f32_to_bf16_avx2(uint16_t* out, const float* in, int64_t i0, int64_t i1) {
  const __m256i one = _mm256_set1_epi32(1), bias = _mm256_set1_epi32(0x7fff);
  const __m256i quiet = _mm256_set1_epi32(0x0040);
  int64_t i = i0;
  for (; i + 8 <= i1; i += 8) {
    __m256 x = _mm256_loadu_ps(in + i);
    __m256i u = _mm256_castps_si256(x);
    __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), one);
    __m256i r = _mm256_srli_epi32(_mm256_add_epi32(u, _mm256_add_epi32(bias, lsb)), 16);
    __m256i nan = _mm256_or_si256(_mm256_srli_epi32(u, 16), quiet);
    __m256i isnan = _mm256_castps_si256(_mm256_cmp_ps(x, x, _CMP_UNORD_Q));
    r = _mm256_blendv_epi8(r, nan, isnan);
    // pack the 8 x u32 (each <= 0xffff) into 8 x u16: packus works per 128-bit lane, giving
    // [r0..3, r0..3 | r4..7, r4..7]; the permute gathers quads 0 and 2 into the low half
    __m256i p = _mm256_permute4x64_epi64(_mm256_packus_epi32(r, r), 0x08);
    _mm_storeu_si128((__m128i*)(out + i), _mm256_castsi256_si128(p));
  }
  f32_to_bf16_scalar(out, in, i, i1);
}

// F16C quiets signalling NaNs exactly like the scalar path (sets the top mantissa bit)
G4_AVX2_F16C void f16_to_f32_f16c(float* out, const uint16_t* in, int64_t i0, int64_t i1) {
  int64_t i = i0;
  for (; i + 8 <= i1; i += 8) {
    _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)(in + i))));
  }
  f16_to_f32_scalar(out, in, i, i1);
}

G4_AVX2_F16C void f32_to_f16_f16c(uint16_t* out, const float* in, int64_t i0, int64_t i1) {
  int64_t i = i0;
  for (; i + 8 <= i1; i += 8) {
    __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(in + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    _mm_storeu_si128((__m128i*)(out + i), h);
  }
  f32_to_f16_scalar(out, in, i, i1);
}

// Splits [0, n) into per-thread contiguous blocks (multiples of 64 elements) and runs fn on each.
template <typename Out, typename In>
void run_blocks(Out* out, const In* in, int64_t n, void (*fn)(Out*, const In*, int64_t, int64_t)) {
  if (n <= 0) return;
  if (n < kParallelMin) {
    fn(out, in, 0, n);
    return;
  }
#pragma omp parallel num_threads(g4::threads())
  {
    int nt = omp_get_num_threads(), t = omp_get_thread_num();
    int64_t per = ((n + nt - 1) / nt + 63) / 64 * 64;
    int64_t i0 = (int64_t)t * per, i1 = i0 + per < n ? i0 + per : n;
    if (i0 < i1) fn(out, in, i0, i1);
  }
}

bool use_f16c() { return g4::use_avx2() && g_cpu_has_f16c; }

// ---- conversion that also finds the first NaN or infinity of its input --------------------

// every exponent bit set is NaN or +-Inf in each of the three formats
constexpr uint32_t kF32Exp = 0x7f800000u, kBf16Exp = 0x7f80u, kF16Exp = 0x7c00u;

// a chunk is checked right after it was converted, while it is still in the cache: one pass over memory
constexpr int64_t kCheckChunk = 4096;

// first index in [i0, i1) whose exponent bits are all set, or -1; the OR over the chunk vectorises,
// the scan runs only where it found one
template <typename T, uint32_t kExp>
int64_t first_non_finite(const T* in, int64_t i0, int64_t i1) {
  uint32_t any = 0;
  for (int64_t i = i0; i < i1; i++) any |= (((uint32_t)in[i] & kExp) == kExp);
  if (!any) return -1;
  for (int64_t i = i0; i < i1; i++) {
    if (((uint32_t)in[i] & kExp) == kExp) return i;
  }
  return -1;
}

int64_t first_non_finite(int type, const void* in, int64_t i0, int64_t i1) {
  switch (type) {
    case G4_DTYPE_F32: return first_non_finite<uint32_t, kF32Exp>((const uint32_t*)in, i0, i1);
    case G4_DTYPE_BF16: return first_non_finite<uint16_t, kBf16Exp>((const uint16_t*)in, i0, i1);
    default: return first_non_finite<uint16_t, kF16Exp>((const uint16_t*)in, i0, i1);
  }
}

void convert_range(void* out, int out_type, const void* in, int in_type, int64_t i0, int64_t i1) {
  if (out_type == in_type) {
    size_t width = in_type == G4_DTYPE_F32 ? 4 : 2;
    std::memcpy((char*)out + i0 * width, (const char*)in + i0 * width, (size_t)(i1 - i0) * width);
  } else if (out_type == G4_DTYPE_F32 && in_type == G4_DTYPE_BF16) {
    (g4::use_avx2() ? bf16_to_f32_avx2 : bf16_to_f32_scalar)((float*)out, (const uint16_t*)in, i0, i1);
  } else if (out_type == G4_DTYPE_F32) {
    (use_f16c() ? f16_to_f32_f16c : f16_to_f32_scalar)((float*)out, (const uint16_t*)in, i0, i1);
  } else if (out_type == G4_DTYPE_BF16) {
    (g4::use_avx2() ? f32_to_bf16_avx2 : f32_to_bf16_scalar)((uint16_t*)out, (const float*)in, i0, i1);
  } else {
    (use_f16c() ? f32_to_f16_f16c : f32_to_f16_scalar)((uint16_t*)out, (const float*)in, i0, i1);
  }
}

int64_t convert_checked_range(void* out, int out_type, const void* in, int in_type, int64_t i0, int64_t i1) {
  int64_t first = -1;
  for (int64_t c = i0; c < i1; c += kCheckChunk) {
    int64_t e = c + kCheckChunk < i1 ? c + kCheckChunk : i1;
    convert_range(out, out_type, in, in_type, c, e);
    if (first < 0) first = first_non_finite(in_type, in, c, e);
  }
  return first;
}

bool valid_type(int t) { return t == G4_DTYPE_F32 || t == G4_DTYPE_BF16 || t == G4_DTYPE_F16; }

}  // namespace

extern "C" {

G4_API void g4_bf16_to_f32(float* out, const uint16_t* in, int64_t n) {
  run_blocks(out, in, n, g4::use_avx2() ? bf16_to_f32_avx2 : bf16_to_f32_scalar);
}

G4_API void g4_f16_to_f32(float* out, const uint16_t* in, int64_t n) {
  run_blocks(out, in, n, use_f16c() ? f16_to_f32_f16c : f16_to_f32_scalar);
}

G4_API void g4_f32_to_bf16(uint16_t* out, const float* in, int64_t n) {
  run_blocks(out, in, n, g4::use_avx2() ? f32_to_bf16_avx2 : f32_to_bf16_scalar);
}

G4_API void g4_f32_to_f16(uint16_t* out, const float* in, int64_t n) {
  run_blocks(out, in, n, use_f16c() ? f32_to_f16_f16c : f32_to_f16_scalar);
}

G4_API int64_t g4_convert_finite(void* out, int out_type, const void* in, int in_type, int64_t n) {
  if (n <= 0) return -1;
  // f16 <-> bf16 has no direct conversion: the caller goes through f32
  if (!valid_type(out_type) || !valid_type(in_type) ||
      (out_type != in_type && out_type != G4_DTYPE_F32 && in_type != G4_DTYPE_F32)) {
    return -2;
  }
  if (n < kParallelMin) return convert_checked_range(out, out_type, in, in_type, 0, n);
  int64_t first = -1;
#pragma omp parallel num_threads(g4::threads())
  {
    int nt = omp_get_num_threads(), t = omp_get_thread_num();
    int64_t per = ((n + nt - 1) / nt + 63) / 64 * 64;
    int64_t i0 = (int64_t)t * per, i1 = i0 + per < n ? i0 + per : n;
    int64_t mine = i0 < i1 ? convert_checked_range(out, out_type, in, in_type, i0, i1) : -1;
#pragma omp critical
    if (mine >= 0 && (first < 0 || mine < first)) first = mine;
  }
  return first;
}

}  // extern "C"
