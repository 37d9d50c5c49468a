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

// How the kernels with an AVX-512 path run it: not at all, on the CPU's own AVX-512F, or through
// SIMDe's emulation of the same instructions (only when forced, for tests on CPUs without AVX-512).
enum class Avx512 { kOff, kNative, kEmulated };
Avx512 avx512();
}  // namespace g4
