// dpo_loss.cu — Direct Preference Optimization loss over P preference pairs (TRL DPOTrainer's
// dpo_loss: sigmoid with label smoothing, IPO, hinge; reference-free), forward and backward in one
// launch, with TRL's reward metrics.
//
//   pc, pr   F32 [P]   summed response-token log-probabilities of the chosen and the rejected
//                      response under the policy
//   rc, rr   F32 [P]   the same under the reference model, or null (zeros: no reference)
//   loss     F32 [1]   overwrite: the mean over the pairs
//   metrics  F32 [4]   overwrite: rewards/chosen, rewards/rejected, rewards/accuracies, rewards/margins
//                      (means over the pairs)
//   dc, dr   F32 [P]   overwrite: d loss / d pc and d loss / d pr
//
// Math, with β = beta, ε = label_smoothing, and z the pair's log-ratio difference:
//   z  = (pc - pr) - (rc - rr)            (z = pc - pr when reference_free)
//   sigmoid: l = -(1-ε) log σ(βz) - ε log σ(-βz)       dl/dz = β [ -(1-ε) σ(-βz) + ε σ(βz) ]
//   ipo:     l = (z - 1/(2β))^2                         dl/dz = 2 (z - 1/(2β))
//   hinge:   l = max(0, 1 - βz)                         dl/dz = -β where 1 - βz > 0, else 0
//   -log σ(x) = max(-x, 0) + log(1 + e^-|x|)  (never overflows); σ(-x) = e^-|x| / (1 + e^-|x|) for
//   x >= 0, 1 / (1 + e^-|x|) else, and σ(x) = 1 - σ(-x) from the same two terms
//   loss = (1/P) Σ l,   dc = (1/P) dl/dz,   dr = -dc
//   rewards (TRL): chosen = β (pc - rc), rejected = β (pr - rr) (the reference's terms count even when
//   reference_free, as in TRL); accuracy = mean [chosen > rejected]; margin = mean (chosen - rejected)
//
// Launch geometry: grid (1), block (256) (any multiple of 32): a thread per pair, strided over P. A
// batch holds tens of pairs; the sums are block reductions, so the result is deterministic.
#include "g4_cuda.cuh"

// the loss type codes of Backend.DpoLoss
#define DPO_SIGMOID 0
#define DPO_IPO 1
#define DPO_HINGE 2

// loss and dl/dz of one pair's z
G4_DEVICE float dpo_pair(float z, int loss_type, float beta, float eps, float* dldz) {
  if (loss_type == DPO_IPO) {
    const float d = z - 1.f / (2.f * beta);
    *dldz = 2.f * d;
    return d * d;
  }
  const float x = beta * z;
  if (loss_type == DPO_HINGE) {
    const float h = 1.f - x;
    *dldz = h > 0.f ? -beta : 0.f;
    return fmaxf(h, 0.f);
  }
  const float e = expf(-fmaxf(x, -x));  // e^-|x| in (0, 1]
  const float inv = 1.f / (1.f + e);
  const float sig_neg = x >= 0.f ? e * inv : inv;  // σ(-x)
  const float sig_pos = x >= 0.f ? inv : e * inv;  // σ(x)
  // log(1 + e) without losing e when it is tiny (no log1p in the kernel contract)
  const float l1p = e < 1e-4f ? e * (1.f - 0.5f * e) : logf(1.f + e);
  const float nls_pos = fmaxf(-x, 0.f) + l1p;  // -log σ(x)
  const float nls_neg = fmaxf(x, 0.f) + l1p;   // -log σ(-x)
  *dldz = beta * (eps * sig_pos - (1.f - eps) * sig_neg);
  return (1.f - eps) * nls_pos + eps * nls_neg;
}

