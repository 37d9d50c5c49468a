// layernorm.cu — LayerNorm (OPT), forward and backward, PyTorch semantics (biased variance, eps
// inside the square root).
//
//   x, y, dy, dx [N, C] BF16;  w, b [C] BF16;  mean, rstd [N] F32;  dw, db [C] F32;  math in fp32
//   forward:  mean[n] = sum_c x[n,c] / C;   rstd[n] = 1 / sqrt(sum_c (x[n,c] - mean[n])^2 / C + eps)
//             y[n,c]  = (x[n,c] - mean[n]) * rstd[n] * w[c] + b[c]                     (overwrite)
//   backward: xhat = (x - mean) * rstd,  g = dy * w  (per element of row n)
//             dx[n,c] += rstd[n] * (g - sum_c g / C - xhat * sum_c (g * xhat) / C)     (accumulate)
//             dw[c]   += sum_n dy[n,c] * xhat[n,c];   db[c] += sum_n dy[n,c]           (accumulate)
//
// layernorm_forward: grid (N), block (T, a multiple of 32, at most 1024): block n normalises row n
//   in three passes over the row (mean; variance around the mean, which unlike E[x^2] - mean^2
//   does not cancel; the output), the later ones reading the row from L1/L2.
// layernorm_backward: grid (G), block (T as above), dynamic shared memory 2 * C * 4 bytes.
//   Block g handles rows g, g+G, ...; dw and db are summed per block in shared memory (each
//   thread owns the same columns throughout, so no barriers) and added to dw, db with one
//   atomicAdd per column and block at the end: reproducible to rounding only (bit-exact when
//   G = 1); dx is bit-exact. Same 8-wide access rule as rmsnorm.cu.
#include "g4_vec.cuh"

G4_KERNEL void layernorm_forward(bf16* y, float* mean, float* rstd, const bf16* x, const bf16* w,
                                 const bf16* b, int N, int C, float eps) {
  __shared__ float scratch[32];
  const long long row = (long long)blockIdx.x * C;  // offset of x[n, 0] and y[n, 0]
  const bool vec = C % 8 == 0 && g4_aligned16(y, x, w, b);

  float s = 0.f;
  g4_row_loop(C, vec, [&](auto width, long long i) {
    constexpr int W = decltype(width)::value;
    float xv[W];
    g4_load(xv, x + row + i);
    for (int k = 0; k < W; k++) s += xv[k];
  });
  const float mu = g4_block_sum(s, scratch) / C;

  float ss = 0.f;
  g4_row_loop(C, vec, [&](auto width, long long i) {
    constexpr int W = decltype(width)::value;
    float xv[W];
    g4_load(xv, x + row + i);
    for (int k = 0; k < W; k++) ss += (xv[k] - mu) * (xv[k] - mu);
  });
  const float r = 1.f / sqrtf(g4_block_sum(ss, scratch) / C + eps);
  if (threadIdx.x == 0) {
    mean[blockIdx.x] = mu;
    rstd[blockIdx.x] = r;
  }

  g4_row_loop(C, vec, [&](auto width, long long i) {
    constexpr int W = decltype(width)::value;
    float xv[W], wv[W], bv[W], yv[W];
    g4_load(xv, x + row + i);
    g4_load(wv, w + i);
    g4_load(bv, b + i);
    for (int k = 0; k < W; k++) yv[k] = (xv[k] - mu) * r * wv[k] + bv[k];
    g4_store(y + row + i, yv);
  });
}
G4_EXPORT(layernorm_forward)

G4_KERNEL void layernorm_backward(bf16* dx, float* dw, float* db, const bf16* dy, const bf16* x,
                                  const bf16* w, const float* mean, const float* rstd, int N, int C) {
  __shared__ float scratch[32];
  G4_DYNAMIC_SMEM(float, part);  // [2, C]: this block's sums of dy * xhat (dw) and of dy (db)
  float* dw_part = part;
  float* db_part = part + C;
  const bool vec = C % 8 == 0 && g4_aligned16(dx, dy, x, w);

  g4_row_loop(C, vec, [&](auto width, long long i) {
    constexpr int W = decltype(width)::value;
    const float zero[W] = {};
    g4_store(dw_part + i, zero);
    g4_store(db_part + i, zero);
  });

  for (int n = blockIdx.x; n < N; n += gridDim.x) {
    const long long row = (long long)n * C;  // offset of x[n, 0], dy[n, 0], dx[n, 0]
    const float mu = mean[n], r = rstd[n];
    float sum_g = 0.f, sum_gx = 0.f;
    g4_row_loop(C, vec, [&](auto width, long long i) {
      constexpr int W = decltype(width)::value;
      float dyv[W], xv[W], wv[W], dwv[W], dbv[W];
      g4_load(dyv, dy + row + i);
      g4_load(xv, x + row + i);
      g4_load(wv, w + i);
      g4_load(dwv, dw_part + i);
      g4_load(dbv, db_part + i);
      for (int k = 0; k < W; k++) {
        const float xhat = (xv[k] - mu) * r, g = dyv[k] * wv[k];
        sum_g += g;
        sum_gx += g * xhat;
        dwv[k] += dyv[k] * xhat;
        dbv[k] += dyv[k];
      }
      g4_store(dw_part + i, dwv);
      g4_store(db_part + i, dbv);
    });
    const float mean_g = g4_block_sum(sum_g, scratch) / C;
    const float mean_gx = g4_block_sum(sum_gx, scratch) / C;

    g4_row_loop(C, vec, [&](auto width, long long i) {
      constexpr int W = decltype(width)::value;
      float dyv[W], xv[W], wv[W], dxv[W];
      g4_load(dyv, dy + row + i);
      g4_load(xv, x + row + i);
      g4_load(wv, w + i);
      g4_load(dxv, dx + row + i);
      for (int k = 0; k < W; k++) {
        const float xhat = (xv[k] - mu) * r;
        dxv[k] += r * (dyv[k] * wv[k] - mean_g - xhat * mean_gx);
      }
      g4_store(dx + row + i, dxv);
    });
  }

  g4_row_loop(C, vec, [&](auto width, long long i) {
    constexpr int W = decltype(width)::value;
    for (int k = 0; k < W; k++) {
      atomicAdd(dw + i + k, dw_part[i + k]);
      atomicAdd(db + i + k, db_part[i + k]);
    }
  });
}
G4_EXPORT(layernorm_backward)
