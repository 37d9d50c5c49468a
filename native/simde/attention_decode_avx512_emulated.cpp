// One decode query on the AVX-512 path (native/src/attention_decode_avx512.h) under SIMDe's
// emulation (avx512_emulated.h).
#include "avx512_emulated.h"
#include "attention_decode.h"
#include "attention_decode_avx512.h"

namespace g4::decode {

void decode_query_avx512_emulated(float* o, const float* q, const float* k, const float* v, int64_t st, int last, int D,
                                  float sc) {
  decode_query<emulated::DecodeAvx512>(o, q, k, v, st, last, D, sc);
}

}  // namespace g4::decode
