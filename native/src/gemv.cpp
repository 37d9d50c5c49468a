// Matrix times a few vectors, the GEMMs of decoding: C[M,N] = alpha * A[M,K] W[N,K]^T + beta * C,
// for M up to a handful of rows (one per sequence of a decode batch). Bound by reading W, so W is
// read once for all M rows: each task takes a block of W's rows and, while they sit in L1, runs
// every row of A against them. W may be fp32, bf16 or f16; half-precision values are widened in
// registers and every product and sum is fp32.
//
// Paths: scalar, AVX2/FMA (8 floats a register) and AVX-512F (16, gemv_avx512.h), chosen at run time
// (runtime.cpp); all three share the blocking of gemv.h. At G4_SIMD_AVX512_BF16, bf16 weights take
// AVX512_BF16 dot products instead: A is rounded to bf16 once per call, and each product of two bf16
// values is exact, so the results are those of bf16(A) W^T with fp32 sums (g4_cpu.h).
//
// The rows of W are split into tasks for the thread pool (thread_pool.h); each output element is
// computed by one task in a fixed order, so results do not depend on the thread count.
// g4_gemv_shared takes several W of one A (a layer's q, k and v) as the tasks of one run of the pool.
#include <immintrin.h>

#include <algorithm>
#include <type_traits>
#include <vector>

#include "g4_cpu.h"
#include "g4_internal.h"
#include "g4_simd.h"
#include "gemv.h"
#include "thread_pool.h"
// after the others: it switches off warnings GCC's AVX-512 headers give
#include "avx512_native.h"
#include "gemv_avx512.h"

namespace {

using namespace g4::gemv;

// Bytes of W per task: two tasks per thread, within these bounds. A thread reads its task's rows
// as one stream, and the hardware prefetcher restarts at every jump between tasks: on a 2-core
// EPYC, 32 KB tasks read cold weights at ~27 GB/s and 128-256 KB tasks at ~32 GB/s (an LM head of
// 32000 x 288 fp32), where a plain read reaches ~36. Small layers still split into a few tasks.
constexpr int64_t kMinTaskBytes = 32768;
constexpr int64_t kMaxTaskBytes = 262144;
constexpr int64_t kParallelBytes = 65536;  // below this much of W one thread finishes before another wakes
constexpr int kMaxShared = 8;  // W per g4_gemv_shared call

// 8 weights widened to fp32, for the AVX2 path
template <class W>
struct Eight;

template <>
struct Eight<F32> {
  G4_AVX2 static inline __m256 load(const float* p) { return _mm256_loadu_ps(p); }
};

template <>
struct Eight<Bf16> {
  G4_AVX2 static inline __m256 load(const uint16_t* p) {
    __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i*)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
  }
};

template <>
struct Eight<F16> {
  __attribute__((target("avx2,fma,f16c"))) static inline __m256 load(const uint16_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)p));
  }
};

// ---- scalar: R rows of W against MB rows of A, eight partial sums per dot product -----------

