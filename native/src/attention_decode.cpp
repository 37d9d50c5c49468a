// Attention of new queries against a KV cache (incremental decoding) on the CPU: fp32, the
// worker pool over (b, query head), AVX2/FMA with a scalar fallback.
//
// Shapes: cache, kc, vc [B,Tmax,Hkv,D] (row b holds up to Tmax positions); src [B,Tq,Hkv*D];
//         q, out [B,Tq,Hq,D]; lengths [B] I32 = tokens of row b in the cache once this call's are in.
// New token t (0 <= t < Tq) of row b is at position p = lengths[b] - Tq + t. A row with fewer than
// Tq new tokens is left-padded: its first tokens have p < 0 and are neither written nor attended.
//
// kv_cache_write:    cache[b, p] = src[b, t]                for 0 <= p < Tmax
// attention_decode:  per (b, h, t) with p >= 0, over cache positions j = 0 .. min(p, Tmax-1):
//   s_j   = scale * q_t . k_j            (query head h reads kv head h / (Hq/Hkv): GQA)
//   out_t = sum_j exp(s_j - m) v_j / sum_j exp(s_j - m),   m = max_j s_j
//   and out_t = 0 where p < 0.
// The softmax is online over chunks of BK keys: a chunk's scores are computed, the running max m
// and sum l are updated (the accumulator in out_t is rescaled by exp(m_old - m_new) when the max
// grows) and the chunk's exp-weighted values are added. Each output is written by one task in a
// fixed order: results do not depend on the thread count.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "g4_cpu.h"
#include "g4_internal.h"
#include "g4_simd.h"
#include "thread_pool.h"

namespace {
constexpr int BK = 64;  // keys per chunk of scores

// dot(x, y) over D floats;  y += a x;  y *= a
struct DecodeScalar {
  static inline float dot(const float* x, const float* y, int D) {
    float s = 0.f;
    for (int d = 0; d < D; d++) s += x[d] * y[d];
    return s;
  }
  static inline void axpy(float* y, float a, const float* x, int D) {
    for (int d = 0; d < D; d++) y[d] += a * x[d];
  }
  static inline void scal(float* y, float a, int D) {
    for (int d = 0; d < D; d++) y[d] *= a;
  }
};

struct DecodeAvx2 {
  G4_AVX2 static inline float dot(const float* x, const float* y, int D) {
    __m256 a = _mm256_setzero_ps();
    int d = 0;
    for (; d + 8 <= D; d += 8) a = _mm256_fmadd_ps(_mm256_loadu_ps(x + d), _mm256_loadu_ps(y + d), a);
    float s = g4::hsum8(a);
    for (; d < D; d++) s += x[d] * y[d];
    return s;
  }
  G4_AVX2 static inline void axpy(float* y, float a, const float* x, int D) {
    const __m256 va = _mm256_set1_ps(a);
    int d = 0;
    for (; d + 8 <= D; d += 8) _mm256_storeu_ps(y + d, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + d), _mm256_loadu_ps(y + d)));
    for (; d < D; d++) y[d] += a * x[d];
  }
  G4_AVX2 static inline void scal(float* y, float a, int D) {
    const __m256 va = _mm256_set1_ps(a);
    int d = 0;
    for (; d + 8 <= D; d += 8) _mm256_storeu_ps(y + d, _mm256_mul_ps(va, _mm256_loadu_ps(y + d)));
    for (; d < D; d++) y[d] *= a;
  }
};

