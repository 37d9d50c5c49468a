// attention.cuh — what kernels/attention.cu (forward) and kernels/attention_backward.cu share:
// visibility, shared-memory tile layout and fragment helpers. The math, shapes and launch
// geometry are in the headers of those two files.
#pragma once
#include "g4_cuda.cuh"
#include "mma.cuh"

// keeps a loop rolled under nvcc (where unrolling costs registers); the host compiler decides alone
#if defined(__CUDACC__)
#define G4ATT_ROLLED _Pragma("unroll 1")
#else
#define G4ATT_ROLLED
#endif

namespace g4att {

constexpr unsigned FULL = 0xffffffffu;
constexpr int WARPS = 4, THREADS = 32 * WARPS;  // every attention kernel runs 4 warps per block
constexpr int BK = 64;                          // keys per tile of the tensor-core kernels
constexpr int GC = 32;                          // keys (queries) per chunk of the generic kernels: one per lane

// Segment id of token t in batch row b; a NULL seg means one segment (id 1) per row.
// Key j is visible to query i iff j <= i and seg(j) == seg(i) != 0.
G4_DEVICE int seg_of(const int* seg, int b, int T, int t) {
  return seg == nullptr ? 1 : seg[(long long)b * T + t];
}

// Element offset of (row, col) in a bf16 tile of W columns (W = 64 or 128). Each row is W/8
// 16-byte chunks and chunk c is stored at c ^ (row % 8): the 8 row addresses of one ldmatrix
// 8x8 matrix (8 consecutive rows, same column chunk) then fall in 8 different bank groups.
template <int W>
G4_DEVICE int swz(int row, int col) {
  return row * W + (((col >> 3) ^ (row & 7)) << 3) + (col & 7);
}

// Tile [ROWS][W] (swizzled) = rows [0, n) of a head, row r at src + r*stride elements; rows n..
// are zero (they stand for positions >= T and must not turn into NaN in a product with P = 0).
// src and stride must keep every 16-byte chunk aligned. Thread x copies chunk x % CH of rows
// x / CH + RS*u: the same swizzled column every time (RS is a multiple of 8), so one source
// pointer and one destination offset per thread, and all loads are in flight before the stores.
template <int ROWS, int W>
G4_DEVICE void load_tile(bf16* dst, const bf16* src, long long stride, int n) {
  constexpr int CH = W / 8, RS = THREADS / CH, N = ROWS / RS;
  static_assert(RS % 8 == 0 && ROWS % RS == 0, "tile shape");
  const int r = threadIdx.x / CH, ch = threadIdx.x % CH;
  src += r * stride + ch * 8;
  dst += swz<W>(r, ch * 8);
  uint4 x[N];
  for (int u = 0; u < N; u++)
    x[u] = r + RS * u < n ? *reinterpret_cast<const uint4*>(src + RS * u * stride) : make_uint4(0u, 0u, 0u, 0u);
  for (int u = 0; u < N; u++) *reinterpret_cast<uint4*>(dst + RS * u * W) = x[u];
}

// The A fragment of keys (or queries) [16kc, 16kc+16) taken from m16n8 accumulators acc[2kc],
// acc[2kc+1]: an accumulator holds (row g, cols 2t, 2t+1) and (row g+8, same cols), which is
// exactly the A layout of the 16x16 block made of two n-blocks (PTX ISA, m16n8k16 fragments).
G4_DEVICE void acc_to_a(uint32_t a[4], const float lo[4], const float hi[4]) {
  a[0] = g4_pack_floats_bf16x2(lo[0], lo[1]);
  a[1] = g4_pack_floats_bf16x2(lo[2], lo[3]);
  a[2] = g4_pack_floats_bf16x2(hi[0], hi[1]);
  a[3] = g4_pack_floats_bf16x2(hi[2], hi[3]);
}

// ldmatrix row addresses of lane l inside a swizzled tile of W columns, for a 16x16 block at rows
// [r0, r0+16), cols [c0, c0+16) (r0 % 8 == 0, c0 % 16 == 0):
//  A:      an A fragment, rows = m, cols = k                                 (x4)
//  B:      B fragments of two n-blocks, rows = n, cols = k: regs {0,1} the n-block of rows r0..,
//          regs {2,3} the n-block of rows r0+8..                             (x4)
//  BT:     B fragments of two n-blocks, rows = k, cols = n: regs {0,1} the n-block of cols c0..,
//          regs {2,3} the n-block of cols c0+8..                             (x4 .trans)
// The address is r0*W + (lane_off ^ c0): with r0 % 8 == 0 the swizzle term row % 8 depends on the
// lane only, and c0 only flips chunk bits the lane's row offset leaves clear. One XOR per
// ldmatrix instead of the whole swizzle keeps the kernels' address registers few.
enum Frag { A, B, BT };
template <int W, Frag F>
G4_DEVICE int lane_off(int lane) {
  const int r = F == A ? lane % 16 : F == B ? lane % 8 + 8 * (lane / 16) : lane % 8 + 8 * (lane / 8 % 2);
  const int c = F == A ? lane / 16 : F == B ? lane / 8 % 2 : lane / 16;  // chunk within the block
  return swz<W>(r, 8 * c);
}
template <int W>
G4_DEVICE const bf16* frag_at(const bf16* t, int off, int r0, int c0) {
  return t + r0 * W + (off ^ c0);
}

// acc[nb] (m16n8, nb < NB) += A (16x16, registers) times B tiles read from t: for F == B the
// n-blocks are tile rows r0 + 8nb (cols [c0, c0+16) = k), for F == BT tile cols c0 + 8nb (rows
// [r0, r0+16) = k). off = lane_off<W, F>(lane).
template <int W, int NB, Frag F>
G4_DEVICE void mma_row(float (*acc)[4], const uint32_t a[4], const bf16* t, int off, int r0, int c0) {
  for (int p = 0; p < NB / 2; p++) {
    uint32_t b[4];
    if (F == BT) g4_ldmatrix_x4_trans(b, frag_at<W>(t, off, r0, c0 + 16 * p));
    else g4_ldmatrix_x4(b, frag_at<W>(t, off, r0 + 16 * p, c0));
    g4_mma_m16n8k16_bf16(acc[2 * p], a, b, acc[2 * p]);
    g4_mma_m16n8k16_bf16(acc[2 * p + 1], a, b + 2, acc[2 * p + 1]);
  }
}

// exp of a score minus a running max (<= 0, or -inf for 0): the hardware's approximate exp on a
// GPU (relative error ~1e-6, far below the bf16 rounding of P), libm's in the emulation
G4_DEVICE float exp_att(float x) {
#if defined(__CUDACC__)
  return __expf(x);
#else
  return expf(x);
#endif
}

G4_DEVICE float quad_max(float x) {
  x = fmaxf(x, __shfl_xor_sync(FULL, x, 1));
  return fmaxf(x, __shfl_xor_sync(FULL, x, 2));
}
G4_DEVICE float quad_sum(float x) {
  x += __shfl_xor_sync(FULL, x, 1);
  return x + __shfl_xor_sync(FULL, x, 2);
}

// Generic kernels keep chunks of GC rows of D bf16 in shared memory with a row stride of an odd
// number of 32-bit words, so lane l reading row l at one column hits bank (l * stride + c) % 32:
// 32 different banks.
G4_DEVICE int odd_stride(int D) { return 2 * (((D + 1) / 2) | 1); }

// rows [0, GC) of a chunk (stride in elements), row r = src + r*src_stride for r < n, else zero.
// Four elements per (8-byte) load and per pair of stores when every row of src is 8-byte and of
// dst 4-byte aligned (the bench's D = 16: one group per thread), else two when 4-byte aligned.
G4_DEVICE void load_chunk(bf16* dst, int stride, const bf16* src, long long src_stride, int n, int D) {
  if (D % 4 == 0 && stride % 2 == 0 && src_stride % 4 == 0 && (reinterpret_cast<uintptr_t>(src) & 7) == 0) {
    const int Q = D / 4;  // groups of four per row
    for (int x = threadIdx.x; x < GC * Q; x += THREADS) {
      const int r = x / Q, d = 4 * (x % Q);
      const unsigned long long v = r < n ? *reinterpret_cast<const unsigned long long*>(src + r * src_stride + d) : 0ull;
      bf16* to = dst + r * stride + d;
      g4_check_span_write(to, 8);
      g4_span_store_u32(to, (uint32_t)v);
      g4_span_store_u32(to + 2, (uint32_t)(v >> 32));
    }
    return;
  }
  if (D % 2 == 0 && stride % 2 == 0 && src_stride % 2 == 0 && (reinterpret_cast<uintptr_t>(src) & 3) == 0) {
    const int P = D / 2;  // pairs per row
    for (int x = threadIdx.x; x < GC * P; x += THREADS) {
      const int r = x / P, d = 2 * (x % P);
      const uint32_t v = r < n ? *reinterpret_cast<const uint32_t*>(src + r * src_stride + d) : 0u;  // 0: two bf16 zeros
      *reinterpret_cast<uint32_t*>(dst + r * stride + d) = v;
    }
    return;
  }
  for (int x = threadIdx.x; x < GC * D; x += THREADS) {
    const int r = x / D, d = x % D;
    dst[r * stride + d] = r < n ? src[r * src_stride + d] : __float2bfloat16(0.f);
  }
}

// Two bf16 (the low half first) of a 32-bit word as floats.
G4_DEVICE float2 bf16x2_to_float2(uint32_t u) {
  return make_float2(__uint_as_float(u << 16), __uint_as_float(u & 0xffff0000u));
}

// Two bf16 at p (4-byte aligned) as floats, in one 32-bit load.
G4_DEVICE float2 load_bf16x2(const bf16* p) { return bf16x2_to_float2(*reinterpret_cast<const uint32_t*>(p)); }

// The output dim that accumulator r (< 8) of a lane stands for in the generic kernels: with an
// even D, the pairs d = 2*lane + 64*(r/2) + {0, 1}, so that rows (4-byte aligned, even strides)
// are read two elements per load; else d = lane + 32r. Dims >= D are not used.
G4_DEVICE int lane_dim(int lane, int r, int D) {
  return D % 2 == 0 ? 2 * lane + 64 * (r >> 1) + (r & 1) : lane + 32 * r;
}

// Whether the lane has output dims (lane_dim(lane, 0, D) < D): with D < 64 some lanes have none,
// and they skip the weighted sums of rows entirely (no warp operation is inside them).
G4_DEVICE bool lane_has_dims(int lane, int D) { return lane_dim(lane, 0, D) < D; }

// acc[r] += w * row[lane_dim(lane, r, D)] for the lane's dims < D. With an even D the loads go
// unchecked in the emulation: check_rows has checked them for every row of the chunk it adds.
G4_DEVICE void add_row(float (&acc)[8], float w, const bf16* row, int lane, int D) {
  if (D % 2 == 0) {
    for (int r = 0; r < 8; r += 2) {
      const int d = lane_dim(lane, r, D);
      if (d < D) {
        const float2 v = bf16x2_to_float2(g4_span_u32(row + d));
        acc[r] += w * v.x;
        acc[r + 1] += w * v.y;
      }
    }
    return;
  }
  for (int r = 0; r < 8; r++) {
    const int d = lane_dim(lane, r, D);
    if (d < D) acc[r] += w * __bfloat162float(row[d]);
  }
}

// Before a lane's add_row calls for the rows k of a chunk (row stride `stride` elements) whose
// weight w[k] (a row of GC floats the lane has checked with g4_check_span) is not 0: in the
// emulation, the sanitizer checks those reads, one per row and pair of dims, in one call; on a
// GPU nothing.
G4_DEVICE void check_rows(const bf16* chunk, int stride, const float* w, int lane, int D) {
#if !defined(__CUDACC__)
  if (D % 2 != 0) return;  // add_row's loads are checked one by one
  uint32_t rows = 0;
  for (int k4 = 0; k4 < GC; k4 += 4) {
    const float4 v = g4_span_f4(w + k4);
    rows |= (uint32_t)(v.x != 0.f) << k4 | (uint32_t)(v.y != 0.f) << (k4 + 1) | (uint32_t)(v.z != 0.f) << (k4 + 2) |
            (uint32_t)(v.w != 0.f) << (k4 + 3);
  }
  for (int r = 0; r < 8; r += 2) {
    const int d = lane_dim(lane, r, D);
    if (d < D) g4emu::check_read_rows(chunk + d, 4, 2 * (size_t)stride, rows);
  }
#else
  (void)chunk, (void)stride, (void)w, (void)lane, (void)D;
#endif
}

// x (fp32, D) . row (bf16, D). When D % 4 == 0, x is 16-byte aligned and row 4-byte aligned in
// every caller (x is a [4][D] fp32 array at the start of shared memory, row one of a chunk with an
// even stride), so x is read four floats and row two bf16 at a time (a quarter of the shared loads
// for x, half for row, the same products summed in the same order), each of the two rows checked
// once as a span in the emulation.
G4_DEVICE float dot_row(const float* x, const bf16* row, int D) {
  float s = 0.f;
  if (D % 4 == 0) {
    g4_check_span(x, 4 * D);
    g4_check_span(row, 2 * D);
    for (int d = 0; d < D; d += 4) {
      const float4 xv = g4_span_f4(x + d);
      const float2 r01 = bf16x2_to_float2(g4_span_u32(row + d)), r23 = bf16x2_to_float2(g4_span_u32(row + d + 2));
      s += xv.x * r01.x;
      s += xv.y * r01.y;
      s += xv.z * r23.x;
      s += xv.w * r23.y;
    }
    return s;
  }
  for (int d = 0; d < D; d++) s += x[d] * __bfloat162float(row[d]);
  return s;
}

}  // namespace g4att
