// Causal self-attention on the CPU, flash style: fp32, OpenMP, AVX-512F (attention_avx512.h) or
// AVX2/FMA with a scalar fallback; the tile kernels all paths share are in attention.h.
//
// Shapes: q, out, dq, dout [B,T,Hq,D]; k, v, dk, dv [B,T,Hkv,D]; lse [B,Hq,T]; seg [B,T] or NULL.
// GQA: query head h reads kv head h / G with G = Hq/Hkv. Consecutive tokens of one head are Hq*D
// floats apart on the query side and Hkv*D floats apart on the key/value side.
// Visibility: key j is visible to query i iff j <= i and seg[j] == seg[i] != 0 (NULL: all 1).
//
// forward, per (b, h, query i), over the visible keys j:
//   s_ij  = scale * q_i . k_j
//   lse_i = log sum_j exp(s_ij)
//   out_i = sum_j exp(s_ij - lse_i) v_j
// evaluated over key tiles with an online softmax: m = running max, l = running sum of exp(s - m),
// acc = running sum of exp(s - m) v_j (kept in out_i itself). A tile whose max m' exceeds m first
// rescales l and acc by exp(m - m'). At the end out_i = acc / l and lse_i = m + log l. A query
// with no visible key (padding, seg == 0) gets out_i = 0 and lse_i = -inf.
// A task is (b, h, tile of BQ queries); it walks key tiles of BK keys up to the diagonal. Keys are
// packed transposed once per call, Kt [D,BK] per tile, so one query's BK scores are BK-wide vector
// FMAs with no horizontal sums; values are copied per tile into contiguous rows (strided rows of
// one head alias in L1). A row of BK scores is the only score storage: no T x T matrix exists.
//
// backward (FlashAttention-2), with P_ij = exp(s_ij - lse_i) recomputed tile by tile:
//   D_i   = dout_i . out_i                         (= sum_j P_ij dP_ij)
//   dP_ij = dout_i . v_j
//   dS_ij = P_ij (dP_ij - D_i)
//   dq_i  = scale sum_j dS_ij k_j,  dk_j = scale sum_i dS_ij q_i,  dv_j = sum_i P_ij dout_i
// pass 1, parallel over (b, kv head, key tile): the task owns dk/dv of its BK keys and sums over
//         every query head of the group and every query that can see them, BQ queries at a time
//         (P and dS of the block [BQ,BK] are the only score storage);
// pass 2, parallel over (b, h, query tile): the task owns dq of its BQ queries.
// Pass 1 packs its block of queries and accumulates dk/dv in contiguous [BK,D] tiles. Extra memory
// per call: the packed keys (forward) or keys and values (backward), each the size of k.
// Every output element is written by exactly one task in a fixed order: no atomics, and results
// do not depend on the thread count or the schedule. All outputs are overwritten.
//
// Tile skipping: first[b,t] / last[b,t] are the first / last positions of row b holding seg[b,t].
// Query i needs only keys in [first_i, i]; key j is seen only by queries in [j, last_j]. For
// contiguous segments (right padding, packed sequences) these bounds are exact; for arbitrary ids
// they are still safe bounds and the per-key segment test does the rest.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <unordered_map>
#include <vector>

#include "attention.h"
#include "g4_cpu.h"
#include "g4_internal.h"
#include "g4_simd.h"
// after the others: it switches off warnings GCC's AVX-512 headers give
#include "avx512_native.h"
#include "attention_avx512.h"