G4_KERNEL void dpo_loss(float* loss, float* metrics, float* dc, float* dr, const float* pc, const float* pr,
                        const float* rc, const float* rr, int P, int loss_type, float beta, float eps,
                        int reference_free) {
  const float inv_p = P > 0 ? 1.f / P : 0.f;
  float my_loss = 0.f, my_chosen = 0.f, my_rejected = 0.f, my_correct = 0.f;
  for (int i = threadIdx.x; i < P; i += blockDim.x) {
    const float ref_c = rc ? rc[i] : 0.f, ref_r = rr ? rr[i] : 0.f;
    const float z = (pc[i] - pr[i]) - (reference_free ? 0.f : ref_c - ref_r);
    float dldz;
    my_loss += dpo_pair(z, loss_type, beta, eps, &dldz);
    dc[i] = dldz * inv_p;
    dr[i] = -dldz * inv_p;
    const float chosen = beta * (pc[i] - ref_c), rejected = beta * (pr[i] - ref_r);
    my_chosen += chosen;
    my_rejected += rejected;
    my_correct += chosen > rejected ? 1.f : 0.f;
  }
  __shared__ float scratch[32];
  const float total = g4_block_sum(my_loss, scratch);
  const float chosen = g4_block_sum(my_chosen, scratch);
  const float rejected = g4_block_sum(my_rejected, scratch);
  const float correct = g4_block_sum(my_correct, scratch);
  if (threadIdx.x == 0) {
    loss[0] = total * inv_p;
    metrics[0] = chosen * inv_p;
    metrics[1] = rejected * inv_p;
    metrics[2] = correct * inv_p;
    metrics[3] = (chosen - rejected) * inv_p;
  }
}
G4_EXPORT(dpo_loss)

// dpo_sequence_logp — the summed target log-probabilities of each sequence from the cross-entropy's
// per-token losses (cross_entropy.cu: -log p(target), 0 where the target is ignored):
//   losses F32 [B*T]  read;   logp F32 [B]  overwrite: logp[b] = -Σ_t losses[b*T + t]
// Launch: grid (B), block (any multiple of 32 up to 1024): a block per sequence, each thread a
// strided slice in fp32, then a block reduction (no atomics: the same sum every run).
G4_KERNEL void dpo_sequence_logp(float* logp, const float* losses, int T) {
  const float* row = losses + (long long)blockIdx.x * T;
  float s = 0.f;
  for (int t = threadIdx.x; t < T; t += blockDim.x) s += row[t];
  __shared__ float scratch[32];
  s = g4_block_sum(s, scratch);
  if (threadIdx.x == 0) logp[blockIdx.x] = -s;
}
G4_EXPORT(dpo_sequence_logp)

// dpo_step — a training step's use of dpo_loss's outputs, on the device so that the step reads
// nothing back (org.gpt4llm.backend.StepScalars):
//   loss F32 [1], metrics F32 [4], dc, dr F32 [P]   read: dpo_loss's outputs for a micro-batch of P pairs
//   grad_scale F32 [1]   read: the step's gradient scale (1 / the step's pairs)
//   loss_sum F32 [1]     += P loss (the micro-batch's loss terms summed)
//   metric_sums F32 [4]  += P metrics
//   row_scale F32 [2P]   overwrite: the cross-entropy gradient scale of each sequence, chosen then
//                        rejected: -(P dc) grad_scale and -(P dr) grad_scale. The cross-entropy's
//                        gradient is that of -logp, so this scale gives grad_scale d(Σ pairs' loss)/d logits.
// Launch: grid (1), block (any multiple of 32 up to 1024): a thread per pair, strided over P.
G4_KERNEL void dpo_step(float* loss_sum, float* metric_sums, float* row_scale, const float* loss,
                        const float* metrics, const float* dc, const float* dr, const float* grad_scale, int P) {
  const float k = -(float)P * grad_scale[0];
  for (int i = threadIdx.x; i < P; i += blockDim.x) {
    row_scale[i] = dc[i] * k;
    row_scale[P + i] = dr[i] * k;
  }
  if (threadIdx.x == 0) {
    loss_sum[0] += loss[0] * P;
    for (int m = 0; m < 4; m++) metric_sums[m] += metrics[m] * P;
  }
}
G4_EXPORT(dpo_step)
