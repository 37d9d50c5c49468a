// step_scalars.cu — the scalars a training step keeps on the device (org.gpt4llm.backend.StepScalars),
// so that a step queues all of its work without waiting for the host and can be replayed as a CUDA
// graph; the host reads the loss sum and the gradients' sum of squares back once, after the step.
//
// loss_sum:  acc F32 [1] += Σ_i x_i over x F32 [n]   (a micro-batch's per-row losses, 0 on ignored
//   rows; acc sums every micro-batch of the step). One block: each thread sums a strided slice in
//   fp32, the block reduces, thread 0 adds the total: no atomics, so the sum is the same on every
//   run and the micro-batches add in order.
//   Launch: grid (1), block (B): B a multiple of 32 in [32, 1024] (the launcher takes up to 256).
//
// step_clip_factor:  clip F32 [1] = min(1, max_norm / (sqrt(sumsq) + 1e-6)), 1 when max_norm <= 0
//   (torch.nn.utils.clip_grad_norm_'s coefficient), or NaN when sumsq or loss_sum is not finite:
//   adamw_step_device then leaves every parameter and moment as it was.
//   Launch: grid (1), block (1).
#include "g4_cuda.cuh"

G4_KERNEL void loss_sum(float* acc, const float* x, int n) {
  float s = 0.f;
  for (int i = threadIdx.x; i < n; i += blockDim.x) s += x[i];
  __shared__ float scratch[32];
  s = g4_block_sum(s, scratch);
  if (threadIdx.x == 0) acc[0] += s;
}
G4_EXPORT(loss_sum)

G4_KERNEL void step_clip_factor(float* clip, const float* sumsq, const float* loss_sum, float max_norm) {
  if (blockIdx.x != 0 || threadIdx.x != 0) return;
  const float s = sumsq[0];
  if (!isfinite(s) || !isfinite(loss_sum[0])) {
    clip[0] = NAN;
    return;
  }
  clip[0] = max_norm > 0.f ? fminf(1.f, max_norm / (sqrtf(s) + 1e-6f)) : 1.f;
}
G4_EXPORT(step_clip_factor)
