// What the paths of attention.cpp share (not part of the C ABI): the tile sizes, one call's
// arguments and the tile kernels, parameterised by a path's vector primitives (Scalar here, the
// SIMD ones beside their instruction sets). attention.cpp instantiates them for the scalar, AVX2 and
// AVX-512 paths; native/simde/ again for the AVX-512 path under emulation.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#define G4_INLINE __attribute__((always_inline)) inline

namespace g4::attention {

constexpr int BQ = 32;  // queries per tile
constexpr int BK = 64;  // keys per tile: eight 8-float vectors
constexpr float NEG_INF = -INFINITY;

// ---- vector primitives, each over one tile row of BK lanes or one head vector of D floats -----
// scores:  s[c] = sum_d x[d] Xt[d,c]                 c < BK   (x [D], Xt [D,BK])
// mask:    s[c] = scale s[c] if r0 <= c < r1 and segt[c] == si, else -inf; returns max_c s[c]
// expsub:  p[c] = exp(s[c] - sub), exactly 0 where s[c] = -inf;           returns sum_c p[c]
// acc:     y[d] += sum_r c[r*cs] rows[r*rs + d]       r < n, d < D
// scal:    y[d] *= a
struct Scalar {
  static G4_INLINE void scores(float* s, const float* x, const float* Xt, int D) {
    for (int c = 0; c < BK; c++) s[c] = 0.f;
    for (int d = 0; d < D; d++)
      for (int c = 0; c < BK; c++) s[c] += x[d] * Xt[d * BK + c];
  }
  static G4_INLINE float mask(float* s, const int32_t* segt, int32_t si, int r0, int r1, float scale) {
    float mx = NEG_INF;
    for (int c = 0; c < BK; c++) {
      s[c] = c >= r0 && c < r1 && segt[c] == si ? scale * s[c] : NEG_INF;
      mx = std::max(mx, s[c]);
    }
    return mx;
  }
  static G4_INLINE float expsub(float* p, const float* s, float sub) {
    float sum = 0.f;
    for (int c = 0; c < BK; c++) sum += p[c] = s[c] == NEG_INF ? 0.f : std::exp(s[c] - sub);
    return sum;
  }
  static G4_INLINE void acc(float* y, const float* c, int64_t cs, const float* rows, int64_t rs, int n,
                            int D) {
    for (int r = 0; r < n; r++)
      for (int d = 0; d < D; d++) y[d] += c[r * cs] * rows[r * rs + d];
  }
  static G4_INLINE void scal(float* y, float a, int D) {
    for (int d = 0; d < D; d++) y[d] *= a;
  }
};

// ---- one call's arguments and its packed key/value tiles -----------------------------------------
// KT, VT [B,Hkv,nkt,D,BK]: tile (b,g,kt) is keys kt*BK.. of kv head g, transposed, zero past T;
// packed once per call since every query tile after it reads the tile again.
struct Attn {
  const float *q, *k, *v, *dout, *lse, *Di;  // Di [B,Hq,T]: rowsum(dout * out), backward only
  const float *KT, *VT;                      // VT: backward only
  const int32_t* seg;                        // [B,T], never NULL here
  const int *first, *last;                   // [B,T], see the header
  int B, T, Hq, Hkv, D, G, nkt;
  float scale;
  // element offset of token t, head h of batch row b in a [B,T,H,D] tensor
  int64_t at(int b, int t, int h, int H) const { return (((int64_t)b * T + t) * H + h) * D; }
  int64_t lse_at(int b, int h, int t) const { return ((int64_t)b * Hq + h) * T + t; }
  const float* tile(const float* xt, int b, int g, int kt) const {
    return xt + (((int64_t)b * Hkv + g) * nkt + kt) * D * BK;
  }
};

// dst [n,D] = n rows of D floats, `stride` apart in src
inline void copy_rows(float* dst, const float* src, int64_t stride, int n, int D) {
  for (int r = 0; r < n; r++) std::memcpy(dst + (int64_t)r * D, src + r * stride, sizeof(float) * D);
}
// segt [BK] = seg[j0..j0+n), then 0 (never matches a query)
inline void load_seg(int32_t* segt, const int32_t* seg, int n) {
  for (int c = 0; c < BK; c++) segt[c] = c < n ? seg[c] : 0;
}

// ---- forward: queries [i0,i1) of head h in batch row b; Vc [BK,D] is work space ---------------
template <class V>
G4_INLINE void fwd_tile(const Attn& a, float* out, float* lse, float* Vc, int b, int h, int i0, int i1) {
  const int D = a.D, kvh = h / a.G;
  const int32_t* sg = a.seg + (int64_t)b * a.T;
  const int* first = a.first + (int64_t)b * a.T;
  alignas(32) float s[BK], p[BK];
  alignas(32) int32_t segt[BK];
  float m[BQ], l[BQ];
  int lo = i1;  // the first key any query of the tile can see
  for (int i = i0; i < i1; i++) {
    std::memset(out + a.at(b, i, h, a.Hq), 0, sizeof(float) * D);
    m[i - i0] = NEG_INF;
    l[i - i0] = 0.f;
    if (sg[i] != 0) lo = std::min(lo, first[i]);
  }
  for (int kt = lo / BK; lo < i1 && kt * BK < i1; kt++) {  // key tiles [j0, j1) up to the diagonal
    const int j0 = kt * BK, j1 = std::min(j0 + BK, i1);
    const float* Kt = a.tile(a.KT, b, kvh, kt);
    copy_rows(Vc, a.v + a.at(b, j0, kvh, a.Hkv), (int64_t)a.Hkv * D, j1 - j0, D);
    load_seg(segt, sg + j0, j1 - j0);
    for (int i = i0; i < i1; i++) {
      // tile lanes [r0, r1) = keys [max(j0, first_i), i] of this tile
      const int r0 = std::max(j0, first[i]) - j0, r1 = std::min(j1, i + 1) - j0;
      if (sg[i] == 0 || r0 >= r1) continue;
      float* o = out + a.at(b, i, h, a.Hq);
      V::scores(s, a.q + a.at(b, i, h, a.Hq), Kt, D);
      const float mt = V::mask(s, segt, sg[i], r0, r1, a.scale);
      if (mt == NEG_INF) continue;  // nothing visible here (only with non-contiguous segment ids)
      float& mi = m[i - i0];
      if (mt > mi) {  // rescale what was accumulated under the old max; exp(-inf) = 0 at first
        const float c = std::exp(mi - mt);
        l[i - i0] *= c;
        V::scal(o, c, D);
        mi = mt;
      }
      l[i - i0] += V::expsub(p, s, mi);
      V::acc(o, p + r0, 1, Vc + r0 * D, D, r1 - r0, D);  // o += p V
    }
  }
  for (int i = i0; i < i1; i++) {
    const float li = l[i - i0];
    if (li > 0.f) V::scal(out + a.at(b, i, h, a.Hq), 1.f / li, D);
    lse[a.lse_at(b, h, i)] = li > 0.f ? m[i - i0] + std::log(li) : NEG_INF;  // out stays 0
  }
}

// P and scale*dS of query i (q_i = x, dout_i = dx) against the key tile Kt/Vt; lanes outside
// [r0, r1) or of another segment are exactly 0. Returns false when none of the tile is visible.
template <class V>
G4_INLINE bool probs(const Attn& a, float* p, float* ds, const float* x, const float* dx, const float* Kt,
                     const float* Vt, const int32_t* segt, int b, int h, int i, int r0, int r1) {
  alignas(32) float s[BK], dp[BK];
  V::scores(s, x, Kt, a.D);    // q_i . k_j
  V::scores(dp, dx, Vt, a.D);  // dout_i . v_j
  if (V::mask(s, segt, a.seg[(int64_t)b * a.T + i], r0, r1, a.scale) == NEG_INF) return false;
  V::expsub(p, s, a.lse[a.lse_at(b, h, i)]);
  const float D_i = a.Di[a.lse_at(b, h, i)];
  for (int c = 0; c < BK; c++) ds[c] = a.scale * p[c] * (dp[c] - D_i);
  return true;
}

// ---- backward pass 1: dk, dv of key tile kt of kv head g in batch row b -----------------------
// work: dKc, dVc [BK,D] accumulators; Qc, dOc [BQ,D] a block of queries; P, dS [BQ,BK]
template <class V>
G4_INLINE void bwd_kv_tile(const Attn& a, float* dk, float* dv, float* w, int b, int g, int kt) {
  const int D = a.D, j0 = kt * BK, j1 = std::min(a.T, j0 + BK), n = j1 - j0;
  const int64_t qs = (int64_t)a.Hq * D;
  float *dKc = w, *dVc = dKc + BK * D, *Qc = dVc + BK * D, *dOc = Qc + BQ * D, *P = dOc + BQ * D;
  float* dS = P + BQ * BK;
  const int32_t* sg = a.seg + (int64_t)b * a.T;
  const int *first = a.first + (int64_t)b * a.T, *last = a.last + (int64_t)b * a.T;
  const float *Kt = a.tile(a.KT, b, g, kt), *Vt = a.tile(a.VT, b, g, kt);
  alignas(32) int32_t segt[BK];
  std::fill(dKc, dKc + 2 * BK * D, 0.f);
  load_seg(segt, sg + j0, n);
  int hi = j0 - 1;  // the last query that can see a key of the tile
  for (int j = j0; j < j1; j++)
    if (sg[j] != 0) hi = std::max(hi, last[j]);
  for (int h = g * a.G; h < (g + 1) * a.G; h++) {  // the query heads reading kv head g
    for (int ib = j0; ib <= hi; ib += BQ) {        // query blocks [ib, ie)
      const int ie = std::min(ib + BQ, hi + 1);
      copy_rows(Qc, a.q + a.at(b, ib, h, a.Hq), qs, ie - ib, D);
      copy_rows(dOc, a.dout + a.at(b, ib, h, a.Hq), qs, ie - ib, D);
      int fr = ie, lr = ib - 1;  // first and last query of the block that sees the tile
      for (int i = ib; i < ie; i++) {
        const int r0 = std::max(j0, first[i]) - j0, r1 = std::min(j1, i + 1) - j0, u = i - ib;
        if (sg[i] != 0 && r0 < r1 && probs<V>(a, P + u * BK, dS + u * BK, Qc + u * D, dOc + u * D, Kt, Vt, segt, b, h, i, r0, r1)) {
          fr = std::min(fr, i), lr = i;
        } else {
          std::fill(P + u * BK, P + (u + 1) * BK, 0.f), std::fill(dS + u * BK, dS + (u + 1) * BK, 0.f);
        }
      }
      if (fr > lr) continue;
      // dv_j += sum_i P_ij dout_i,  dk_j += sum_i (scale dS_ij) q_i   over queries fr..lr
      const int u = fr - ib, nr = lr - fr + 1;
      for (int r = 0; r < n; r++) {
        V::acc(dVc + r * D, P + u * BK + r, BK, dOc + u * D, D, nr, D);
        V::acc(dKc + r * D, dS + u * BK + r, BK, Qc + u * D, D, nr, D);
      }
    }
  }
  for (int r = 0; r < n; r++) {
    std::memcpy(dk + a.at(b, j0 + r, g, a.Hkv), dKc + r * D, sizeof(float) * D);
    std::memcpy(dv + a.at(b, j0 + r, g, a.Hkv), dVc + r * D, sizeof(float) * D);
  }
}

// ---- backward pass 2: dq of queries [i0,i1) of head h in batch row b; Kc [BK,D] work ----------
template <class V>
G4_INLINE void bwd_q_tile(const Attn& a, float* dq, float* Kc, int b, int h, int i0, int i1) {
  const int D = a.D, kvh = h / a.G;
  const int32_t* sg = a.seg + (int64_t)b * a.T;
  const int* first = a.first + (int64_t)b * a.T;
  alignas(32) float p[BK], ds[BK];
  alignas(32) int32_t segt[BK];
  int lo = i1;
  for (int i = i0; i < i1; i++) {
    std::memset(dq + a.at(b, i, h, a.Hq), 0, sizeof(float) * D);
    if (sg[i] != 0) lo = std::min(lo, first[i]);
  }
  for (int kt = lo / BK; lo < i1 && kt * BK < i1; kt++) {
    const int j0 = kt * BK, j1 = std::min(j0 + BK, i1);
    const float *Kt = a.tile(a.KT, b, kvh, kt), *Vt = a.tile(a.VT, b, kvh, kt);
    copy_rows(Kc, a.k + a.at(b, j0, kvh, a.Hkv), (int64_t)a.Hkv * D, j1 - j0, D);
    load_seg(segt, sg + j0, j1 - j0);
    for (int i = i0; i < i1; i++) {
      const int r0 = std::max(j0, first[i]) - j0, r1 = std::min(j1, i + 1) - j0;
      const int64_t qi = a.at(b, i, h, a.Hq);
      if (sg[i] == 0 || r0 >= r1 || !probs<V>(a, p, ds, a.q + qi, a.dout + qi, Kt, Vt, segt, b, h, i, r0, r1))
        continue;
      V::acc(dq + qi, ds + r0, 1, Kc + r0 * D, D, r1 - r0, D);  // dq_i += sum_j (scale dS_ij) k_j
    }
  }
}

// The tile kernels of the AVX-512 path under SIMDe's emulation (native/simde/), where the library
// was built with SIMDe.
void fwd_tile_avx512_emulated(const Attn& a, float* o, float* l, float* w, int b, int h, int i0, int i1);
void bwd_kv_tile_avx512_emulated(const Attn& a, float* dk, float* dv, float* w, int b, int g, int kt);
void bwd_q_tile_avx512_emulated(const Attn& a, float* dq, float* w, int b, int h, int i0, int i1);

}  // namespace g4::attention
