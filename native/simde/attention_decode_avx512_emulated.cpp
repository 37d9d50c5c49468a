// A token's decode queries on the AVX-512 path (native/src/attention_decode_avx512.h) under SIMDe's
// emulation (avx512_emulated.h).
#include "avx512_emulated.h"
#include "attention_decode.h"
#include "attention_decode_avx512.h"

namespace g4::decode {

void decode_heads_avx512_emulated(float* out, const float* q, const float* k, const float* v, int64_t stride, int last,
                                  int h0, int h1, int G, int D, float scale) {
  decode_heads<emulated::DecodeAvx512>(out, q, k, v, stride, last, h0, h1, G, D, scale);
}

}  // namespace g4::decode
