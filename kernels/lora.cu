// lora.cu — the element-wise kernels around the GEMMs of the LoRA adapter path
//   y += scale * (dropout(x) Aᵀ) Bᵀ
//
//   x   BF16 [N, in]    A BF16 [r, in]    B BF16 [out, r]    scale = alpha / r    any r >= 1
//   y   BF16 [N, out]   += (the frozen base layer's output is already there)
//   t   F32  [N, r]     overwrite: dropout(x) Aᵀ, unscaled, saved for the backward
// backward, from dy BF16 [N, out]:
//   dt  F32  [N, r]     overwrite (a workspace): scale * dy B
//   dx  BF16 [N, in]    += mask ⊙ (dt A)                  (NULL: not computed)
//   dB  F32  [out, r]   += scale * dyᵀ t
//   dA  F32  [r, in]    += dtᵀ dropout(x)
//
// The products are GEMMs of the device (cuBLAS's cublasGemmEx, bf16 operands, fp32 accumulation on
// the tensor cores; LoraKernels.java queues them). With m = 1/(1-p) and k(row, col) ∈ {0, 1} the
// dropout's keep mask, dropout(x) = m * (k ⊙ x), and k ⊙ x is exact in bf16, so m goes into the
// GEMMs' alpha. t and dt are fp32 and must stay so (the weight gradients are fp32 sums over N): they
// enter the GEMMs split into three bf16 pieces whose sum is the fp32 value exactly, the pieces of
// element (n, c) side by side in columns 3c, 3c+1, 3c+2 (T3 [N, 3r]), against the weight repeated
// three times (B3 [out, 3r], A3 [3r, in]) — a GEMM with K = 3r in place of r, which costs nothing
// extra where these GEMMs are limited by memory, not arithmetic (r <= 64: K <= 192). Forward:
//   xk = k ⊙ x (lora_dropout; x itself when p = 0)      t = m * xk Aᵀ            (GEMM -> F32)
//   T3 = pieces(t) (lora_split)   B3 = repeat(B) (lora_repeat)   y += scale * T3 B3ᵀ  (GEMM, beta 1)
// Backward:
//   dt = scale * dy B                                    (GEMM -> F32)
//   P = scale * dyᵀ T3 [out, 3r];  dB += Σ pieces of P    (GEMM, then lora_sum)
//   xk again from the seed;  P = m * D3ᵀ xk [3r, in];  dA += Σ pieces of P   (D3 = pieces(dt))
//   dx: A3 = repeat(A); p = 0: dx += D3 A3 (GEMM, beta 1); else g = D3 A3 (F32) and
//       dx += m * k ⊙ g (lora_dropout)
// so every output is its fp32 value rounded once to its storage type. The masked input is
// recomputed in the backward rather than kept from the forward: the interface keeps only t between
// the passes, and keeping xk would hold N * in bf16 per adapted layer for the whole step, where
// recomputing it costs one pass over x (memory-bound, a few percent of the layer's own GEMM).
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
// Kernels (grid (G), block (T), any sizes: a grid-stride loop covers the elements):
//   lora_dropout  over rows x cols: g NULL: out = k ⊙ x (overwrite, exact);
//                 else out += s * k ⊙ g (g F32, rounded once). 8 elements per access when every
//                 pointer is 16-byte aligned.
//   lora_split    v F32 [n] -> pieces BF16 [n, 3]: hi = bf16(v), mid = bf16(v - hi),
//                 lo = bf16(v - hi - mid); each difference is exact in fp32, so hi + mid + lo = v
//                 (a non-finite v gives hi = v and zero pieces).
//   lora_repeat   w BF16 [blocks, width] -> out BF16 [blocks, 3, width], each block three times
//   lora_sum      G F32 [blocks, width] += Σ_i P[blocks, i, width], i < 3: the adjoint of lora_repeat
#include "g4_vec.cuh"

#define LORA_PIECES 3

