/*
 * Fused softmax cross-entropy with ignore_index: logits [N,V], targets [N], losses [N],
 * dlogits [N,V] or NULL (may alias logits).
 *
 *   m = max_v x[n,v],  S = sum_v e^(x[n,v] - m),  lse = m + log S
 *   losses[n]    = lse - x[n,t]                                     (0 when t == ignore_index)
 *   dlogits[n,v] = (e^(x[n,v] - m) / S - [v == t]) * grad_scale    (a zero row when ignored)
 *   return value = number of rows with t != ignore_index
 * A target outside [0,V) that is not ignore_index makes the call return -1 - n for the first such
 * row n before anything is written.
 *
 * Paths: AVX-512F (cross_entropy_avx512.h), AVX2/FMA, scalar, chosen at run time (runtime.cpp).
 * One row at a time per thread (rows split among threads). Pass 1 reads the row once, in chunks of
 * kChunk floats that stay in L1: the chunk max updates the running max m (rescaling the running
 * sum by e^(m_old - m_new)), then the chunk's e^(x - m) are added to S in fp64. x[n,t] is read in
 * this pass, so pass 2 may overwrite the row in place: dlogits = e^(x - m) * (grad_scale / S),
 * summing the row's other dlogits in fp64 as it writes them; then dlogits[t] = -(that sum), which
 * equals (p_t - 1) * grad_scale without its cancellation. The probabilities are never stored separately. g4_cross_entropy_rows scales row
 * n's gradient by row_scale[n / row_len] too (a weight per sequence of row_len rows: DPO's backward).
 */
#include <immintrin.h>
#include <omp.h>

#include <cmath>

#include "cross_entropy.h"
#include "g4_cpu.h"
#include "g4_internal.h"
#include "g4_simd.h"
// after the others: it switches off warnings GCC's AVX-512 headers give
#include "avx512_native.h"
#include "cross_entropy_avx512.h"

namespace {
using namespace g4::xent;

// ---- pass 1: running max and sum of one row x[0:V] -----------------------------------------

RowStats stats_scalar(const float* x, int V) {
  float m = -INFINITY;
  double s = 0;
  for (int c0 = 0; c0 < V; c0 += kChunk) {
    int c1 = c0 + kChunk < V ? c0 + kChunk : V;
    float cm = -INFINITY;
    for (int v = c0; v < c1; v++) cm = x[v] > cm ? x[v] : cm;
    if (cm > m) {
      s *= std::exp((double)m - (double)cm);  // m = -inf on the first chunk: s stays 0
      m = cm;
    }
    float cs = 0;  // a chunk of at most 512 terms in [0,1]
    for (int v = c0; v < c1; v++) cs += std::exp(x[v] - m);
    s += cs;
  }
  return {m, s};
}

G4_AVX2 RowStats stats_avx2(const float* x, int V) {
  float m = -INFINITY;
  double s = 0;
  for (int c0 = 0; c0 < V; c0 += kChunk) {
    int c1 = c0 + kChunk < V ? c0 + kChunk : V;
    // chunk max
    __m256 vm = _mm256_set1_ps(-INFINITY);
    int v = c0;
    for (; v + 8 <= c1; v += 8) vm = _mm256_max_ps(vm, _mm256_loadu_ps(x + v));
    float cm = g4::hmax8(vm);
    for (; v < c1; v++) cm = x[v] > cm ? x[v] : cm;
    if (cm > m) {
      s *= std::exp((double)m - (double)cm);
      m = cm;
    }
    // chunk sum of e^(x - m), two 8-lane float accumulators, then fp64
    const __m256 vmax = _mm256_set1_ps(m);
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    v = c0;
    for (; v + 16 <= c1; v += 16) {
      a0 = _mm256_add_ps(a0, g4::exp8(_mm256_sub_ps(_mm256_loadu_ps(x + v), vmax)));
      a1 = _mm256_add_ps(a1, g4::exp8(_mm256_sub_ps(_mm256_loadu_ps(x + v + 8), vmax)));
    }
    for (; v + 8 <= c1; v += 8) a0 = _mm256_add_ps(a0, g4::exp8(_mm256_sub_ps(_mm256_loadu_ps(x + v), vmax)));
    double cs = g4::hsum8(_mm256_add_ps(a0, a1));
    for (; v < c1; v++) cs += std::exp(x[v] - m);
    s += cs;
  }
  return {m, s};
}

// ---- pass 2: d[0:V] = e^(x - m) * k (d may be x); returns the fp64 sum of d[v] for v != t ----

double grad_scalar(float* d, const float* x, int V, float m, float k, int t) { return grad_from(d, x, 0, V, m, k, t); }

G4_AVX2 double grad_avx2(float* d, const float* x, int V, float m, float k, int t) {
  const __m256 vmax = _mm256_set1_ps(m), vk = _mm256_set1_ps(k);
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();  // the sum, lanes 0..3 and 4..7
  int v = 0;
  for (; v + 8 <= V; v += 8) {
    __m256 p = _mm256_mul_ps(g4::exp8(_mm256_sub_ps(_mm256_loadu_ps(x + v), vmax)), vk);
    _mm256_storeu_ps(d + v, p);
    if ((unsigned)(t - v) < 8u) {  // the block holding the target: its lane is left out of the sum
      p = _mm256_andnot_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(lane, _mm256_set1_epi32(t - v))), p);
    }
    s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(p)));
    s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(p, 1)));
  }
  return g4::hsum4d(_mm256_add_pd(s0, s1)) + grad_from(d, x, v, V, m, k, t);
}

