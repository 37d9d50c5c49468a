// Compiles the AVX-512 headers included after it (g4_avx512.h, *_avx512.h) for the CPU's own
// AVX-512F (and AVX512_BF16), per function, so that the library still loads on any x86-64 CPU; callers dispatch on
// g4::avx512() == g4::Avx512::kNative. The AVX-512 code also uses AVX2, FMA and F16C on 256-bit halves.
#pragma once
#include <immintrin.h>

// GCC 12's AVX-512 headers fill "undefined" lanes from self-initialised variables, which -Wuninitialized
// reports wherever they are inlined
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#define G4_AVX512_TARGET __attribute__((target("avx512f,avx2,fma,f16c")))
// the GEMV's bf16 dot products (gemv_avx512.h), for CPUs with AVX512_BF16 as well
#define G4_AVX512BF16_TARGET __attribute__((target("avx512f,avx512bf16,avx2,fma,f16c")))
#define G4_AVX512_NS native
#include "g4_avx512.h"
