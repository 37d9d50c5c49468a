// attention_backward.cu — causal self-attention backward, FlashAttention-2 style. Shapes, masking
// and the forward are in kernels/attention.cu; dout, dq [B,T,Hq,D] and dk, dv [B,T,Hkv,D] bf16.
//
// With P_ij = exp(s_ij - lse_i) recomputed from the saved lse (0 for invisible pairs):
//   delta_i = dout_i . out_i              (= sum_j P_ij dP_ij)
//   dP_ij   = dout_i . v_j                dS_ij = P_ij (dP_ij - delta_i)
//   dq_i    = scale sum_j dS_ij k_j       dk_j  = scale sum_i dS_ij q_i     dv_j = sum_i P_ij dout_i
// dk/dv sum over every query head of the kv group. dq, dk, dv are overwritten; padding queries
// get dq = 0 and keys nobody sees get dk = dv = 0.
//
// Launch order (all grids 4 warps per block unless stated):
// 1. attention_backward_preprocess: delta F32 [B,Hq,T]; zeroes the dq accumulator dqacc F32
//    [B,T,Hq,D] (NULL for the generic path). grid ceil(B*T*Hq / 8), block 256: a warp per row.
// 2a. D = 64 / 128, 16-byte aligned tensors: attention_backward_d64 / _d128, grid (ceil(T/64),
//    Hkv, B), block 128, dynamic shared memory (2*64 + 2*BQ)*D*2 bytes (BQ = 64 for d64, 32 for
//    d128: 32 KiB / 48 KiB). A block owns 64 keys of one kv head: K and V tiles stay in shared
//    memory, dK and dV in registers (warp w: keys 16w..16w+15, all D columns). It walks every
//    query head of the group and every query tile from its first key to T (earlier queries see
//    none of its keys), with transposed scores so that keys are the rows of each warp:
//      S^T = K Q^T, P^T = exp(scale S^T - lse)    (masked pairs exactly 0)
//      dV += P^T dO      dP^T = V dO^T      dS^T = scale P^T (dP^T - delta)      dK += dS^T Q
//    then dS (bf16) goes through shared memory (over the Q tile, no longer read) so that each
//    warp computes 16 query rows x D*BQ/64 columns of dQ = dS K and atomically adds them to
//    dqacc. lse, delta and the query segment ids are read from global memory (L1/L2) by the lanes
//    that need them, which keeps d128 at exactly 48 KiB of shared memory.
//    A warp skips the math of a query tile where none of its 16 x BQ pairs is visible, and the
//    dQ products and atomics of rows whose dS block is all zero.
//    Then attention_backward_dq: dq (bf16) = dqacc, n = B*T*Hq*D, grid ceil(n/256), block 256.
// 2b. any other D <= 256 (or unaligned tensors), no tensor cores and no atomics:
//    attention_backward_generic_dkdv: grid (ceil(T/4), Hkv, B), a warp per key; query chunks of
//      32 (one per lane) of every head of the group; dynamic smem 8*D*4 + 3*32*4 + 2*4*32*4 +
//      2*32*S*2, S = odd_stride(D).
//    attention_backward_generic_dq: grid (ceil(T/4), Hq, B), a warp per query; key chunks of 32;
//      dynamic smem 8*D*4 + 4*32*4 + 32*4 + 2*32*S*2. Writes dq directly.
//
// ptxas (nvcc 13, -Xptxas -v), registers sm_80 / sm_90, no spills:
//   attention_backward_d64             174 / 171
//   attention_backward_d128            234 / 232   (dK and dV alone are 128 fp32 per lane; the
//                                                  S^T and dP^T k-loops stay rolled, unrolled
//                                                  they spill 12-20 bytes at the 255 limit)
//   attention_backward_generic_dkdv     78 / 62     attention_backward_generic_dq  96 / 76
//   attention_backward_preprocess       31 / 31     attention_backward_dq          10 / 10
#include "attention.cuh"

