// The training attention's tile kernels on the AVX-512 path (native/src/attention_avx512.h) under
// SIMDe's emulation (avx512_emulated.h).
#include "avx512_emulated.h"
#include "attention.h"
#include "attention_avx512.h"

namespace g4::attention {

void fwd_tile_avx512_emulated(const Attn& a, float* o, float* l, float* w, int b, int h, int i0, int i1) {
  fwd_tile<emulated::Avx512>(a, o, l, w, b, h, i0, i1);
}
void bwd_kv_tile_avx512_emulated(const Attn& a, float* dk, float* dv, float* w, int b, int g, int kt) {
  bwd_kv_tile<emulated::Avx512>(a, dk, dv, w, b, g, kt);
}
void bwd_q_tile_avx512_emulated(const Attn& a, float* dq, float* w, int b, int h, int i0, int i1) {
  bwd_q_tile<emulated::Avx512>(a, dq, w, b, h, i0, i1);
}

}  // namespace g4::attention
