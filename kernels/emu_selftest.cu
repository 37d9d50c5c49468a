// emu_selftest.cu — small kernels that exercise what kernels may use (barriers, warp operations,
// atomics, shared memory, bf16, mma/ldmatrix), so that the CUDA emulation can be checked exactly
// against Java references (EmuDeviceTest, MmaFragmentTest) and nvcc can check that the same
// sources compile for the GPU. They compute nothing the engine uses.
//
// Launch geometry (n = blockDim.x * gridDim.x unless stated):
//   selftest_barrier_exit   grid G, block T   out[G*T] int, `live` threads per block stay
//   selftest_shuffle        grid 1, block T   out[6*T] float, in[T] float
//   selftest_vote           grid 1, block T   out[3*T] unsigned, in[T] int
//   selftest_atomics        grid G, block T   fsum[1] float, isum[1] int, usum[1] u64,
//                                              imax[1] int, cas[1] int, in[n] float
//   selftest_dynamic_smem   grid G, block T   out[G*T] float, smem T floats (dynamic)
//   selftest_bf16_round     grid ceil(n/256), block 256   out[n] bf16, back[n] float, in[n] float
//   selftest_mma            grid 1, block 32  d[16*8] float, a[16*16] bf16 row-major,
//                                              b[16*8] bf16 row-major (k, n), c[16*8] float
//   selftest_ldmatrix       grid 1, block 32  out[6 variants][32 lanes][4] u32, m[4*64] bf16
//   selftest_mma_fragments  grid 1, block 32  d[32*4] float, a[32*4] u32, b[32*2] u32, c[32*4] float
//   selftest_deadlock       grid 1, block T   (deliberately never finishes: the emulation must
//                                              report it; never launch it on a GPU)
// Deliberately broken kernels, each caught by one detector of the emulation's sanitizer (compiled
// into the emulation library only: they have no business on a GPU):
//   selftest_global_oob          grid G, block T   out[n] float; threads i <= n write out[i]
//   selftest_shared_oob          grid 1, block T   out[T] float, smem T floats (dynamic)
//   selftest_static_shared_oob   grid 1, block T   out[T] float, T = 41: one past a 40-float array
//   selftest_shared_race         grid 1, block T   out[T] float, smem T floats, T > 32
//   selftest_warp_race           grid 1, block 32  out[32] float, smem 32 floats; sync = 0 races
//   selftest_atomic_race         grid 1, block T   out[T] int, smem 4 bytes; early = 1 races
//   selftest_uninit_global       grid G, block T   out[n], in[n] float
//   selftest_uninit_shared       grid 1, block T   out[T] float, smem T floats
#include "g4_cuda.cuh"
#include "mma.cuh"

// Threads with tid >= live return at once; the others meet at two __syncthreads and each writes
// the sum of all live tids (through shared memory) plus its own tid.
G4_KERNEL void selftest_barrier_exit(int* out, int live) {
  __shared__ int acc;
  const int tid = threadIdx.x;
  out[blockIdx.x * blockDim.x + tid] = -1;
  if (tid >= live) return;
  if (tid == 0) acc = 0;
  __syncthreads();
  atomicAdd(&acc, tid);
  __syncthreads();
  out[blockIdx.x * blockDim.x + tid] = acc + tid;
}
G4_EXPORT(selftest_barrier_exit)

// out[k*T + tid] for k = 0..5: shfl idx from (tid*7+3)%32, xor 5, up 3, down 3, idx with width 8
// (source lane 2*lane+1 of the segment), xor 1 of the bf16-rounded value
G4_KERNEL void selftest_shuffle(float* out, const float* in) {
  const int tid = threadIdx.x, lane = tid % 32, T = blockDim.x;
  const float v = in[tid];
  out[0 * T + tid] = __shfl_sync(0xffffffffu, v, (lane * 7 + 3) % 32);
  out[1 * T + tid] = __shfl_xor_sync(0xffffffffu, v, 5);
  out[2 * T + tid] = __shfl_up_sync(0xffffffffu, v, 3);
  out[3 * T + tid] = __shfl_down_sync(0xffffffffu, v, 3);
  out[4 * T + tid] = __shfl_sync(0xffffffffu, v, 2 * lane + 1, 8);
  out[5 * T + tid] = (float)__shfl_xor_sync(0xffffffffu, (int)v, 1);
}
G4_EXPORT(selftest_shuffle)

// out[tid] = ballot(in > 0), out[T + tid] = any(in > 100), out[2T + tid] = all(in > -100)
G4_KERNEL void selftest_vote(unsigned* out, const int* in) {
  const int tid = threadIdx.x, T = blockDim.x;
  const int v = in[tid];
  out[tid] = __ballot_sync(0xffffffffu, v > 0);
  out[T + tid] = __any_sync(0xffffffffu, v > 100);
  out[2 * T + tid] = __all_sync(0xffffffffu, v > -100);
  __syncwarp();
}
G4_EXPORT(selftest_vote)

