// Causal self-attention on the CPU, flash style: fp32, OpenMP, AVX2/FMA with a scalar fallback.
//
// Shapes: q, out, dq, dout [B,T,Hq,D]; k, v, dk, dv [B,T,Hkv,D]; lse [B,Hq,T]; seg [B,T] or NULL.
// GQA: query head h reads kv head h / G with G = Hq/Hkv. A token's row of heads is Hq*D floats on
// the query side and Hkv*D floats on the key/value side, so consecutive keys of one head are
// Hkv*D floats apart.
// Visibility: key j is visible to query i iff j <= i and seg[j] == seg[i] != 0 (NULL: all 1).
//
// forward, per (b, h, query i), over the visible keys j:
//   s_ij  = scale * q_i . k_j
//   lse_i = log sum_j exp(s_ij)
//   out_i = sum_j exp(s_ij - lse_i) v_j
// evaluated over key tiles with an online softmax: m = running max, l = running sum of exp(s - m),
// acc = running sum of exp(s - m) v_j (kept in out_i itself). A tile whose max m' exceeds m first
// rescales l and acc by exp(m - m'). At the end out_i = acc / l and lse_i = m + log l. A query
// with no visible key (only padding, seg == 0) gets out_i = 0 and lse_i = -inf.
// Work per task: one (b, h, tile of BQ queries) x its key tiles of BK keys; no T x T matrix exists.
//
// backward (FlashAttention-2), with P_ij = exp(s_ij - lse_i) recomputed tile by tile:
//   D_i   = dout_i . out_i                         (= sum_j P_ij dP_ij)
//   dP_ij = dout_i . v_j
//   dS_ij = P_ij (dP_ij - D_i)
//   dq_i  = scale sum_j dS_ij k_j,  dk_j = scale sum_i dS_ij q_i,  dv_j = sum_i P_ij dout_i
// pass 1, parallel over (b, kv head, key tile): the task owns dk/dv of its BK keys and sums over
//         every query head of the group and every query that can see them;
// pass 2, parallel over (b, h, query tile): the task owns dq of its BQ queries.
// Every output element is written by exactly one task in a fixed order: no atomics, and results
// do not depend on the thread count or the schedule. All outputs are overwritten.
//
// Tile skipping: first[b,t] / last[b,t] are the first / last positions of row b holding seg[b,t].
// Query i needs only keys in [first_i, i]; key j is seen only by queries in [j, last_j]. For
// contiguous segments (right padding, packed sequences) these bounds are exact; for arbitrary ids
// they are still safe bounds and the per-key segment test does the rest.
#include "g4_cpu.h"
#include "g4_internal.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <unordered_map>
#include <vector>

#define G4_INLINE __attribute__((always_inline)) inline

