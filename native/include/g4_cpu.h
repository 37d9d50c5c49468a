/*
 * g4_cpu.h — the flat C ABI of libgpt4llm_cpu.so, called from Java through Panama.
 *
 * Conventions (every function):
 *   - row-major fp32 tensors, host pointers; int32 token ids / positions / segment ids;
 *   - parameter-gradient outputs ACCUMULATE (+=) so micro-batches add up; activation-gradient
 *     outputs are documented per function (overwrite "=" or accumulate "+=");
 *   - parallel over g4_get_num_threads() threads, whichever thread calls (g4_set_num_threads sets
 *     the count for all of them): OpenMP, except the kernels of decoding (GEMV, attention against
 *     the KV cache), which use the library's own worker pool of as many threads;
 *     the SIMD path is chosen at run time from what the CPU has: AVX-512F for the kernels that have
 *     such a path (GEMV, attention, cross-entropy), AVX2/FMA for the others, with a scalar
 *     fallback; g4_force_simd_level selects one so that each is tested (AVX-512 through SIMDe's
 *     emulation where the CPU lacks it).
 */
#ifndef G4_CPU_H
#define G4_CPU_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- runtime ------------------------------------------------------------------------------ */
void        g4_set_num_threads(int n);
int         g4_get_num_threads(void);
/* G4_SIMD_AVX512_BF16: AVX-512F, and bf16 weights in the GEMV multiplied by activations rounded to
 * bf16 in AVX512_BF16 dot products (VDPBF16PS) rather than widened to meet them in fp32 */
enum { G4_SIMD_SCALAR = 0, G4_SIMD_AVX2 = 1, G4_SIMD_AVX512 = 2, G4_SIMD_AVX512_BF16 = 3 };
int         g4_simd_level(void);        /* the path in use: G4_SIMD_*                              */
/* level G4_SIMD_* for the kernels, or -1 for the best the CPU has; returns 0, or -1 (nothing changed)
 * where the level cannot run: AVX2 without the CPU's, AVX-512 (or AVX512_BF16) without the CPU's or
 * the emulation */
int         g4_force_simd_level(int level);
int         g4_avx512_emulated(void);   /* 1 when (part of) the AVX-512 path runs through the emulation */
const char* g4_build_info(void);        /* compiler, flags, OpenMP version                        */

/* ---- dtype conversion (storage formats of checkpoints) ----------------------------------- */
void g4_bf16_to_f32(float* out, const uint16_t* in, int64_t n);
void g4_f16_to_f32(float* out, const uint16_t* in, int64_t n);
void g4_f32_to_bf16(uint16_t* out, const float* in, int64_t n);   /* round to nearest even */
void g4_f32_to_f16(uint16_t* out, const float* in, int64_t n);    /* round to nearest even */
/* out = in converted (or copied, for the same type) as above, and in the same pass over `in`: the
 * index of its first NaN or infinite element, -1 when every one is finite, -2 for a pair of types
 * it does not convert (f16 <-> bf16, or a code not below). `out` is written whole either way. */
#define G4_DTYPE_F32 0
#define G4_DTYPE_BF16 1
#define G4_DTYPE_F16 2
int64_t g4_convert_finite(void* out, int out_type, const void* in, int in_type, int64_t n);

/* ---- elementwise -------------------------------------------------------------------------- */
void   g4_add(float* y, const float* a, const float* b, int64_t n);   /* y = a + b (y may alias) */
void   g4_scale(float* x, int64_t n, float s);                        /* x *= s                  */
double g4_sumsq(const float* x, int64_t n);                           /* sum x^2, fp64 accum     */

/* ---- embedding: table [V,C], tok [N] --------------------------------------------------------
 * fwd: out[n,:] = table[tok[n],:]            (out [N,C], overwrite)
 * bwd: dtable[tok[n],:] += dout[n,:]         (deterministic: no atomics, repeated ids summed in order) */
void g4_embedding_fwd(float* out, const int32_t* tok, const float* table, int N, int C);
void g4_embedding_bwd(float* dtable, const int32_t* tok, const float* dout, int N, int C);

/* ---- RMSNorm: x [N,C], w [C], rstd [N] ------------------------------------------------------
 * fwd: rstd[n] = 1/sqrt(mean_c x[n,c]^2 + eps);  y = x * rstd * w          (y overwrite)
 * bwd: dx += rstd*(w*dy) - x*rstd^3/C * sum_c(w*dy*x);  dw += sum_n dy*x*rstd  */
void g4_rmsnorm_fwd(float* y, float* rstd, const float* x, const float* w, int N, int C, float eps);
void g4_rmsnorm_bwd(float* dx, float* dw, const float* dy, const float* x, const float* w,
                    const float* rstd, int N, int C);

/* ---- LayerNorm, PyTorch semantics (biased variance, eps inside the root): x [N,C], w, b [C],
 * mean, rstd [N]
 * fwd: mean = sum_c x / C;  rstd = 1/sqrt(sum_c (x - mean)^2 / C + eps)   (two passes, fp64)
 *      y = (x - mean) * rstd * w + b                                      (y, mean, rstd overwrite)
 * bwd: xhat = (x - mean) * rstd, g = dy * w:
 *      dx += rstd * (g - sum_c g / C - xhat * sum_c(g * xhat) / C)
 *      dw += sum_n dy * xhat;  db += sum_n dy             (accumulate; deterministic, no atomics) */
