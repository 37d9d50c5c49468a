/*
 * Direct Preference Optimization loss over P preference pairs (TRL DPOTrainer's dpo_loss: sigmoid
 * with label smoothing, IPO, hinge; reference-free), forward and backward in one call, with TRL's
 * reward metrics; the same math as kernels/dpo_loss.cu.
 *
 *   pc, pr   [P]  summed response-token log-probabilities of chosen and rejected under the policy
 *   rc, rr   [P]  the same under the reference, or NULL (zeros: no reference)
 *   loss     [1]  overwrite: the mean over the pairs
 *   metrics  [4]  overwrite: means of the chosen reward, the rejected reward, [chosen > rejected], and
 *                 chosen - rejected (TRL's rewards/chosen, rejected, accuracies, margins)
 *   dc, dr   [P]  overwrite: d loss / d pc and d loss / d pr = -dc
 *
 * With β = beta, ε = label_smoothing and z = (pc - pr) - (rc - rr) (z = pc - pr when reference_free):
 *   sigmoid: l = -(1-ε) log σ(βz) - ε log σ(-βz)       dl/dz = β [ε σ(βz) - (1-ε) σ(-βz)]
 *   ipo:     l = (z - 1/(2β))^2                         dl/dz = 2 (z - 1/(2β))
 *   hinge:   l = max(0, 1 - βz)                         dl/dz = -β where 1 - βz > 0, else 0
 *   -log σ(x) = max(-x, 0) + log1p(e^-|x|), -log σ(-x) = max(x, 0) + log1p(e^-|x|) (never overflow)
 *   loss = (1/P) Σ l, dc = (1/P) dl/dz; rewards: chosen = β (pc - rc), rejected = β (pr - rr) (the
 *   reference counts there even when reference_free, as in TRL).
 *
 * g4_dpo_sequence_logp sums a sequence's per-token cross-entropy losses into its log-probability, and
 * g4_dpo_step turns the loss's outputs into a training step's sums and per-sequence gradient scales
 * (the device-resident step of kernels/dpo_loss.cu, on the host).
 *
 * One thread: a batch holds tens of pairs. The scalar path works in fp64; the AVX2 path takes eight
 * pairs at a time in fp32 and adds each group of eight to fp64 sums.
 */
#include <immintrin.h>

#include <cmath>

#include "g4_cpu.h"
#include "g4_internal.h"
#include "g4_simd.h"