namespace {

constexpr int BQ = 32;  // queries per tile
constexpr int BK = 64;  // keys per tile
constexpr float NEG_INF = -INFINITY;

// ---- vector primitives ---------------------------------------------------------------------
// dots: s[r] = x . rows[r*stride], r < n (x and each row [D]);  axpy: y += a x;  scal: y *= a.
struct Scalar {
  static G4_INLINE void dots(float* s, const float* x, const float* rows, int64_t stride, int n,
                             int D) {
    for (int r = 0; r < n; r++) {
      const float* y = rows + r * stride;
      float acc = 0.f;
      for (int d = 0; d < D; d++) acc += x[d] * y[d];
      s[r] = acc;
    }
  }
  static G4_INLINE void axpy(float* y, float a, const float* x, int D) {
    for (int d = 0; d < D; d++) y[d] += a * x[d];
  }
  static G4_INLINE void scal(float* y, float a, int D) {
    for (int d = 0; d < D; d++) y[d] *= a;
  }
};

struct Avx2 {
  G4_AVX2 static inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
  }
  // four rows at a time so each load of x feeds four FMAs; D % 8 leftovers in a scalar tail
  G4_AVX2 static inline void dots(float* s, const float* x, const float* rows, int64_t stride,
                                  int n, int D) {
    const int D8 = D & ~7;
    int r = 0;
    for (; r + 4 <= n; r += 4) {
      const float *y0 = rows + r * stride, *y1 = y0 + stride, *y2 = y1 + stride, *y3 = y2 + stride;
      __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
      for (int d = 0; d < D8; d += 8) {
        __m256 xv = _mm256_loadu_ps(x + d);
        a0 = _mm256_fmadd_ps(xv, _mm256_loadu_ps(y0 + d), a0);
        a1 = _mm256_fmadd_ps(xv, _mm256_loadu_ps(y1 + d), a1);
        a2 = _mm256_fmadd_ps(xv, _mm256_loadu_ps(y2 + d), a2);
        a3 = _mm256_fmadd_ps(xv, _mm256_loadu_ps(y3 + d), a3);
      }
      float t0 = hsum(a0), t1 = hsum(a1), t2 = hsum(a2), t3 = hsum(a3);
      for (int d = D8; d < D; d++) {
        t0 += x[d] * y0[d]; t1 += x[d] * y1[d]; t2 += x[d] * y2[d]; t3 += x[d] * y3[d];
      }
      s[r] = t0; s[r + 1] = t1; s[r + 2] = t2; s[r + 3] = t3;
    }
    for (; r < n; r++) {
      const float* y = rows + r * stride;
      __m256 a = _mm256_setzero_ps();
      for (int d = 0; d < D8; d += 8) a = _mm256_fmadd_ps(_mm256_loadu_ps(x + d), _mm256_loadu_ps(y + d), a);
      float t = hsum(a);
      for (int d = D8; d < D; d++) t += x[d] * y[d];
      s[r] = t;
    }
  }
  G4_AVX2 static inline void axpy(float* y, float a, const float* x, int D) {
    const __m256 av = _mm256_set1_ps(a);
    int d = 0;
    for (; d + 8 <= D; d += 8)
      _mm256_storeu_ps(y + d, _mm256_fmadd_ps(av, _mm256_loadu_ps(x + d), _mm256_loadu_ps(y + d)));
    for (; d < D; d++) y[d] += a * x[d];
  }
  G4_AVX2 static inline void scal(float* y, float a, int D) {
    const __m256 av = _mm256_set1_ps(a);
    int d = 0;
    for (; d + 8 <= D; d += 8) _mm256_storeu_ps(y + d, _mm256_mul_ps(av, _mm256_loadu_ps(y + d)));
    for (; d < D; d++) y[d] *= a;
  }
};

// ---- one call's arguments --------------------------------------------------------------------
struct Attn {
  const float *q, *k, *v, *out, *dout, *lse, *Di;  // Di [B,Hq,T]: rowsum(dout * out), backward only
  const int32_t* seg;                              // [B,T], never NULL here
  const int *first, *last;                         // [B,T], see the header
  int B, T, Hq, Hkv, D, G;
  float scale;
  // element offset of token t, head h of batch row b in a [B,T,H,D] tensor
  int64_t at(int b, int t, int h, int H) const { return (((int64_t)b * T + t) * H + h) * D; }
  int64_t lse_at(int b, int h, int t) const { return ((int64_t)b * Hq + h) * T + t; }
};

