// Attention of new queries against a KV cache (incremental decoding) on the CPU: fp32, the
// worker pool over (b, group of query heads), AVX-512F (attention_decode_avx512.h) or AVX2/FMA
// with a scalar fallback.
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
#include <cstring>

#include "attention_decode.h"
#include "g4_cpu.h"
#include "g4_internal.h"
#include "g4_simd.h"
#include "thread_pool.h"
// after the others: it switches off warnings GCC's AVX-512 headers give
#include "avx512_native.h"
#include "attention_decode_avx512.h"

namespace {
using namespace g4::decode;

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

// the SIMD flavours of decode_heads, chosen per call (heads_path)
using HeadsFn = void (*)(float*, const float*, const float*, const float*, int64_t, int, int, int, int, int, float);
void decode_heads_scalar(float* o, const float* q, const float* k, const float* v, int64_t st, int last, int h0, int h1,
                         int G, int D, float sc) {
  decode_heads<Scalar>(o, q, k, v, st, last, h0, h1, G, D, sc);
}
G4_AVX2 void decode_heads_avx2(float* o, const float* q, const float* k, const float* v, int64_t st, int last, int h0,
                               int h1, int G, int D, float sc) {
  decode_heads<DecodeAvx2>(o, q, k, v, st, last, h0, h1, G, D, sc);
}
G4_AVX512_TARGET void decode_heads_avx512(float* o, const float* q, const float* k, const float* v, int64_t st, int last,
                                          int h0, int h1, int G, int D, float sc) {
  decode_heads<native::DecodeAvx512>(o, q, k, v, st, last, h0, h1, G, D, sc);
}

HeadsFn heads_path() {
  return g4::simd_path<HeadsFn>(decode_heads_avx512, G4_EMULATED(decode_heads_avx512_emulated), decode_heads_avx2,
                                decode_heads_scalar);
}
}  // namespace

extern "C" {

G4_API void g4_attention_decode(float* out, const float* q, const float* kc, const float* vc, const int32_t* lengths,
                                int B, int Tq, int Tmax, int Hq, int Hkv, int D, float scale) {
  const HeadsFn heads = heads_path();
  const int G = Hq / Hkv;
  const int64_t kvRow = (int64_t)Hkv * D;  // floats between consecutive positions of one row
  // a task takes a group of a row's query heads: all of them where rows are enough to share among
  // the threads, fewer where rows are few, so that every thread has work, but never less than 4 KB
  // of each position: a group reads its heads' part of every position, and a shorter part loses the
  // prefetcher (at batch 1 of small, 3 groups of 384 bytes took 1.5-2x the time of one task reading
  // whole positions on one thread). Each head is computed the same whatever its group: results do
  // not depend on the thread count.
  constexpr int64_t kMinGroupBytes = 4096;
  const int wholeParts = (int)std::max<int64_t>(1, kvRow * (int64_t)sizeof(float) / kMinGroupBytes);
  const int groups = std::clamp((2 * g4::pool_threads() + B - 1) / B, 1, std::min(Hq, wholeParts));
  const int perGroup = (Hq + groups - 1) / groups;
  const int64_t tasksPerRow = (Hq + perGroup - 1) / perGroup;
  // on the pool: a decode step calls this once per layer, and an OpenMP region here would leave its
  // workers spinning against the pool's GEMV threads
  auto task = [&](int64_t i) {
    const int b = (int)(i / tasksPerRow), h0 = (int)(i % tasksPerRow) * perGroup, h1 = std::min(Hq, h0 + perGroup);
    const float* k = kc + (int64_t)b * Tmax * kvRow;
    const float* v = vc + (int64_t)b * Tmax * kvRow;
    for (int t = 0; t < Tq; t++) {
      const int64_t at = ((int64_t)b * Tq + t) * Hq * D;
      const int p = lengths[b] - Tq + t;
      if (p < 0) {
        std::memset(out + at + (int64_t)h0 * D, 0, sizeof(float) * (h1 - h0) * D);
        continue;
      }
      heads(out + at, q + at, k, v, kvRow, std::min(p, Tmax - 1), h0, h1, G, D, scale);
    }
  };
  // below about 64K multiply-adds of q.k and p.v one thread is done before another wakes; but a
  // step's K and V (cold: the weights streamed through the cache since the last step) are read from
  // memory, and above 64 KB of them two threads read them faster than one
  int maxLen = 0;
  for (int b = 0; b < B; b++) maxLen = std::max(maxLen, std::min(lengths[b], Tmax));
  const int64_t kvBytes = 2 * (int64_t)B * maxLen * kvRow * (int64_t)sizeof(float);
  const bool parallel = (int64_t)B * Hq * Tq * maxLen * D >= (1 << 15) || kvBytes >= (1 << 16);
  g4::pool_for((int64_t)B * tasksPerRow, parallel, task);
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
