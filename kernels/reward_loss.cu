// reward_loss.cu — pairwise reward-model loss over every score-ordered pair of each group
// (InstructGPT's K-choose-2 comparisons; TRL RewardTrainer's loss with margin and
// center_rewards_coefficient), forward and backward in one launch.
//
//   r        F32 [M]     rewards of M responses
//   gold     F32 [M]     the teacher's scores of the same responses
//   offsets  I32 [G+1]   group g holds responses [offsets[g], offsets[g+1]); offsets[0] = 0,
//                        offsets[G] = M, non-decreasing (validated on the host)
//   loss     F32 [1]     overwrite
//   dr       F32 [M]     overwrite: d loss / d r
//
// Math: the pairs are (i, j) within one group with gold_i > gold_j (ties give no pair); P is
// their total count (counted on the host; inv_pairs = 1/P, 0 when P = 0). With
// d_ij = r_i - r_j - margin and c = center_coef:
//   loss = (1/P) Σ_pairs [ -log σ(d_ij) + c (r_i + r_j)^2 ]
//   -log σ(d) = softplus(-d) = max(-d, 0) + log(1 + e^-|d|)            (never overflows)
//   d/dd [-log σ(d)] = -σ(-d),  σ(-d) = e^-|d| / (1 + e^-|d|) for d >= 0, 1 / (1 + e^-|d|) else
//   dr_i = (1/P) [ Σ_{j: gold_i > gold_j} (-σ(-d_ij) + 2c (r_i + r_j))
//                + Σ_{j: gold_j > gold_i} ( σ(-d_ji) + 2c (r_i + r_j)) ]
// Each response's thread walks its own group, so dr needs no atomics and the result is
// deterministic; a pair's loss is counted by its winner's thread.
//
// Launch geometry: grid (1), block (256) (any multiple of 32): a thread per response, strided
// over M. Reward batches are small (M in the hundreds), and the work is Σ_g K_g^2.
#include "g4_cuda.cuh"

// softplus(-d) = -log σ(d), and σ(-d) in *sig_neg
G4_DEVICE float rl_neg_log_sigmoid(float d, float* sig_neg) {
  const float e = expf(-fmaxf(d, -d));  // e^-|d| in (0, 1]
  const float inv = 1.f / (1.f + e);
  *sig_neg = d >= 0.f ? e * inv : inv;
  // log(1 + e) without losing e when it is tiny (no log1p in the kernel contract)
  const float l1p = e < 1e-4f ? e * (1.f - 0.5f * e) : logf(1.f + e);
  return fmaxf(-d, 0.f) + l1p;
}

G4_KERNEL void reward_pairwise_loss(float* loss, float* dr, const float* r, const float* gold,
                                    const int* offsets, int G, float margin, float center_coef,
                                    float inv_pairs) {
  const int M = offsets[G];
  float my_loss = 0.f;
  for (int i = threadIdx.x; i < M; i += blockDim.x) {
    // the group of response i: the last g with offsets[g] <= i (empty groups are skipped over)
    int lo = 0, hi = G;  // offsets[lo] <= i < offsets[hi]
    while (hi - lo > 1) {
      const int mid = (lo + hi) / 2;
      if (offsets[mid] <= i) lo = mid; else hi = mid;
    }
    const float ri = r[i], gi = gold[i];
    float g = 0.f;
    for (int j = offsets[lo]; j < offsets[lo + 1]; j++) {
      const float gj = gold[j];
      if (gj == gi) continue;  // a tie (or j == i): no pair
      const float center = 2.f * center_coef * (ri + r[j]);
      float sig_neg;
      if (gi > gj) {  // i wins: its pair's loss is counted here
        const float l = rl_neg_log_sigmoid(ri - r[j] - margin, &sig_neg);
        my_loss += l + center_coef * (ri + r[j]) * (ri + r[j]);
        g += center - sig_neg;
      } else if (gj > gi) {  // j wins
        rl_neg_log_sigmoid(r[j] - ri - margin, &sig_neg);
        g += center + sig_neg;
      }
    }
    dr[i] = g * inv_pairs;
  }
  __shared__ float scratch[32];
  const float total = g4_block_sum(my_loss, scratch);
  if (threadIdx.x == 0) loss[0] = total * inv_pairs;
}
G4_EXPORT(reward_pairwise_loss)