// ---- forward: queries [i0,i1) of head h in batch row b ----------------------------------------
template <class V>
G4_INLINE void fwd_tile(const Attn& a, float* out, float* lse, int b, int h, int i0, int i1) {
  const int D = a.D, kvh = h / a.G;
  const int64_t ks = (int64_t)a.Hkv * D;  // distance between consecutive keys of one kv head
  const int32_t* sg = a.seg + (int64_t)b * a.T;
  const int* first = a.first + (int64_t)b * a.T;
  float m[BQ], l[BQ], s[BK];
  int lo = i1;  // the first key any query of the tile can see
  for (int i = i0; i < i1; i++) {
    std::memset(out + a.at(b, i, h, a.Hq), 0, sizeof(float) * D);
    m[i - i0] = NEG_INF;
    l[i - i0] = 0.f;
    if (sg[i] != 0) lo = std::min(lo, first[i]);
  }
  // key tiles [j0, j1) up to the diagonal; the last one holds keys i0..i1-1
  for (int j0 = lo; j0 < i1; j0 += BK) {
    const int j1 = std::min(j0 + BK, i1);
    for (int i = i0; i < i1; i++) {
      const int si = sg[i], lo_i = std::max(j0, first[i]), hi_i = std::min(j1, i + 1);
      if (si == 0 || lo_i >= hi_i) continue;  // keys [lo_i, hi_i) of this tile may be visible
      const int n = hi_i - lo_i;
      float* o = out + a.at(b, i, h, a.Hq);
      const float* kj = a.k + a.at(b, lo_i, kvh, a.Hkv);
      V::dots(s, a.q + a.at(b, i, h, a.Hq), kj, ks, n, D);
      float mt = NEG_INF;
      for (int r = 0; r < n; r++) {
        s[r] = sg[lo_i + r] == si ? a.scale * s[r] : NEG_INF;
        mt = std::max(mt, s[r]);
      }
      if (mt == NEG_INF) continue;  // nothing visible here (only with non-contiguous segment ids)
      float& mi = m[i - i0];
      float& li = l[i - i0];
      if (mt > mi) {  // rescale what was accumulated under the old max
        const float c = std::exp(mi - mt);  // exp(-inf) = 0 on the first visible tile
        li *= c;
        V::scal(o, c, D);
        mi = mt;
      }
      const float* vj = a.v + a.at(b, lo_i, kvh, a.Hkv);
      for (int r = 0; r < n; r++) {
        if (s[r] == NEG_INF) continue;
        const float p = std::exp(s[r] - mi);
        li += p;
        V::axpy(o, p, vj + r * ks, D);
      }
    }
  }
  for (int i = i0; i < i1; i++) {
    const float li = l[i - i0];
    float* L = lse + a.lse_at(b, h, i);
    if (li > 0.f) {
      V::scal(out + a.at(b, i, h, a.Hq), 1.f / li, D);
      *L = m[i - i0] + std::log(li);
    } else {
      *L = NEG_INF;  // out row stays 0
    }
  }
}

// ---- backward pass 1: dk, dv of keys [j0,j1) of kv head g in batch row b ----------------------
template <class V>
G4_INLINE void bwd_kv_tile(const Attn& a, float* dk, float* dv, int b, int g, int j0, int j1) {
  const int D = a.D;
  const int64_t ks = (int64_t)a.Hkv * D;
  const int32_t* sg = a.seg + (int64_t)b * a.T;
  const int *first = a.first + (int64_t)b * a.T, *last = a.last + (int64_t)b * a.T;
  float s[BK], dp[BK];
  int hi = j0 - 1;  // the last query that can see a key of the tile
  for (int j = j0; j < j1; j++) {
    std::memset(dk + a.at(b, j, g, a.Hkv), 0, sizeof(float) * D);
    std::memset(dv + a.at(b, j, g, a.Hkv), 0, sizeof(float) * D);
    if (sg[j] != 0) hi = std::max(hi, last[j]);
  }
  const float* kt = a.k + a.at(b, j0, g, a.Hkv);
  const float* vt = a.v + a.at(b, j0, g, a.Hkv);
  float* dkt = dk + a.at(b, j0, g, a.Hkv);
  float* dvt = dv + a.at(b, j0, g, a.Hkv);
  for (int h = g * a.G; h < (g + 1) * a.G; h++) {  // the query heads reading kv head g
    for (int i = j0; i <= hi; i++) {
      const int si = sg[i], lo_i = std::max(j0, first[i]), hi_i = std::min(j1, i + 1);
      if (si == 0 || lo_i >= hi_i) continue;
      const int n = hi_i - lo_i, off = lo_i - j0;  // keys [lo_i, hi_i) = tile rows [off, off+n)
      const float* qi = a.q + a.at(b, i, h, a.Hq);
      const float* doi = a.dout + a.at(b, i, h, a.Hq);
      const float lse_i = a.lse[a.lse_at(b, h, i)], D_i = a.Di[a.lse_at(b, h, i)];
      V::dots(s, qi, kt + off * ks, ks, n, D);   // q_i . k_j
      V::dots(dp, doi, vt + off * ks, ks, n, D); // dout_i . v_j
      for (int r = 0; r < n; r++) {
        if (sg[lo_i + r] != si) continue;
        const float p = std::exp(a.scale * s[r] - lse_i);
        const float ds = p * (dp[r] - D_i);
        V::axpy(dvt + (off + r) * ks, p, doi, D);
        V::axpy(dkt + (off + r) * ks, a.scale * ds, qi, D);
      }
    }
  }
}

