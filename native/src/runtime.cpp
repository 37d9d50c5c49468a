// Runtime controls of the CPU kernel library: thread count, SIMD path selection, build info.
#include "g4_cpu.h"
#include "g4_internal.h"
#include "thread_pool.h"

#include <omp.h>

#include <atomic>

namespace g4 {
// The CPU's instruction sets, read once from CPUID. The AVX-512 path also uses AVX2, FMA and F16C
// instructions on 256-bit halves, which every AVX-512F CPU has; they are checked all the same.
static const bool g_cpu_has_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
static const bool g_cpu_has_avx512 = g_cpu_has_avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("f16c");
static const bool g_cpu_has_avx512bf16 = g_cpu_has_avx512 && __builtin_cpu_supports("avx512bf16");
#ifdef G4_AVX512_EMULATION
static constexpr bool kAvx512Emulation = true;
#else
static constexpr bool kAvx512Emulation = false;
#endif

// The path the kernels take: the best the CPU has unless one was forced (tests run each path).
static int g_forced_level = -1;

static int best_level() {
  return g_cpu_has_avx512bf16 ? G4_SIMD_AVX512_BF16
         : g_cpu_has_avx512   ? G4_SIMD_AVX512
         : g_cpu_has_avx2     ? G4_SIMD_AVX2
                              : G4_SIMD_SCALAR;
}
static int level() { return g_forced_level >= 0 ? g_forced_level : best_level(); }

bool use_avx2() { return g_cpu_has_avx2 && level() >= G4_SIMD_AVX2; }

Avx512 avx512() {
  if (level() < G4_SIMD_AVX512) return Avx512::kOff;
  return g_cpu_has_avx512 ? Avx512::kNative : Avx512::kEmulated;
}

// The kernels' OpenMP threads, for every calling thread alike: omp_set_num_threads sets only its
// caller's count, and a backend is often built on one thread and called on others (serve's
// decoding thread, a rank's thread). Until g4_set_num_threads, OpenMP's own default.
static std::atomic<int> g_threads{omp_get_max_threads()};

int threads() { return g_threads.load(std::memory_order_relaxed); }

Avx512 bf16_dot() {
  if (level() < G4_SIMD_AVX512_BF16) return Avx512::kOff;
  return g_cpu_has_avx512bf16 ? Avx512::kNative : Avx512::kEmulated;
}
}  // namespace g4

extern "C" {
G4_API void g4_set_num_threads(int n) {
  g4::g_threads.store(n > 0 ? n : 1);
  g4::pool_set_threads(n);
}
G4_API int g4_get_num_threads(void) { return g4::threads(); }
G4_API int g4_simd_level(void) { return g4::level(); }
G4_API int g4_avx512_emulated(void) {
  return g4::avx512() == g4::Avx512::kEmulated || g4::bf16_dot() == g4::Avx512::kEmulated;
}
G4_API int g4_force_simd_level(int level) {
  if (level < 0) {
    g4::g_forced_level = -1;
    return 0;
  }
  const bool runs = level == G4_SIMD_SCALAR || (level == G4_SIMD_AVX2 && g4::g_cpu_has_avx2) ||
                    (level == G4_SIMD_AVX512 && g4::g_cpu_has_avx2 && (g4::g_cpu_has_avx512 || g4::kAvx512Emulation)) ||
                    (level == G4_SIMD_AVX512_BF16 && g4::g_cpu_has_avx2 &&
                     (g4::g_cpu_has_avx512bf16 || g4::kAvx512Emulation));
  if (!runs) return -1;
  g4::g_forced_level = level;
  return 0;
}
G4_API const char* g4_build_info(void) {
#ifndef G4_BUILD_INFO
#define G4_BUILD_INFO "unknown compiler"
#endif
  static const char info[] = G4_BUILD_INFO ", OpenMP " G4_STR(_OPENMP)
#ifdef G4_AVX512_EMULATION
      ", AVX-512 emulation (SIMDe) built in"
#endif
      ;
  return info;
}
}
