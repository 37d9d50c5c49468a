// Matrix times a few vectors, the GEMMs of decoding: C[M,N] = alpha * A[M,K] W[N,K]^T + beta * C,
// for M up to a handful of rows (one per sequence of a decode batch). Bound by reading W, so W is
// read once for all M rows: each task takes a block of W's rows and, while they sit in L1, runs
// every row of A against them. W may be fp32, bf16 or f16; half-precision values are widened in
// registers and every product and sum is fp32.
//
// The rows of W are split into tasks for the thread pool (thread_pool.h); each output element is
// computed by one task in a fixed order, so results do not depend on the thread count.
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "g4_cpu.h"
#include "g4_internal.h"
#include "g4_simd.h"
#include "thread_pool.h"

namespace {

constexpr int64_t kTaskBytes = 32768;  // bytes of W per task: a few per thread even for small layers
// Rows of W shorter than this are taken one at a time: read side by side, several short rows are
// streams too short for the hardware prefetcher, and reading W in order was faster (measured at
// K = 288 and 768, the small preset's)
constexpr int kShortRow = 512;
constexpr int64_t kParallelBytes = 65536;  // below this much of W one thread finishes before another wakes

// ---- weight element types --------------------------------------------------------------------

struct WF32 {
  using T = float;
  static inline float one(const T* p) { return *p; }
  G4_AVX2 static inline __m256 eight(const T* p) { return _mm256_loadu_ps(p); }
};

struct WBf16 {
  using T = uint16_t;
  static inline float one(const T* p) {
    uint32_t b = (uint32_t)*p << 16;
    float f;
    std::memcpy(&f, &b, 4);
    return f;
  }
  G4_AVX2 static inline __m256 eight(const T* p) {
    __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i*)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
  }
};

struct WF16 {
  using T = uint16_t;
  static inline float one(const T* p) {
    // IEEE binary16 to binary32, exact: subnormals normalised, Inf and NaN (quieted) kept
    uint32_t h = *p, sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0x1f) {
      bits = sign | 0x7f800000u | (man << 13) | (man ? 0x400000u : 0);
    } else if (exp != 0) {
      bits = sign | ((exp + 112) << 23) | (man << 13);
    } else if (man == 0) {
      bits = sign;
    } else {
      int e = 113;
      while (!(man & 0x400)) { man <<= 1; e--; }
      bits = sign | ((uint32_t)e << 23) | ((man & 0x3ff) << 13);
    }
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
  }
  __attribute__((target("avx2,fma,f16c"))) static inline __m256 eight(const T* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)p));
  }
};

struct Args {
  float* c;
  int64_t ldc;
  const float* a;
  int64_t lda;
  const void* w;
  int64_t ldw;
  int M, N, K;
  float alpha, beta;
};

inline void store(const Args& g, int m, int64_t j, float s) {
  float* c = g.c + m * g.ldc + j;
  *c = g.beta == 0.f ? g.alpha * s : g.alpha * s + g.beta * *c;  // beta 0 never reads C (BLAS rule)
}

// ---- scalar: R rows of W against MB rows of A, eight partial sums per dot product -----------

template <class W, int R, int MB>
void block_scalar(const Args& g, int64_t j, int m0) {
  const auto* w = static_cast<const typename W::T*>(g.w);
  float acc[R][MB][8] = {};
  int k = 0;
  for (; k + 8 <= g.K; k += 8) {
    for (int r = 0; r < R; r++) {
      float wv[8];
      for (int l = 0; l < 8; l++) wv[l] = W::one(w + (j + r) * g.ldw + k + l);
      for (int i = 0; i < MB; i++) {
        const float* a = g.a + (m0 + i) * g.lda + k;
        for (int l = 0; l < 8; l++) acc[r][i][l] += wv[l] * a[l];
      }
    }
  }
  for (int r = 0; r < R; r++) {
    for (int i = 0; i < MB; i++) {
      float s = 0.f;
      for (int l = 0; l < 8; l++) s += acc[r][i][l];
      for (int kk = k; kk < g.K; kk++) s += W::one(w + (j + r) * g.ldw + kk) * g.a[(m0 + i) * g.lda + kk];
      store(g, m0 + i, j + r, s);
    }
  }
}

// ---- AVX2/FMA: the same blocking, one accumulator register per (row of W, row of A) ----------

// the four sums of the lanes of a, b, c, d
__attribute__((target("avx2,fma"))) inline __m128 hsum8x4(__m256 a, __m256 b, __m256 c, __m256 d) {
  const __m256 t = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
  return _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
}