namespace {

enum LossType { kSigmoid = 0, kIpo = 1, kHinge = 2 };  // Backend.DpoLoss's codes

struct Sums {
  double loss = 0, chosen = 0, rejected = 0, correct = 0;
};

struct Args {
  float *dc, *dr;
  const float *pc, *pr, *rc, *rr;
  int type;
  float beta, eps, inv_p;
  bool reference_free;
};

// pairs [from, P) one at a time, in fp64
void pairs_scalar(const Args& a, int from, int P, Sums* s) {
  for (int i = from; i < P; i++) {
    const double ref_c = a.rc ? a.rc[i] : 0.0, ref_r = a.rr ? a.rr[i] : 0.0;
    const double z = ((double)a.pc[i] - a.pr[i]) - (a.reference_free ? 0.0 : ref_c - ref_r);
    double l, dldz;
    if (a.type == kIpo) {
      const double d = z - 1.0 / (2.0 * a.beta);
      l = d * d;
      dldz = 2.0 * d;
    } else if (a.type == kHinge) {
      const double h = 1.0 - a.beta * z;
      l = std::fmax(h, 0.0);
      dldz = h > 0 ? -(double)a.beta : 0.0;
    } else {
      const double x = a.beta * z, e = std::exp(-std::fabs(x)), inv = 1.0 / (1.0 + e);
      const double sig_neg = x >= 0 ? e * inv : inv, sig_pos = x >= 0 ? inv : e * inv;
      const double l1p = std::log1p(e);
      l = (1.0 - a.eps) * (std::fmax(-x, 0.0) + l1p) + a.eps * (std::fmax(x, 0.0) + l1p);
      dldz = a.beta * (a.eps * sig_pos - (1.0 - a.eps) * sig_neg);
    }
    s->loss += l;
    a.dc[i] = (float)(dldz * a.inv_p);
    a.dr[i] = (float)(-dldz * a.inv_p);
    const double chosen = a.beta * (a.pc[i] - ref_c), rejected = a.beta * (a.pr[i] - ref_r);
    s->chosen += chosen;
    s->rejected += rejected;
    s->correct += chosen > rejected ? 1 : 0;
  }
}

// pairs [0, P - P % 8) eight at a time; returns where the scalar tail starts
G4_AVX2 int pairs_avx2(const Args& a, int P, Sums* s) {
  const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.f), beta = _mm256_set1_ps(a.beta);
  const __m256 eps = _mm256_set1_ps(a.eps), keep = _mm256_set1_ps(1.f - a.eps), inv_p = _mm256_set1_ps(a.inv_p);
  const __m256 sign = _mm256_set1_ps(-0.f);
  int i = 0;
  for (; i + 8 <= P; i += 8) {
    const __m256 pc = _mm256_loadu_ps(a.pc + i), pr = _mm256_loadu_ps(a.pr + i);
    const __m256 ref_c = a.rc ? _mm256_loadu_ps(a.rc + i) : zero, ref_r = a.rr ? _mm256_loadu_ps(a.rr + i) : zero;
    __m256 z = _mm256_sub_ps(pc, pr);
    if (!a.reference_free) z = _mm256_sub_ps(z, _mm256_sub_ps(ref_c, ref_r));
    __m256 l, dldz;
    if (a.type == kIpo) {
      const __m256 d = _mm256_sub_ps(z, _mm256_set1_ps(1.f / (2.f * a.beta)));
      l = _mm256_mul_ps(d, d);
      dldz = _mm256_add_ps(d, d);
    } else if (a.type == kHinge) {
      const __m256 h = _mm256_fnmadd_ps(beta, z, one);
      l = _mm256_max_ps(h, zero);
      dldz = _mm256_and_ps(_mm256_cmp_ps(h, zero, _CMP_GT_OQ), _mm256_xor_ps(beta, sign));
    } else {
      const __m256 x = _mm256_mul_ps(beta, z);
      const __m256 e = g4::exp8(_mm256_xor_ps(_mm256_andnot_ps(sign, x), sign));  // e^-|x|
      const __m256 inv = _mm256_div_ps(one, _mm256_add_ps(one, e)), e_inv = _mm256_mul_ps(e, inv);
      const __m256 positive = _mm256_cmp_ps(x, zero, _CMP_GE_OQ);
      const __m256 sig_neg = _mm256_blendv_ps(inv, e_inv, positive), sig_pos = _mm256_blendv_ps(e_inv, inv, positive);
      // log1p(e): e (1 - e/2) where e is too small for log(1 + e) to keep it
      const __m256 tiny = _mm256_cmp_ps(e, _mm256_set1_ps(1e-4f), _CMP_LT_OQ);
      const __m256 l1p = _mm256_blendv_ps(g4::log8(_mm256_add_ps(one, e)),
                                          _mm256_mul_ps(e, _mm256_fnmadd_ps(_mm256_set1_ps(0.5f), e, one)), tiny);
      const __m256 nls_pos = _mm256_add_ps(_mm256_max_ps(_mm256_xor_ps(x, sign), zero), l1p);
      const __m256 nls_neg = _mm256_add_ps(_mm256_max_ps(x, zero), l1p);
      l = _mm256_fmadd_ps(keep, nls_pos, _mm256_mul_ps(eps, nls_neg));
      dldz = _mm256_mul_ps(beta, _mm256_fmsub_ps(eps, sig_pos, _mm256_mul_ps(keep, sig_neg)));
    }
    const __m256 d = _mm256_mul_ps(dldz, inv_p);
    _mm256_storeu_ps(a.dc + i, d);
    _mm256_storeu_ps(a.dr + i, _mm256_xor_ps(d, sign));
    const __m256 chosen = _mm256_mul_ps(beta, _mm256_sub_ps(pc, ref_c));
    const __m256 rejected = _mm256_mul_ps(beta, _mm256_sub_ps(pr, ref_r));
    s->loss += g4::hsum8(l);
    s->chosen += g4::hsum8(chosen);
    s->rejected += g4::hsum8(rejected);
    s->correct += g4::hsum8(_mm256_and_ps(_mm256_cmp_ps(chosen, rejected, _CMP_GT_OQ), one));
  }
  return i;
}

}  // namespace

extern "C" {

G4_API void g4_dpo_loss(float* loss, float* metrics, float* dc, float* dr, const float* pc, const float* pr,
                        const float* rc, const float* rr, int P, int loss_type, float beta, float label_smoothing,
                        int reference_free) {
  const Args a{dc, dr, pc, pr, rc, rr, loss_type, beta, label_smoothing, P > 0 ? 1.f / P : 0.f, reference_free != 0};
  Sums s;
  const int tail = g4::use_avx2() ? pairs_avx2(a, P, &s) : 0;
  pairs_scalar(a, tail, P, &s);
  const double inv = P > 0 ? 1.0 / P : 0.0;
  loss[0] = (float)(s.loss * inv);
  metrics[0] = (float)(s.chosen * inv);
  metrics[1] = (float)(s.rejected * inv);
  metrics[2] = (float)(s.correct * inv);
  metrics[3] = (float)((s.chosen - s.rejected) * inv);
}

G4_API void g4_dpo_sequence_logp(float* logp, const float* losses, int B, int T) {
  for (int b = 0; b < B; b++) {
    double s = 0;
    for (int t = 0; t < T; t++) s += losses[(int64_t)b * T + t];
    logp[b] = (float)-s;
  }
}

G4_API void g4_dpo_step(float* loss_sum, float* metric_sums, float* row_scale, const float* loss,
                        const float* metrics, const float* dc, const float* dr, const float* grad_scale, int P) {
  const float k = -(float)P * grad_scale[0];  // as kernels/dpo_loss.cu, in fp32
  for (int i = 0; i < P; i++) {
    row_scale[i] = dc[i] * k;
    row_scale[P + i] = dr[i] * k;
  }
  loss_sum[0] += loss[0] * P;
  for (int m = 0; m < 4; m++) metric_sums[m] += metrics[m] * P;
}

}  // extern "C"