void g4_layernorm_fwd(float* y, float* mean, float* rstd, const float* x, const float* w,
                      const float* b, int N, int C, float eps);
void g4_layernorm_bwd(float* dx, float* dw, float* db, const float* dy, const float* x,
                      const float* w, const float* mean, const float* rstd, int N, int C);

/* ---- rotary embedding, HF rotate_half convention: x [N,H,D] in place, pos [N] -----------------
 * inv_freq[i] = theta^(-2i/D) (fp32), a = (float)pos * inv_freq[i], i < D/2:
 * fwd: (x[i], x[i+D/2]) <- (x[i]cos a - x[i+D/2] sin a, x[i+D/2] cos a + x[i] sin a)
 * bwd: the transpose, i.e. the same rotation by -a applied to the gradient, in place */
void g4_rope_fwd(float* x, const int32_t* pos, int N, int H, int D, float theta);
void g4_rope_bwd(float* dx, const int32_t* pos, int N, int H, int D, float theta);

/* ---- causal self-attention, flash style (online softmax over key tiles) -----------------------
 * q, out [B,T,Hq,D]; k, v [B,T,Hkv,D] (GQA: query head h reads kv head h/(Hq/Hkv)); lse [B,Hq,T]
 * seg [B,T] or NULL: key j is visible to query i iff j <= i and seg[b,j] == seg[b,i] != 0
 *   (seg 0 marks padding; packed sequences get distinct ids). NULL = every token in segment 1.
 * A query with no visible key gets out = 0 and lse = -INFINITY.
 * fwd: out = softmax(scale * q k^T + mask) v, lse = logsumexp of the masked scaled scores (overwrite)
 * bwd: dq, dk, dv from dout using the saved out and lse (overwrite; dk/dv sum over a kv group) */
void g4_attention_fwd(float* out, float* lse, const float* q, const float* k, const float* v,
                      const int32_t* seg, int B, int T, int Hq, int Hkv, int D, float scale);
void g4_attention_bwd(float* dq, float* dk, float* dv, const float* dout, const float* out,
                      const float* lse, const float* q, const float* k, const float* v,
                      const int32_t* seg, int B, int T, int Hq, int Hkv, int D, float scale);

/* ---- attention against a KV cache (incremental decoding) ---------------------------------------
 * cache, kc, vc [B,Tmax,Hkv,D]; src [B,Tq,Hkv*D] (W = Hkv*D); q, out [B,Tq,Hq,D]; lengths [B] =
 * tokens of row b in the cache including this call's. New token t of row b is at position
 * p = lengths[b] - Tq + t; p < 0 marks left padding (a row with fewer than Tq new tokens).
 * write:  cache[b,p] = src[b,t] for 0 <= p < Tmax (other cache rows untouched)
 * decode: out[b,t,h] = softmax_j(scale q[b,t,h] . kc[b,j,h/(Hq/Hkv)]) vc[b,j,...] over
 *         j = 0..min(p, Tmax-1); out = 0 where p < 0 (overwrite) */
void g4_kv_cache_write(float* cache, const float* src, const int32_t* lengths, int B, int Tq, int Tmax, int W);
void g4_attention_decode(float* out, const float* q, const float* kc, const float* vc, const int32_t* lengths,
                         int B, int Tq, int Tmax, int Hq, int Hkv, int D, float scale);

/* ---- matrix times a few vectors (the GEMMs of decoding) ---------------------------------------
 * C[M,N] = alpha * A[M,K] W[N,K]^T + beta * C  (beta == 0: C is not read), row strides lda, ldw, ldc in
 * elements. W is fp32, bf16 or f16 (w_type: G4_DTYPE_*), widened in registers; A, C fp32, fp32 sums.
 * At G4_SIMD_AVX512_BF16, bf16 W meets A rounded to bf16 (to nearest even): each product is exact,
 * the sums fp32, so C = alpha * bf16(A) W^T + beta * C.
 * Each weight is read once for all M rows, so it is meant for M up to about 8. Runs on the library's
 * own worker threads (g4_set_num_threads), rows of W split between them.
 * returns 0, -1 for a negative size, -2 for an unknown w_type. */
int g4_gemv(float* c, int64_t ldc, const float* a, int64_t lda, const void* w, int w_type, int64_t ldw,
            int M, int N, int K, float alpha, float beta);
/* Several W of one A (a layer's q, k and v; its gate and up): for i < count (1 to 8),
 * C_i[M,N_i] = A[M,K] W_i[N_i,K]^T (overwrite), W_i of w_type with rows of K, C_i with rows of N_i:
 * count g4_gemv calls' results, in one run of the worker threads.
 * returns as g4_gemv, or -3 for a count outside 1..8. */
int g4_gemv_shared(float* const* c, const float* a, int64_t lda, const void* const* w, int w_type, const int* n,
                   int count, int M, int K);

