// The cross-entropy's two passes on the AVX-512 path (native/src/cross_entropy_avx512.h) under
// SIMDe's emulation (avx512_emulated.h).
#include "avx512_emulated.h"
#include "cross_entropy.h"
#include "cross_entropy_avx512.h"

namespace g4::xent {

RowStats stats_avx512_emulated(const float* x, int V) { return emulated::stats_avx512(x, V); }
double grad_avx512_emulated(float* d, const float* x, int V, float m, float k, int t) {
  return emulated::grad_avx512(d, x, V, m, k, t);
}

}  // namespace g4::xent