template <class W, int R, int MB>
__attribute__((target("avx2,fma,f16c"))) inline void block_avx2(const Args& g, int64_t j, int m0) {
  const typename W::T* w[R];
  const float* a[MB];
  for (int r = 0; r < R; r++) w[r] = static_cast<const typename W::T*>(g.w) + (j + r) * g.ldw;
  for (int i = 0; i < MB; i++) a[i] = g.a + (m0 + i) * g.lda;
  // at least 8 accumulators (up to 4 per pair of rows, on alternate 8-float steps) so that enough
  // FMAs are independent
  constexpr int U = R * MB >= 8 ? 1 : (8 / (R * MB) > 4 ? 4 : 8 / (R * MB));
  __m256 acc[U][R][MB];
  for (int u = 0; u < U; u++)
    for (int r = 0; r < R; r++)
      for (int i = 0; i < MB; i++) acc[u][r][i] = _mm256_setzero_ps();
  int k = 0;
  for (; k + 8 * U <= g.K; k += 8 * U) {
    for (int u = 0; u < U; u++) {
      __m256 wv[R];
      for (int r = 0; r < R; r++) wv[r] = W::eight(w[r] + k + 8 * u);
      for (int i = 0; i < MB; i++) {
        const __m256 av = _mm256_loadu_ps(a[i] + k + 8 * u);
        for (int r = 0; r < R; r++) acc[u][r][i] = _mm256_fmadd_ps(wv[r], av, acc[u][r][i]);
      }
    }
  }
  for (; k + 8 <= g.K; k += 8) {
    __m256 wv[R];
    for (int r = 0; r < R; r++) wv[r] = W::eight(w[r] + k);
    for (int i = 0; i < MB; i++) {
      const __m256 av = _mm256_loadu_ps(a[i] + k);
      for (int r = 0; r < R; r++) acc[0][r][i] = _mm256_fmadd_ps(wv[r], av, acc[0][r][i]);
    }
  }
  for (int u = 1; u < U; u++)
    for (int r = 0; r < R; r++)
      for (int i = 0; i < MB; i++) acc[0][r][i] = _mm256_add_ps(acc[0][r][i], acc[u][r][i]);
  for (int i = 0; i < MB; i++) {
    float s[R];
    if constexpr (R == 4) {
      _mm_storeu_ps(s, hsum8x4(acc[0][0][i], acc[0][1][i], acc[0][2][i], acc[0][3][i]));
    } else {
      for (int r = 0; r < R; r++) s[r] = g4::hsum8(acc[0][r][i]);
    }
    for (int r = 0; r < R; r++) {
      for (int kk = k; kk < g.K; kk++) s[r] += W::one(w[r] + kk) * a[i][kk];
      store(g, m0 + i, j + r, s[r]);
    }
  }
}

// Rows [j0, j1) of W against every row of A: blocks of R rows of W (fewer at the end), and within
// a block the rows of A in groups of up to four. Long rows go four at a time for one or two rows of
// A, two at a time for more (fewer loads per FMA); short rows one at a time (kShortRow).
template <class W, bool Avx2, int R, int MB>
__attribute__((always_inline)) inline void block(const Args& g, int64_t j, int m0) {
  if constexpr (Avx2) block_avx2<W, R, MB>(g, j, m0);
  else block_scalar<W, R, MB>(g, j, m0);
}

template <class W, bool Avx2, int R>
__attribute__((always_inline)) inline void rows_against_a(const Args& g, int64_t j) {
  int m = 0;
  for (; m + 4 <= g.M; m += 4) block<W, Avx2, R, 4>(g, j, m);
  switch (g.M - m) {
    case 3: block<W, Avx2, R, 3>(g, j, m); break;
    case 2: block<W, Avx2, R, 2>(g, j, m); break;
    case 1: block<W, Avx2, R, 1>(g, j, m); break;
    default: break;
  }
}

template <class W, bool Avx2>
__attribute__((always_inline)) inline void rows(const Args& g, int64_t j0, int64_t j1) {
  int64_t j = j0;
  if (g.K >= kShortRow) {
    if (g.M <= 2) {
      for (; j + 4 <= j1; j += 4) rows_against_a<W, Avx2, 4>(g, j);
    } else {
      for (; j + 2 <= j1; j += 2) rows_against_a<W, Avx2, 2>(g, j);
    }
  }
  for (; j < j1; j++) rows_against_a<W, Avx2, 1>(g, j);
}

template <class W>
__attribute__((target("avx2,fma,f16c"))) void rows_avx2(const Args& g, int64_t j0, int64_t j1) {
  rows<W, true>(g, j0, j1);
}

template <class W>
void rows_scalar(const Args& g, int64_t j0, int64_t j1) {
  rows<W, false>(g, j0, j1);
}

const bool g_cpu_has_f16c = __builtin_cpu_supports("f16c");

template <class W>
void gemv(const Args& g) {
  // the f16 path widens with F16C, which every AVX2 CPU we know has, but it is checked all the same
  const bool avx2 = g4::use_avx2() && (!std::is_same_v<W, WF16> || g_cpu_has_f16c);
  auto fn = avx2 ? rows_avx2<W> : rows_scalar<W>;
  const int64_t rowBytes = (int64_t)g.K * sizeof(typename W::T);
  // a multiple of 4 rows per task, so that tasks end on whole blocks
  int64_t per = std::max<int64_t>(4, (kTaskBytes / std::max<int64_t>(rowBytes, 1)) & ~int64_t(3));
  const int64_t tasks = (g.N + per - 1) / per;
  const bool parallel = rowBytes * g.N >= kParallelBytes;
  auto task = [&](int64_t t) { fn(g, t * per, std::min<int64_t>(g.N, (t + 1) * per)); };
  g4::pool_for(tasks, parallel, task);
}

}  // namespace

extern "C" {

G4_API int g4_gemv(float* c, int64_t ldc, const float* a, int64_t lda, const void* w, int w_type, int64_t ldw,
                   int M, int N, int K, float alpha, float beta) {
  if (M < 0 || N < 0 || K < 0) return -1;
  if (M == 0 || N == 0) return 0;
  const Args g{c, ldc, a, lda, w, ldw, M, N, K, alpha, beta};
  switch (w_type) {
    case G4_DTYPE_F32: gemv<WF32>(g); return 0;
    case G4_DTYPE_BF16: gemv<WBf16>(g); return 0;
    case G4_DTYPE_F16: gemv<WF16>(g); return 0;
    default: return -2;
  }
}

}  // extern "C"
