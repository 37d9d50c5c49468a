/*
 * LayerNorm (OPT), PyTorch semantics (biased variance, eps inside the root): x [N,C], w, b [C],
 * mean, rstd [N]
 *
 *   fwd: mean[n] = sum_c x[n,c] / C
 *        rstd[n] = 1 / sqrt(sum_c (x[n,c] - mean[n])^2 / C + eps)
 *        y[n,c]  = (x[n,c] - mean[n]) * rstd[n] * w[c] + b[c]                (y overwritten)
 *   bwd: xhat = (x - mean) * rstd,  g = dy * w  (per element of row n)
 *        dx[n,c] += rstd[n] * (g - sum_c g / C - xhat * sum_c (g * xhat) / C) (accumulated)
 *        dw[c]   += sum_n dy[n,c] * xhat[n,c];  db[c] += sum_n dy[n,c]        (accumulated)
 *
 * The statistics are two passes in fp64 (the mean, then the squares around it): with a large
 * offset and a small spread, E[x^2] - mean^2 would cancel. y is formed from the stored fp32 mean and
 * rstd, the values the backward sees, so both use the same xhat.
 * Rows are independent and split among threads. dw and db are deterministic as rmsnorm's dw: each
 * thread owns a contiguous range of rows and fp64 partial rows [C]; after a barrier the partials are
 * added in thread order (same result for the same thread count).
 */
#include <immintrin.h>
#include <omp.h>

#include <cmath>
#include <vector>

#include "g4_cpu.h"
#include "g4_internal.h"
#include "g4_simd.h"

namespace {

// ---- forward, one row ---------------------------------------------------------------------

// mean and rstd from the fp64 sum and the fp64 sum of squares around the mean
inline void store_stats(float* mean, float* rstd, double mu, double ss, int C, float eps) {
  *mean = (float)mu;
  *rstd = (float)(1.0 / std::sqrt(ss / C + (double)eps));
}

void fwd_row_scalar(float* y, float* mean, float* rstd, const float* x, const float* w,
                    const float* b, int C, float eps) {
  double s = 0;
  for (int c = 0; c < C; c++) s += x[c];
  double mu = s / C, ss = 0;
  for (int c = 0; c < C; c++) ss += (x[c] - mu) * (x[c] - mu);
  store_stats(mean, rstd, mu, ss, C, eps);
  const float m = *mean, r = *rstd;
  for (int c = 0; c < C; c++) y[c] = (x[c] - m) * r * w[c] + b[c];
}

G4_AVX2 void fwd_row_avx2(float* y, float* mean, float* rstd, const float* x, const float* w,
                          const float* b, int C, float eps) {
  // pass 1: sum of x in fp64 lanes (a float lane sum of C/8 values near a large offset would
  // lose the digits that the variance is made of)
  __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
  int c = 0;
  for (; c + 8 <= C; c += 8) {
    __m256 v = _mm256_loadu_ps(x + c);
    s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
    s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
  }
  double s = g4::hsum4d(_mm256_add_pd(s0, s1));
  for (; c < C; c++) s += x[c];
  const double mu = s / C;
  // pass 2: sum of (x - mean)^2 in fp64 lanes
  const __m256d vmu = _mm256_set1_pd(mu);
  s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
  c = 0;
  for (; c + 8 <= C; c += 8) {
    __m256 v = _mm256_loadu_ps(x + c);
    __m256d d0 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)), vmu);
    __m256d d1 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)), vmu);
    s0 = _mm256_fmadd_pd(d0, d0, s0);
    s1 = _mm256_fmadd_pd(d1, d1, s1);
  }
  double ss = g4::hsum4d(_mm256_add_pd(s0, s1));
  for (; c < C; c++) ss += (x[c] - mu) * (x[c] - mu);
  store_stats(mean, rstd, mu, ss, C, eps);
  // pass 3: y = (x - mean) * rstd * w + b
  const float m = *mean, r = *rstd;
  const __m256 vm = _mm256_set1_ps(m), vr = _mm256_set1_ps(r);
  c = 0;
  for (; c + 8 <= C; c += 8) {
    __m256 xhat = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + c), vm), vr);
    _mm256_storeu_ps(y + c, _mm256_fmadd_ps(xhat, _mm256_loadu_ps(w + c), _mm256_loadu_ps(b + c)));
  }
  for (; c < C; c++) y[c] = (x[c] - m) * r * w[c] + b[c];
}

// ---- backward, one row: dx[0:C] += ..., dwp[0:C] += dy*xhat, dbp[0:C] += dy (fp64) ----------

void bwd_row_scalar(float* dx, double* dwp, double* dbp, const float* dy, const float* x,
                    const float* w, float mean, float rstd, int C) {
  double sg = 0, sgx = 0;  // sum_c g, sum_c g * xhat
  for (int c = 0; c < C; c++) {
    float xhat = (x[c] - mean) * rstd, g = dy[c] * w[c];
    sg += g;
    sgx += (double)g * xhat;
  }
  const float k1 = (float)(sg / C), k2 = (float)(sgx / C);
  for (int c = 0; c < C; c++) {
    float xhat = (x[c] - mean) * rstd, g = dy[c] * w[c];
    dx[c] += rstd * (g - k1 - xhat * k2);
    dwp[c] += (double)(dy[c] * xhat);
    dbp[c] += dy[c];
  }
}