template <class W, int R, int MB>
struct BlockScalar {
  static void run(const Args& g, int64_t j, int m0) {
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
};

// ---- AVX2/FMA: the same blocking, one accumulator register per (row of W, row of A) ----------

// the four sums of the lanes of a, b, c, d
__attribute__((target("avx2,fma"))) inline __m128 hsum8x4(__m256 a, __m256 b, __m256 c, __m256 d) {
  const __m256 t = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
  return _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
}

template <class W, int R, int MB>
struct BlockAvx2 {
  __attribute__((target("avx2,fma,f16c"))) static inline void run(const Args& g, int64_t j, int m0) {
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
        for (int r = 0; r < R; r++) wv[r] = Eight<W>::load(w[r] + k + 8 * u);
        for (int i = 0; i < MB; i++) {
          const __m256 av = _mm256_loadu_ps(a[i] + k + 8 * u);
          for (int r = 0; r < R; r++) acc[u][r][i] = _mm256_fmadd_ps(wv[r], av, acc[u][r][i]);
        }
      }
    }
    for (; k + 8 <= g.K; k += 8) {
      __m256 wv[R];
      for (int r = 0; r < R; r++) wv[r] = Eight<W>::load(w[r] + k);
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
};

template <class W>
__attribute__((target("avx2,fma,f16c"))) void rows_avx2(const Args& g, int64_t j0, int64_t j1) {
  rows<BlockAvx2, W>(g, j0, j1);
}

template <class W>
G4_AVX512_TARGET void rows_avx512(const Args& g, int64_t j0, int64_t j1) {
  rows<native::Block, W, kWideRows>(g, j0, j1);
}

G4_AVX512BF16_TARGET void rows_bf16_dot(const Args& g, int64_t j0, int64_t j1) {
  rows<native::DotBf16, Bf16, kWideRows>(g, j0, j1);
}

template <class W>
void rows_scalar(const Args& g, int64_t j0, int64_t j1) {
  rows<BlockScalar, W>(g, j0, j1);
}

const bool g_cpu_has_f16c = __builtin_cpu_supports("f16c");

using Fn = void (*)(const Args&, int64_t, int64_t);

// The rows function of the path in use for W; for bf16 on the dot products, also A rounded to bf16 in
// g.ab (a buffer of this thread's, valid until its next call)
template <class W>
Fn prepare(Args& g) {
  if constexpr (std::is_same_v<W, Bf16>) {
    if (Fn dot = g4::native_or_emulated<Fn>(g4::bf16_dot(), rows_bf16_dot, G4_EMULATED(rows_bf16_dot_emulated),
                                            nullptr)) {
      // A rounded to bf16 for the dot products: M x K values, a small fraction of what W holds
      static thread_local std::vector<uint16_t> ab;
      ab.resize((size_t)g.M * g.K);
      for (int i = 0; i < g.M; i++) g4_f32_to_bf16(ab.data() + (int64_t)i * g.K, g.a + i * g.lda, g.K);
      g.ab = ab.data();
      return dot;
    }
  }
  // the f16 path widens with F16C, which every AVX2 CPU we know has, but it is checked all the same
  const Fn avx2 = !std::is_same_v<W, F16> || g_cpu_has_f16c ? rows_avx2<W> : rows_scalar<W>;
  return g4::simd_path<Fn>(rows_avx512<W>, G4_EMULATED(rows_avx512_emulated<W>), avx2, rows_scalar<W>);
}

// gs[0 .. count): GEMVs of one A (the same a, lda, M, K) against several W, in one run of the pool
template <class W>
void gemv(Args* gs, int count) {
  const Fn fn = prepare<W>(gs[0]);
  for (int i = 1; i < count; i++) gs[i].ab = gs[0].ab;
  const int64_t rowBytes = (int64_t)gs[0].K * sizeof(typename W::T);
  int64_t bytes = 0;
  for (int i = 0; i < count; i++) bytes += rowBytes * gs[i].N;
  const int64_t taskBytes = std::clamp<int64_t>(bytes / (2 * g4::pool_threads()), kMinTaskBytes, kMaxTaskBytes);
  // a multiple of 4 rows per task, so that tasks end on whole blocks
  const int64_t per = std::max<int64_t>(4, (taskBytes / std::max<int64_t>(rowBytes, 1)) & ~int64_t(3));
  int64_t first[kMaxShared + 1] = {0};  // the first task of each W
  for (int i = 0; i < count; i++) first[i + 1] = first[i] + (gs[i].N + per - 1) / per;
  auto task = [&](int64_t t) {
    int i = 0;
    while (t >= first[i + 1]) i++;
    const int64_t j0 = (t - first[i]) * per;
    fn(gs[i], j0, std::min<int64_t>(gs[i].N, j0 + per));
  };
  g4::pool_for(first[count], bytes >= kParallelBytes, task);
}

template <class W>
void gemv(const Args& g) {
  Args one = g;
  gemv<W>(&one, 1);
}

}  // namespace

extern "C" {

G4_API int g4_gemv_shared(float* const* c, const float* a, int64_t lda, const void* const* w, int w_type, const int* n,
                          int count, int M, int K) {
  if (count < 1 || count > kMaxShared) return -3;
  if (M < 0 || K < 0) return -1;
  Args gs[kMaxShared];
  for (int i = 0; i < count; i++) {
    if (n[i] < 0) return -1;
    gs[i] = Args{c[i], n[i], a, lda, w[i], K, M, n[i], K, 1.f, 0.f};
  }
  if (M == 0) return 0;
  switch (w_type) {
    case G4_DTYPE_F32: gemv<F32>(gs, count); return 0;
    case G4_DTYPE_BF16: gemv<Bf16>(gs, count); return 0;
    case G4_DTYPE_F16: gemv<F16>(gs, count); return 0;
    default: return -2;
  }
}

G4_API int g4_gemv(float* c, int64_t ldc, const float* a, int64_t lda, const void* w, int w_type, int64_t ldw,
                   int M, int N, int K, float alpha, float beta) {
  if (M < 0 || N < 0 || K < 0) return -1;
  if (M == 0 || N == 0) return 0;
  const Args g{c, ldc, a, lda, w, ldw, M, N, K, alpha, beta};
  switch (w_type) {
    case G4_DTYPE_F32: gemv<F32>(g); return 0;
    case G4_DTYPE_BF16: gemv<Bf16>(g); return 0;
    case G4_DTYPE_F16: gemv<F16>(g); return 0;
    default: return -2;
  }
}

}  // extern "C"
