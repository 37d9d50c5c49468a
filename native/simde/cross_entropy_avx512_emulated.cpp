// The cross-entropy's passes on the AVX-512 path (native/src/cross_entropy_avx512.h) under SIMDe's
// emulation (avx512_emulated.h).
#include "avx512_emulated.h"
#include "cross_entropy.h"
#include "cross_entropy_avx512.h"

namespace g4::xent {

float max_avx512_emulated(const float* x, int V) { return emulated::max_avx512(x, V); }
double exp_sum_avx512_emulated(float* d, const float* x, int V, float m) { return emulated::exp_sum_avx512(d, x, V, m); }
double scale_avx512_emulated(float* d, int V, float k, int t) { return emulated::scale_avx512(d, V, k, t); }

}  // namespace g4::xent
