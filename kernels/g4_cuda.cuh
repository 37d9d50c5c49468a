// g4_cuda.cuh — included first by every kernel file in kernels/.
//
// The same kernel source is compiled two ways:
//   nvcc  (__CUDACC__ defined)   -> gpt4llm.fatbin, launched from Java with cuLaunchKernel
//   g++   (G4_EMULATION defined) -> libgpt4llm_emu.so against native/emu/cuda_emu.h, whose
//                                   runtime runs a block's threads as fibers on a host thread
// so a kernel may use only what both sides provide:
//   threadIdx/blockIdx/blockDim/gridDim, __syncthreads, static __shared__ arrays,
//   G4_DYNAMIC_SMEM(type, name) for dynamic shared memory, __shfl_*_sync, __ballot_sync,
//   __any_sync/__all_sync, __syncwarp, atomicAdd/atomicMax (int, float), __nv_bfloat16 with
//   __float2bfloat16 / __bfloat162float / __nv_bfloat162, expf/logf/sqrtf/rsqrtf/fmaxf/fminf/
//   __expf/__logf/__fdividef, INFINITY, and the tensor-core wrappers of kernels/mma.cuh.
//
// Every kernel is declared with G4_KERNEL (extern "C", so its name in the fatbin is its C name)
// and followed by G4_EXPORT(name), which in the emulation build generates the launch entry
//   extern "C" void g4emu_launch_<name>(const g4emu_dims* dims, void** args)
// with args in cuLaunchKernel's kernelParams convention (args[i] points at the i-th argument),
// and  extern "C" const char* g4emu_params_<name>(void)  spelling the parameter types, one letter
// each (p pointer, i int, l long long, f float), so that the caller can check its arguments.
// Java passes pointers as 64-bit addresses, int as int32, long as int64 and float as float32,
// so kernel parameters use only T* / const T*, int, long long (int64), and float.
//
// nvcc compiles all kernels/*.cu as ONE translation unit (a generated file including each, see
// CMakeLists.txt), so names at file scope (helpers, macros, structs) must be unique across kernel
// files: prefix them with the family name.
#pragma once

#if defined(__CUDACC__)
#include <cuda_bf16.h>
#include <stdint.h>
#define G4_KERNEL extern "C" __global__
#define G4_EXPORT(name)
#define G4_DYNAMIC_SMEM(type, name) extern __shared__ __align__(16) type name[]
#define G4_DEVICE __device__ __forceinline__
#else
#ifndef G4_EMULATION
#define G4_EMULATION 1
#endif
#include "cuda_emu.h"
#define G4_KERNEL static
#define G4_EXPORT(name)                                                                     \
  extern "C" __attribute__((visibility("default"))) void g4emu_launch_##name(               \
      const g4emu_dims* dims, void** args) {                                                \
    g4emu::launch(#name, name, dims, args);                                                 \
  }                                                                                         \
  extern "C" __attribute__((visibility("default"))) const char* g4emu_params_##name(void) { \
    return g4emu::param_codes(name);                                                        \
  }
#define G4_DYNAMIC_SMEM(type, name) type* name = reinterpret_cast<type*>(g4emu::dynamic_smem())
#define G4_DEVICE static inline
#endif

typedef __nv_bfloat16 bf16;

// A span [p, p + bytes) that the calling thread reads whole, with no warp operation or barrier
// between its loads, can be read with g4_check_span once and then g4_span_u32 / g4_span_f4: in
// the emulation the sanitizer checks the span as one read (every byte under the same rules as
// the single loads: bounds, reads before writes, races) and those loads go unchecked, one
// callback instead of one per load. On a GPU they are plain loads. p: 4-byte (u32) or 16-byte
// (f4) aligned. Likewise g4_check_span_write and g4_span_store_u32 for a span the thread writes
// whole.
#if defined(__CUDACC__)
G4_DEVICE void g4_check_span(const void*, unsigned) {}
G4_DEVICE void g4_check_span_write(void*, unsigned) {}
G4_DEVICE void g4_span_store_u32(void* p, uint32_t v) { *reinterpret_cast<uint32_t*>(p) = v; }
G4_DEVICE uint32_t g4_span_u32(const void* p) { return *reinterpret_cast<const uint32_t*>(p); }
G4_DEVICE float4 g4_span_f4(const float* p) { return *reinterpret_cast<const float4*>(p); }
#else
G4_DEVICE void g4_check_span(const void* p, unsigned bytes) { g4emu::check_read(p, bytes); }
G4_DEVICE void g4_check_span_write(void* p, unsigned bytes) { g4emu::check_write(p, bytes); }
#if defined(__x86_64__)  // a memory operand of an asm statement is not instrumented
G4_DEVICE void g4_span_store_u32(void* p, uint32_t v) {
  asm("movl %1, %0" : "=m"(*reinterpret_cast<uint32_t*>(p)) : "r"(v));
}
G4_DEVICE uint32_t g4_span_u32(const void* p) {
  uint32_t v;
  asm("movl %1, %0" : "=r"(v) : "m"(*reinterpret_cast<const uint32_t*>(p)));
  return v;
}
G4_DEVICE float4 g4_span_f4(const float* p) {
  typedef float f32x4 __attribute__((vector_size(16)));
  f32x4 x;
  asm("movups %1, %0" : "=x"(x) : "m"(*reinterpret_cast<const f32x4*>(p)));
  return make_float4(x[0], x[1], x[2], x[3]);
}
#else  // checked again: correct, only slower
G4_DEVICE void g4_span_store_u32(void* p, uint32_t v) { *reinterpret_cast<uint32_t*>(p) = v; }
G4_DEVICE uint32_t g4_span_u32(const void* p) { return *reinterpret_cast<const uint32_t*>(p); }
G4_DEVICE float4 g4_span_f4(const float* p) {
  typedef float f32x4 __attribute__((vector_size(16)));
  const f32x4 x = *reinterpret_cast<const f32x4*>(p);
  return make_float4(x[0], x[1], x[2], x[3]);
}
#endif
#endif

// ---- helpers shared by the kernels ---------------------------------------------------------

// sum over the 32 lanes of a warp (every lane gets the total)
G4_DEVICE float g4_warp_sum(float v) {
#if defined(__CUDACC__)
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
#else  // the same butterfly in one warp operation instead of five
  return g4emu::warp_butterfly(v, g4emu::kSum);
#endif
}

// max over the 32 lanes of a warp
G4_DEVICE float g4_warp_max(float v) {
#if defined(__CUDACC__)
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
#else
  return g4emu::warp_butterfly(v, g4emu::kMax);
#endif
}

// sum over a block of blockDim.x threads (a multiple of 32, at most 1024); every thread gets the
// total. `scratch` is 32 floats of shared memory; the call ends with the block synchronised.
G4_DEVICE float g4_block_sum(float v, float* scratch) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  v = g4_warp_sum(v);
  __syncthreads();  // scratch may still be read by a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < warps ? scratch[lane] : 0.f;
  return g4_warp_sum(v);
}

G4_DEVICE float g4_block_max(float v, float* scratch) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  v = g4_warp_max(v);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < warps ? scratch[lane] : -INFINITY;
  return g4_warp_max(v);
}
