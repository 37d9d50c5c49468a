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
 * One row at a time per thread (rows split among threads), in three passes over the row, which after
 * the first comes from the CPU's cache:
 *   max:   m, the one read of the row from memory; x[n,t] is read before any pass writes;
 *   sum:   S = sum e^(x - m), each chunk of kChunk terms in fp32 and the chunks in fp64, with the
 *          e^(x - m) stored in dlogits (over the logits when they alias): the only exponentials;
 *   scale: dlogits *= grad_scale / S, summing the row's other dlogits in fp64 as it writes them;
 *          then dlogits[t] = -(that sum), which equals (p_t - 1) * grad_scale without its cancellation.
 * Without dlogits the sum pass stores nothing and the scale pass does not run. g4_cross_entropy_rows
 * scales row n's gradient by row_scale[n / row_len] too (a weight per sequence of row_len rows: DPO's
 * backward).
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

// ---- max pass: m = max x[0:V] --------------------------------------------------------------

float max_scalar(const float* x, int V) {
  float m = -INFINITY;
  for (int v = 0; v < V; v++) m = x[v] > m ? x[v] : m;
  return m;
}

G4_AVX2 float max_avx2(const float* x, int V) {
  __m256 m0 = _mm256_set1_ps(-INFINITY), m1 = m0;
  int v = 0;
  for (; v + 16 <= V; v += 16) {
    m0 = _mm256_max_ps(m0, _mm256_loadu_ps(x + v));
    m1 = _mm256_max_ps(m1, _mm256_loadu_ps(x + v + 8));
  }
  for (; v + 8 <= V; v += 8) m0 = _mm256_max_ps(m0, _mm256_loadu_ps(x + v));
  float m = g4::hmax8(_mm256_max_ps(m0, m1));
  for (; v < V; v++) m = x[v] > m ? x[v] : m;
  return m;
}

// ---- sum pass: S = sum e^(x - m), e^(x - m) stored in d unless d is null (d may be x) ---------

double exp_sum_scalar(float* d, const float* x, int V, float m) {
  double s = 0.0;
  for (int c0 = 0; c0 < V; c0 += kChunk) s += (double)exp_sum_from(d, x, c0, c0 + kChunk < V ? c0 + kChunk : V, m);
  return s;
}

G4_AVX2 double exp_sum_avx2(float* d, const float* x, int V, float m) {
  const __m256 vm = _mm256_set1_ps(m);
  double s = 0.0;
  for (int c0 = 0; c0 < V; c0 += kChunk) {
    const int c1 = c0 + kChunk < V ? c0 + kChunk : V;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();  // two 8-lane partial sums
    int v = c0;
    for (; v + 16 <= c1; v += 16) {
      const __m256 e0 = g4::exp8(_mm256_sub_ps(_mm256_loadu_ps(x + v), vm));
      const __m256 e1 = g4::exp8(_mm256_sub_ps(_mm256_loadu_ps(x + v + 8), vm));
      if (d) _mm256_storeu_ps(d + v, e0), _mm256_storeu_ps(d + v + 8, e1);
      a0 = _mm256_add_ps(a0, e0), a1 = _mm256_add_ps(a1, e1);
    }
    for (; v + 8 <= c1; v += 8) {
      const __m256 e = g4::exp8(_mm256_sub_ps(_mm256_loadu_ps(x + v), vm));
      if (d) _mm256_storeu_ps(d + v, e);
      a0 = _mm256_add_ps(a0, e);
    }
    s += (double)(g4::hsum8(_mm256_add_ps(a0, a1)) + exp_sum_from(d, x, v, c1, m));
  }
  return s;
}

// ---- scale pass: d[0:V] *= k; returns the fp64 sum of d[v] for v != t ------------------------

double scale_scalar(float* d, int V, float k, int t) { return scale_from(d, 0, V, k, t); }

G4_AVX2 double scale_avx2(float* d, int V, float k, int t) {
  const __m256 vk = _mm256_set1_ps(k);
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();  // the sum, lanes 0..3 and 4..7
  int v = 0;
  for (; v + 8 <= V; v += 8) {
    __m256 p = _mm256_mul_ps(_mm256_loadu_ps(d + v), vk);
    _mm256_storeu_ps(d + v, p);
    if ((unsigned)(t - v) < 8u) {  // the block holding the target: its lane is left out of the sum
      p = _mm256_andnot_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(lane, _mm256_set1_epi32(t - v))), p);
    }
    s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(p)));
    s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(p, 1)));
  }
  return g4::hsum4d(_mm256_add_pd(s0, s1)) + scale_from(d, v, V, k, t);
}

// the SIMD flavours of the three passes, chosen per call (passes)
G4_AVX512_TARGET float max_avx512(const float* x, int V) { return native::max_avx512(x, V); }
G4_AVX512_TARGET double exp_sum_avx512(float* d, const float* x, int V, float m) {
  return native::exp_sum_avx512(d, x, V, m);
}
G4_AVX512_TARGET double scale_avx512(float* d, int V, float k, int t) { return native::scale_avx512(d, V, k, t); }

struct Passes {
  float (*max)(const float*, int);
  double (*exp_sum)(float*, const float*, int, float);
  double (*scale)(float*, int, float, int);
};

Passes passes() {
  return g4::simd_path<Passes>({max_avx512, exp_sum_avx512, scale_avx512},
                               G4_EMULATED({max_avx512_emulated, exp_sum_avx512_emulated, scale_avx512_emulated}),
                               {max_avx2, exp_sum_avx2, scale_avx2}, {max_scalar, exp_sum_scalar, scale_scalar});
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
#pragma omp parallel for schedule(dynamic, 1) if ((int64_t)N * V >= (1 << 15)) num_threads(g4::threads())
  for (int n = 0; n < N; n++) {
    const float* x = logits + (int64_t)n * V;                       // logits[n, 0:V]
    float* d = dlogits ? dlogits + (int64_t)n * V : nullptr;  // dlogits[n, 0:V], maybe == x
    int t = targets[n];
    if (t == ignore_index) {
      losses[n] = 0.0f;
      if (d) for (int v = 0; v < V; v++) d[v] = 0.0f;
      continue;
    }
    const float xt = x[t];  // read before the row may be overwritten
    const float m = pass.max(x, V);
    const double S = pass.exp_sum(d, x, V, m);
    losses[n] = (float)((double)m + std::log(S) - (double)xt);
    if (d) {
      const float scale = row_scale ? grad_scale * row_scale[n / row_len] : grad_scale;
      // p_t - 1 = -sum of the other p_v: summed directly, the target's gradient keeps its precision
      // when p_t is close to 1, where p_t - 1 would cancel to a few correct bits
      const double others = pass.scale(d, V, (float)((double)scale / S), t);
      d[t] = (float)(0.0 - others);  // +0 for a single class, as p_t - 1 gives
    }
  }
  return count;
}

}  // extern "C"
