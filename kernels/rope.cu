// rope.cu — rotary position embedding, Hugging Face rotate_half convention, in place.
//
//   x [N, H*D] BF16 (N tokens, H heads of D elements, D even), pos [N] I32, theta (e.g. 10000)
//   Each head vector splits into halves x1 = x[0:D/2], x2 = x[D/2:D]; pair i < D/2 rotates by
//     inv_freq[i] = 1 / theta^(2i/D)   (e = (float)(2i) / (float)D, theta^e in fp64 rounded once to
//                                       fp32, then 1.0f / that: the CPU kernel's and HF's fp32 value)
//     a = (float)pos[n] * inv_freq[i]  (fp32), cos a and sin a by precise sincosf
//   rope_forward:  (x1, x2) <- (x1 cos a - x2 sin a, x2 cos a + x1 sin a)   (x*cos + rotate_half(x)*sin)
//   rope_backward: the transpose, the rotation by -a, applied in place to the gradient:
//                  (d1, d2) <- (d1 cos a + d2 sin a, d2 cos a - d1 sin a)
//
// Launch: grid (N), block (T, any size), dynamic shared memory D * 4 bytes.
//   Block n first computes row n's D/2 (cos, sin) pairs into shared memory, once for all H heads,
//   then its threads stride over the row's H * D/2 pairs, 8 pairs per access (16 bytes from each
//   half) when D/2 % 8 == 0 and x is 16-byte aligned, else one pair at a time.
// ptxas reports a 32-byte stack frame and no spills: the buffer of sincosf's exact argument
// reduction, used only for angles beyond about 1e5 radians.
#include <math.h>

#include "g4_vec.cuh"

// rotates row blockIdx.x of x by sign * a; cs is the D floats of dynamic shared memory
G4_DEVICE void rope_rotate_row(bf16* x, const int* pos, int H, int D, float theta, float sign, float* cs) {
  const int half = D / 2;
  float* cos_a = cs;         // [D/2]
  float* sin_a = cs + half;  // [D/2], times sign
  for (int i = threadIdx.x; i < half; i += blockDim.x) {
    const float e = (float)(2 * i) / (float)D;
    const float inv_freq = 1.f / (float)pow((double)theta, (double)e);
    float s, c;
    sincosf((float)pos[blockIdx.x] * inv_freq, &s, &c);
    cos_a[i] = c;
    sin_a[i] = sign * s;
  }
  __syncthreads();

  bf16* row = x + (long long)blockIdx.x * H * D;  // x[n, :]
  const bool vec = half % 8 == 0 && g4_aligned16(x);
  // pair j of the row: head h = j / half, index i = j % half, elements row[h*D + i] and row[h*D + half + i]
  g4_row_loop(H * half, vec, [&](auto width, long long j) {
    constexpr int W = decltype(width)::value;
    const int h = (int)(j / half), i = (int)(j % half);
    bf16* v = row + (long long)h * D + i;
    float x1[W], x2[W], c[W], s[W];
    g4_load(x1, v);
    g4_load(x2, v + half);
    g4_load(c, cos_a + i);
    g4_load(s, sin_a + i);
    float y1[W], y2[W];
    for (int k = 0; k < W; k++) {
      y1[k] = x1[k] * c[k] - x2[k] * s[k];
      y2[k] = x2[k] * c[k] + x1[k] * s[k];
    }
    g4_store(v, y1);
    g4_store(v + half, y2);
  });
}

G4_KERNEL void rope_forward(bf16* x, const int* pos, int N, int H, int D, float theta) {
  G4_DYNAMIC_SMEM(float, cs);
  rope_rotate_row(x, pos, H, D, theta, 1.f, cs);
}
G4_EXPORT(rope_forward)

G4_KERNEL void rope_backward(bf16* dx, const int* pos, int N, int H, int D, float theta) {
  G4_DYNAMIC_SMEM(float, cs);
  rope_rotate_row(dx, pos, H, D, theta, -1.f, cs);
}
G4_EXPORT(rope_backward)
