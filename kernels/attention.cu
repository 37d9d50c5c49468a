// attention.cu — causal self-attention forward, FlashAttention-2 style (backward: attention_backward.cu).
//
// Shapes (bf16 storage, fp32 math): q, out [B,T,Hq,D]; k, v [B,T,Hkv,D]; lse F32 [B,Hq,T];
// seg I32 [B,T] or NULL. GQA: query head h reads kv head h / (Hq/Hkv).
// Visibility: key j is visible to query i iff j <= i and seg[j] == seg[i] != 0 (NULL: all 1), so
// padding (seg 0) and packed sequences (runs of ids 1, 2, ...) need no other argument.
//   s_ij  = scale * q_i . k_j                 (visible j only)
//   lse_i = log sum_j exp(s_ij)               out_i = sum_j exp(s_ij - lse_i) v_j
// A query with no visible key (seg 0) gets out_i = 0 and lse_i = -inf. Same results as
// native/src/attention.cpp, which is the CPU version of these kernels.
//
// attention_forward_d64 / _d128 (tensor cores): grid (ceil(T/64), Hq, B), block 128 (4 warps),
//   dynamic shared memory 2*64*D*2 + 64*4 bytes (K tile, V tile, the key tile's segment ids).
//   q/k/v/out 16-byte aligned (the launcher falls back to the generic kernel otherwise).
//   Each warp owns 16 of the block's 64 queries; its Q rows stay in registers as mma A fragments
//   (staged once through shared memory, ldmatrix). Per key tile of BK = 64 keys, K and V are
//   copied to shared memory (16-byte chunks, XOR-swizzled against bank conflicts) and each warp:
//     S = Q K^T          16 x 64 fp32 in mma accumulators (ldmatrix of K rows = B fragments)
//     mask               causal + segments, per element, from a 32-bit visibility mask per lane
//     online softmax     row max / sum over the 4 lanes of a quad (shuffles); m, l per row
//     O = O*alpha + P V  P rounded to bf16 straight from the accumulators into A fragments,
//                        V read with ldmatrix .trans as B fragments
//   Key tiles past the block's last query are never loaded; a warp skips all math of a tile in
//   which none of its 16 x 64 pairs is visible (padding, other sequences of a packed row).
//   Registers (nvcc 13, -Xptxas -v): see the table at the end of this comment.
//
// attention_forward_generic: any D <= 256 (the launcher's choice for other head dims or
//   unaligned tensors). grid (ceil(T/4), Hq, B), block 128, one warp per query row, dynamic
//   shared memory 4*D*4 + 4*32*4 + 32*4 + 32*S*2 + 32*D*2 bytes, S = odd_stride(D) (37 KiB at
//   D = 256). Keys come in chunks of 32, one per lane: lane l scores key j0+l, the warp takes the
//   chunk's max (online softmax), and each lane with output dims (lane_dim: pairs of neighbours
//   when D is even, else d = lane + 32r) sums the chunk's probabilities and accumulates its dims
//   from the chunk's V rows in shared memory.
//
// ptxas (nvcc 13, -Xptxas -v), registers sm_80 / sm_90, no spills in any forward kernel:
//   attention_forward_d64      134 / 133   (3 blocks of 128 threads per SM)
//   attention_forward_d128     174 / 173   (2 blocks per SM)
//   attention_forward_generic   80 / 72
#include "attention.cuh"