/* ---- SwiGLU: h = silu(g) * u, all [n] ---------------------------------------------------------
 * bwd: dg = dh * u * silu'(g), du = dh * silu(g)        (overwrite) */
void g4_swiglu_fwd(float* h, const float* g, const float* u, int64_t n);
void g4_swiglu_bwd(float* dg, float* du, const float* dh, const float* g, const float* u, int64_t n);

/* ---- ReLU, all [n] ------------------------------------------------------------------------------
 * fwd: y = max(x, 0) (y may alias x);  bwd: dx = x > 0 ? dy : 0 (dx may alias dy)   (overwrite) */
void g4_relu_fwd(float* y, const float* x, int64_t n);
void g4_relu_bwd(float* dx, const float* dy, const float* x, int64_t n);

/* ---- pairwise reward loss (kernels/reward_loss.cu): r, gold, dr [M], offsets [G+1] -------------
 * group g = responses [offsets[g], offsets[g+1]) (0 to M, non-decreasing: validated by the caller);
 * pairs (i, j) of one group with gold_i > gold_j, inv_pairs = 1/their count (0 when none):
 * loss[0] = inv_pairs * sum_pairs [softplus(-(r_i - r_j - margin)) + center_coef (r_i + r_j)^2]
 * dr = d loss / d r                                                        (loss, dr overwrite) */
void g4_reward_pairwise_loss(float* loss, float* dr, const float* r, const float* gold,
                             const int32_t* offsets, int G, float margin, float center_coef,
                             float inv_pairs);

/* ---- DPO loss (kernels/dpo_loss.cu): pc, pr, rc, rr, dc, dr [P] -------------------------------
 * z = (pc - pr) - (rc - rr) (rc, rr may be NULL: zeros; z = pc - pr when reference_free);
 * loss_type 0 sigmoid: -(1-ls) log sigmoid(beta z) - ls log sigmoid(-beta z), 1 ipo: (z - 1/(2 beta))^2,
 * 2 hinge: max(0, 1 - beta z); loss[0] = their mean, dc = d loss / d pc, dr = -dc;
 * metrics[4] = means of beta (pc - rc), beta (pr - rr), [chosen > rejected], their difference
 *                                                                 (loss, metrics, dc, dr overwrite) */
void g4_dpo_loss(float* loss, float* metrics, float* dc, float* dr, const float* pc, const float* pr,
                 const float* rc, const float* rr, int P, int loss_type, float beta, float label_smoothing,
                 int reference_free);

/* logp[b] = -sum_t losses[b*T + t] for b < B: summed target log-probabilities of each sequence from
 * the cross-entropy's per-token losses                                               (logp overwrite) */
void g4_dpo_sequence_logp(float* logp, const float* losses, int B, int T);

/* a training step's use of g4_dpo_loss's outputs for P pairs: loss_sum[0] += P loss[0],
 * metric_sums[0:4] += P metrics, row_scale[2P] = -(P dc) grad_scale[0] then -(P dr) grad_scale[0]
 * (the cross-entropy gradient scale of each chosen then rejected sequence)   (row_scale overwrite) */
void g4_dpo_step(float* loss_sum, float* metric_sums, float* row_scale, const float* loss,
                 const float* metrics, const float* dc, const float* dr, const float* grad_scale, int P);

/* ---- fused softmax cross-entropy: logits [N,V], targets [N] -----------------------------------
 * losses[n] = logsumexp(logits[n,:]) - logits[n,t]   (0 when t == ignore_index)
 * if dlogits != NULL: dlogits[n,:] = (softmax(logits[n,:]) - onehot(t)) * grad_scale
 *   (a zero row when ignored); dlogits may alias logits (computed in place, one pass to read the
 *   row's max and sum, one to write the gradient; probabilities are never stored separately)
 * returns the number of targets that were not ignored. A target outside [0,V) that is not
 * ignore_index returns -1 - n for the first such row n and writes nothing further. */
int g4_cross_entropy(float* losses, float* dlogits, const float* logits, const int32_t* targets,
                     int N, int V, int ignore_index, float grad_scale);

/* g4_cross_entropy with row n's gradient scaled by grad_scale * row_scale[n / row_len]
 * (row_scale [N / row_len], one weight per sequence of row_len rows; NULL: grad_scale alone) */
int g4_cross_entropy_rows(float* losses, float* dlogits, const float* logits, const int32_t* targets,
                          int N, int V, int ignore_index, float grad_scale, const float* row_scale,
                          int row_len);

/* ---- AdamW, PyTorch semantics (decoupled weight decay), all [n] --------------------------------
 * g' = g * grad_scale;  p -= lr*wd*p;  m = b1 m + (1-b1) g';  v = b2 v + (1-b2) g'^2
 * p -= lr * (m / (1-b1^step)) / (sqrt(v / (1-b2^step)) + eps)          step counts from 1 */
void g4_adamw(float* p, const float* g, float* m, float* v, int64_t n, float lr, float beta1,
              float beta2, float eps, float weight_decay, int step, float grad_scale);

#ifdef __cplusplus
}
#endif
#endif /* G4_CPU_H */
