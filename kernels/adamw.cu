// adamw.cu — fused AdamW step with PyTorch semantics (torch.optim.AdamW, decoupled weight decay):
// fp32 master weights and moments, the bf16 working copy of the weights written in the same pass.
//
//   param   BF16 [n]   overwrite: bf16(master) after the step (round to nearest even)
//   master  F32  [n]   updated in place
//   grad    F32  [n]   read
//   m, v    F32  [n]   updated in place (first and second moments)
//   clip_factor F32 [1] or NULL: a device scalar multiplied into the gradient scale, so the
//                       global-norm clip (global_norm.cu) needs no host round trip; NULL means 1
//
// adamw_step_device is the same update with every step-dependent scalar read from device memory
// (org.gpt4llm.backend.StepScalars, uploaded once per step), so that a training step captured into
// a CUDA graph replays with each step's learning rate and bias corrections: decay, step_size,
// inv_bc2s and clip_factor are F32 [1] pointers. A clip factor that is not finite is
// step_clip_factor's mark of a non-finite gradient norm or loss (step_scalars.cu): nothing is updated.
//
// Math, step counting from 1 (the scalars below are computed on the host in fp64, as PyTorch's
// Python does, and rounded to fp32):
//   g  = grad * grad_scale * clip_factor
//   m  = b1 m + (1 - b1) g,   v = b2 v + (1 - b2) g^2
//   p  = p * decay - step_size * m / (sqrt(v) * inv_bc2s + eps)
//   decay = 1 - lr * weight_decay, step_size = lr / (1 - b1^step), inv_bc2s = 1 / sqrt(1 - b2^step)
// which is PyTorch's p *= 1 - lr*wd; p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps).
//
// Launch geometry: 1-D grid-stride loop over n (int64). block (256), grid (min(ceil(n/256), 8192));
// no shared memory. Memory-bound: 16 bytes read and 14 written per element, all coalesced.
#include "g4_cuda.cuh"

G4_DEVICE void adamw_apply(bf16* param, float* master, const float* grad, float* m, float* v,
                           long long n, float beta1, float beta2, float eps, float decay,
                           float step_size, float inv_bc2s, float gs) {
  const float c1 = 1.f - beta1, c2 = 1.f - beta2;  // exact in fp32 for betas in [0.5, 1]
  const long long stride = (long long)gridDim.x * blockDim.x;
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
    const float g = grad[i] * gs;
    const float mi = beta1 * m[i] + c1 * g;
    const float vi = beta2 * v[i] + c2 * (g * g);
    m[i] = mi;
    v[i] = vi;
    const float p = master[i] * decay - step_size * (mi / (sqrtf(vi) * inv_bc2s + eps));
    master[i] = p;
    param[i] = __float2bfloat16(p);
  }
}

G4_KERNEL void adamw_step(bf16* param, float* master, const float* grad, float* m, float* v,
                          long long n, float beta1, float beta2, float eps, float decay,
                          float step_size, float inv_bc2s, float grad_scale,
                          const float* clip_factor) {
  const float gs = clip_factor != nullptr ? grad_scale * clip_factor[0] : grad_scale;
  adamw_apply(param, master, grad, m, v, n, beta1, beta2, eps, decay, step_size, inv_bc2s, gs);
}
G4_EXPORT(adamw_step)

G4_KERNEL void adamw_step_device(bf16* param, float* master, const float* grad, float* m, float* v,
                                 long long n, float beta1, float beta2, float eps, float grad_scale,
                                 const float* decay, const float* step_size, const float* inv_bc2s,
                                 const float* clip_factor) {
  const float c = clip_factor[0];
  if (!isfinite(c)) return;  // the same for every thread: the whole update is skipped
  adamw_apply(param, master, grad, m, v, n, beta1, beta2, eps, decay[0], step_size[0], inv_bc2s[0],
              grad_scale * c);
}
G4_EXPORT(adamw_step_device)
