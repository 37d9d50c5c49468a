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
bool use_avx2();
}  // namespace g4
