/*
 * RMSNorm (LLaMA): x [N,C], w [C], rstd [N]
 *
 *   fwd: rstd[n] = 1 / sqrt(mean_c x[n,c]^2 + eps)
 *        y[n,c]  = (x[n,c] * rstd[n]) * w[c]                               (y overwritten)
 *   bwd: with g[c] = w[c] * dy[n,c] and dot[n] = sum_c g[c] * x[n,c]:
 *        dx[n,c] += rstd[n] * g[c] - x[n,c] * rstd[n]^3 / C * dot[n]       (accumulated)
 *        dw[c]   += sum_n dy[n,c] * x[n,c] * rstd[n]                       (accumulated)
 *
 * Rows are independent and split among threads. The dw sum over rows is deterministic: each thread
 * owns a contiguous range of rows and an fp64 partial row [C]; after a barrier the partials are
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

void fwd_row_scalar(float* y, float* rstd, const float* x, const float* w, int C, float eps) {
  double ss = 0;
  for (int c = 0; c < C; c++) ss += (double)x[c] * x[c];
  float r = (float)(1.0 / std::sqrt(ss / C + (double)eps));
  *rstd = r;
  for (int c = 0; c < C; c++) y[c] = (x[c] * r) * w[c];
}

G4_AVX2 void fwd_row_avx2(float* y, float* rstd, const float* x, const float* w, int C, float eps) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();  // two 8-lane partial sums of x^2
  int c = 0;
  for (; c + 16 <= C; c += 16) {
    __m256 a = _mm256_loadu_ps(x + c), b = _mm256_loadu_ps(x + c + 8);
    s0 = _mm256_fmadd_ps(a, a, s0);
    s1 = _mm256_fmadd_ps(b, b, s1);
  }
  double ss = g4::hsum8(_mm256_add_ps(s0, s1));
  for (; c < C; c++) ss += (double)x[c] * x[c];
  float r = (float)(1.0 / std::sqrt(ss / C + (double)eps));
  *rstd = r;
  const __m256 vr = _mm256_set1_ps(r);
  c = 0;
  for (; c + 8 <= C; c += 8) {
    __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + c), vr);
    _mm256_storeu_ps(y + c, _mm256_mul_ps(v, _mm256_loadu_ps(w + c)));
  }
  for (; c < C; c++) y[c] = (x[c] * r) * w[c];
}

// ---- backward, one row: dx[0:C] += ..., dwp[0:C] += dy*x*rstd (fp64) ----------------------

void bwd_row_scalar(float* dx, double* dwp, const float* dy, const float* x, const float* w,
                    float rstd, int C) {
  double dot = 0;
  for (int c = 0; c < C; c++) dot += (double)(w[c] * dy[c]) * x[c];
  float k = (float)((double)rstd * rstd * rstd * dot / C);  // rstd^3 / C * dot
  for (int c = 0; c < C; c++) {
    dx[c] += rstd * (w[c] * dy[c]) - x[c] * k;
    dwp[c] += (double)(dy[c] * x[c] * rstd);
  }
}

G4_AVX2 void bwd_row_avx2(float* dx, double* dwp, const float* dy, const float* x, const float* w,
                          float rstd, int C) {
  __m256 d0 = _mm256_setzero_ps(), d1 = _mm256_setzero_ps();  // partial sums of w*dy*x
  int c = 0;
  for (; c + 16 <= C; c += 16) {
    __m256 g0 = _mm256_mul_ps(_mm256_loadu_ps(w + c), _mm256_loadu_ps(dy + c));
    __m256 g1 = _mm256_mul_ps(_mm256_loadu_ps(w + c + 8), _mm256_loadu_ps(dy + c + 8));
    d0 = _mm256_fmadd_ps(g0, _mm256_loadu_ps(x + c), d0);
    d1 = _mm256_fmadd_ps(g1, _mm256_loadu_ps(x + c + 8), d1);
  }
  double dot = g4::hsum8(_mm256_add_ps(d0, d1));
  for (; c < C; c++) dot += (double)(w[c] * dy[c]) * x[c];
  float k = (float)((double)rstd * rstd * rstd * dot / C);
  const __m256 vr = _mm256_set1_ps(rstd), vk = _mm256_set1_ps(k);
  c = 0;
  for (; c + 8 <= C; c += 8) {
    __m256 vdy = _mm256_loadu_ps(dy + c), vx = _mm256_loadu_ps(x + c);
    __m256 g = _mm256_mul_ps(_mm256_loadu_ps(w + c), vdy);
    // dx += rstd*g - x*k
    __m256 t = _mm256_fnmadd_ps(vx, vk, _mm256_mul_ps(vr, g));
    _mm256_storeu_ps(dx + c, _mm256_add_ps(_mm256_loadu_ps(dx + c), t));
    // dwp += (dy*x*rstd) widened to fp64, lanes 0..3 and 4..7
    __m256 p = _mm256_mul_ps(_mm256_mul_ps(vdy, vx), vr);
    __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(p));
    __m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(p, 1));
    _mm256_storeu_pd(dwp + c, _mm256_add_pd(_mm256_loadu_pd(dwp + c), lo));
    _mm256_storeu_pd(dwp + c + 4, _mm256_add_pd(_mm256_loadu_pd(dwp + c + 4), hi));
  }
  for (; c < C; c++) {
    dx[c] += rstd * (w[c] * dy[c]) - x[c] * k;
    dwp[c] += (double)(dy[c] * x[c] * rstd);
  }
}

}  // namespace

extern "C" {

G4_API void g4_rmsnorm_fwd(float* y, float* rstd, const float* x, const float* w, int N, int C,
                           float eps) {
  if (N <= 0 || C <= 0) return;
  auto row = g4::use_avx2() ? fwd_row_avx2 : fwd_row_scalar;
  // row n: x[n, 0:C] -> y[n, 0:C], rstd[n]; a decode step's few rows skip the OpenMP region
  // altogether (even an if(false) region costs more than normalising them)
  if ((int64_t)N * C < (1 << 14)) {
    for (int n = 0; n < N; n++) row(y + (int64_t)n * C, rstd + n, x + (int64_t)n * C, w, C, eps);
    return;
  }
#pragma omp parallel for schedule(static) num_threads(g4::threads())
  for (int n = 0; n < N; n++) {
    row(y + (int64_t)n * C, rstd + n, x + (int64_t)n * C, w, C, eps);
  }
}

G4_API void g4_rmsnorm_bwd(float* dx, float* dw, const float* dy, const float* x, const float* w,
                           const float* rstd, int N, int C) {
  if (N <= 0 || C <= 0) return;
  auto row = g4::use_avx2() ? bwd_row_avx2 : bwd_row_scalar;
  int nt = (int64_t)N * C >= (1 << 14) ? g4::threads() : 1;
  if (nt > N) nt = N;
  std::vector<double> part((size_t)nt * C);  // per-thread dw partials [nt, C]
#pragma omp parallel num_threads(nt)
  {
    int team = omp_get_num_threads(), t = omp_get_thread_num();
    double* dwp = part.data() + (size_t)t * C;
    for (int c = 0; c < C; c++) dwp[c] = 0.0;
    // thread t owns rows [n0, n1) of N, contiguous
    int n0 = (int)((int64_t)N * t / team), n1 = (int)((int64_t)N * (t + 1) / team);
    for (int n = n0; n < n1; n++) {
      int64_t off = (int64_t)n * C;  // start of row n in [N, C]
      row(dx + off, dwp, dy + off, x + off, w, rstd[n], C);
    }
#pragma omp barrier
    // dw[c] += sum over threads of part[t, c], threads in order
#pragma omp for schedule(static)
    for (int c = 0; c < C; c++) {
      double s = 0;
      for (int u = 0; u < team; u++) s += part[(size_t)u * C + c];
      dw[c] = (float)((double)dw[c] + s);
    }
  }
}

}  // extern "C"
