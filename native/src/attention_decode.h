// What the paths of attention_decode.cpp share (not part of the C ABI): a token's query heads against
// the cache, parameterised by a path's vector operations. attention_decode.cpp instantiates it for
// the scalar, AVX2 and AVX-512 paths; native/simde/ again for the AVX-512 path under emulation.
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

// Query heads [h0, h1) of one token against cache positions 0 .. last. Positions are the outer loop
// and heads the inner one, so that K and V are read as they lie in memory, a position's heads side by
// side: head by head, a task read D floats out of every Hkv*D and the hardware prefetcher lost the
// stream. Each head's arithmetic is still that of attention_decode.cpp's header, in the same order.
//   q, out: the token's [Hq, D];  k, v: the row's cache at position 0;  stride: floats between
//   positions (Hkv*D);  G: query heads per kv head (query head h reads kv head h / G)
template <class V>
__attribute__((always_inline)) inline void decode_heads(float* out, const float* q, const float* k, const float* v,
                                                        int64_t stride, int last, int h0, int h1, int G, int D,
                                                        float scale) {
  constexpr int kHeads = 16;  // heads per pass: their scores, maxima and sums live on the stack
  for (int hb = h0; hb < h1; hb += kHeads) {
    const int nh = std::min(kHeads, h1 - hb);
    float s[kHeads][BK], m[kHeads], l[kHeads];
    const float* qh[kHeads];
    float* oh[kHeads];
    int64_t kv[kHeads];  // offset of the head's kv head within a position
    for (int i = 0; i < nh; i++) {
      qh[i] = q + (int64_t)(hb + i) * D;
      oh[i] = out + (int64_t)(hb + i) * D;
      kv[i] = (int64_t)((hb + i) / G) * D;
      m[i] = -INFINITY;
      l[i] = 0.f;
      std::memset(oh[i], 0, sizeof(float) * D);
    }
    for (int j0 = 0; j0 <= last; j0 += BK) {
      const int n = std::min(BK, last + 1 - j0);
      for (int c = 0; c < n; c++) {
        const float* kj = k + (j0 + c) * stride;
        for (int i = 0; i < nh; i++) s[i][c] = scale * V::dot(qh[i], kj + kv[i], D);
      }
      for (int i = 0; i < nh; i++) {
        float mx = -INFINITY;
        for (int c = 0; c < n; c++) mx = std::max(mx, s[i][c]);
        if (mx > m[i]) {
          const float corr = std::exp(m[i] - mx);  // 0 on the first chunk (m = -inf, out = 0)
          l[i] *= corr;
          V::scal(oh[i], corr, D);
          m[i] = mx;
        }
        for (int c = 0; c < n; c++) {
          s[i][c] = std::exp(s[i][c] - m[i]);
          l[i] += s[i][c];
        }
      }
      for (int c = 0; c < n; c++) {
        const float* vj = v + (j0 + c) * stride;
        for (int i = 0; i < nh; i++) V::axpy(oh[i], s[i][c], vj + kv[i], D);
      }
    }
    for (int i = 0; i < nh; i++) V::scal(oh[i], 1.f / l[i], D);
  }
}

// The AVX-512 path of decode_heads under SIMDe's emulation (native/simde/), where the library was
// built with SIMDe.
void decode_heads_avx512_emulated(float* out, const float* q, const float* k, const float* v, int64_t stride, int last,
                                  int h0, int h1, int G, int D, float scale);

}  // namespace g4::decode