namespace g4att {  // every name here is unique across kernel files (one nvcc translation unit)

template <int D>
G4_DEVICE void forward_tc(bf16* out, float* lse, const bf16* q, const bf16* k, const bf16* v,
                          const int* seg, int T, int Hq, int Hkv, float scale) {
  constexpr int BQ = 64, NKD = D / 16, NDB = D / 8, NSB = BK / 8;
  G4_DYNAMIC_SMEM(bf16, smem);
  bf16 *Ks = smem, *Vs = smem + BK * D;  // [BK][D] each, swizzled; Ks first holds the Q tile
  int* segk = reinterpret_cast<int*>(Vs + BK * D);  // [BK]
  const int h = blockIdx.y, b = blockIdx.z, kvh = h / (Hq / Hkv), i0 = blockIdx.x * BQ;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t4 = lane % 4;
  const long long qs = (long long)Hq * D, ks = (long long)Hkv * D;  // token strides
  const bf16* qh = q + (long long)b * T * qs + (long long)h * D;      // q[b, 0, h, :]
  const bf16* kh = k + (long long)b * T * ks + (long long)kvh * D;    // k[b, 0, kvh, :]
  const bf16* vh = v + (long long)b * T * ks + (long long)kvh * D;

  load_tile<BQ, D>(Ks, qh + i0 * qs, qs, min(BQ, T - i0));
  __syncthreads();
  const int offa = lane_off<D, A>(lane), offb = lane_off<D, B>(lane), offbt = lane_off<D, BT>(lane);
  uint32_t qf[NKD][4];  // this warp's 16 query rows x D as A fragments
  for (int kk = 0; kk < NKD; kk++) g4_ldmatrix_x4(qf[kk], frag_at<D>(Ks, offa, warp * 16, kk * 16));

  const int r0 = i0 + warp * 16 + g, r1 = r0 + 8;  // the lane's two query rows
  const int s0 = r0 < T ? seg_of(seg, b, T, r0) : 0, s1 = r1 < T ? seg_of(seg, b, T, r1) : 0;
  float o[NDB][4] = {};
  float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.f, l1 = 0.f;  // per row: running max, lane's part of the sum
  const int iend = min(T, i0 + BQ);  // keys [0, iend) can be visible to some query of the block
  for (int j0 = 0; j0 < iend; j0 += BK) {
    __syncthreads();  // the previous tile (or the staged Q) is no longer read
    load_tile<BK, D>(Ks, kh + j0 * ks, ks, min(BK, T - j0));
    load_tile<BK, D>(Vs, vh + j0 * ks, ks, min(BK, T - j0));
    if (threadIdx.x < BK) segk[threadIdx.x] = j0 + (int)threadIdx.x < T ? seg_of(seg, b, T, j0 + threadIdx.x) : 0;
    __syncthreads();

    // bit 4nb + c <-> accumulator element s[nb][c]: row c < 2 ? r0 : r1, key j0 + 8nb + 2t4 + (c & 1)
    uint32_t vis = 0;
    for (int nb = 0; nb < NSB; nb++) {
      for (int e = 0; e < 2; e++) {
        const int c = 8 * nb + 2 * t4 + e, j = j0 + c;
        if (s0 != 0 && segk[c] == s0 && j <= r0) vis |= 1u << (4 * nb + e);
        if (s1 != 0 && segk[c] == s1 && j <= r1) vis |= 1u << (4 * nb + 2 + e);
      }
    }
    if (!__any_sync(FULL, vis != 0)) continue;  // warp-uniform: nothing of this tile is visible

    float s[NSB][4] = {};
    for (int kk = 0; kk < NKD; kk++) mma_row<D, NSB, B>(s, qf[kk], Ks, offb, 0, kk * 16);

    float mx0 = -INFINITY, mx1 = -INFINITY;
    for (int nb = 0; nb < NSB; nb++) {
      for (int c = 0; c < 4; c++) {
        s[nb][c] = vis >> (4 * nb + c) & 1u ? s[nb][c] * scale : -INFINITY;
        if (c < 2) mx0 = fmaxf(mx0, s[nb][c]);
        else mx1 = fmaxf(mx1, s[nb][c]);
      }
    }
    const float n0 = fmaxf(m0, quad_max(mx0)), n1 = fmaxf(m1, quad_max(mx1));
    // a row with nothing visible so far subtracts 0, not -inf: p stays exactly 0 without inf - inf
    const float base0 = n0 == -INFINITY ? 0.f : n0, base1 = n1 == -INFINITY ? 0.f : n1;
    const float a0 = exp_att(m0 - base0), a1 = exp_att(m1 - base1);  // 0 when the old max was -inf
    m0 = n0, m1 = n1, l0 *= a0, l1 *= a1;
    for (int nd = 0; nd < NDB; nd++) o[nd][0] *= a0, o[nd][1] *= a0, o[nd][2] *= a1, o[nd][3] *= a1;
    for (int nb = 0; nb < NSB; nb++) {
      for (int c = 0; c < 4; c++) {
        s[nb][c] = exp_att(s[nb][c] - (c < 2 ? base0 : base1));
        if (c < 2) l0 += s[nb][c];
        else l1 += s[nb][c];
      }
    }
    for (int kc = 0; kc < BK / 16; kc++) {  // O += P[:, 16kc..] V[16kc.., :]
      uint32_t pa[4];
      acc_to_a(pa, s[2 * kc], s[2 * kc + 1]);
      mma_row<D, NDB, BT>(o, pa, Vs, offbt, kc * 16, 0);
    }
  }

  l0 = quad_sum(l0), l1 = quad_sum(l1);
  const float inv0 = l0 > 0.f ? 1.f / l0 : 0.f, inv1 = l1 > 0.f ? 1.f / l1 : 0.f;
  for (int half = 0; half < 2; half++) {
    const int r = half ? r1 : r0;
    if (r >= T) continue;
    const float inv = half ? inv1 : inv0, l = half ? l1 : l0, m = half ? m1 : m0;
    bf16* orow = out + ((long long)b * T + r) * qs + (long long)h * D;
    for (int nd = 0; nd < NDB; nd++) {
      *reinterpret_cast<uint32_t*>(orow + 8 * nd + 2 * t4) =
          g4_pack_floats_bf16x2(o[nd][2 * half] * inv, o[nd][2 * half + 1] * inv);
    }
    if (t4 == 0) lse[((long long)b * Hq + h) * T + r] = l > 0.f ? m + logf(l) : -INFINITY;
  }
}

G4_KERNEL void attention_forward_d64(bf16* out, float* lse, const bf16* q, const bf16* k, const bf16* v,
                                     const int* seg, int T, int Hq, int Hkv, float scale) {
  forward_tc<64>(out, lse, q, k, v, seg, T, Hq, Hkv, scale);
}
G4_EXPORT(attention_forward_d64)

G4_KERNEL void attention_forward_d128(bf16* out, float* lse, const bf16* q, const bf16* k, const bf16* v,
                                      const int* seg, int T, int Hq, int Hkv, float scale) {
  forward_tc<128>(out, lse, q, k, v, seg, T, Hq, Hkv, scale);
}
G4_EXPORT(attention_forward_d128)

// Shared memory of attention_forward_generic (the launcher computes the same):
//   qf [4][D] fp32 | pw [4][32] fp32 | segk [32] int | Kc [32][odd_stride(D)] bf16 | Vc [32][D] bf16
// pw: each warp's 32 probabilities, read back by every lane (one __syncwarp, not 32 shuffles)
G4_KERNEL void attention_forward_generic(bf16* out, float* lse, const bf16* q, const bf16* k, const bf16* v,
                                         const int* seg, int T, int Hq, int Hkv, int D, float scale) {
  G4_DYNAMIC_SMEM(float, qf);
  const int KS = odd_stride(D);
  float* pw = qf + WARPS * D + GC * (threadIdx.x / 32);
  int* segk = reinterpret_cast<int*>(qf + WARPS * D + WARPS * GC);
  bf16* Kc = reinterpret_cast<bf16*>(segk + GC);
  bf16* Vc = Kc + GC * KS;
  const int h = blockIdx.y, b = blockIdx.z, kvh = h / (Hq / Hkv), warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int ib = blockIdx.x * WARPS, i = ib + warp;  // the block's first query, the warp's query
  const long long qs = (long long)Hq * D, ks = (long long)Hkv * D;
  const bf16* kh = k + (long long)b * T * ks + (long long)kvh * D;
  const bf16* vh = v + (long long)b * T * ks + (long long)kvh * D;
  for (int x = threadIdx.x; x < WARPS * D; x += THREADS) {
    const int r = x / D, d = x % D;
    qf[x] = ib + r < T ? __bfloat162float(q[((long long)b * T + ib + r) * qs + (long long)h * D + d]) : 0.f;
  }
  const int si = i < T ? seg_of(seg, b, T, i) : 0;
  float acc[8] = {};  // out dims lane_dim(lane, r, D)
  float m = -INFINITY, l = 0.f;
  const int iend = min(T, ib + WARPS);
  for (int j0 = 0; j0 < iend; j0 += GC) {
    __syncthreads();
    load_chunk(Kc, KS, kh + j0 * ks, ks, min(GC, T - j0), D);
    load_chunk(Vc, D, vh + j0 * ks, ks, min(GC, T - j0), D);
    if (threadIdx.x < GC) segk[threadIdx.x] = j0 + (int)threadIdx.x < T ? seg_of(seg, b, T, j0 + threadIdx.x) : 0;
    __syncthreads();
    const bool vis = si != 0 && j0 + lane <= i && segk[lane] == si;
    if (!__any_sync(FULL, vis)) continue;
    const float s = vis ? scale * dot_row(qf + warp * D, Kc + lane * KS, D) : -INFINITY;
    const float mn = fmaxf(m, g4_warp_max(s));  // finite: some lane is visible
    const float a = exp_att(m - mn), p = vis ? exp_att(s - mn) : 0.f;
    m = mn;
    for (int r = 0; r < 8; r++) acc[r] *= a;
    pw[lane] = p;
    __syncwarp();
    if (!lane_has_dims(lane, D)) continue;  // l, acc and lse are only used by lanes with dims
    g4_check_span(pw, GC * sizeof(float));  // the warp's probabilities, read whole by every lane with dims
    check_rows(Vc, D, pw, lane, D);
    float ps = 0.f;  // the chunk's sum of probabilities, from pw rather than one more warp operation
    for (int k4 = 0; k4 < GC; k4 += 4) {  // a probability of 0 adds nothing (the same on every lane)
      const float4 p4 = g4_span_f4(pw + k4);  // 16-byte aligned
      ps += p4.x, ps += p4.y, ps += p4.z, ps += p4.w;
      if (p4.x != 0.f) add_row(acc, p4.x, Vc + (k4 + 0) * D, lane, D);
      if (p4.y != 0.f) add_row(acc, p4.y, Vc + (k4 + 1) * D, lane, D);
      if (p4.z != 0.f) add_row(acc, p4.z, Vc + (k4 + 2) * D, lane, D);
      if (p4.w != 0.f) add_row(acc, p4.w, Vc + (k4 + 3) * D, lane, D);
    }
    l = l * a + ps;
  }
  if (i >= T) return;
  const float inv = l > 0.f ? 1.f / l : 0.f;
  bf16* orow = out + ((long long)b * T + i) * qs + (long long)h * D;
  for (int r = 0; r < 8; r++) {
    const int d = lane_dim(lane, r, D);
    if (d < D) orow[d] = __float2bfloat16(acc[r] * inv);
  }
  if (lane == 0) lse[((long long)b * Hq + h) * T + i] = l > 0.f ? m + logf(l) : -INFINITY;
}
G4_EXPORT(attention_forward_generic)

}  // namespace g4att