// SplitMix64's finaliser of seed + (counter + 1) * golden ratio
G4_DEVICE unsigned long long lora_mix(unsigned long long seed, unsigned long long counter) {
  unsigned long long z = seed + (counter + 1ull) * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// the keep mask of the dropout at (row, col) of x: 1 or 0 (1 for every element when p = 0)
G4_DEVICE float lora_keep(unsigned long long seed, int row, int col, float p) {
  if (p == 0.f) return 1.f;
  const unsigned long long z = lora_mix(seed, ((unsigned long long)row << 32) | (unsigned int)col);
  const float u = (float)(z >> 40) * (1.f / 16777216.f);
  return u >= p ? 1.f : 0.f;
}

// the mask seed of one launch: `seed`, or adapter `adapter`'s seed of the step seed in device memory
G4_DEVICE unsigned long long lora_seed(long long seed, const long long* step_seed, int adapter) {
  if (step_seed == nullptr) return (unsigned long long)seed;
  return lora_mix((unsigned long long)step_seed[0], (unsigned long long)(unsigned int)adapter);
}

// Multiplies rather than selects, so a NaN or infinity in a dropped element stays NaN as in torch.
G4_KERNEL void lora_dropout(bf16* out, const bf16* x, const float* g, int rows, int cols, float s, float p,
                            long long seed, const long long* step_seed, int adapter) {
  const long long n = (long long)rows * cols;
  const unsigned long long mask_seed = lora_seed(seed, step_seed, adapter);
  g4_grid_loop(n, g4_aligned16(out, x, g), [&](auto width, long long i) {
    constexpr int W = decltype(width)::value;
    float keep[W], v[W];
    int row = (int)(i / cols), col = (int)(i % cols);
    for (int k = 0; k < W; k++) {  // a pack may run over the end of a row
      keep[k] = lora_keep(mask_seed, row, col, p);
      if (++col == cols) col = 0, row++;
    }
    if (g == nullptr) {
      g4_load(v, x + i);
      for (int k = 0; k < W; k++) v[k] *= keep[k];
    } else {
      float gv[W];
      g4_load(gv, g + i);
      g4_load(v, out + i);
      for (int k = 0; k < W; k++) v[k] += s * keep[k] * gv[k];
    }
    g4_store(out + i, v);
  });
}
G4_EXPORT(lora_dropout)

G4_KERNEL void lora_split(bf16* pieces, const float* v, long long n) {
  g4_grid_loop(n, false, [&](auto, long long i) {
    const float f = v[i];
    const bf16 hi = __float2bfloat16(f);
    float rest = f - __bfloat162float(hi);
    bf16 mid = __float2bfloat16(0.f), lo = mid;
    if (rest - rest == 0.f) {  // finite: a NaN from inf - inf would spread into the pieces
      mid = __float2bfloat16(rest);
      rest -= __bfloat162float(mid);
      lo = __float2bfloat16(rest);
    }
    bf16* o = pieces + LORA_PIECES * i;
    o[0] = hi;
    o[1] = mid;
    o[2] = lo;
  });
}
G4_EXPORT(lora_split)

G4_KERNEL void lora_repeat(bf16* out, const bf16* w, long long blocks, int width) {
  g4_grid_loop(blocks * width, false, [&](auto, long long e) {
    const long long b = e / width, c = e % width;
    const bf16 v = w[e];
    for (int i = 0; i < LORA_PIECES; i++) out[(LORA_PIECES * b + i) * width + c] = v;
  });
}
G4_EXPORT(lora_repeat)

G4_KERNEL void lora_sum(float* G, const float* P, long long blocks, int width) {
  g4_grid_loop(blocks * width, false, [&](auto, long long e) {
    const long long b = e / width, c = e % width;
    const float* p = P + LORA_PIECES * b * width + c;
    G[e] += p[0] + (p[width] + p[2 * width]);  // the small pieces first
  });
}
G4_EXPORT(lora_sum)
