// lora.cu — the LoRA adapter path, forward and backward:  y += scale * (dropout(x) Aᵀ) Bᵀ
//
//   x   BF16 [N, in]    A BF16 [r, in]    B BF16 [out, r]    scale = alpha / r    1 <= r <= 64
//   y   BF16 [N, out]   += (the frozen base layer's output is already there)
//   t   F32  [N, r]     overwrite: dropout(x) Aᵀ, unscaled, saved for the backward
// backward, from dy BF16 [N, out]:
//   dt  F32  [N, r]     overwrite (a workspace): scale * dy B
//   dx  BF16 [N, in]    += mask ⊙ (dt A)                  (NULL: not computed)
//   dB  F32  [out, r]   += scale * dyᵀ t
//   dA  F32  [r, in]    += dtᵀ dropout(x)
// fp32 accumulation throughout; bf16 only where a tensor is stored as bf16.
//
// Dropout is PEFT's lora_dropout on the adapter's input, inverted: element (row, col) of x is kept
// iff u(seed, row, col) >= p and a kept element is multiplied by 1/(1-p) (fp32). u comes from a
// counter-based hash, so the backward regenerates the mask instead of storing it:
//   z = seed + ((row << 32 | col) + 1) * 0x9E3779B97F4A7C15           (uint64, wrapping)
//   z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
//   z = (z ^ (z >> 27)) * 0x94D049BB133111EB
//   z = z ^ (z >> 31)                                                (SplitMix64's finaliser)
//   u = (z >> 40) * 2^-24                                            (24 bits: exact in fp32)
// with row the row of x in [0, N) and col in [0, in). p = 0 keeps everything without hashing.
// The caller draws a fresh seed per layer and step: either `seed` itself, or, when `step_seed` is
// not NULL, the adapter's seed derived on the device from the step's seed (a long long in device
// memory, so that a step captured into a CUDA graph replays with each step's masks):
//   seed = finaliser(*step_seed + (adapter + 1) * 0x9E3779B97F4A7C15)     (LoraDropout.adapterSeed)
// the same hash as the mask's with row 0 and col = adapter.
//
// Geometry shared by all four kernels: block (256) seen as 16x16 threads, tx = tid % 16,
// ty = tid / 16; a block tile is 64 "rows" by up to 64 "columns", thread (tx, ty) owning rows
// ty + 16i (i < 4) and columns tx + 16j (j < 4), so a warp's column reads hit 16 consecutive
// floats or bf16 (conflict-free in shared memory, one 32-byte sector per row in global memory).
// Operands are staged through shared memory as fp32 [depth][64 + 1] panels (static: 33,280 bytes
// in the forward and dx kernels, 16,640 in dB and dA; no dynamic shared memory). The rank is
// padded to rp = 16 * ceil(r/16) with zeros.
//   lora_forward      grid (ceil(N/64)): 64 rows of x per block
//     phase 1: t tile [64, rp] = dropout(x) Aᵀ, in steps of 32 along `in`; written to t
//     phase 2: for each 64 columns of out: y tile += scale * t_tile Bᵀ (t stays in shared memory)
//   lora_backward_dx  grid (ceil(N/64)): phase 1 with dy and B gives dt = scale * dy B (written to
//                     dt); phase 2 with A gives dx += mask ⊙ (dt A)
//   lora_backward_dB  grid (ceil(out/64)): dB[c0:c0+64, :] += scale * Σ_n dy[n, c] t[n, :]
//   lora_backward_dA  grid (ceil(in/64)):  dA[:, c0:c0+64] += Σ_n dt[n, :] dropout(x)[n, c]
// dB and dA walk all N rows in each block (steps of 32) rather than splitting N with atomics: the
// result is deterministic, at the price of fewer blocks (out/64, in/64) when N is large.
// Order of the backward: lora_backward_dx first (it writes dt), then dA and dB in any order.
#include "g4_cuda.cuh"

