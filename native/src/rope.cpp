/*
 * Rotary position embedding, Hugging Face rotate_half convention: x [N,H,D] in place, pos [N].
 * Each head vector is split into halves x1 = x[0:D/2], x2 = x[D/2:D]; pair i (i < D/2) is
 * (x1[i], x2[i]) and rotates by the angle a = pos * inv_freq[i].
 *
 *   inv_freq[i] = 1 / theta^(2i/D)       computed in fp32 as HF's LlamaRotaryEmbedding does:
 *                                         e = (float)(2i) / (float)D, p = theta^e rounded to
 *                                         fp32, inv_freq = 1.0f / p. Here p is correctly rounded;
 *                                         libtorch's vectorised pow is within one ulp of it and
 *                                         differs for a few (D, i), e.g. D=96, i=20, theta=1e4.
 *   a           = (float)pos * inv_freq[i]   (fp32 product), cos a and sin a rounded to fp32
 *   fwd: x1' = x1 cos a - x2 sin a,   x2' = x2 cos a + x1 sin a      (x * cos + rotate_half(x) * sin)
 *   bwd: the transpose (rotation by -a), applied to the gradient in place:
 *        d1' = d1 cos a + d2 sin a,   d2' = d2 cos a - d1 sin a
 *
 * Rows n are split among threads; a row computes its D/2 (cos, sin) pairs once and applies them
 * to its H heads. Where rows repeat positions (a training batch: every sequence at 0 .. T-1), the
 * pairs of each position 0 .. max are computed once per call instead, the same values.
 */
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "g4_cpu.h"
#include "g4_internal.h"

namespace {

// inv[0:D/2] of the header comment
void inv_freq(float* inv, int D, float theta) {
  for (int i = 0; i < D / 2; i++) {
    float e = (float)(2 * i) / (float)D;
    float p = (float)std::pow((double)theta, (double)e);  // theta^e in fp64, rounded once
    inv[i] = 1.0f / p;
  }
}

// cs[0:half] = cos, cs[half:2*half] = sin of the row's angles; sign -1 gives the inverse rotation
void angles(float* cs, const float* inv, int half, int32_t pos, float sign) {
  for (int i = 0; i < half; i++) {
    float a = (float)pos * inv[i];
    cs[i] = (float)std::cos((double)a);
    cs[half + i] = sign * (float)std::sin((double)a);
  }
}

// one head vector v[0:2*half]: (v1, v2) <- (v1 c - v2 s, v2 c + v1 s)
void rotate_scalar(float* v, const float* cs, int half) {
  const float* c = cs;
  const float* s = cs + half;
  for (int i = 0; i < half; i++) {
    float x1 = v[i], x2 = v[half + i];
    v[i] = x1 * c[i] - x2 * s[i];
    v[half + i] = x2 * c[i] + x1 * s[i];
  }
}

G4_AVX2 void rotate_avx2(float* v, const float* cs, int half) {
  const float* c = cs;
  const float* s = cs + half;
  int i = 0;
  for (; i + 8 <= half; i += 8) {
    __m256 x1 = _mm256_loadu_ps(v + i), x2 = _mm256_loadu_ps(v + half + i);
    __m256 vc = _mm256_loadu_ps(c + i), vs = _mm256_loadu_ps(s + i);
    _mm256_storeu_ps(v + i, _mm256_fmsub_ps(x1, vc, _mm256_mul_ps(x2, vs)));
    _mm256_storeu_ps(v + half + i, _mm256_fmadd_ps(x2, vc, _mm256_mul_ps(x1, vs)));
  }
  for (; i < half; i++) {
    float x1 = v[i], x2 = v[half + i];
    v[i] = x1 * c[i] - x2 * s[i];
    v[half + i] = x2 * c[i] + x1 * s[i];
  }
}

// rotates every head of every row of x [N,H,D] by sign * a
void rope(float* x, const int32_t* pos, int N, int H, int D, float theta, float sign) {
  if (N <= 0 || H <= 0 || D < 2) return;
  int half = D / 2;
  std::vector<float> inv(half);
  inv_freq(inv.data(), D, theta);
  auto rot = g4::use_avx2() ? rotate_avx2 : rotate_scalar;
  // the heads of row n by cs, the row's [cos | sin] of D floats
  auto apply = [&](const float* cs, int n) {
    float* row = x + (int64_t)n * H * D;  // x[n, :, :]
    for (int h = 0; h < H; h++) rot(row + (int64_t)h * D, cs, half);  // x[n, h, 0:D]
  };
  // row n, its angles computed into the buffer cs
  auto rotate_row = [&](float* cs, int n) {
    angles(cs, inv.data(), half, pos[n], sign);
    apply(cs, n);
  };
  if ((int64_t)N * H * D < (1 << 14)) {
    // a decode step's few rows: no OpenMP region at all (even an if(false) one costs more than they do)
    std::vector<float> cs(2 * (size_t)half);
    for (int n = 0; n < N; n++) rotate_row(cs.data(), n);
    return;
  }
  int32_t lo = pos[0], hi = pos[0];
  for (int n = 1; n < N; n++) {
    lo = std::min(lo, pos[n]);
    hi = std::max(hi, pos[n]);
  }
  if (lo >= 0 && hi < N / 2) {
    // positions repeat: a table of [cos | sin] per position 0 .. hi, then every row reads its own
    std::vector<float> table((size_t)(hi + 1) * 2 * half);
#pragma omp parallel num_threads(g4::threads())
    {
#pragma omp for schedule(static)
      for (int p = 0; p <= hi; p++) angles(table.data() + (size_t)p * 2 * half, inv.data(), half, p, sign);
#pragma omp for schedule(static)
      for (int n = 0; n < N; n++) apply(table.data() + (size_t)pos[n] * 2 * half, n);
    }
    return;
  }
#pragma omp parallel num_threads(g4::threads())
  {
    std::vector<float> cs(2 * (size_t)half);  // this thread's [cos | sin] of one row
#pragma omp for schedule(static)
    for (int n = 0; n < N; n++) rotate_row(cs.data(), n);
  }
}

}  // namespace

extern "C" {

G4_API void g4_rope_fwd(float* x, const int32_t* pos, int N, int H, int D, float theta) {
  rope(x, pos, N, H, D, theta, 1.0f);
}

G4_API void g4_rope_bwd(float* dx, const int32_t* pos, int N, int H, int D, float theta) {
  rope(dx, pos, N, H, D, theta, -1.0f);
}

}  // extern "C"
