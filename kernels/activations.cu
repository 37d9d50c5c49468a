// activations.cu — element-wise kernels: SwiGLU, ReLU, add, dtype conversions, scaling.
//
//   All arrays [n] (n = tokens * features, any n >= 0), BF16 unless named F32; math in fp32.
//   swiglu_forward:  s = sigmoid(g) = 1 / (1 + e^-g),  h = g * s * u                       (overwrite)
//   swiglu_backward: dg = dh * u * s * (1 + g * (1 - s)),  du = dh * g * s                 (overwrite)
//   relu_forward:    y = x <= 0 ? 0 : x  (max(x, 0), a NaN passed on as torch does)      (overwrite)
//   relu_backward:   dx = x > 0 ? dy : 0                                                  (overwrite)
//   add_bf16:        y = a + b                                                            (overwrite)
//   f32_to_bf16:     out (BF16) = in (F32) rounded to nearest even
//   bf16_to_f32:     out (F32)  = in (BF16), exact
//   scale_f32:       x (F32) *= s
// Every output may be the buffer of one of the inputs of the same call (y = a, dg = dh, ...):
// each element's inputs are read before its outputs are written.
// The sigmoid is evaluated from e^-|g| so it never overflows, with the precise expf.
//
// Launch: grid (G), block (T), any sizes; a grid-stride loop covers n. When every pointer is
//   16-byte aligned, elements go 8 per access (a 16-byte bf16 load) and the last n % 8 one at a
//   time; otherwise all one at a time. The launcher sizes G for 8 elements per thread.
#include <math.h>

#include "g4_vec.cuh"

G4_DEVICE float swiglu_sigmoid(float g) {
  const float e = expf(-fabsf(g));
  return g >= 0.f ? 1.f / (1.f + e) : e / (1.f + e);
}

G4_KERNEL void swiglu_forward(bf16* h, const bf16* g, const bf16* u, long long n) {
  g4_grid_loop(n, g4_aligned16(h, g, u), [&](auto width, long long i) {
    constexpr int W = decltype(width)::value;
    float gv[W], uv[W], hv[W];
    g4_load(gv, g + i);
    g4_load(uv, u + i);
    for (int k = 0; k < W; k++) hv[k] = gv[k] * swiglu_sigmoid(gv[k]) * uv[k];
    g4_store(h + i, hv);
  });
}
G4_EXPORT(swiglu_forward)

G4_KERNEL void swiglu_backward(bf16* dg, bf16* du, const bf16* dh, const bf16* g, const bf16* u, long long n) {
  g4_grid_loop(n, g4_aligned16(dg, du, dh, g, u), [&](auto width, long long i) {
    constexpr int W = decltype(width)::value;
    float dhv[W], gv[W], uv[W], dgv[W], duv[W];
    g4_load(dhv, dh + i);
    g4_load(gv, g + i);
    g4_load(uv, u + i);
    for (int k = 0; k < W; k++) {
      const float s = swiglu_sigmoid(gv[k]);
      dgv[k] = dhv[k] * uv[k] * (s * (1.f + gv[k] * (1.f - s)));
      duv[k] = dhv[k] * (gv[k] * s);
    }
    g4_store(dg + i, dgv);
    g4_store(du + i, duv);
  });
}
G4_EXPORT(swiglu_backward)

G4_KERNEL void relu_forward(bf16* y, const bf16* x, long long n) {
  g4_grid_loop(n, g4_aligned16(y, x), [&](auto width, long long i) {
    constexpr int W = decltype(width)::value;
    float v[W];
    g4_load(v, x + i);
    for (int k = 0; k < W; k++) v[k] = v[k] <= 0.f ? 0.f : v[k];  // not fmaxf: it turns a NaN into 0
    g4_store(y + i, v);
  });
}
G4_EXPORT(relu_forward)

G4_KERNEL void relu_backward(bf16* dx, const bf16* dy, const bf16* x, long long n) {
  g4_grid_loop(n, g4_aligned16(dx, dy, x), [&](auto width, long long i) {
    constexpr int W = decltype(width)::value;
    float dyv[W], xv[W];
    g4_load(dyv, dy + i);
    g4_load(xv, x + i);
    for (int k = 0; k < W; k++) dyv[k] = xv[k] > 0.f ? dyv[k] : 0.f;
    g4_store(dx + i, dyv);
  });
}
G4_EXPORT(relu_backward)

G4_KERNEL void add_bf16(bf16* y, const bf16* a, const bf16* b, long long n) {
  g4_grid_loop(n, g4_aligned16(y, a, b), [&](auto width, long long i) {
    constexpr int W = decltype(width)::value;
    float av[W], bv[W];
    g4_load(av, a + i);
    g4_load(bv, b + i);
    for (int k = 0; k < W; k++) av[k] += bv[k];
    g4_store(y + i, av);
  });
}
G4_EXPORT(add_bf16)

G4_KERNEL void f32_to_bf16(bf16* out, const float* in, long long n) {
  g4_grid_loop(n, g4_aligned16(out, in), [&](auto width, long long i) {
    constexpr int W = decltype(width)::value;
    float v[W];
    g4_load(v, in + i);
    g4_store(out + i, v);
  });
}
G4_EXPORT(f32_to_bf16)

G4_KERNEL void bf16_to_f32(float* out, const bf16* in, long long n) {
  g4_grid_loop(n, g4_aligned16(out, in), [&](auto width, long long i) {
    constexpr int W = decltype(width)::value;
    float v[W];
    g4_load(v, in + i);
    g4_store(out + i, v);
  });
}
G4_EXPORT(bf16_to_f32)

G4_KERNEL void scale_f32(float* x, long long n, float s) {
  g4_grid_loop(n, g4_aligned16(x), [&](auto width, long long i) {
    constexpr int W = decltype(width)::value;
    float v[W];
    g4_load(v, x + i);
    for (int k = 0; k < W; k++) v[k] *= s;
    g4_store(x + i, v);
  });
}
G4_EXPORT(scale_f32)