#define LORA_TILE 64             // rows and columns of a block tile
#define LORA_BK 32               // depth of one shared-memory step over a long dimension
#define LORA_LD (LORA_TILE + 1)  // row length of a shared panel (the +1 keeps transposed stores conflict-free)

// SplitMix64's finaliser of seed + (counter + 1) * golden ratio
G4_DEVICE unsigned long long lora_mix(unsigned long long seed, unsigned long long counter) {
  unsigned long long z = seed + (counter + 1ull) * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

G4_DEVICE float lora_dropout_scale(unsigned long long seed, int row, int col, float p) {
  if (p == 0.f) return 1.f;
  const unsigned long long z = lora_mix(seed, ((unsigned long long)row << 32) | (unsigned int)col);
  const float u = (float)(z >> 40) * (1.f / 16777216.f);
  return u >= p ? 1.f / (1.f - p) : 0.f;
}

// the mask seed of one launch: `seed`, or adapter `adapter`'s seed of the step seed in device memory
G4_DEVICE unsigned long long lora_seed(long long seed, const long long* step_seed, int adapter) {
  if (step_seed == nullptr) return (unsigned long long)seed;
  return lora_mix((unsigned long long)step_seed[0], (unsigned long long)(unsigned int)adapter);
}

// acc[i][j] += a[k][ty + 16i] * b[k][tx + 16j] over k < depth, j < NJ; a and b are [depth][LORA_LD]
template <int NJ>
G4_DEVICE void lora_tile_fma(float (&acc)[4][4], const float* a, const float* b, int depth, int tx,
                             int ty) {
  for (int k = 0; k < depth; k++) {
    float av[4], bv[NJ];
#pragma unroll
    for (int i = 0; i < 4; i++) av[i] = a[k * LORA_LD + ty + 16 * i];
#pragma unroll
    for (int j = 0; j < NJ; j++) bv[j] = b[k * LORA_LD + tx + 16 * j];
#pragma unroll
    for (int i = 0; i < 4; i++) {
#pragma unroll
      for (int j = 0; j < NJ; j++) acc[i][j] += av[i] * bv[j];
    }
  }
}

// the same with the column count nj = rp / 16 known only at run time
G4_DEVICE void lora_tile_fma_n(float (&acc)[4][4], const float* a, const float* b, int depth, int nj,
                               int tx, int ty) {
  switch (nj) {
    case 1: lora_tile_fma<1>(acc, a, b, depth, tx, ty); break;
    case 2: lora_tile_fma<2>(acc, a, b, depth, tx, ty); break;
    case 3: lora_tile_fma<3>(acc, a, b, depth, tx, ty); break;
    default: lora_tile_fma<4>(acc, a, b, depth, tx, ty); break;
  }
}

// Phase 1 of the row kernels. acc (rows row0 + ty + 16i, rank columns tx + 16j) =
//   Σ_{k < K} X'[row, k] W(c, k),  X [N, K] bf16 (X' = X with dropout when p > 0),
//   W(c, k) = W[c * wc + k * wk] for c < r (bf16; A is wc = in, wk = 1, B is wc = 1, wk = r).
// Then the tile goes to out [N, r] as fp32 times s, and to shared memory as panel [rp][LORA_LD]
// (rank-major, for phase 2), which the function returns with the block synchronised.
G4_DEVICE float* lora_rows_by_rank(float* smem, float* out, float s, const bf16* X, int N, int K,
                                   const bf16* W, long long wc, long long wk, int r, float p,
                                   unsigned long long seed) {
  const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
  const int row0 = blockIdx.x * LORA_TILE, nj = (r + 15) / 16;
  float* xs = smem;                       // [LORA_BK][LORA_LD]: X'[row0 + row, k0 + k] at [k][row]
  float* ws = smem + LORA_BK * LORA_LD;   // [LORA_BK][LORA_LD]: W(c, k0 + k) at [k][c]
  float acc[4][4] = {};
  for (int k0 = 0; k0 < K; k0 += LORA_BK) {
    __syncthreads();  // the previous step's panels have been read
    for (int e = tid; e < LORA_TILE * LORA_BK; e += blockDim.x) {
      const int row = e / LORA_BK, k = e % LORA_BK;  // a warp reads 32 consecutive k of one row
      const int gr = row0 + row, gk = k0 + k;
      float v = 0.f;
      if (gr < N && gk < K) v = __bfloat162float(X[(long long)gr * K + gk]) * lora_dropout_scale(seed, gr, gk, p);
      xs[k * LORA_LD + row] = v;
    }
    for (int e = tid; e < 16 * nj * LORA_BK; e += blockDim.x) {
      const int c = e / LORA_BK, k = e % LORA_BK;
      ws[k * LORA_LD + c] = c < r && k0 + k < K ? __bfloat162float(W[c * wc + (k0 + k) * wk]) : 0.f;
    }
    __syncthreads();
    lora_tile_fma_n(acc, xs, ws, LORA_BK, nj, tx, ty);
  }
  __syncthreads();  // every thread is done with xs/ws before the panel overwrites them
  float* panel = smem;  // [rp][LORA_LD]: tile (row, c) at [c][row]; columns c >= r hold zeros
#pragma unroll
  for (int i = 0; i < 4; i++) {
    const int row = ty + 16 * i;
#pragma unroll
    for (int j = 0; j < 4; j++) {
      const int c = tx + 16 * j;
      if (j >= nj) break;
      panel[c * LORA_LD + row] = acc[i][j] * s;
      if (row0 + row < N && c < r) out[(long long)(row0 + row) * r + c] = acc[i][j] * s;
    }
  }
  __syncthreads();
  return panel;
}

// Phase 2 of the row kernels. For the block's 64 rows and every column c < C:
//   Y[row, c] += f(row, c) * Σ_{k < r} panel[k][row] W(c, k),  W(c, k) = W[c * wc + k * wk]
// with f = s * (the dropout mask at (row, c) when p > 0). Y [N, C] bf16.
G4_DEVICE void lora_rank_to_cols(float* smem, const float* panel, bf16* Y, int N, int C,
                                 const bf16* W, long long wc, long long wk, int r, float s, float p,
                                 unsigned long long seed) {
  const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
  const int row0 = blockIdx.x * LORA_TILE;
  float* ws = smem + LORA_TILE * LORA_LD;  // [r][LORA_LD]: W(c0 + c, k) at [k][c]
  for (int c0 = 0; c0 < C; c0 += LORA_TILE) {
    __syncthreads();  // the previous column tile's ws has been read
    for (int e = tid; e < r * LORA_TILE; e += blockDim.x) {
      const int k = e / LORA_TILE, c = e % LORA_TILE;
      ws[k * LORA_LD + c] = c0 + c < C ? __bfloat162float(W[(c0 + c) * wc + k * wk]) : 0.f;
    }
    __syncthreads();
    float acc[4][4] = {};
    lora_tile_fma<4>(acc, panel, ws, r, tx, ty);
#pragma unroll
    for (int i = 0; i < 4; i++) {
      const int row = row0 + ty + 16 * i;
      if (row >= N) break;
#pragma unroll
      for (int j = 0; j < 4; j++) {
        const int c = c0 + tx + 16 * j;
        if (c >= C) break;
        bf16* y = Y + (long long)row * C + c;
        *y = __float2bfloat16(__bfloat162float(*y) + s * lora_dropout_scale(seed, row, c, p) * acc[i][j]);
      }
    }
  }
}

G4_KERNEL void lora_forward(bf16* y, float* t, const bf16* x, const bf16* A, const bf16* B, int N,
                            int in, int out, int r, float scale, float p, long long seed,
                            const long long* step_seed, int adapter) {
  __shared__ float smem[2 * LORA_TILE * LORA_LD];
  const float* panel = lora_rows_by_rank(smem, t, 1.f, x, N, in, A, in, 1, r, p, lora_seed(seed, step_seed, adapter));
  lora_rank_to_cols(smem, panel, y, N, out, B, r, 1, r, scale, 0.f, 0);
}
G4_EXPORT(lora_forward)

G4_KERNEL void lora_backward_dx(bf16* dx, float* dt, const bf16* dy, const bf16* A, const bf16* B,
                                int N, int in, int out, int r, float scale, float p, long long seed,
                                const long long* step_seed, int adapter) {
  __shared__ float smem[2 * LORA_TILE * LORA_LD];
  const float* panel = lora_rows_by_rank(smem, dt, scale, dy, N, out, B, 1, r, r, 0.f, 0);
  if (dx != nullptr) lora_rank_to_cols(smem, panel, dx, N, in, A, 1, in, r, 1.f, p, lora_seed(seed, step_seed, adapter));
}
G4_EXPORT(lora_backward_dx)

// G(c, k) += s * Σ_n X'[n, c] T[n, k] for the block's 64 columns c of X [N, C] (bf16, dropout
// when p > 0) and all k < r of T [N, r] (fp32); G(c, k) = G[c * gc + k * gk].
G4_DEVICE void lora_weight_grad(float* smem, float* G, long long gc, long long gk, const bf16* X,
                                const float* T, int N, int C, int r, float s, float p,
                                unsigned long long seed) {
  const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
  const int c0 = blockIdx.x * LORA_TILE, nj = (r + 15) / 16;
  float* xs = smem;                      // [LORA_BK][LORA_LD]: X'[n0 + n, c0 + c] at [n][c]
  float* ts = smem + LORA_BK * LORA_LD;  // [LORA_BK][LORA_LD]: T[n0 + n, k] at [n][k]
  float acc[4][4] = {};
  for (int n0 = 0; n0 < N; n0 += LORA_BK) {
    __syncthreads();
    for (int e = tid; e < LORA_BK * LORA_TILE; e += blockDim.x) {
      const int n = e / LORA_TILE, c = e % LORA_TILE;  // a warp reads 32 consecutive columns
      const int gn = n0 + n, gc = c0 + c;
      float v = 0.f;
      if (gn < N && gc < C) v = __bfloat162float(X[(long long)gn * C + gc]) * lora_dropout_scale(seed, gn, gc, p);
      xs[n * LORA_LD + c] = v;
    }
    for (int e = tid; e < LORA_BK * LORA_TILE; e += blockDim.x) {
      const int n = e / LORA_TILE, k = e % LORA_TILE;
      ts[n * LORA_LD + k] = n0 + n < N && k < r ? T[(long long)(n0 + n) * r + k] : 0.f;
    }
    __syncthreads();
    lora_tile_fma_n(acc, xs, ts, LORA_BK, nj, tx, ty);
  }
#pragma unroll
  for (int i = 0; i < 4; i++) {
    const int c = c0 + ty + 16 * i;
    if (c >= C) break;
#pragma unroll
    for (int j = 0; j < 4; j++) {
      const int k = tx + 16 * j;
      if (k >= r) break;
      G[c * gc + k * gk] += s * acc[i][j];
    }
  }
}

G4_KERNEL void lora_backward_dB(float* dB, const bf16* dy, const float* t, int N, int out, int r,
                                float scale) {
  __shared__ float smem[2 * LORA_BK * LORA_LD];
  lora_weight_grad(smem, dB, r, 1, dy, t, N, out, r, scale, 0.f, 0);
}
G4_EXPORT(lora_backward_dB)

G4_KERNEL void lora_backward_dA(float* dA, const float* dt, const bf16* x, int N, int in, int r,
                                float p, long long seed, const long long* step_seed, int adapter) {
  __shared__ float smem[2 * LORA_BK * LORA_LD];
  lora_weight_grad(smem, dA, 1, in, x, dt, N, in, r, 1.f, p, lora_seed(seed, step_seed, adapter));
}
G4_EXPORT(lora_backward_dA)