// the SIMD flavours of the two passes, chosen per call (passes)
G4_AVX512_TARGET RowStats stats_avx512(const float* x, int V) { return native::stats_avx512(x, V); }
G4_AVX512_TARGET double grad_avx512(float* d, const float* x, int V, float m, float k, int t) {
  return native::grad_avx512(d, x, V, m, k, t);
}

struct Passes {
  RowStats (*stats)(const float*, int);
  double (*grad)(float*, const float*, int, float, float, int);
};

Passes passes() {
  return g4::simd_path<Passes>({stats_avx512, grad_avx512}, G4_EMULATED({stats_avx512_emulated, grad_avx512_emulated}),
                               {stats_avx2, grad_avx2}, {stats_scalar, grad_scalar});
}

}  // namespace

extern "C" {

G4_API int g4_cross_entropy(float* losses, float* dlogits, const float* logits,
                            const int32_t* targets, int N, int V, int ignore_index,
                            float grad_scale) {
  return g4_cross_entropy_rows(losses, dlogits, logits, targets, N, V, ignore_index, grad_scale, nullptr, 1);
}

G4_API int g4_cross_entropy_rows(float* losses, float* dlogits, const float* logits,
                                 const int32_t* targets, int N, int V, int ignore_index,
                                 float grad_scale, const float* row_scale, int row_len) {
  if (N <= 0) return 0;
  // validate every target before writing anything
  int count = 0;
  for (int n = 0; n < N; n++) {
    int t = targets[n];
    if (t == ignore_index) continue;
    if (t < 0 || t >= V) return -1 - n;
    count++;
  }
  const Passes pass = passes();
#pragma omp parallel for schedule(dynamic, 1) if ((int64_t)N * V >= (1 << 15))
  for (int n = 0; n < N; n++) {
    const float* x = logits + (int64_t)n * V;                       // logits[n, 0:V]
    float* d = dlogits ? dlogits + (int64_t)n * V : nullptr;  // dlogits[n, 0:V], maybe == x
    int t = targets[n];
    if (t == ignore_index) {
      losses[n] = 0.0f;
      if (d) for (int v = 0; v < V; v++) d[v] = 0.0f;
      continue;
    }
    float xt = x[t];  // read before the row may be overwritten
    RowStats st = pass.stats(x, V);
    losses[n] = (float)((double)st.max + std::log(st.sum) - (double)xt);
    if (d) {
      const float scale = row_scale ? grad_scale * row_scale[n / row_len] : grad_scale;
      // p_t - 1 = -sum of the other p_v: summed directly, the target's gradient keeps its precision
      // when p_t is close to 1, where p_t - 1 would cancel to a few correct bits
      const double others = pass.grad(d, x, V, st.max, (float)((double)scale / st.sum), t);
      d[t] = (float)(0.0 - others);  // +0 for a single class, as p_t - 1 gives
    }
  }
  return count;
}

}  // extern "C"
