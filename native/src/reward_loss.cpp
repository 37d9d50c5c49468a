/*
 * Pairwise reward-model loss over every score-ordered pair of each group (InstructGPT's K-choose-2
 * comparisons; TRL RewardTrainer's loss with margin and center_rewards_coefficient), forward and
 * backward in one call; the same math as kernels/reward_loss.cu.
 *
 *   r        [M]     rewards of M responses
 *   gold     [M]     the teacher's scores of the same responses
 *   offsets  [G+1]   group g holds responses [offsets[g], offsets[g+1]); offsets[0] = 0,
 *                    offsets[G] = M, non-decreasing (validated by the caller)
 *   loss     [1]     overwrite
 *   dr       [M]     overwrite: d loss / d r
 *
 * The pairs are (i, j) within one group with gold_i > gold_j (ties give no pair); P is their count
 * (counted by the caller; inv_pairs = 1/P, 0 when P = 0). With d_ij = r_i - r_j - margin and
 * c = center_coef:
 *   loss = (1/P) sum_pairs [ -log sigmoid(d_ij) + c (r_i + r_j)^2 ]
 *   -log sigmoid(d) = softplus(-d) = max(-d, 0) + log1p(e^-|d|)             (never overflows)
 *   d/dd [-log sigmoid(d)] = -sigmoid(-d),
 *        sigmoid(-d) = e^-|d| / (1 + e^-|d|) for d >= 0, 1 / (1 + e^-|d|) else
 *   dr_i = (1/P) [ sum_{j: gold_i > gold_j} (-sigmoid(-d_ij) + 2c (r_i + r_j))
 *                + sum_{j: gold_j > gold_i} ( sigmoid(-d_ji) + 2c (r_i + r_j)) ]
 *
 * One thread: a batch holds a few hundred responses and the work is sum_g K_g^2, far less than a
 * thread team costs to start. The loss is summed in fp64 in pair order (deterministic).
 */
#include <cmath>

#include "g4_cpu.h"
#include "g4_internal.h"

namespace {

// softplus(-d) = -log sigmoid(d), and sigmoid(-d) in *sig_neg
inline double neg_log_sigmoid(double d, double* sig_neg) {
  const double e = std::exp(-std::fabs(d));  // e^-|d| in (0, 1]
  const double inv = 1.0 / (1.0 + e);
  *sig_neg = d >= 0 ? e * inv : inv;
  return std::fmax(-d, 0.0) + std::log1p(e);
}

}  // namespace

extern "C" {

G4_API void g4_reward_pairwise_loss(float* loss, float* dr, const float* r, const float* gold,
                                    const int32_t* offsets, int G, float margin, float center_coef,
                                    float inv_pairs) {
  double total = 0;
  for (int g = 0; g < G; g++) {
    const int lo = offsets[g], hi = offsets[g + 1];  // the group's responses [lo, hi)
    for (int i = lo; i < hi; i++) {
      const double ri = r[i];
      double grad = 0;
      for (int j = lo; j < hi; j++) {
        if (gold[i] == gold[j]) continue;  // a tie (or j == i): no pair
        const double sum = ri + r[j], center = 2.0 * center_coef * sum;
        double sig_neg;
        if (gold[i] > gold[j]) {  // i wins: its pair's loss is counted here
          total += neg_log_sigmoid(ri - r[j] - margin, &sig_neg) + center_coef * sum * sum;
          grad += center - sig_neg;
        } else if (gold[j] > gold[i]) {  // j wins
          neg_log_sigmoid(r[j] - ri - margin, &sig_neg);
          grad += center + sig_neg;
        }
      }
      dr[i] = (float)(grad * inv_pairs);
    }
  }
  loss[0] = (float)(total * inv_pairs);
}

}  // extern "C"