// ---- backward pass 2: dq of queries [i0,i1) of head h in batch row b -------------------------
template <class V>
G4_INLINE void bwd_q_tile(const Attn& a, float* dq, int b, int h, int i0, int i1) {
  const int D = a.D, kvh = h / a.G;
  const int64_t ks = (int64_t)a.Hkv * D;
  const int32_t* sg = a.seg + (int64_t)b * a.T;
  const int* first = a.first + (int64_t)b * a.T;
  float s[BK], dp[BK];
  int lo = i1;
  for (int i = i0; i < i1; i++) {
    std::memset(dq + a.at(b, i, h, a.Hq), 0, sizeof(float) * D);
    if (sg[i] != 0) lo = std::min(lo, first[i]);
  }
  for (int j0 = lo; j0 < i1; j0 += BK) {
    const int j1 = std::min(j0 + BK, i1);
    for (int i = i0; i < i1; i++) {
      const int si = sg[i], lo_i = std::max(j0, first[i]), hi_i = std::min(j1, i + 1);
      if (si == 0 || lo_i >= hi_i) continue;
      const int n = hi_i - lo_i;
      const float* kj = a.k + a.at(b, lo_i, kvh, a.Hkv);
      const float* vj = a.v + a.at(b, lo_i, kvh, a.Hkv);
      const float lse_i = a.lse[a.lse_at(b, h, i)], D_i = a.Di[a.lse_at(b, h, i)];
      float* dqi = dq + a.at(b, i, h, a.Hq);
      V::dots(s, a.q + a.at(b, i, h, a.Hq), kj, ks, n, D);
      V::dots(dp, a.dout + a.at(b, i, h, a.Hq), vj, ks, n, D);
      for (int r = 0; r < n; r++) {
        if (sg[lo_i + r] != si) continue;
        const float p = std::exp(a.scale * s[r] - lse_i);
        V::axpy(dqi, a.scale * p * (dp[r] - D_i), kj + r * ks, D);
      }
    }
  }
}

// D_i = dout_i . out_i for every (b, i, h), written [B,Hq,T]
template <class V>
G4_INLINE void rowdot(const Attn& a, float* Di, int b, int i) {
  for (int h = 0; h < a.Hq; h++) {
    const int64_t o = a.at(b, i, h, a.Hq);
    V::dots(Di + a.lse_at(b, h, i), a.dout + o, a.out + o, 0, 1, a.D);
  }
}

// the SIMD flavour of each tile kernel, chosen per call by g4::use_avx2()
void fwd_tile_scalar(const Attn& a, float* o, float* l, int b, int h, int i0, int i1) { fwd_tile<Scalar>(a, o, l, b, h, i0, i1); }
G4_AVX2 void fwd_tile_avx2(const Attn& a, float* o, float* l, int b, int h, int i0, int i1) { fwd_tile<Avx2>(a, o, l, b, h, i0, i1); }
void bwd_kv_tile_scalar(const Attn& a, float* dk, float* dv, int b, int g, int j0, int j1) { bwd_kv_tile<Scalar>(a, dk, dv, b, g, j0, j1); }
G4_AVX2 void bwd_kv_tile_avx2(const Attn& a, float* dk, float* dv, int b, int g, int j0, int j1) { bwd_kv_tile<Avx2>(a, dk, dv, b, g, j0, j1); }
void bwd_q_tile_scalar(const Attn& a, float* dq, int b, int h, int i0, int i1) { bwd_q_tile<Scalar>(a, dq, b, h, i0, i1); }
G4_AVX2 void bwd_q_tile_avx2(const Attn& a, float* dq, int b, int h, int i0, int i1) { bwd_q_tile<Avx2>(a, dq, b, h, i0, i1); }
void rowdot_scalar(const Attn& a, float* Di, int b, int i) { rowdot<Scalar>(a, Di, b, i); }
G4_AVX2 void rowdot_avx2(const Attn& a, float* Di, int b, int i) { rowdot<Avx2>(a, Di, b, i); }

