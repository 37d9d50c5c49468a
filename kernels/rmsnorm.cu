// rmsnorm.cu — RMSNorm (LLaMA), forward and backward.
//
//   x, y, dy, dx [N, C] BF16;  w [C] BF16;  rstd [N] F32;  dw [C] F32;  all math in fp32
//   forward:  rstd[n] = 1 / sqrt(mean_c x[n,c]^2 + eps);   y[n,c] = x[n,c] * rstd[n] * w[c]  (overwrite)
//   backward: dot[n]   = sum_c w[c] dy[n,c] x[n,c]
//             dx[n,c] += rstd[n] w[c] dy[n,c] - x[n,c] rstd[n]^3 dot[n] / C               (accumulate)
//             dw[c]   += sum_n dy[n,c] x[n,c] rstd[n]                                    (accumulate)
//
// rmsnorm_forward: grid (N), block (T, a multiple of 32, at most 1024): block n normalises row n.
//   Pass 1 sums squares (block reduction), pass 2 re-reads the row (now in L1/L2) and writes y.
// rmsnorm_backward: grid (G), block (T as above), dynamic shared memory C * 4 bytes.
//   Block g handles rows g, g+G, g+2G, ...; for each it reduces dot over the block, then updates dx.
//   dw: each block sums its rows' dy*x*rstd into a per-block partial in shared memory (no
//   barriers needed: a thread always owns the same columns), then adds the partial to dw with one
//   atomicAdd per column: G*C atomics instead of N*C. The order of those G additions varies from
//   run to run, so dw is reproducible to rounding only (bit-exact when G = 1); dx is bit-exact.
//   Rows are visited 8 elements per access when rows are 16-byte aligned (C % 8 == 0 and aligned
//   bases), else one at a time.
#include "g4_vec.cuh"

G4_KERNEL void rmsnorm_forward(bf16* y, float* rstd, const bf16* x, const bf16* w, int N, int C, float eps) {
  __shared__ float scratch[32];
  const long long row = (long long)blockIdx.x * C;  // offset of x[n, 0] and y[n, 0]
  const bool vec = C % 8 == 0 && g4_aligned16(y, x, w);

  float ss = 0.f;
  g4_row_loop(C, vec, [&](auto width, long long i) {
    constexpr int W = decltype(width)::value;
    float xv[W];
    g4_load(xv, x + row + i);
    for (int k = 0; k < W; k++) ss += xv[k] * xv[k];
  });
  const float r = 1.f / sqrtf(g4_block_sum(ss, scratch) / C + eps);
  if (threadIdx.x == 0) rstd[blockIdx.x] = r;

  g4_row_loop(C, vec, [&](auto width, long long i) {
    constexpr int W = decltype(width)::value;
    float xv[W], wv[W], yv[W];
    g4_load(xv, x + row + i);
    g4_load(wv, w + i);
    for (int k = 0; k < W; k++) yv[k] = xv[k] * r * wv[k];
    g4_store(y + row + i, yv);
  });
}
G4_EXPORT(rmsnorm_forward)

G4_KERNEL void rmsnorm_backward(bf16* dx, float* dw, const bf16* dy, const bf16* x, const bf16* w,
                                const float* rstd, int N, int C) {
  __shared__ float scratch[32];
  G4_DYNAMIC_SMEM(float, dw_part);  // [C]: this block's sum over its rows of dy * x * rstd
  const bool vec = C % 8 == 0 && g4_aligned16(dx, dy, x, w);

  g4_row_loop(C, vec, [&](auto width, long long i) {
    constexpr int W = decltype(width)::value;
    const float zero[W] = {};
    g4_store(dw_part + i, zero);
  });

  for (int n = blockIdx.x; n < N; n += gridDim.x) {
    const long long row = (long long)n * C;  // offset of x[n, 0], dy[n, 0], dx[n, 0]
    const float r = rstd[n];
    float dot = 0.f;
    g4_row_loop(C, vec, [&](auto width, long long i) {
      constexpr int W = decltype(width)::value;
      float dyv[W], xv[W], wv[W], part[W];
      g4_load(dyv, dy + row + i);
      g4_load(xv, x + row + i);
      g4_load(wv, w + i);
      g4_load(part, dw_part + i);
      for (int k = 0; k < W; k++) {
        dot += wv[k] * dyv[k] * xv[k];
        part[k] += dyv[k] * xv[k] * r;
      }
      g4_store(dw_part + i, part);
    });
    const float c = r * r * r * g4_block_sum(dot, scratch) / C;

    g4_row_loop(C, vec, [&](auto width, long long i) {
      constexpr int W = decltype(width)::value;
      float dyv[W], xv[W], wv[W], dxv[W];
      g4_load(dyv, dy + row + i);
      g4_load(xv, x + row + i);
      g4_load(wv, w + i);
      g4_load(dxv, dx + row + i);
      for (int k = 0; k < W; k++) dxv[k] += r * wv[k] * dyv[k] - xv[k] * c;
      g4_store(dx + row + i, dxv);
    });
  }

  g4_row_loop(C, vec, [&](auto width, long long i) {
    constexpr int W = decltype(width)::value;
    for (int k = 0; k < W; k++) atomicAdd(dw + i + k, dw_part[i + k]);
  });
}
G4_EXPORT(rmsnorm_backward)
