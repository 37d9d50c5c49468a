// The GEMV's AVX-512 paths (native/src/gemv_avx512.h) under SIMDe's emulation (avx512_emulated.h).
#include "avx512_emulated.h"
#include "gemv.h"
#include "gemv_avx512.h"

namespace g4::gemv {

template <class W>
void rows_avx512_emulated(const Args& g, int64_t j0, int64_t j1) {
  rows<emulated::Block, W, kWideRows>(g, j0, j1);
}

template void rows_avx512_emulated<F32>(const Args&, int64_t, int64_t);
template void rows_avx512_emulated<Bf16>(const Args&, int64_t, int64_t);
template void rows_avx512_emulated<F16>(const Args&, int64_t, int64_t);

void rows_bf16_dot_emulated(const Args& g, int64_t j0, int64_t j1) {
  rows<emulated::DotBf16, Bf16, kWideRows>(g, j0, j1);
}

}  // namespace g4::gemv
