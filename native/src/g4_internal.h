// Shared helpers of the CPU kernels (not part of the C ABI).
#pragma once
#include <cstdint>

#define G4_API __attribute__((visibility("default")))
#define G4_STR_(x) #x
#define G4_STR(x) G4_STR_(x)
// Functions holding AVX2/FMA intrinsics are compiled for that ISA only; callers dispatch on
// g4::use_avx2() so the library still runs on CPUs without it.
#define G4_AVX2 __attribute__((target("avx2,fma")))

namespace g4 {
// Whether the AVX2/FMA paths run: the CPU has them and the scalar fallback is not forced. Kernels
// without an AVX-512 path take this one when AVX-512 is chosen.
bool use_avx2();

// The threads of the kernels' OpenMP regions (g4_set_num_threads), which every region names: the
// same on every calling thread.
int threads();

// How the kernels with an AVX-512 path run it: not at all, on the CPU's own AVX-512F, or through
// SIMDe's emulation of the same instructions (only when forced, for tests on CPUs without AVX-512).
enum class Avx512 { kOff, kNative, kEmulated };
Avx512 avx512();

// Whether the GEMV multiplies bf16 weights by activations rounded to bf16 in AVX512_BF16 dot
// products (G4_SIMD_AVX512_BF16), and how: natively, or emulated on a CPU without them (when forced).
Avx512 bf16_dot();

// The native or the emulated code as `how` says, `off` when it is off. P is a function pointer, or a
// struct of a path's functions.
template <class P>
P native_or_emulated(Avx512 how, P native, P emulated, P off) {
  switch (how) {
    case Avx512::kNative: return native;
    case Avx512::kEmulated: return emulated;
    case Avx512::kOff: break;
  }
  return off;
}

// The path a kernel with an AVX-512 path takes here: that path natively, the same source under SIMDe's
// emulation (G4_EMULATED), else AVX2 or scalar.
template <class P>
P simd_path(P avx512_native, P avx512_emulated, P avx2, P scalar) {
  return native_or_emulated(avx512(), avx512_native, avx512_emulated, use_avx2() ? avx2 : scalar);
}
}  // namespace g4

// simd_path's emulated argument: the emulated functions exist only where the library was built with SIMDe;
// elsewhere an empty path, which avx512() never chooses (runtime.cpp)
#ifdef G4_AVX512_EMULATION
#define G4_EMULATED(...) __VA_ARGS__
#else
#define G4_EMULATED(...) {}
#endif