// Segment ids and the first/last position of each token's id within its batch row (see header).
struct Segments {
  std::vector<int32_t> ones;
  std::vector<int> first, last;
  const int32_t* seg;
  Segments(const int32_t* s, int B, int T) : first((size_t)B * T), last((size_t)B * T) {
    if (s == nullptr) {  // one segment per row: every key before the query is visible
      ones.assign((size_t)B * T, 1);
      seg = ones.data();
      for (int64_t bt = 0; bt < (int64_t)B * T; bt++) { first[bt] = 0; last[bt] = T - 1; }
      return;
    }
    seg = s;
#pragma omp parallel for schedule(static)
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
  if (B <= 0 || T <= 0 || Hq <= 0 || Hkv <= 0 || D <= 0) return;
  Segments sg(seg, B, T);
  const Attn a{q, k, v, nullptr, nullptr, nullptr, nullptr, sg.seg, sg.first.data(), sg.last.data(),
               B, T, Hq, Hkv, D, Hq / Hkv, scale};
  const bool avx2 = g4::use_avx2();
  const int nqt = (T + BQ - 1) / BQ;
  const int64_t tasks = (int64_t)B * Hq * nqt;
  // task -> (b, h, query tile); the last (longest) query tiles are handed out first
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t t = 0; t < tasks; t++) {
    const int qt = nqt - 1 - (int)(t % nqt), h = (int)(t / nqt % Hq), b = (int)(t / nqt / Hq);
    const int i0 = qt * BQ, i1 = std::min(T, i0 + BQ);
    if (avx2) fwd_tile_avx2(a, out, lse, b, h, i0, i1);
    else fwd_tile_scalar(a, out, lse, b, h, i0, i1);
  }
}

G4_API void g4_attention_bwd(float* dq, float* dk, float* dv, const float* dout, const float* out,
                             const float* lse, const float* q, const float* k, const float* v,
                             const int32_t* seg, int B, int T, int Hq, int Hkv, int D, float scale) {
  if (B <= 0 || T <= 0 || Hq <= 0 || Hkv <= 0 || D <= 0) return;
  Segments sg(seg, B, T);
  std::vector<float> Di((size_t)B * Hq * T);  // [B,Hq,T]
  const Attn a{q, k, v, out, dout, lse, Di.data(), sg.seg, sg.first.data(), sg.last.data(),
               B, T, Hq, Hkv, D, Hq / Hkv, scale};
  const bool avx2 = g4::use_avx2();
#pragma omp parallel for schedule(static)
  for (int64_t bt = 0; bt < (int64_t)B * T; bt++) {  // bt = b*T + i
    if (avx2) rowdot_avx2(a, Di.data(), (int)(bt / T), (int)(bt % T));
    else rowdot_scalar(a, Di.data(), (int)(bt / T), (int)(bt % T));
  }
  // pass 1: task -> (b, kv head g, key tile); early key tiles are seen by the most queries: first
  const int nkt = (T + BK - 1) / BK;
  const int64_t kv_tasks = (int64_t)B * Hkv * nkt;
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t t = 0; t < kv_tasks; t++) {
    const int kt = (int)(t % nkt), g = (int)(t / nkt % Hkv), b = (int)(t / nkt / Hkv);
    const int j0 = kt * BK, j1 = std::min(T, j0 + BK);
    if (avx2) bwd_kv_tile_avx2(a, dk, dv, b, g, j0, j1);
    else bwd_kv_tile_scalar(a, dk, dv, b, g, j0, j1);
  }
  // pass 2: task -> (b, h, query tile); late query tiles see the most keys: first
  const int nqt = (T + BQ - 1) / BQ;
  const int64_t q_tasks = (int64_t)B * Hq * nqt;
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t t = 0; t < q_tasks; t++) {
    const int qt = nqt - 1 - (int)(t % nqt), h = (int)(t / nqt % Hq), b = (int)(t / nqt / Hq);
    const int i0 = qt * BQ, i1 = std::min(T, i0 + BQ);
    if (avx2) bwd_q_tile_avx2(a, dq, b, h, i0, i1);
    else bwd_q_tile_scalar(a, dq, b, h, i0, i1);
  }
}

}  // extern "C"