namespace g4att {  // every name here is unique across kernel files (one nvcc translation unit)

G4_KERNEL void attention_backward_preprocess(float* delta, float* dqacc, const bf16* dout, const bf16* out,
                                             int B, int T, int Hq, int D) {
  const long long row = (long long)blockIdx.x * 8 + threadIdx.x / 32;  // (b*T + i)*Hq + h
  const int lane = threadIdx.x % 32;
  if (row >= (long long)B * T * Hq) return;  // the whole warp
  const int h = (int)(row % Hq), i = (int)(row / Hq % T), b = (int)(row / Hq / T);
  float s = 0.f;
  for (int d = lane; d < D; d += 32) s += __bfloat162float(dout[row * D + d]) * __bfloat162float(out[row * D + d]);
  s = g4_warp_sum(s);
  if (lane == 0) delta[((long long)b * Hq + h) * T + i] = s;
  if (dqacc != nullptr)
    for (int d = lane; d < D; d += 32) dqacc[row * D + d] = 0.f;
}
G4_EXPORT(attention_backward_preprocess)

G4_KERNEL void attention_backward_dq(bf16* dq, const float* dqacc, long long n) {
  const long long x = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (x < n) dq[x] = __float2bfloat16(dqacc[x]);
}
G4_EXPORT(attention_backward_dq)

template <int D, int BQ>
G4_DEVICE void backward_tc(bf16* dk, bf16* dv, float* dqacc, const bf16* dout, const float* lse,
                           const float* delta, const bf16* q, const bf16* k, const bf16* v, const int* seg,
                           int T, int Hq, int Hkv, float scale) {
  constexpr int NKD = D / 16, NDB = D / 8, NQB = BQ / 8, RB = BQ / 16, DQW = D * RB / WARPS;
  G4_DYNAMIC_SMEM(bf16, smem);
  bf16 *Ks = smem, *Vs = Ks + BK * D, *Qs = Vs + BK * D, *dOs = Qs + BQ * D;  // swizzled tiles
  bf16* dSs = Qs;  // [BQ][BK] dS, written once the Q tile is no longer read
  const int kvh = blockIdx.y, b = blockIdx.z, j0 = blockIdx.x * BK, G = Hq / Hkv;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t4 = lane % 4;
  const long long qs = (long long)Hq * D, ks = (long long)Hkv * D;
  load_tile<BK, D>(Ks, k + ((long long)b * T + j0) * ks + (long long)kvh * D, ks, min(BK, T - j0));
  load_tile<BK, D>(Vs, v + ((long long)b * T + j0) * ks + (long long)kvh * D, ks, min(BK, T - j0));
  const int k0 = j0 + warp * 16 + g, k1 = k0 + 8;  // the lane's two keys
  const int sk0 = k0 < T ? seg_of(seg, b, T, k0) : 0, sk1 = k1 < T ? seg_of(seg, b, T, k1) : 0;
  float dka[NDB][4] = {}, dva[NDB][4] = {};
  const int offa = lane_off<D, A>(lane), offb = lane_off<D, B>(lane), offbt = lane_off<D, BT>(lane);
  const int offs = lane_off<BK, A>(lane);  // A fragments of the dS tile

  for (int h = kvh * G; h < (kvh + 1) * G; h++) {
    const bf16* qh = q + (long long)b * T * qs + (long long)h * D;
    const bf16* doh = dout + (long long)b * T * qs + (long long)h * D;
    const float* lseh = lse + ((long long)b * Hq + h) * T;
    const float* dh = delta + ((long long)b * Hq + h) * T;
    for (int i0 = j0; i0 < T; i0 += BQ) {
      __syncthreads();  // dS of the previous tile is no longer read (and K, V are loaded)
      load_tile<BQ, D>(Qs, qh + i0 * qs, qs, min(BQ, T - i0));
      load_tile<BQ, D>(dOs, doh + i0 * qs, qs, min(BQ, T - i0));
      __syncthreads();

      // bit 4nb + c <-> st[nb][c]: key c < 2 ? k0 : k1, query i0 + 8nb + 2t4 + (c & 1)
      uint32_t vis = 0;
      for (int nb = 0; nb < NQB; nb++) {
        for (int e = 0; e < 2; e++) {
          const int i = i0 + 8 * nb + 2 * t4 + e, si = i < T ? seg_of(seg, b, T, i) : 0;
          if (si != 0 && si == sk0 && k0 <= i) vis |= 1u << (4 * nb + e);
          if (si != 0 && si == sk1 && k1 <= i) vis |= 1u << (4 * nb + 2 + e);
        }
      }
      float st[NQB][4] = {};  // S^T, then P^T, then scale * dS^T: the warp's 16 keys x BQ queries
      if (__any_sync(FULL, vis != 0)) {
        // rolled k loops (here and for dP^T): see the register note in the header
G4ATT_ROLLED
        for (int kk = 0; kk < NKD; kk++) {
          uint32_t ka[4];
          g4_ldmatrix_x4(ka, frag_at<D>(Ks, offa, warp * 16, kk * 16));
          mma_row<D, NQB, B>(st, ka, Qs, offb, 0, kk * 16);
        }
        for (int nb = 0; nb < NQB; nb++) {
          for (int e = 0; e < 2; e++) {
            const int i = i0 + 8 * nb + 2 * t4 + e;
            const float L = i < T ? lseh[i] : 0.f;
            for (int c = e; c < 4; c += 2) st[nb][c] = vis >> (4 * nb + c) & 1u ? exp_att(st[nb][c] * scale - L) : 0.f;
          }
        }
        for (int kc = 0; kc < RB; kc++) {  // dV += P^T[:, 16kc..] dO[16kc.., :]
          uint32_t pa[4];
          acc_to_a(pa, st[2 * kc], st[2 * kc + 1]);
          mma_row<D, NDB, BT>(dva, pa, dOs, offbt, kc * 16, 0);
        }
        float dp[NQB][4] = {};  // dP^T = V dO^T
G4ATT_ROLLED
        for (int kk = 0; kk < NKD; kk++) {
          uint32_t va[4];
          g4_ldmatrix_x4(va, frag_at<D>(Vs, offa, warp * 16, kk * 16));
          mma_row<D, NQB, B>(dp, va, dOs, offb, 0, kk * 16);
        }
        for (int nb = 0; nb < NQB; nb++) {
          for (int e = 0; e < 2; e++) {
            const int i = i0 + 8 * nb + 2 * t4 + e;
            const float Di = i < T ? dh[i] : 0.f;
            for (int c = e; c < 4; c += 2) st[nb][c] = scale * st[nb][c] * (dp[nb][c] - Di);
          }
        }
        for (int kc = 0; kc < RB; kc++) {  // dK += dS^T[:, 16kc..] Q[16kc.., :]
          uint32_t pa[4];
          acc_to_a(pa, st[2 * kc], st[2 * kc + 1]);
          mma_row<D, NDB, BT>(dka, pa, Qs, offbt, kc * 16, 0);
        }
      }
      __syncthreads();  // every warp is done with the Q tile: it becomes dS [BQ][BK]
      for (int nb = 0; nb < NQB; nb++)
        for (int c = 0; c < 4; c++)
          dSs[swz<BK>(8 * nb + 2 * t4 + (c & 1), warp * 16 + g + 8 * (c >> 1))] = __float2bfloat16(st[nb][c]);
      __syncthreads();

      // dQ[16rb.., c0..c0+DQW) += dS[16rb.., :] K[:, c0..]
      const int rb = warp % RB, c0 = warp / RB * DQW;
      uint32_t da[BK / 16][4], nz = 0;
      for (int kc = 0; kc < BK / 16; kc++) {
        g4_ldmatrix_x4(da[kc], frag_at<BK>(dSs, offs, rb * 16, kc * 16));
        nz |= da[kc][0] | da[kc][1] | da[kc][2] | da[kc][3];
      }
      if (!__any_sync(FULL, nz != 0)) continue;  // adding zeros changes nothing
      float dqa[DQW / 8][4] = {};
      for (int kc = 0; kc < BK / 16; kc++) mma_row<D, DQW / 8, BT>(dqa, da[kc], Ks, offbt, kc * 16, c0);
      for (int half = 0; half < 2; half++) {
        const int i = i0 + rb * 16 + g + 8 * half;
        if (i >= T) continue;
        float* row = dqacc + ((long long)b * T + i) * qs + (long long)h * D + c0 + 2 * t4;
        for (int nd = 0; nd < DQW / 8; nd++) {
          atomicAdd(row + 8 * nd, dqa[nd][2 * half]);
          atomicAdd(row + 8 * nd + 1, dqa[nd][2 * half + 1]);
        }
      }
    }
  }

  for (int half = 0; half < 2; half++) {
    const int j = half ? k1 : k0;
    if (j >= T) continue;
    const long long off = ((long long)b * T + j) * ks + (long long)kvh * D + 2 * t4;
    for (int nd = 0; nd < NDB; nd++) {
      *reinterpret_cast<uint32_t*>(dk + off + 8 * nd) = g4_pack_floats_bf16x2(dka[nd][2 * half], dka[nd][2 * half + 1]);
      *reinterpret_cast<uint32_t*>(dv + off + 8 * nd) = g4_pack_floats_bf16x2(dva[nd][2 * half], dva[nd][2 * half + 1]);
    }
  }
}

G4_KERNEL void attention_backward_d64(bf16* dk, bf16* dv, float* dqacc, const bf16* dout, const float* lse,
                                      const float* delta, const bf16* q, const bf16* k, const bf16* v,
                                      const int* seg, int T, int Hq, int Hkv, float scale) {
  backward_tc<64, 64>(dk, dv, dqacc, dout, lse, delta, q, k, v, seg, T, Hq, Hkv, scale);
}
G4_EXPORT(attention_backward_d64)

G4_KERNEL void attention_backward_d128(bf16* dk, bf16* dv, float* dqacc, const bf16* dout, const float* lse,
                                       const float* delta, const bf16* q, const bf16* k, const bf16* v,
                                       const int* seg, int T, int Hq, int Hkv, float scale) {
  backward_tc<128, 32>(dk, dv, dqacc, dout, lse, delta, q, k, v, seg, T, Hq, Hkv, scale);
}
G4_EXPORT(attention_backward_d128)

// Shared memory of attention_backward_generic_dkdv (the launcher computes the same):
//   kf, vf [4][D] fp32 | lsec, dc [32] fp32 | pw, dsw [4][32] fp32 | segc [32] int |
//   Qc, dOc [32][odd_stride(D)] bf16
// pw, dsw: each warp's P and dS of the chunk, read back by every lane
G4_KERNEL void attention_backward_generic_dkdv(bf16* dk, bf16* dv, const bf16* dout, const float* lse,
                                               const float* delta, const bf16* q, const bf16* k,
                                               const bf16* v, const int* seg, int T, int Hq, int Hkv, int D,
                                               float scale) {
  G4_DYNAMIC_SMEM(float, kf);
  const int S = odd_stride(D);
  float *vf = kf + WARPS * D, *lsec = vf + WARPS * D, *dc = lsec + GC;
  float *pw = dc + GC + GC * (threadIdx.x / 32), *dsw = pw + WARPS * GC;
  int* segc = reinterpret_cast<int*>(dc + GC + 2 * WARPS * GC);
  bf16 *Qc = reinterpret_cast<bf16*>(segc + GC), *dOc = Qc + GC * S;
  const int kvh = blockIdx.y, b = blockIdx.z, G = Hq / Hkv, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int jb = blockIdx.x * WARPS, j = jb + warp;  // the block's first key, the warp's key
  const long long qs = (long long)Hq * D, ks = (long long)Hkv * D;
  for (int x = threadIdx.x; x < WARPS * D; x += THREADS) {
    const int r = x / D, d = x % D;
    const long long at = ((long long)b * T + jb + r) * ks + (long long)kvh * D + d;
    kf[x] = jb + r < T ? __bfloat162float(k[at]) : 0.f;
    vf[x] = jb + r < T ? __bfloat162float(v[at]) : 0.f;
  }
  const int sj = j < T ? seg_of(seg, b, T, j) : 0;
  float dka[8] = {}, dva[8] = {};  // dims lane_dim(lane, r, D)
  for (int h = kvh * G; h < (kvh + 1) * G; h++) {
    for (int i0 = jb; i0 < T; i0 += GC) {
      const int n = min(GC, T - i0);
      __syncthreads();
      load_chunk(Qc, S, q + ((long long)b * T + i0) * qs + (long long)h * D, qs, n, D);
      load_chunk(dOc, S, dout + ((long long)b * T + i0) * qs + (long long)h * D, qs, n, D);
      if (threadIdx.x < GC) {
        const int r = threadIdx.x;
        const long long at = ((long long)b * Hq + h) * T + i0 + r;
        lsec[r] = r < n ? lse[at] : 0.f;
        dc[r] = r < n ? delta[at] : 0.f;
        segc[r] = r < n ? seg_of(seg, b, T, i0 + r) : 0;
      }
      __syncthreads();
      const bool vis = sj != 0 && j <= i0 + lane && segc[lane] == sj;
      if (!__any_sync(FULL, vis)) continue;
      const float p = vis ? exp_att(scale * dot_row(kf + warp * D, Qc + lane * S, D) - lsec[lane]) : 0.f;
      const float ds = vis ? scale * p * (dot_row(vf + warp * D, dOc + lane * S, D) - dc[lane]) : 0.f;
      pw[lane] = p, dsw[lane] = ds;
      __syncwarp();
      const auto add = [&](float pk, float dsk, int kk) {  // pk == 0 makes dsk 0: nothing to add
        if (pk == 0.f) return;  // the same on every lane
        add_row(dva, pk, dOc + kk * S, lane, D);
        add_row(dka, dsk, Qc + kk * S, lane, D);
      };
      if (!lane_has_dims(lane, D)) continue;
      g4_check_span(pw, GC * sizeof(float));  // the warp's P and dS, read whole by every lane with dims
      g4_check_span(dsw, GC * sizeof(float));
      check_rows(dOc, S, pw, lane, D);  // add() reads the rows with p != 0 (then dS may be 0 or not)
      check_rows(Qc, S, pw, lane, D);
      for (int k4 = 0; k4 < GC; k4 += 4) {
        const float4 p4 = g4_span_f4(pw + k4), ds4 = g4_span_f4(dsw + k4);  // 16-byte aligned
        add(p4.x, ds4.x, k4), add(p4.y, ds4.y, k4 + 1), add(p4.z, ds4.z, k4 + 2), add(p4.w, ds4.w, k4 + 3);
      }
    }
  }
  if (j >= T) return;
  const long long off = ((long long)b * T + j) * ks + (long long)kvh * D;
  for (int r = 0; r < 8; r++) {
    const int d = lane_dim(lane, r, D);
    if (d < D) dk[off + d] = __float2bfloat16(dka[r]), dv[off + d] = __float2bfloat16(dva[r]);
  }
}
G4_EXPORT(attention_backward_generic_dkdv)

// Shared memory of attention_backward_generic_dq (the launcher computes the same):
//   qf, dof [4][D] fp32 | dsw [4][32] fp32 | segc [32] int | Kc, Vc [32][odd_stride(D)] bf16
G4_KERNEL void attention_backward_generic_dq(bf16* dq, const bf16* dout, const float* lse, const float* delta,
                                             const bf16* q, const bf16* k, const bf16* v, const int* seg, int T,
                                             int Hq, int Hkv, int D, float scale) {
  G4_DYNAMIC_SMEM(float, qf);
  const int S = odd_stride(D);
  float *dof = qf + WARPS * D, *dsw = dof + WARPS * D + GC * (threadIdx.x / 32);
  int* segc = reinterpret_cast<int*>(dof + WARPS * D + WARPS * GC);
  bf16 *Kc = reinterpret_cast<bf16*>(segc + GC), *Vc = Kc + GC * S;
  const int h = blockIdx.y, b = blockIdx.z, kvh = h / (Hq / Hkv), warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int ib = blockIdx.x * WARPS, i = ib + warp;
  const long long qs = (long long)Hq * D, ks = (long long)Hkv * D;
  for (int x = threadIdx.x; x < WARPS * D; x += THREADS) {
    const int r = x / D, d = x % D;
    const long long at = ((long long)b * T + ib + r) * qs + (long long)h * D + d;
    qf[x] = ib + r < T ? __bfloat162float(q[at]) : 0.f;
    dof[x] = ib + r < T ? __bfloat162float(dout[at]) : 0.f;
  }
  const int si = i < T ? seg_of(seg, b, T, i) : 0;
  const float L = i < T ? lse[((long long)b * Hq + h) * T + i] : 0.f;
  const float Di = i < T ? delta[((long long)b * Hq + h) * T + i] : 0.f;
  float acc[8] = {};  // dims lane_dim(lane, r, D)
  const int iend = min(T, ib + WARPS);
  for (int j0 = 0; j0 < iend; j0 += GC) {
    const int n = min(GC, T - j0);
    __syncthreads();
    load_chunk(Kc, S, k + ((long long)b * T + j0) * ks + (long long)kvh * D, ks, n, D);
    load_chunk(Vc, S, v + ((long long)b * T + j0) * ks + (long long)kvh * D, ks, n, D);
    if (threadIdx.x < GC) segc[threadIdx.x] = (int)threadIdx.x < n ? seg_of(seg, b, T, j0 + threadIdx.x) : 0;
    __syncthreads();
    const bool vis = si != 0 && j0 + lane <= i && segc[lane] == si;
    if (!__any_sync(FULL, vis)) continue;
    const float p = vis ? exp_att(scale * dot_row(qf + warp * D, Kc + lane * S, D) - L) : 0.f;
    const float ds = vis ? scale * p * (dot_row(dof + warp * D, Vc + lane * S, D) - Di) : 0.f;
    dsw[lane] = ds;
    __syncwarp();
    if (!lane_has_dims(lane, D)) continue;
    g4_check_span(dsw, GC * sizeof(float));  // the warp's dS, read whole by every lane with dims
    check_rows(Kc, S, dsw, lane, D);
    for (int k4 = 0; k4 < GC; k4 += 4) {  // a dS of 0 adds nothing (the same on every lane)
      const float4 ds4 = g4_span_f4(dsw + k4);  // 16-byte aligned
      if (ds4.x != 0.f) add_row(acc, ds4.x, Kc + (k4 + 0) * S, lane, D);
      if (ds4.y != 0.f) add_row(acc, ds4.y, Kc + (k4 + 1) * S, lane, D);
      if (ds4.z != 0.f) add_row(acc, ds4.z, Kc + (k4 + 2) * S, lane, D);
      if (ds4.w != 0.f) add_row(acc, ds4.w, Kc + (k4 + 3) * S, lane, D);
    }
  }
  if (i >= T) return;
  bf16* row = dq + ((long long)b * T + i) * qs + (long long)h * D;
  for (int r = 0; r < 8; r++) {
    const int d = lane_dim(lane, r, D);
    if (d < D) row[d] = __float2bfloat16(acc[r]);
  }
}
G4_EXPORT(attention_backward_generic_dq)

}  // namespace g4att