// acc[0:8] += v widened to fp64 (lanes 0..3 and 4..7)
G4_AVX2 inline void add_wide(double* acc, __m256 v) {
  __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
  __m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
  _mm256_storeu_pd(acc, _mm256_add_pd(_mm256_loadu_pd(acc), lo));
  _mm256_storeu_pd(acc + 4, _mm256_add_pd(_mm256_loadu_pd(acc + 4), hi));
}

G4_AVX2 void bwd_row_avx2(float* dx, double* dwp, double* dbp, const float* dy, const float* x,
                          const float* w, float mean, float rstd, int C) {
  const __m256 vm = _mm256_set1_ps(mean), vr = _mm256_set1_ps(rstd);
  __m256 sg = _mm256_setzero_ps(), sgx = _mm256_setzero_ps();  // partial sums of g and g*xhat
  int c = 0;
  for (; c + 8 <= C; c += 8) {
    __m256 xhat = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + c), vm), vr);
    __m256 g = _mm256_mul_ps(_mm256_loadu_ps(dy + c), _mm256_loadu_ps(w + c));
    sg = _mm256_add_ps(sg, g);
    sgx = _mm256_fmadd_ps(g, xhat, sgx);
  }
  double dsg = g4::hsum8(sg), dsgx = g4::hsum8(sgx);
  for (; c < C; c++) {
    float xhat = (x[c] - mean) * rstd, g = dy[c] * w[c];
    dsg += g;
    dsgx += (double)g * xhat;
  }
  const float k1 = (float)(dsg / C), k2 = (float)(dsgx / C);
  const __m256 vk1 = _mm256_set1_ps(k1), vk2 = _mm256_set1_ps(k2);
  c = 0;
  for (; c + 8 <= C; c += 8) {
    __m256 vdy = _mm256_loadu_ps(dy + c);
    __m256 xhat = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + c), vm), vr);
    __m256 g = _mm256_mul_ps(vdy, _mm256_loadu_ps(w + c));
    // dx += rstd * (g - k1 - xhat*k2)
    __m256 t = _mm256_fnmadd_ps(xhat, vk2, _mm256_sub_ps(g, vk1));
    _mm256_storeu_ps(dx + c, _mm256_fmadd_ps(vr, t, _mm256_loadu_ps(dx + c)));
    add_wide(dwp + c, _mm256_mul_ps(vdy, xhat));
    add_wide(dbp + c, vdy);
  }
  for (; c < C; c++) {
    float xhat = (x[c] - mean) * rstd, g = dy[c] * w[c];
    dx[c] += rstd * (g - k1 - xhat * k2);
    dwp[c] += (double)(dy[c] * xhat);
    dbp[c] += dy[c];
  }
}

}  // namespace

extern "C" {

G4_API void g4_layernorm_fwd(float* y, float* mean, float* rstd, const float* x, const float* w,
                             const float* b, int N, int C, float eps) {
  if (N <= 0 || C <= 0) return;
  auto row = g4::use_avx2() ? fwd_row_avx2 : fwd_row_scalar;
  // row n: x[n, 0:C] -> y[n, 0:C], mean[n], rstd[n]
#pragma omp parallel for schedule(static) if ((int64_t)N * C >= (1 << 14)) num_threads(g4::threads())
  for (int n = 0; n < N; n++) {
    row(y + (int64_t)n * C, mean + n, rstd + n, x + (int64_t)n * C, w, b, C, eps);
  }
}

G4_API void g4_layernorm_bwd(float* dx, float* dw, float* db, const float* dy, const float* x,
                             const float* w, const float* mean, const float* rstd, int N, int C) {
  if (N <= 0 || C <= 0) return;
  auto row = g4::use_avx2() ? bwd_row_avx2 : bwd_row_scalar;
  int nt = (int64_t)N * C >= (1 << 14) ? g4::threads() : 1;
  if (nt > N) nt = N;
  std::vector<double> part((size_t)nt * 2 * C);  // per-thread [dw partial | db partial], [nt, 2C]
#pragma omp parallel num_threads(nt)
  {
    int team = omp_get_num_threads(), t = omp_get_thread_num();
    double* dwp = part.data() + (size_t)t * 2 * C;
    double* dbp = dwp + C;
    for (int c = 0; c < 2 * C; c++) dwp[c] = 0.0;
    // thread t owns rows [n0, n1) of N, contiguous
    int n0 = (int)((int64_t)N * t / team), n1 = (int)((int64_t)N * (t + 1) / team);
    for (int n = n0; n < n1; n++) {
      int64_t off = (int64_t)n * C;  // start of row n in [N, C]
      row(dx + off, dwp, dbp, dy + off, x + off, w, mean[n], rstd[n], C);
    }
#pragma omp barrier
    // dw[c] += sum over threads of part[u, c], db[c] likewise from part[u, C + c], threads in order
#pragma omp for schedule(static)
    for (int c = 0; c < C; c++) {
      double sw = 0, sb = 0;
      for (int u = 0; u < team; u++) {
        sw += part[(size_t)u * 2 * C + c];
        sb += part[(size_t)u * 2 * C + C + c];
      }
      dw[c] = (float)((double)dw[c] + sw);
      db[c] = (float)((double)db[c] + sb);
    }
  }
}

}  // extern "C"
