// global_norm.cu — global gradient norm and the clip factor, both left on the device so that the
// optimizer (adamw.cu) reads the factor without a host round trip.
//
// global_norm_sumsq:  sumsq F32 [1] += Σ_i x_i^2 over x F32 [n]
//   Called once per gradient tensor into the same sumsq (zeroed by the caller first). Each thread
//   sums a grid-stride slice in fp32, the block reduces, and one atomicAdd per block adds the
//   block's partial: the order of those additions varies run to run, so the last bits do too.
//   Launch: block (256), grid (min(ceil(n/2048), 1024)): at least 8 elements per thread, and few
//   enough blocks that the atomics stay negligible. No dynamic shared memory.
//
// clip_factor:  factor F32 [1] = min(1, max_norm / (sqrt(sumsq) + 1e-6)), or 1 when max_norm <= 0
//   (torch.nn.utils.clip_grad_norm_'s coefficient, clamped to 1). A NaN norm gives 1 (the
//   gradients are already NaN; the optimizer step shows it), an infinite norm gives 0.
//   Launch: grid (1), block (1).
#include "g4_cuda.cuh"

G4_KERNEL void global_norm_sumsq(float* sumsq, const float* x, long long n) {
  float acc = 0.f;
  const long long stride = (long long)gridDim.x * blockDim.x;
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
    acc += x[i] * x[i];
  }
  __shared__ float scratch[32];
  acc = g4_block_sum(acc, scratch);
  if (threadIdx.x == 0) atomicAdd(sumsq, acc);
}
G4_EXPORT(global_norm_sumsq)

G4_KERNEL void clip_factor(float* factor, const float* sumsq, float max_norm) {
  if (blockIdx.x != 0 || threadIdx.x != 0) return;
  factor[0] = max_norm > 0.f ? fminf(1.f, max_norm / (sqrtf(sumsq[0]) + 1e-6f)) : 1.f;
}
G4_EXPORT(clip_factor)
