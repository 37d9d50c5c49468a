// embedding.cu — token embedding lookup and its gradient.
//
//   table [V, C] BF16, tok [N] I32, out and dout [N, C] BF16, dtable [V, C] F32
//   embedding_forward:  out[n, :] = table[tok[n], :]                         (overwrite)
//   embedding_backward: dtable[tok[n], :] += dout[n, :]   for n = 0 .. N-1, in that order
// A token id outside [0, V) reads and writes nothing (its output row is zero, its gradient is
// dropped): ids live on the device, where the launcher cannot check them without a copy, and this
// keeps a bad id from touching memory outside the table.
//
// embedding_forward: grid (N), block (T, any size): block n copies row n, 8 bf16 per 16-byte
//   access when every row is 16-byte aligned (C % 8 == 0 and aligned bases), else one at a time.
//
// embedding_backward: deterministic, no atomics. grid (ceil(C / T), B), block (T):
//   thread (c, b) = (blockIdx.x * T + threadIdx.x, blockIdx.y) owns the elements dtable[v, c] with
//   v % B == b; it walks all N ids in order and adds dout[n, c] for the rows whose id falls in its
//   bucket b. Every element of dtable is therefore updated by exactly one thread, in row order:
//   the result is the same bits for every B and every run, and the order is the CPU kernel's.
//   The B buckets multiply the parallelism of a plain column walk (C threads) by B; the price is
//   that every thread reads all N ids (a warp-wide broadcast, cached), dout and dtable only for
//   its bucket's rows. Consecutive threads own consecutive columns, so those accesses coalesce.
#include "g4_vec.cuh"

G4_KERNEL void embedding_forward(bf16* out, const int* tok, const bf16* table, int N, int C, int V) {
  const int n = blockIdx.x;
  const int id = tok[n];
  bf16* dst = out + (long long)n * C;                                          // out[n, :]
  const bf16* src = id >= 0 && id < V ? table + (long long)id * C : nullptr;  // table[id, :]
  const bool vec = C % 8 == 0 && g4_aligned16(out, table);
  g4_row_loop(C, vec, [&](auto width, long long i) {
    constexpr int W = decltype(width)::value;
    float v[W] = {};
    if (src) g4_load(v, src + i);
    g4_store(dst + i, v);
  });
}
G4_EXPORT(embedding_forward)

G4_KERNEL void embedding_backward(float* dtable, const int* tok, const bf16* dout, int N, int C, int V) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  const int bucket = blockIdx.y, buckets = gridDim.y;
  if (c >= C) return;
  for (int n = 0; n < N; n++) {
    const int id = tok[n];
    if (id < 0 || id >= V || id % buckets != bucket) continue;
    dtable[(long long)id * C + c] += __bfloat162float(dout[(long long)n * C + c]);  // [id, c] += [n, c]
  }
}
G4_EXPORT(embedding_backward)