// one query: out = softmax over keys 0..last of scale q.k_j, times v_j; k, v strided by `stride`
template <class V>
__attribute__((always_inline)) inline void decode_query(float* out, const float* q, const float* k, const float* v, int64_t stride, int last,
                          int D, float scale) {
  float s[BK];
  float m = -INFINITY, l = 0.f;
  std::memset(out, 0, sizeof(float) * D);
  for (int j0 = 0; j0 <= last; j0 += BK) {
    const int n = std::min(BK, last + 1 - j0);
    float mx = -INFINITY;
    for (int c = 0; c < n; c++) {
      s[c] = scale * V::dot(q, k + (j0 + c) * stride, D);
      mx = std::max(mx, s[c]);
    }
    if (mx > m) {
      const float corr = std::exp(m - mx);  // 0 on the first chunk (m = -inf, out = 0)
      l *= corr;
      V::scal(out, corr, D);
      m = mx;
    }
    for (int c = 0; c < n; c++) {
      const float p = std::exp(s[c] - m);
      l += p;
      V::axpy(out, p, v + (j0 + c) * stride, D);
    }
  }
  V::scal(out, 1.f / l, D);
}

// the SIMD flavour of one query, chosen per call by g4::use_avx2()
void decode_query_scalar(float* o, const float* q, const float* k, const float* v, int64_t st, int last, int D, float sc) { decode_query<DecodeScalar>(o, q, k, v, st, last, D, sc); }
G4_AVX2 void decode_query_avx2(float* o, const float* q, const float* k, const float* v, int64_t st, int last, int D, float sc) { decode_query<DecodeAvx2>(o, q, k, v, st, last, D, sc); }
}  // namespace

extern "C" {

G4_API void g4_attention_decode(float* out, const float* q, const float* kc, const float* vc, const int32_t* lengths,
                                int B, int Tq, int Tmax, int Hq, int Hkv, int D, float scale) {
  const bool avx2 = g4::use_avx2();
  const int G = Hq / Hkv;
  const int64_t kvRow = (int64_t)Hkv * D;  // floats between consecutive positions of one kv head
  // one task per (row, query head), on the pool: a decode step calls this once per layer, and an
  // OpenMP region here would leave its workers spinning against the pool's GEMV threads
  auto task = [&](int64_t i) {
    const int b = (int)(i / Hq), h = (int)(i % Hq);
    const float* k = kc + (int64_t)b * Tmax * kvRow + (int64_t)(h / G) * D;
    const float* v = vc + (int64_t)b * Tmax * kvRow + (int64_t)(h / G) * D;
    for (int t = 0; t < Tq; t++) {
      const int64_t at = (((int64_t)b * Tq + t) * Hq + h) * D;
      const int p = lengths[b] - Tq + t;
      if (p < 0) {
        std::memset(out + at, 0, sizeof(float) * D);
        continue;
      }
      const int last = std::min(p, Tmax - 1);
      if (avx2) decode_query_avx2(out + at, q + at, k, v, kvRow, last, D, scale);
      else decode_query_scalar(out + at, q + at, k, v, kvRow, last, D, scale);
    }
  };
  // below about 64K multiply-adds of q.k and p.v one thread is done before another wakes; but a
  // step's K and V (cold: the weights streamed through the cache since the last step) are read from
  // memory, and above 64 KB of them two threads read them faster than one
  int maxLen = 0;
  for (int b = 0; b < B; b++) maxLen = std::max(maxLen, std::min(lengths[b], Tmax));
  const int64_t kvBytes = 2 * (int64_t)B * maxLen * kvRow * (int64_t)sizeof(float);
  const bool parallel = (int64_t)B * Hq * Tq * maxLen * D >= (1 << 15) || kvBytes >= (1 << 16);
  g4::pool_for((int64_t)B * Hq, parallel, task);
}

G4_API void g4_kv_cache_write(float* cache, const float* src, const int32_t* lengths, int B, int Tq, int Tmax,
                              int W) {
  for (int b = 0; b < B; b++) {
    for (int t = 0; t < Tq; t++) {
      const int p = lengths[b] - Tq + t;
      if (p < 0 || p >= Tmax) continue;
      std::memcpy(cache + ((int64_t)b * Tmax + p) * W, src + ((int64_t)b * Tq + t) * W, sizeof(float) * W);
    }
  }
}

}  // extern "C"