namespace {
using namespace g4::attention;
using g4::exp8;
using g4::hmax8;
using g4::hsum8;

// the primitives of attention.h's Scalar on 8-float registers
struct Avx2 {
  // eight independent accumulators, one per 8-key column block: one broadcast of x[d] feeds 8 FMAs
  G4_AVX2 static inline void scores(float* s, const float* x, const float* Xt, int D) {
    __m256 a[8];
    for (int c = 0; c < 8; c++) a[c] = _mm256_setzero_ps();
    for (int d = 0; d < D; d++) {
      const __m256 xd = _mm256_broadcast_ss(x + d);
      for (int c = 0; c < 8; c++) a[c] = _mm256_fmadd_ps(xd, _mm256_loadu_ps(Xt + d * BK + 8 * c), a[c]);
    }
    for (int c = 0; c < 8; c++) _mm256_storeu_ps(s + 8 * c, a[c]);
  }
  G4_AVX2 static inline float mask(float* s, const int32_t* segt, int32_t si, int r0, int r1, float scale) {
    const __m256i lo = _mm256_set1_epi32(r0 - 1), hi = _mm256_set1_epi32(r1), vsi = _mm256_set1_epi32(si);
    const __m256 ninf = _mm256_set1_ps(NEG_INF), sc = _mm256_set1_ps(scale);
    __m256 mx = ninf;
    for (int c = 0; c < BK; c += 8) {
      const __m256i lane = _mm256_add_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(c));
      const __m256i in = _mm256_and_si256(
          _mm256_and_si256(_mm256_cmpgt_epi32(lane, lo), _mm256_cmpgt_epi32(hi, lane)),
          _mm256_cmpeq_epi32(_mm256_loadu_si256((const __m256i*)(segt + c)), vsi));
      const __m256 x = _mm256_blendv_ps(ninf, _mm256_mul_ps(sc, _mm256_loadu_ps(s + c)), _mm256_castsi256_ps(in));
      _mm256_storeu_ps(s + c, x);
      mx = _mm256_max_ps(mx, x);
    }
    return hmax8(mx);
  }
  G4_AVX2 static inline float expsub(float* p, const float* s, float sub) {
    const __m256 ninf = _mm256_set1_ps(NEG_INF), vs = _mm256_set1_ps(sub);
    __m256 sum = _mm256_setzero_ps();
    for (int c = 0; c < BK; c += 8) {
      const __m256 x = _mm256_loadu_ps(s + c);
      const __m256 e = _mm256_and_ps(exp8(_mm256_sub_ps(x, vs)), _mm256_cmp_ps(x, ninf, _CMP_NEQ_OQ));
      _mm256_storeu_ps(p + c, e);
      sum = _mm256_add_ps(sum, e);
    }
    return hsum8(sum);
  }
  // y[0:8U] += sum_r c[r*cs] rows[r*rs + 0:8U], held in registers over all n rows, with R sets of
  // accumulators taking rows in turn so that R*U independent FMA chains are in flight
  template <int U, int R>
  G4_AVX2 static G4_INLINE void acc_block(float* y, const float* c, int64_t cs, const float* rows, int64_t rs, int n) {
    __m256 a[R][U];
    for (int u = 0; u < U; u++) {
      a[0][u] = _mm256_loadu_ps(y + 8 * u);
      for (int q = 1; q < R; q++) a[q][u] = _mm256_setzero_ps();
    }
    int r = 0;
    for (; r + R <= n; r += R) {
      for (int q = 0; q < R; q++) {
        const __m256 cq = _mm256_set1_ps(c[(r + q) * cs]);
        for (int u = 0; u < U; u++) a[q][u] = _mm256_fmadd_ps(cq, _mm256_loadu_ps(rows + (r + q) * rs + 8 * u), a[q][u]);
      }
    }
    for (; r < n; r++) {
      const __m256 cr = _mm256_set1_ps(c[r * cs]);
      for (int u = 0; u < U; u++) a[0][u] = _mm256_fmadd_ps(cr, _mm256_loadu_ps(rows + r * rs + 8 * u), a[0][u]);
    }
    for (int u = 0; u < U; u++) {
      for (int q = 1; q < R; q++) a[0][u] = _mm256_add_ps(a[0][u], a[q][u]);
      _mm256_storeu_ps(y + 8 * u, a[0][u]);
    }
  }
  // blocks of 32, 16 and 8 floats of y, eight FMA chains each; D % 8 leftovers in a scalar tail
  G4_AVX2 static inline void acc(float* y, const float* c, int64_t cs, const float* rows, int64_t rs, int n,
                                 int D) {
    int d = 0;
    for (; d + 32 <= D; d += 32) acc_block<4, 2>(y + d, c, cs, rows + d, rs, n);
    if (d + 16 <= D) acc_block<2, 4>(y + d, c, cs, rows + d, rs, n), d += 16;
    if (d + 8 <= D) acc_block<1, 8>(y + d, c, cs, rows + d, rs, n), d += 8;
    for (; d < D; d++)
      for (int r = 0; r < n; r++) y[d] += c[r * cs] * rows[r * rs + d];
  }
  // no reduction: the compiler vectorizes the plain loop for AVX2 inside the AVX2 tile kernels
  static G4_INLINE void scal(float* y, float a, int D) { Scalar::scal(y, a, D); }
};

