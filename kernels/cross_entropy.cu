// cross_entropy.cu — fused softmax cross-entropy with ignore_index, forward and backward in one pass
// over the vocabulary plus one write pass.
//
//   logits   BF16 [N, V]   read
//   targets  I32  [N]      class in [0, V) or ignore_index (validated on the host before the launch)
//   losses   F32  [N]      overwrite: lse(logits[n,:]) - logits[n,t]            (0 for an ignored row)
//   dlogits  BF16 [N, V]   overwrite: (softmax(logits[n,:]) - onehot(t)) * grad_scale
//                          (a zero row when ignored); may be logits itself (in place) or NULL
//   grad_scale_dev F32 [1] or NULL: when given, grad_scale is read from it (device memory, so a
//                          training step captured into a CUDA graph replays with each step's scale)
//   row_scale F32 [N / row_len] or NULL: when given, row n's gradient is further scaled by
//                          row_scale[n / row_len] (a weight per sequence of row_len rows, as DPO's
//                          backward gives each response its own weight, read on the device)
//
// Math, for one row x = logits[n,:] with target t:
//   M = max_v x_v,  S = Σ_v e^(x_v - M),  lse = M + log S
//   loss = lse - x_t,   dlogits_v = (e^(x_v - M) / S - [v == t]) * grad_scale (* row_scale[n / row_len])
//
// Pass 1 reads the row once. Each thread keeps an online pair (m, s) over the elements it visits,
// in chunks (8 values when vectorised, 1 otherwise): when a chunk raises the running max, s is
// rescaled by e^(m_old - m_new). The block then merges the pairs: M = max_i m_i,
// S = Σ_i s_i e^(m_i - M). Probabilities are never stored. Pass 2 reads the row again (it is
// 2V bytes, still in L2 for V up to 128K) and writes the gradient; the "- 1" at the target is
// applied in fp32 before the bf16 rounding. x_t is read by every thread before the block
// reductions, whose barriers order it before any in-place write of pass 2.
// fp32 throughout: s_i sums at most V/blockDim terms in [0, 1] (256 for V = 128K, B = 512).
// A NaN logit makes its row's loss and gradient NaN; a -inf logit is a zero probability.
//
// Launch geometry:
//   grid (N), block (B): B a multiple of 32 in [32, 1024]; the launcher uses
//   B = min(512, roundup32(ceil(V / 8))) so that small vocabularies do not idle threads.
//   No dynamic shared memory. When V % 8 == 0 and logits/dlogits are 16-byte aligned, loads and
//   stores move 8 bf16 (16 bytes) at a time; otherwise one element per access (still coalesced).
#include "g4_cuda.cuh"

// 8 bf16 = 16 bytes: one vector load or store
struct alignas(16) CeBf16x8 {
  bf16 h[8];
};

G4_DEVICE bool ce_aligned16(const void* p) {
  return (reinterpret_cast<unsigned long long>(p) & 15ull) == 0;
}

// folds one value into the running (m, s); -inf adds nothing (and must not make e^(-inf+inf))
G4_DEVICE void ce_online1(float x, float& m, float& s) {
  if (x > m) {
    s = s * expf(m - x) + 1.f;
    m = x;
  } else if (x != -INFINITY) {
    s += expf(x - m);  // a NaN x lands here and makes s NaN
  }
}

// folds 8 values: one rescale at most, then 8 exponentials against the new max
G4_DEVICE void ce_online8(const CeBf16x8& c, float& m, float& s) {
  float xs[8], cm = -INFINITY;
#pragma unroll
  for (int k = 0; k < 8; k++) {
    xs[k] = __bfloat162float(c.h[k]);
    cm = fmaxf(cm, xs[k]);
  }
  if (cm > m) {
    s *= expf(m - cm);  // m = -inf on the first chunk: s is 0 and stays 0
    m = cm;
  }
  if (m == -INFINITY) return;  // every value so far is -inf
#pragma unroll
  for (int k = 0; k < 8; k++) s += expf(xs[k] - m);
}

G4_KERNEL void cross_entropy_fwd_bwd(float* losses, bf16* dlogits, const bf16* logits,
                                     const int* targets, int N, int V, int ignore_index,
                                     float grad_scale, const float* grad_scale_dev,
                                     const float* row_scale, int row_len) {
  const int n = blockIdx.x;
  const int tid = threadIdx.x, nthreads = blockDim.x;
  const bf16* x = logits + (long long)n * V;                        // logits[n, 0:V]
  bf16* d = dlogits != nullptr ? dlogits + (long long)n * V : nullptr;  // dlogits[n, 0:V], maybe == x
  const bool vec = V % 8 == 0 && ce_aligned16(logits) && (d == nullptr || ce_aligned16(dlogits));
  const int t = targets[n];

  if (t == ignore_index) {  // uniform over the block: no barrier is skipped by only some threads
    if (tid == 0) losses[n] = 0.f;
    if (d == nullptr) return;
    if (vec) {
      CeBf16x8 z;
#pragma unroll
      for (int k = 0; k < 8; k++) z.h[k] = __float2bfloat16(0.f);
      for (int v = tid * 8; v < V; v += nthreads * 8) *reinterpret_cast<CeBf16x8*>(d + v) = z;
    } else {
      for (int v = tid; v < V; v += nthreads) d[v] = __float2bfloat16(0.f);
    }
    return;
  }

  const float xt = __bfloat162float(x[t]);  // before the barriers below: pass 2 may overwrite it

  // pass 1: per-thread online max and sum, then the block's
  float m = -INFINITY, s = 0.f;
  if (vec) {
    for (int v = tid * 8; v < V; v += nthreads * 8) {
      const CeBf16x8 c = *reinterpret_cast<const CeBf16x8*>(x + v);  // one 16-byte load
      ce_online8(c, m, s);
    }
  } else {
    for (int v = tid; v < V; v += nthreads) ce_online1(__bfloat162float(x[v]), m, s);
  }
  __shared__ float scratch[32];
  const float M = g4_block_max(m, scratch);
  const float S = g4_block_sum(m == -INFINITY ? 0.f : s * expf(m - M), scratch);
  if (tid == 0) losses[n] = M + logf(S) - xt;
  if (d == nullptr) return;

  // pass 2: dlogits = (p - onehot) * grad_scale
  if (grad_scale_dev != nullptr) grad_scale = grad_scale_dev[0];
  if (row_scale != nullptr) grad_scale *= row_scale[n / row_len];
  const float inv_s = 1.f / S;
  if (vec) {
    for (int v = tid * 8; v < V; v += nthreads * 8) {
      const CeBf16x8 c = *reinterpret_cast<const CeBf16x8*>(x + v);
      CeBf16x8 o;
#pragma unroll
      for (int k = 0; k < 8; k++) {
        float g = expf(__bfloat162float(c.h[k]) - M) * inv_s;
        if (v + k == t) g -= 1.f;
        o.h[k] = __float2bfloat16(g * grad_scale);
      }
      *reinterpret_cast<CeBf16x8*>(d + v) = o;
    }
  } else {
    for (int v = tid; v < V; v += nthreads) {
      float g = expf(__bfloat162float(x[v]) - M) * inv_s;
      if (v == t) g -= 1.f;
      d[v] = __float2bfloat16(g * grad_scale);
    }
  }
}
G4_EXPORT(cross_entropy_fwd_bwd)
