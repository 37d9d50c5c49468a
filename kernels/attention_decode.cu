// attention_decode.cu — attention of new queries against a KV cache (incremental decoding).
//
//   cache, kc, vc [B, Tmax, Hkv, D] BF16 (row b holds up to Tmax positions); src [B, Tq, Hkv*D] BF16;
//   q, out [B, Tq, Hq, D] BF16; lengths [B] I32 = tokens of row b in the cache including this call's.
//   New token t (0 <= t < Tq) of row b is at position p = lengths[b] - Tq + t; a row with fewer than
//   Tq new tokens is left-padded, its first tokens have p < 0 and are neither written nor attended.
//
//   attention_decode_cache_write:  cache[b, p] = src[b, t]   for 0 <= p < Tmax
//   attention_decode:  per (b, h, t) with p >= 0, over cache positions j = 0 .. min(p, Tmax-1):
//     s_j = scale * q . k_j            (query head h reads kv head h / (Hq/Hkv): GQA)
//     out = sum_j exp(s_j - m) v_j / sum_j exp(s_j - m),   m = max_j s_j;   out = 0 where p < 0
//   bf16 storage, fp32 math: an online softmax (running max m, sum l, accumulator acc rescaled by
//   exp(m_old - m_new) whenever the max grows).
//
// Launch:
//   attention_decode_cache_write: grid (Tq, B), block any multiple of 32; threads stride over a row.
//   attention_decode: grid (Tq, Hq, B), block ATTENTION_DECODE_WARPS * 32 = 128 threads, D <= 256,
//     no dynamic shared memory. Block (t, h, b) computes one query: warp w takes keys w, w+4, ...;
//     within a warp lane l holds q[d] and acc[d] for d = l, l+32, ... (at most 8), a score is a warp
//     sum. Each warp keeps its own (m, l, acc); the 4 partial softmaxes are merged at the end through
//     shared memory: M = max_w m_w, out = sum_w exp(m_w - M) acc_w / sum_w exp(m_w - M) l_w.
//   Decoding is memory-bound (each key and value row is read once per query head); a block per
//   query keeps the kernel simple and exact for any Tq, the prefill's Tq > 1 included.
// ptxas (sm_90): attention_decode 44 registers, 4128 bytes of static shared memory, no spills.
#include "g4_cuda.cuh"

#define ATTENTION_DECODE_WARPS 4
#define ATTENTION_DECODE_MAX_D 256
#define ATTENTION_DECODE_PER_LANE (ATTENTION_DECODE_MAX_D / 32)

G4_KERNEL void attention_decode_cache_write(bf16* cache, const bf16* src, const int* lengths, int Tq, int Tmax,
                                            int W) {
  const int t = blockIdx.x, b = blockIdx.y;
  const int p = lengths[b] - Tq + t;
  if (p < 0 || p >= Tmax) return;
  bf16* dst = cache + ((long long)b * Tmax + p) * W;
  const bf16* row = src + ((long long)b * Tq + t) * W;
  for (int i = threadIdx.x; i < W; i += blockDim.x) dst[i] = row[i];
}
G4_EXPORT(attention_decode_cache_write)

G4_KERNEL void attention_decode(bf16* out, const bf16* q, const bf16* kc, const bf16* vc, const int* lengths, int Tq,
                                int Tmax, int Hq, int Hkv, int D, float scale) {
  __shared__ float part_m[ATTENTION_DECODE_WARPS], part_l[ATTENTION_DECODE_WARPS];
  __shared__ float part_acc[ATTENTION_DECODE_WARPS][ATTENTION_DECODE_MAX_D];
  const int t = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const long long at = (((long long)b * Tq + t) * Hq + h) * D;
  const int p = lengths[b] - Tq + t;
  if (p < 0) {  // left padding: no key, out = 0
    for (int d = threadIdx.x; d < D; d += blockDim.x) out[at + d] = __float2bfloat16(0.f);
    return;
  }
  const int last = p < Tmax ? p : Tmax - 1;
  const long long kvRow = (long long)Hkv * D;  // elements between consecutive positions
  const bf16* k = kc + (long long)b * Tmax * kvRow + (long long)(h / (Hq / Hkv)) * D;
  const bf16* v = vc + (long long)b * Tmax * kvRow + (long long)(h / (Hq / Hkv)) * D;

  float qr[ATTENTION_DECODE_PER_LANE], acc[ATTENTION_DECODE_PER_LANE];
  for (int i = 0; i < ATTENTION_DECODE_PER_LANE; i++) {
    const int d = lane + 32 * i;
    qr[i] = d < D ? __bfloat162float(q[at + d]) : 0.f;
    acc[i] = 0.f;
  }
  float m = -INFINITY, l = 0.f;
  for (int j = warp; j <= last; j += ATTENTION_DECODE_WARPS) {
    const bf16* kj = k + j * kvRow;
    const bf16* vj = v + j * kvRow;
    float s = 0.f;
    for (int i = 0; i < ATTENTION_DECODE_PER_LANE; i++) {
      const int d = lane + 32 * i;
      if (d < D) s += qr[i] * __bfloat162float(kj[d]);
    }
    s = scale * g4_warp_sum(s);
    const float mNew = fmaxf(m, s);
    const float corr = expf(m - mNew);  // 0 on the warp's first key (m = -inf)
    const float pj = expf(s - mNew);
    l = l * corr + pj;
    for (int i = 0; i < ATTENTION_DECODE_PER_LANE; i++) {
      const int d = lane + 32 * i;
      if (d < D) acc[i] = acc[i] * corr + pj * __bfloat162float(vj[d]);
    }
    m = mNew;
  }
  if (lane == 0) {
    part_m[warp] = m;
    part_l[warp] = l;
  }
  for (int i = 0; i < ATTENTION_DECODE_PER_LANE; i++) {
    const int d = lane + 32 * i;
    if (d < D) part_acc[warp][d] = acc[i];
  }
  __syncthreads();
  // warp 0 always has key 0, so M is finite; a warp without keys has m = -inf and weight 0
  float M = part_m[0];
  for (int w = 1; w < ATTENTION_DECODE_WARPS; w++) M = fmaxf(M, part_m[w]);
  float wt[ATTENTION_DECODE_WARPS], denom = 0.f;
  for (int w = 0; w < ATTENTION_DECODE_WARPS; w++) {
    wt[w] = part_m[w] == -INFINITY ? 0.f : expf(part_m[w] - M);
    denom += wt[w] * part_l[w];
  }
  const float inv = 1.f / denom;
  for (int d = threadIdx.x; d < D; d += blockDim.x) {
    float o = 0.f;
    for (int w = 0; w < ATTENTION_DECODE_WARPS; w++) o += wt[w] * part_acc[w][d];
    out[at + d] = __float2bfloat16(o * inv);
  }
}
G4_EXPORT(attention_decode)