// Every thread adds in[i] to fsum, i to isum and usum (as 2^40 + i), maxes i*37 % 1001 into imax,
// and increments cas with a compare-and-swap loop.
G4_KERNEL void selftest_atomics(float* fsum, int* isum, unsigned long long* usum, int* imax, int* cas,
                                const float* in) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  atomicAdd(fsum, in[i]);
  atomicAdd(isum, i);
  atomicAdd(usum, (1ull << 40) + (unsigned long long)i);
  atomicMax(imax, i * 37 % 1001);
  int old = *cas, seen;
  while ((seen = atomicCAS(cas, old, old + 1)) != old) old = seen;
}
G4_EXPORT(selftest_atomics)

// Each thread writes blockIdx*1000 + tid to dynamic shared memory; after a barrier it reads its
// mirror (T-1-tid) and writes that.
G4_KERNEL void selftest_dynamic_smem(float* out) {
  G4_DYNAMIC_SMEM(float, buf);
  const int tid = threadIdx.x, T = blockDim.x;
  buf[tid] = (float)(blockIdx.x * 1000 + tid);
  __syncthreads();
  out[blockIdx.x * T + tid] = buf[T - 1 - tid];
}
G4_EXPORT(selftest_dynamic_smem)

// out = bf16(in) (round to nearest even); back = float(out) if the bf16x2 path agrees (rounds
// (in, -in) to (out, -out) and widens them back to the same floats), NaN otherwise
G4_KERNEL void selftest_bf16_round(bf16* out, float* back, const float* in, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const bf16 h = __float2bfloat16(in[i]);
  out[i] = h;
  const float2 f = __bfloat1622float2(__floats2bfloat162_rn(in[i], -in[i]));
  const float v = __bfloat162float(h);
  const bool same = __float_as_uint(f.x) == __float_as_uint(v) && __float_as_uint(f.y) == (__float_as_uint(v) ^ 0x80000000u);
  back[i] = same ? v : __int_as_float(0x7fc00000);
}
G4_EXPORT(selftest_bf16_round)

// d = a·b + c with a[16][16], b[16][8] from global memory through shared memory and ldmatrix
// (A with x4, B with x2.trans since b is row-major in k), one m16n8k16 mma.
G4_KERNEL void selftest_mma(float* d, const bf16* a, const bf16* b, const float* c) {
  __shared__ __align__(16) bf16 sa[16 * 16];
  __shared__ __align__(16) bf16 sb[16 * 8];
  const int lane = threadIdx.x;
  for (int i = lane; i < 16 * 16; i += 32) sa[i] = a[i];
  for (int i = lane; i < 16 * 8; i += 32) sb[i] = b[i];
  __syncthreads();
  uint32_t ra[4], rb[2];
  // A's four 8x8 matrices in register order: rows 0-7/cols 0-7, rows 8-15/cols 0-7,
  // rows 0-7/cols 8-15, rows 8-15/cols 8-15; lane supplies row lane%8 of matrix lane/8
  const int m = lane / 8, r = lane % 8;
  g4_ldmatrix_x4(ra, &sa[(r + 8 * (m & 1)) * 16 + 8 * (m >> 1)]);
  // B[k][n] row-major: matrix 0 = k 0-7, matrix 1 = k 8-15; transposed so each lane gets B[2t..][g]
  g4_ldmatrix_x2_trans(rb, &sb[(lane % 16) * 8]);
  const int g = lane >> 2, t = lane & 3;
  float cf[4] = {c[g * 8 + 2 * t], c[g * 8 + 2 * t + 1], c[(g + 8) * 8 + 2 * t], c[(g + 8) * 8 + 2 * t + 1]};
  float df[4];
  g4_mma_m16n8k16_bf16(df, ra, rb, cf);
  d[g * 8 + 2 * t] = df[0];
  d[g * 8 + 2 * t + 1] = df[1];
  d[(g + 8) * 8 + 2 * t] = df[2];
  d[(g + 8) * 8 + 2 * t + 1] = df[3];
}
G4_EXPORT(selftest_mma)

// m holds four 8x8 matrices of 16-bit values (row-major, matrix j at m + 64*j). Lane i points at
// row i%8 of matrix i/8. out[v][lane][0..3] receives the registers of variant v:
// 0 x1, 1 x2, 2 x4, 3 x1.trans, 4 x2.trans, 5 x4.trans (registers a variant does not load stay 0).
G4_KERNEL void selftest_ldmatrix(unsigned* out, const bf16* m) {
  __shared__ __align__(16) bf16 s[4 * 64];
  const int lane = threadIdx.x;
  for (int i = lane; i < 4 * 64; i += 32) s[i] = m[i];
  __syncthreads();
  uint32_t r[6][4] = {};
  const bf16* row = &s[(lane / 8) * 64 + (lane % 8) * 8];
  g4_ldmatrix_x1(r[0], row);
  g4_ldmatrix_x2(r[1], row);
  g4_ldmatrix_x4(r[2], row);
  g4_ldmatrix_x1_trans(r[3], row);
  g4_ldmatrix_x2_trans(r[4], row);
  g4_ldmatrix_x4_trans(r[5], row);
  for (int v = 0; v < 6; ++v)
    for (int j = 0; j < 4; ++j) out[(v * 32 + lane) * 4 + j] = r[v][j];
}
G4_EXPORT(selftest_ldmatrix)