std::vector<float> transpose_tiles(const float* x, int B, int T, int H, int D) {
  const int nkt = (T + BK - 1) / BK;
  std::vector<float> xt((size_t)B * H * nkt * D * BK);
#pragma omp parallel for schedule(static) num_threads(g4::threads())
  for (int64_t t = 0; t < (int64_t)B * H * nkt; t++) {  // t = (b*H + g)*nkt + kt
    const int kt = (int)(t % nkt), g = (int)(t / nkt % H), b = (int)(t / nkt / H);
    const int j0 = kt * BK, n = std::min(BK, T - j0);
    const float* src = x + (((int64_t)b * T + j0) * H + g) * D;  // x[b, j0, g, :]
    float* dst = xt.data() + t * D * BK;
    for (int c = 0; c < BK; c++)
      for (int d = 0; d < D; d++) dst[d * BK + c] = c < n ? src[(int64_t)c * H * D + d] : 0.f;
  }
  return xt;
}
// the SIMD flavours of each tile kernel, chosen per call (tile_path)
void fwd_tile_scalar(const Attn& a, float* o, float* l, float* w, int b, int h, int i0, int i1) { fwd_tile<Scalar>(a, o, l, w, b, h, i0, i1); }
G4_AVX2 void fwd_tile_avx2(const Attn& a, float* o, float* l, float* w, int b, int h, int i0, int i1) { fwd_tile<Avx2>(a, o, l, w, b, h, i0, i1); }
G4_AVX512_TARGET void fwd_tile_avx512(const Attn& a, float* o, float* l, float* w, int b, int h, int i0, int i1) { fwd_tile<native::Avx512>(a, o, l, w, b, h, i0, i1); }
void bwd_kv_tile_scalar(const Attn& a, float* dk, float* dv, float* w, int b, int g, int kt) { bwd_kv_tile<Scalar>(a, dk, dv, w, b, g, kt); }
G4_AVX2 void bwd_kv_tile_avx2(const Attn& a, float* dk, float* dv, float* w, int b, int g, int kt) { bwd_kv_tile<Avx2>(a, dk, dv, w, b, g, kt); }
G4_AVX512_TARGET void bwd_kv_tile_avx512(const Attn& a, float* dk, float* dv, float* w, int b, int g, int kt) { bwd_kv_tile<native::Avx512>(a, dk, dv, w, b, g, kt); }
void bwd_q_tile_scalar(const Attn& a, float* dq, float* w, int b, int h, int i0, int i1) { bwd_q_tile<Scalar>(a, dq, w, b, h, i0, i1); }
G4_AVX2 void bwd_q_tile_avx2(const Attn& a, float* dq, float* w, int b, int h, int i0, int i1) { bwd_q_tile<Avx2>(a, dq, w, b, h, i0, i1); }
G4_AVX512_TARGET void bwd_q_tile_avx512(const Attn& a, float* dq, float* w, int b, int h, int i0, int i1) { bwd_q_tile<native::Avx512>(a, dq, w, b, h, i0, i1); }

// one path's three tile kernels
struct Tiles {
  void (*fwd)(const Attn&, float*, float*, float*, int, int, int, int);
  void (*bwd_kv)(const Attn&, float*, float*, float*, int, int, int);
  void (*bwd_q)(const Attn&, float*, float*, int, int, int, int);
};

Tiles tile_path() {
  return g4::simd_path<Tiles>(
      {fwd_tile_avx512, bwd_kv_tile_avx512, bwd_q_tile_avx512},
      G4_EMULATED({fwd_tile_avx512_emulated, bwd_kv_tile_avx512_emulated, bwd_q_tile_avx512_emulated}),
      {fwd_tile_avx2, bwd_kv_tile_avx2, bwd_q_tile_avx2}, {fwd_tile_scalar, bwd_kv_tile_scalar, bwd_q_tile_scalar});
}

// Segment ids and the first/last position of each token's id within its batch row (see header).
struct Segments {
  std::vector<int32_t> ones;
  std::vector<int> first, last;
  const int32_t* seg;
  Segments(const int32_t* s, int B, int T) : first((size_t)B * T), last((size_t)B * T) {
    if (s == nullptr) {  // one segment per row: every key before the query is visible
      ones.assign((size_t)B * T, 1);
      seg = ones.data();
      for (int64_t bt = 0; bt < (int64_t)B * T; bt++) first[bt] = 0, last[bt] = T - 1;
      return;
    }
    seg = s;
#pragma omp parallel for schedule(static) num_threads(g4::threads())
    for (int b = 0; b < B; b++) {
      const int32_t* sb = s + (int64_t)b * T;
      int *fb = first.data() + (int64_t)b * T, *lb = last.data() + (int64_t)b * T;
      std::unordered_map<int32_t, int> pos;  // id -> first (then last) position
      for (int t = 0; t < T; t++) fb[t] = pos.emplace(sb[t], t).first->second;
      pos.clear();
      for (int t = T - 1; t >= 0; t--) lb[t] = pos.emplace(sb[t], t).first->second;
    }
  }
};

}  // namespace

