// What the paths of attention_decode.cpp share (not part of the C ABI): one query against the cache,
// parameterised by a path's vector operations. attention_decode.cpp instantiates it for the scalar,
// AVX2 and AVX-512 paths; native/simde/ again for the AVX-512 path under emulation.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace g4::decode {
constexpr int BK = 64;  // keys per chunk of scores

// dot(x, y) over D floats;  y += a x;  y *= a
struct Scalar {
  static inline float dot(const float* x, const float* y, int D) {
    float s = 0.f;
    for (int d = 0; d < D; d++) s += x[d] * y[d];
    return s;
  }
  static inline void axpy(float* y, float a, const float* x, int D) {
    for (int d = 0; d < D; d++) y[d] += a * x[d];
  }
  static inline void scal(float* y, float a, int D) {
    for (int d = 0; d < D; d++) y[d] *= a;
  }
};

// one query: out = softmax over keys 0..last of scale q.k_j, times v_j; k, v strided by `stride`
template <class V>
__attribute__((always_inline)) inline void decode_query(float* out, const float* q, const float* k, const float* v,
                                                        int64_t stride, int last, int D, float scale) {
  float s[BK];
  float m = -INFINITY, l = 0.f;
  std::memset(out, 0, sizeof(float) * D);
  for (int j0 = 0; j0 <= last; j0 += BK) {
    const int n = std::min(BK, last + 1 - j0);
    float mx = -INFINITY;
    for (int c = 0; c < n; c++) {
      s[c] = scale * V::dot(q, k + (j0 + c) * stride, D);
      mx = std::max(mx, s[c]);
    }
    if (mx > m) {
      const float corr = std::exp(m - mx);  // 0 on the first chunk (m = -inf, out = 0)
      l *= corr;
      V::scal(out, corr, D);
      m = mx;
    }
    for (int c = 0; c < n; c++) {
      const float p = std::exp(s[c] - m);
      l += p;
      V::axpy(out, p, v + (j0 + c) * stride, D);
    }
  }
  V::scal(out, 1.f / l, D);
}

// The AVX-512 path of one query under SIMDe's emulation (native/simde/), where the library was built
// with SIMDe.
void decode_query_avx512_emulated(float* o, const float* q, const float* k, const float* v, int64_t st, int last, int D,
                                  float sc);

}  // namespace g4::decode
