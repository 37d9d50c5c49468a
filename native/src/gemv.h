// What the GEMV paths share (not part of the C ABI): the arguments, the scalar widening of each
// weight type, and the blocking of W's rows, parameterised by a path's block kernel. gemv.cpp
// instantiates it for the scalar, AVX2 and AVX-512 paths; native/simde/ again for the AVX-512 path
// under emulation, for tests on CPUs without AVX-512.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>

namespace g4::gemv {

// Rows of W shorter than this are taken one at a time: read side by side, several short rows are
// streams too short for the hardware prefetcher, and reading W in order was faster (measured at
// K = 288 and 768, the small preset's)
constexpr int kShortRow = 512;

struct Args {
  float* c;
  int64_t ldc;
  const float* a;
  int64_t lda;
  const void* w;
  int64_t ldw;
  int M, N, K;
  float alpha, beta;
  const uint16_t* ab = nullptr;  // A rounded to bf16, row stride K (the bf16 dot-product path only)
};

inline void store(const Args& g, int m, int64_t j, float s) {
  float* c = g.c + m * g.ldc + j;
  *c = g.beta == 0.f ? g.alpha * s : g.alpha * s + g.beta * *c;  // beta 0 never reads C (BLAS rule)
}

// ---- weight element types: storage and exact widening of one element -------------------------

struct F32 {
  using T = float;
  static inline float one(const T* p) { return *p; }
};

struct Bf16 {
  using T = uint16_t;
  static inline float one(const T* p) {
    uint32_t b = (uint32_t)*p << 16;
    float f;
    std::memcpy(&f, &b, 4);
    return f;
  }
};

struct F16 {
  using T = uint16_t;
  static inline float one(const T* p) {
    // IEEE binary16 to binary32, exact: subnormals normalised, Inf and NaN (quieted) kept
    uint32_t h = *p, sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0x1f) {
      bits = sign | 0x7f800000u | (man << 13) | (man ? 0x400000u : 0);
    } else if (exp != 0) {
      bits = sign | ((exp + 112) << 23) | (man << 13);
    } else if (man == 0) {
      bits = sign;
    } else {
      int e = 113;
      while (!(man & 0x400)) { man <<= 1; e--; }
      bits = sign | ((uint32_t)e << 23) | ((man & 0x3ff) << 13);
    }
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
  }
};

// ---- blocking: Block<W, R, MB>::run(g, j, m0) computes rows j..j+R-1 of W against rows m0..m0+MB-1 of A

// Rows [j0, j1) of W against every row of A: blocks of R rows of W (fewer at the end), and within
// a block the rows of A in groups of up to four. Long rows go four at a time for one or two rows of
// A; for more, kWideRows at a time on a path with 32 vector registers (AVX-512: 16 sums, 4 rows of W
// and a row of A fit), kNarrowRows on one with 16 (AVX2, where four would spill); short rows one at a
// time (kShortRow). On a 2-core AVX-512 EPYC at 5632 x 2048 and M = 8, four rows took fp32 1.9 -> 1.7
// ms, bf16 widened 1.5 -> 1.3 ms, bf16 on the dot products 1.3 -> 1.1 ms; four rows on AVX2 took 25 ->
// 31 us in cache (64 x 2048 bf16); at M = 4 it was within the noise.
template <template <class, int, int> class Block, class W, int R>
__attribute__((always_inline)) inline void rows_against_a(const Args& g, int64_t j) {
  int m = 0;
  for (; m + 4 <= g.M; m += 4) Block<W, R, 4>::run(g, j, m);
  switch (g.M - m) {
    case 3: Block<W, R, 3>::run(g, j, m); break;
    case 2: Block<W, R, 2>::run(g, j, m); break;
    case 1: Block<W, R, 1>::run(g, j, m); break;
    default: break;
  }
}

// The hardware prefetcher alone does not keep W streaming: each block asks the cache for the rows
// about kPrefetchBytes ahead of it (at least two rows) while it computes. On a 2-core AMD EPYC with
// AVX-512 (family 26), the 43 GEMVs of a small-preset decode step took, at M = 1, 0.65 -> 0.42 ms
// with bf16 weights on the dot products, 0.63 -> 0.49 ms widened, 1.3 -> 1.2 ms fp32; at M = 4 and 8
// within the noise of two rows ahead. (On an earlier AVX2 EPYC, two rows ahead had made M = 4 20% and
// M = 8 12% faster at 32000 x 288 fp32, and slowed M = 1 down; this distance was not measured there.)
constexpr int64_t kPrefetchBytes = 8192;

// the bytes of a row of W that a dot product reads
template <class W>
inline int64_t row_bytes(const Args& g) { return (int64_t)g.K * sizeof(typename W::T); }

// asks the cache for rows [j, j + n) of W, clipped to j1
template <class W>
__attribute__((always_inline)) inline void rows_ahead(const Args& g, int64_t j, int n, int64_t j1) {
  const int64_t end = std::min<int64_t>(j + n, j1);
  const int64_t bytes = row_bytes<W>(g);
  for (int64_t r = j; r < end; r++) {
    const char* p = static_cast<const char*>(g.w) + r * g.ldw * (int64_t)sizeof(typename W::T);
    for (int64_t b = 0; b < bytes; b += 64) __builtin_prefetch(p + b);
  }
}

// rows from j on in blocks of R, as many as fit before j1 (j is left at the first row not done)
template <template <class, int, int> class Block, class W, int R>
__attribute__((always_inline)) inline void blocks_of(const Args& g, int64_t& j, int64_t j1) {
  const int64_t rowBytes = std::max<int64_t>(row_bytes<W>(g), 1);
  const int64_t ahead = std::max<int64_t>(2, (kPrefetchBytes + rowBytes - 1) / rowBytes);
  for (; j + R <= j1; j += R) {
    rows_ahead<W>(g, j + ahead, R, j1);
    rows_against_a<Block, W, R>(g, j);
  }
}

constexpr int kWideRows = 4, kNarrowRows = 2;

template <template <class, int, int> class Block, class W, int kRowsForManyA = kNarrowRows>
__attribute__((always_inline)) inline void rows(const Args& g, int64_t j0, int64_t j1) {
  int64_t j = j0;
  if (g.K >= kShortRow) {
    if (g.M <= 2) {
      blocks_of<Block, W, 4>(g, j, j1);
    } else {
      blocks_of<Block, W, kRowsForManyA>(g, j, j1);
    }
  }
  blocks_of<Block, W, 1>(g, j, j1);
}

// The AVX-512 path run through SIMDe's emulation of the instructions (native/simde/), where the
// library was built with SIMDe: rows [j0, j1) of W as the native AVX-512 path computes them.
template <class W>
void rows_avx512_emulated(const Args& g, int64_t j0, int64_t j1);

// The bf16 dot-product path (gemv_avx512.h's DotBf16) under SIMDe's emulation: rows [j0, j1) of bf16 W
// against g.ab.
void rows_bf16_dot_emulated(const Args& g, int64_t j0, int64_t j1);

}  // namespace g4::gemv