extern "C" {

G4_API void g4_attention_fwd(float* out, float* lse, const float* q, const float* k, const float* v,
                             const int32_t* seg, int B, int T, int Hq, int Hkv, int D, float scale) {
  if (B <= 0 || T <= 0 || Hq <= 0 || Hkv <= 0 || Hq % Hkv != 0 || D <= 0) return;
  Segments sg(seg, B, T);
  const std::vector<float> KT = transpose_tiles(k, B, T, Hkv, D);
  const int nqt = (T + BQ - 1) / BQ;
  const Attn a{q, k, v, nullptr, nullptr, nullptr, KT.data(), nullptr, sg.seg, sg.first.data(),
               sg.last.data(), B, T, Hq, Hkv, D, Hq / Hkv, (T + BK - 1) / BK, scale};
  const Tiles tiles = tile_path();
  const int64_t tasks = (int64_t)B * Hq * nqt;
#pragma omp parallel num_threads(g4::threads())
  {
    std::vector<float> work((size_t)BK * D);  // Vc
    // task -> (b, h, query tile); the last (longest) query tiles are handed out first
#pragma omp for schedule(dynamic, 1)
    for (int64_t t = 0; t < tasks; t++) {
      const int qt = nqt - 1 - (int)(t % nqt), h = (int)(t / nqt % Hq), b = (int)(t / nqt / Hq);
      const int i0 = qt * BQ, i1 = std::min(T, i0 + BQ);
      tiles.fwd(a, out, lse, work.data(), b, h, i0, i1);
    }
  }
}

G4_API void g4_attention_bwd(float* dq, float* dk, float* dv, const float* dout, const float* out,
                             const float* lse, const float* q, const float* k, const float* v,
                             const int32_t* seg, int B, int T, int Hq, int Hkv, int D, float scale) {
  if (B <= 0 || T <= 0 || Hq <= 0 || Hkv <= 0 || Hq % Hkv != 0 || D <= 0) return;
  Segments sg(seg, B, T);
  const std::vector<float> KT = transpose_tiles(k, B, T, Hkv, D), VT = transpose_tiles(v, B, T, Hkv, D);
  std::vector<float> Di((size_t)B * Hq * T);  // [B,Hq,T]
  const int nkt = (T + BK - 1) / BK, nqt = (T + BQ - 1) / BQ;
  const Attn a{q, k, v, dout, lse, Di.data(), KT.data(), VT.data(), sg.seg, sg.first.data(),
               sg.last.data(), B, T, Hq, Hkv, D, Hq / Hkv, nkt, scale};
  const Tiles tiles = tile_path();
#pragma omp parallel for schedule(static) num_threads(g4::threads())
  for (int64_t bt = 0; bt < (int64_t)B * T; bt++) {  // bt = b*T + i: D_i = dout_i . out_i
    for (int h = 0; h < Hq; h++) {
      const float *x = dout + (bt * Hq + h) * D, *y = out + (bt * Hq + h) * D;
      float s = 0.f;
      for (int d = 0; d < D; d++) s += x[d] * y[d];
      Di[a.lse_at((int)(bt / T), h, (int)(bt % T))] = s;
    }
  }
  const int64_t kv_tasks = (int64_t)B * Hkv * nkt, q_tasks = (int64_t)B * Hq * nqt;
#pragma omp parallel num_threads(g4::threads())
  {
    std::vector<float> work(2 * (size_t)BK * D + 2 * (size_t)BQ * D + 2 * BQ * BK);
    // pass 1: task -> (b, kv head g, key tile); early key tiles are seen by the most queries: first.
    // Pass 2 needs nothing of pass 1, so a thread done here goes straight on (nowait).
#pragma omp for schedule(dynamic, 1) nowait
    for (int64_t t = 0; t < kv_tasks; t++) {
      const int kt = (int)(t % nkt), g = (int)(t / nkt % Hkv), b = (int)(t / nkt / Hkv);
      tiles.bwd_kv(a, dk, dv, work.data(), b, g, kt);
    }
    // pass 2: task -> (b, h, query tile); late query tiles see the most keys: first
#pragma omp for schedule(dynamic, 1)
    for (int64_t t = 0; t < q_tasks; t++) {
      const int qt = nqt - 1 - (int)(t % nqt), h = (int)(t / nqt % Hq), b = (int)(t / nqt / Hq);
      const int i0 = qt * BQ, i1 = std::min(T, i0 + BQ);
      tiles.bwd_q(a, dq, work.data(), b, h, i0, i1);
    }
  }
}

}  // extern "C"
