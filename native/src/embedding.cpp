/*
 * Token embedding: table [V,C], tok [N] (ids already checked to lie in [0,V) by the caller).
 *
 *   fwd: out[n,:] = table[tok[n],:]           out [N,C], overwritten
 *   bwd: dtable[tok[n],:] += dout[n,:]        dtable [V,C], accumulated
 *
 * The backward has no atomics and is deterministic: the C dimension is cut into one column block
 * per thread (a multiple of 16 floats), and each thread walks all N rows in order over its block.
 * Every element of dtable therefore receives its contributions in row order, repeated ids
 * included, whatever the thread count and block width.
 */
#include <immintrin.h>
#include <omp.h>

#include <cstring>

#include "g4_cpu.h"
#include "g4_internal.h"

namespace {


// dst[0..len) += src[0..len)
void acc_scalar(float* dst, const float* src, int len) {
  for (int c = 0; c < len; c++) dst[c] += src[c];
}

G4_AVX2 void acc_avx2(float* dst, const float* src, int len) {
  int c = 0;
  for (; c + 8 <= len; c += 8) {
    _mm256_storeu_ps(dst + c, _mm256_add_ps(_mm256_loadu_ps(dst + c), _mm256_loadu_ps(src + c)));
  }
  acc_scalar(dst + c, src + c, len - c);
}

}  // namespace

extern "C" {

G4_API void g4_embedding_fwd(float* out, const int32_t* tok, const float* table, int N, int C) {
  if (N <= 0 || C <= 0) return;
  // out[n, 0:C] <- table[tok[n], 0:C]; one row copy per token
#pragma omp parallel for schedule(static) if ((int64_t)N * C >= (1 << 15)) num_threads(g4::threads())
  for (int n = 0; n < N; n++) {
    std::memcpy(out + (int64_t)n * C, table + (int64_t)tok[n] * C, sizeof(float) * (size_t)C);
  }
}

G4_API void g4_embedding_bwd(float* dtable, const int32_t* tok, const float* dout, int N, int C) {
  if (N <= 0 || C <= 0) return;
  auto acc = g4::use_avx2() ? acc_avx2 : acc_scalar;
  // column blocks [c0, c0+len) of C, one per thread, 16-float multiples (whole cache lines)
  int nt = (int64_t)N * C >= (1 << 15) ? g4::threads() : 1;
  int blk = ((C + nt - 1) / nt + 15) / 16 * 16;
  int nblocks = (C + blk - 1) / blk;
#pragma omp parallel for schedule(static) num_threads(nt)
  for (int b = 0; b < nblocks; b++) {
    int c0 = b * blk, len = C - c0 < blk ? C - c0 : blk;
    // rows in order: dtable[tok[n], c0:c0+len] += dout[n, c0:c0+len]
    for (int n = 0; n < N; n++) {
      acc(dtable + (int64_t)tok[n] * C + c0, dout + (int64_t)n * C + c0, len);
    }
  }
}

}  // extern "C"