// One mma on fragments given per lane: lane L passes a[4L..4L+3], b[2L..2L+1], c[4L..4L+3] and
// writes its d registers to d[4L..4L+3]. The caller builds the fragments by the PTX ISA layout.
G4_KERNEL void selftest_mma_fragments(float* d, const unsigned* a, const unsigned* b, const float* c) {
  const int lane = threadIdx.x;
  const uint32_t ra[4] = {a[4 * lane], a[4 * lane + 1], a[4 * lane + 2], a[4 * lane + 3]};
  const uint32_t rb[2] = {b[2 * lane], b[2 * lane + 1]};
  const float rc[4] = {c[4 * lane], c[4 * lane + 1], c[4 * lane + 2], c[4 * lane + 3]};
  float rd[4];
  g4_mma_m16n8k16_bf16(rd, ra, rb, rc);
  for (int j = 0; j < 4; ++j) d[4 * lane + j] = rd[j];
}
G4_EXPORT(selftest_mma_fragments)

// Lane 0 waits at __syncthreads for lanes 1..31, which wait at __syncwarp for lane 0: a deadlock
// the emulation must report instead of hanging.
G4_KERNEL void selftest_deadlock(float* out) {
  if (threadIdx.x == 0) {
    __syncthreads();
  } else {
    __syncwarp();
    __syncthreads();
  }
  out[threadIdx.x] = 1.f;
}
G4_EXPORT(selftest_deadlock)

#if defined(G4_EMULATION)
// ---- broken on purpose: the sanitizer's test cases -----------------------------------------------

// `<=` instead of `<`: thread n writes one float past the end of out
G4_KERNEL void selftest_global_oob(float* out, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i <= n) out[i] = 1.f;
}
G4_EXPORT(selftest_global_oob)

// the last thread writes one float past the T floats of dynamic shared memory
G4_KERNEL void selftest_shared_oob(float* out) {
  G4_DYNAMIC_SMEM(float, buf);
  const int t = threadIdx.x;
  buf[t + 1] = (float)t;
  __syncthreads();
  out[t] = t > 0 ? buf[t] : 0.f;
}
G4_EXPORT(selftest_shared_oob)

// a 40-float array indexed by all 41 threads
G4_KERNEL void selftest_static_shared_oob(float* out) {
  __shared__ float tile[40];
  const int t = threadIdx.x;
  tile[t] = (float)t;
  __syncthreads();
  out[t] = tile[(t + 1) % 40];
}
G4_EXPORT(selftest_static_shared_oob)

// every thread rewrites its element and reads one of another warp, with no barrier between
G4_KERNEL void selftest_shared_race(float* out) {
  G4_DYNAMIC_SMEM(float, buf);
  const int t = threadIdx.x, T = blockDim.x;
  buf[t] = (float)t;
  __syncthreads();
  buf[t] = 2.f * t;
  out[t] = buf[(t + 32) % T];
}
G4_EXPORT(selftest_shared_race)

// lanes rewrite their element and read their neighbour's: ordered only with the __syncwarp
// (sync != 0), then out[lane] = 2 * (lane ^ 1)
G4_KERNEL void selftest_warp_race(float* out, int sync) {
  G4_DYNAMIC_SMEM(float, buf);
  const int lane = threadIdx.x;
  buf[lane] = (float)lane;
  __syncthreads();
  buf[lane] = 2.f * lane;
  if (sync) __syncwarp();
  out[lane] = buf[lane ^ 1];
}
G4_EXPORT(selftest_warp_race)

// every thread adds 1 to a shared counter; reading it before the barrier (early != 0) races with
// the other threads' atomics, reading it after sees the total (atomics do not race with atomics)
G4_KERNEL void selftest_atomic_race(int* out, int early) {
  G4_DYNAMIC_SMEM(int, count);
  const int t = threadIdx.x;
  if (t == 0) *count = 0;
  __syncthreads();
  atomicAdd(count, 1);
  if (early) out[t] = *count;
  __syncthreads();
  if (!early) out[t] = *count;
}
G4_EXPORT(selftest_atomic_race)

// copies in to out: `in` must have been written
G4_KERNEL void selftest_uninit_global(float* out, const float* in, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = in[i];
}
G4_EXPORT(selftest_uninit_global)

// only the even threads fill their element, yet every thread reads its own
G4_KERNEL void selftest_uninit_shared(float* out) {
  G4_DYNAMIC_SMEM(float, buf);
  const int t = threadIdx.x;
  if (t % 2 == 0) buf[t] = (float)t;
  __syncthreads();
  out[t] = buf[t];
}
G4_EXPORT(selftest_uninit_shared)
#endif
