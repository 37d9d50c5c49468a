// Runtime controls of the CPU kernel library: thread count, SIMD path selection, build info.
#include "g4_cpu.h"
#include "g4_internal.h"
#include "thread_pool.h"

#include <omp.h>

namespace g4 {
// Chosen once at load time from CPUID; tests can force the scalar path.
static const bool g_cpu_has_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
static bool g_force_scalar = false;
bool use_avx2() { return g_cpu_has_avx2 && !g_force_scalar; }
}  // namespace g4

extern "C" {
G4_API void g4_set_num_threads(int n) {
  omp_set_num_threads(n > 0 ? n : 1);
  g4::pool_set_threads(n);
}
G4_API int g4_get_num_threads(void) { return omp_get_max_threads(); }
G4_API int g4_simd_level(void) { return g4::use_avx2() ? 1 : 0; }
G4_API void g4_force_scalar(int on) { g4::g_force_scalar = on != 0; }
G4_API const char* g4_build_info(void) {
#ifndef G4_BUILD_INFO
#define G4_BUILD_INFO "unknown compiler"
#endif
  static const char info[] = G4_BUILD_INFO ", OpenMP " G4_STR(_OPENMP);
  return info;
}
}
