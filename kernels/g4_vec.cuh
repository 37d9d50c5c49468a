// g4_vec.cuh — vectorised access for the memory-bound kernels (embedding, norms, rope, activations).
//
// A "pack" is W consecutive elements moved with as few memory instructions as possible: with W = 8,
// 8 bf16 are one 16-byte access and 8 floats two. Kernels are written once for a width W and run
// with W = 8 when every pointer involved is 16-byte aligned (and, for row kernels, rows are too),
// else with W = 1. Values are widened to float on load and rounded to nearest on store.
#pragma once
#include <stdint.h>

#include "g4_cuda.cuh"

template <int W>
struct g4_width {
  static constexpr int value = W;
};

template <int W>
struct alignas(2 * W) g4_bf16_pack {
  bf16 v[W];
};

template <int W>
struct alignas(4 * W < 16 ? 4 * W : 16) g4_f32_pack {
  float v[W];
};

#if !defined(__CUDACC__)
// In the emulation a pack is moved as one vector, so that the sanitizer checks one access of the
// pack's size instead of W accesses of one element (a struct copy is split into its elements).
template <int W, class E>
using g4_emu_pack_vec __attribute__((vector_size(W * sizeof(E)), aligned(W * sizeof(E) < 16 ? W * sizeof(E) : 16),
                                     may_alias)) = E;
#endif

template <int W>
G4_DEVICE void g4_load(float (&f)[W], const bf16* p) {
#if defined(__CUDACC__)
  const g4_bf16_pack<W> pk = *reinterpret_cast<const g4_bf16_pack<W>*>(p);
  for (int k = 0; k < W; k++) f[k] = __bfloat162float(pk.v[k]);
#else
  const g4_emu_pack_vec<W, unsigned short> v = *reinterpret_cast<const g4_emu_pack_vec<W, unsigned short>*>(p);
  for (int k = 0; k < W; k++) f[k] = __uint_as_float((unsigned)v[k] << 16);
#endif
}

template <int W>
G4_DEVICE void g4_load(float (&f)[W], const float* p) {
#if defined(__CUDACC__)
  const g4_f32_pack<W> pk = *reinterpret_cast<const g4_f32_pack<W>*>(p);
  for (int k = 0; k < W; k++) f[k] = pk.v[k];
#else
  const g4_emu_pack_vec<W, float> v = *reinterpret_cast<const g4_emu_pack_vec<W, float>*>(p);
  for (int k = 0; k < W; k++) f[k] = v[k];
#endif
}

template <int W>
G4_DEVICE void g4_store(bf16* p, const float (&f)[W]) {
#if defined(__CUDACC__)
  g4_bf16_pack<W> pk;
  for (int k = 0; k < W; k++) pk.v[k] = __float2bfloat16(f[k]);
  *reinterpret_cast<g4_bf16_pack<W>*>(p) = pk;
#else
  g4_emu_pack_vec<W, unsigned short> v;
  for (int k = 0; k < W; k++) v[k] = __bfloat16_as_ushort(__float2bfloat16(f[k]));
  *reinterpret_cast<g4_emu_pack_vec<W, unsigned short>*>(p) = v;
#endif
}

template <int W>
G4_DEVICE void g4_store(float* p, const float (&f)[W]) {
#if defined(__CUDACC__)
  g4_f32_pack<W> pk;
  for (int k = 0; k < W; k++) pk.v[k] = f[k];
  *reinterpret_cast<g4_f32_pack<W>*>(p) = pk;
#else
  g4_emu_pack_vec<W, float> v;
  for (int k = 0; k < W; k++) v[k] = f[k];
  *reinterpret_cast<g4_emu_pack_vec<W, float>*>(p) = v;
#endif
}

// true when every pointer is 16-byte aligned (NULL counts as aligned)
G4_DEVICE bool g4_aligned16() { return true; }
template <class P, class... Rest>
G4_DEVICE bool g4_aligned16(const P* p, const Rest*... rest) {
  return (reinterpret_cast<uintptr_t>(p) & 15) == 0 && g4_aligned16(rest...);
}

// Visits [0, n) in strides: this caller is worker `t` of `workers`. With `vec` the first n/8*8
// elements go in packs of 8 (f(g4_width<8>(), i) for i = 8t, 8(t+workers), ...) and the rest one
// at a time, else all one at a time (f(g4_width<1>(), i)). A worker visits the same indices every
// time it is called with the same arguments, so it may keep per-index state across calls.
template <class F>
G4_DEVICE void g4_strided(long long t, long long workers, long long n, bool vec, F&& f) {
  const long long n8 = vec ? n / 8 * 8 : 0;
  for (long long i = 8 * t; i < n8; i += 8 * workers) f(g4_width<8>(), i);
  for (long long i = n8 + t; i < n; i += workers) f(g4_width<1>(), i);
}

// the threads of one block over one row of C elements
template <class F>
G4_DEVICE void g4_row_loop(int C, bool vec, F&& f) {
  g4_strided(threadIdx.x, blockDim.x, C, vec, f);
}

// every thread of a 1-D grid over n elements
template <class F>
G4_DEVICE void g4_grid_loop(long long n, bool vec, F&& f) {
  g4_strided((long long)blockIdx.x * blockDim.x + threadIdx.x, (long long)gridDim.x * blockDim.x, n, vec, f);
}
