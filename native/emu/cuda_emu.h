// cuda_emu.h — what the kernels of kernels/*.cu need from CUDA, for compiling them with g++ and
// running them on the CPU (see kernels/g4_cuda.cuh for the contract between the two builds).
//
// Execution model of the runtime (native/emu/):
//   * A launch runs its blocks on workers: the launching thread itself and helper threads of a
//     pool, as many in all as the launching backend has threads (g4emu_configure), never more
//     than there are blocks. Each worker takes whole blocks, one at a time, in grid order (x
//     fastest). Several blocks run at once, one per worker. (The order in which blocks finish
//     varies, as on a GPU: atomics of different blocks add up in varying order.)
//   * The blockDim threads of a block are user-level fibers on their worker (fiber.cpp): each has
//     a small mmap'ed stack with a guard page below, reused from block to block, and they switch
//     only where a thread must wait for others: at __syncthreads and at warp operations. A fiber
//     runs until it reaches one, then the next ready fiber runs; nothing is preempted.
//   * `__shared__` is `static thread_local` (and 64-byte aligned): every worker has its own copy of
//     every shared array, so the blocks running at once never share one. threadIdx and blockIdx
//     are per worker too, set at each switch; blockDim and gridDim are the launch's.
//   * __syncthreads() completes when every live thread of the block has arrived. A thread that
//     returns from the kernel leaves every barrier (as on Volta and later), so early-exit threads
//     never block the rest.
//   * Warps are groups of 32 consecutive linear thread ids (the last warp may be partial). Warp
//     operations (shuffles, votes, __syncwarp, mma/ldmatrix) deposit into a per-warp exchange
//     area; an operation completes when every live lane of the warp has deposited. The `mask`
//     arguments are not used to choose who meets: every live lane of the warp must reach the same
//     warp operations in the same order (what convergent code with full masks does). A lane that
//     has exited or does not exist is absent: reading it gives the reader's own value, and it has
//     no bit in ballots.
//   * A block whose live threads all wait at barriers that can never complete (say, __syncthreads
//     inside a branch that some live thread skips while it waits at a warp operation) is a
//     deadlock: no fiber is ready while some are alive. The launch stops at once with an error
//     naming the kernel and the block. A thread that loops forever without reaching a barrier is
//     not detected.
//   * Errors (bad launch dimensions, a deadlock, a failed check in a wrapper, a C++ exception, a
//     sanitizer report) end the launch and are reported by g4emu_last_error(); they never abort
//     the process.
//   * Device memory comes from the runtime's own region (memory.cpp, g4emu_alloc), with redzones
//     between allocations and a shadow that records which bytes are allocated and which written.
//   * The sanitizer (sanitizer.cpp; on unless g4emu_configure turns it off): the kernel files are
//     compiled with GCC's -fsanitize=kernel-address, which calls back into the runtime before
//     every load and store. It reports, with kernel, block, thread and address:
//       - global accesses outside a live allocation (redzones, freed memory, never allocated) and
//         shared accesses past the block's dynamic shared memory or outside a static shared array;
//       - reads of device memory never written (g4emu_alloc without zeroing, uploads, kernel
//         stores and zeroing count as writes) and of shared memory no thread of the block wrote;
//       - shared-memory races: two threads touching one address between the same two barriers, at
//         least one of them writing, unless they are lanes of one warp separated by a warp
//         operation, or both accesses are atomics.
//     GCC does not instrument accesses it can prove in bounds (locals, a static array at a
//     constant offset), so those take no part in race detection, and reads before writes are
//     looked for in dynamic shared memory only. Dynamic shared memory is filled with 0xff bytes (a
//     NaN in fp32 and bf16) before each block when the sanitizer is off, so a read before a write
//     still shows.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <math.h>
#include <type_traits>

// ---- declaration specifiers --------------------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
#define __restrict__ __restrict
#define __align__(n) __attribute__((aligned(n)))
// 64-byte aligned: an array whose size is not a multiple of 64 is followed by a gap that belongs to
// no array, where the sanitizer catches an access running past its end
#define __shared__ static thread_local __attribute__((aligned(64)))
#define __constant__ static
#define __launch_bounds__(...)
// Code the sanitizer must not see: it touches the runtime's own memory, or checks itself.
#define G4EMU_UNCHECKED __attribute__((no_sanitize_address, noinline))

// ---- vector types ------------------------------------------------------------------------------
struct uint3 { unsigned x, y, z; };
struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  dim3() = default;
  dim3(unsigned x_, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct __align__(8) float2 { float x, y; };
struct __align__(16) float4 { float x, y, z, w; };
struct __align__(8) int2 { int x, y; };
struct __align__(16) int4 { int x, y, z, w; };
struct __align__(8) uint2 { unsigned x, y; };
struct __align__(16) uint4 { unsigned x, y, z, w; };
static inline float2 make_float2(float x, float y) { return {x, y}; }
static inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
static inline int2 make_int2(int x, int y) { return {x, y}; }
static inline int4 make_int4(int x, int y, int z, int w) { return {x, y, z, w}; }
static inline uint2 make_uint2(unsigned x, unsigned y) { return {x, y}; }
static inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return {x, y, z, w}; }

// ---- launch description and entry points (C ABI) -----------------------------------------------
extern "C" {
typedef struct g4emu_dims {
  unsigned grid[3], block[3];
  unsigned shared_bytes;  // dynamic shared memory per block
} g4emu_dims;

// The message of the most recent failed launch in this process, or NULL if it succeeded.
__attribute__((visibility("default"))) const char* g4emu_last_error(void);
// Threads holding a worker slot: helper threads and launching threads (runtime.cpp).
__attribute__((visibility("default"))) int g4emu_worker_threads(void);
// Workers per launch (1..32) and whether the sanitizer checks launches (runtime.cpp).
__attribute__((visibility("default"))) void g4emu_configure(int workers, int sanitize);
// Whether the kernels were built with the sanitizer's instrumentation (runtime.cpp).
__attribute__((visibility("default"))) int g4emu_instrumented(void);
// Device memory (memory.cpp): allocation and free, and the written state the host's own writes and
// copies give it.
__attribute__((visibility("default"))) void* g4emu_alloc(uint64_t bytes, int zeroed);
__attribute__((visibility("default"))) int g4emu_free(void* p);
__attribute__((visibility("default"))) void g4emu_mark_written(const void* p, uint64_t bytes);
__attribute__((visibility("default"))) void g4emu_copy_written(const void* dst, const void* src, uint64_t bytes);
__attribute__((visibility("default"))) int64_t g4emu_first_unwritten(const void* p, uint64_t bytes);
__attribute__((visibility("default"))) uint64_t g4emu_bytes_in_use(void);
}

namespace g4emu {
constexpr int kMaxThreads = 1024;
constexpr unsigned kMaxDynamicSmem = 227 * 1024;  // what a block may opt into on sm_90
constexpr int kExchangeWords = 16;                // 32-bit words each lane may deposit per warp op

// ---- built-in variables ------------------------------------------------------------------------
// The running thread's and block's indices, rewritten by the runtime at every fiber switch, at the
// start of the running worker's area of the runtime's region: every fiber's stack lies in its
// worker's area, so the stack pointer finds them without a TLS lookup. They are read with plain
// moves in asm, which the sanitizer does not instrument: they are the runtime's memory.
struct Builtins {
  uint3 thread, block;
};
constexpr uintptr_t kWorkerAreaBytes = 128u << 20;
extern uintptr_t worker_areas __attribute__((visibility("hidden")));  // the region's base
extern dim3 launch_grid __attribute__((visibility("hidden")));
extern dim3 launch_block __attribute__((visibility("hidden")));

static inline const Builtins* here_builtins() {
  uintptr_t sp, base;
  asm("movq %%rsp, %0" : "=r"(sp));
  asm("movq %1, %0" : "=r"(base) : "m"(worker_areas));
  return reinterpret_cast<const Builtins*>(base + ((sp - base) & ~(kWorkerAreaBytes - 1)));
}
static inline uint3 read_uint3(const unsigned* p) {
  unsigned x, y, z;
  asm("movl %3, %0\n\tmovl %4, %1\n\tmovl %5, %2" : "=&r"(x), "=&r"(y), "=r"(z) : "m"(p[0]), "m"(p[1]), "m"(p[2]));
  return {x, y, z};
}
static inline dim3 read_dim3(const dim3& d) {
  const uint3 v = read_uint3(&d.x);
  return dim3(v.x, v.y, v.z);
}
}  // namespace g4emu

#define threadIdx (::g4emu::read_uint3(&::g4emu::here_builtins()->thread.x))
#define blockIdx (::g4emu::read_uint3(&::g4emu::here_builtins()->block.x))
#define blockDim (::g4emu::read_dim3(::g4emu::launch_block))
#define gridDim (::g4emu::read_dim3(::g4emu::launch_grid))
constexpr int warpSize = 32;

namespace g4emu {
// Runs `body(ctx)` on every thread of every block of the launch; sets g4emu_last_error().
void run(const char* kernel, const g4emu_dims* dims, void (*body)(const void*), const void* ctx);

// The dynamic shared memory of the running block (16-byte aligned, dims->shared_bytes long).
void* dynamic_smem();

// Ends the launch with an error message (printf-style); does not return to the kernel.
[[noreturn]] void fail(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// The sanitizer's check of an atomic read-modify-write of `bytes` bytes at p (atomics do not race
// with atomics, so they are not left to the instrumented plain accesses).
void check_atomic(const void* p, unsigned bytes);

// The sanitizer's check of a read of the `bytes` bytes at p, as if the kernel read them in one
// access: for a span a thread reads whole (g4_check_span in g4_cuda.cuh) before reading it with
// unchecked loads.
void check_read(const void* p, unsigned bytes);
// The same for a write of the `bytes` bytes at p (g4_check_span_write).
void check_write(const void* p, unsigned bytes);
// The reads of `bytes` bytes at p + k*stride for each bit k of `rows`, checked one by one.
void check_read_rows(const void* p, unsigned bytes, size_t stride, uint32_t rows);

// Every live lane deposits `words` 32-bit words, waits for the rest of its warp, and gets a view
// of all deposits. The view stays valid until the lane's second-next warp operation (the area is
// double-buffered, so one completion per operation suffices).
struct WarpView {
  const uint32_t (*word)[kExchangeWords];  // word[lane][i]
  unsigned present;                        // bit j: lane j took part in this operation
  int lane;                                // the caller's lane
};
WarpView warp_exchange(const uint32_t* mine, int words);
void warp_barrier();
unsigned live_lanes();  // lanes of the caller's warp that exist and have not exited

template <typename P>
constexpr bool kernel_param_ok = std::is_pointer<P>::value || std::is_same<P, int>::value ||
                                 std::is_same<P, long long>::value || std::is_same<P, float>::value;

// The arguments are the runtime's host memory, read once per thread: not checked. (GCC does not
// inline the checked kernel into this unchecked caller.)
template <typename... P, size_t... I>
__attribute__((no_sanitize_address)) void call_unpacked(void (*kernel)(P...), void** args,
                                                        std::index_sequence<I...>) {
  kernel(*static_cast<std::remove_cv_t<P>*>(args[I])...);
}

template <typename P>
constexpr char param_code() {
  return std::is_pointer<P>::value ? 'p' : std::is_same<P, int>::value ? 'i' : std::is_same<P, float>::value ? 'f' : 'l';
}

// The parameter types of a kernel as letters: p pointer, i int, l long long, f float.
template <typename... P>
const char* param_codes(void (*)(P...)) {
  static const char codes[] = {param_code<std::remove_cv_t<P>>()..., '\0'};
  return codes;
}

// The launch entry of G4_EXPORT: args follow cuLaunchKernel's kernelParams convention.
template <typename... P>
void launch(const char* name, void (*kernel)(P...), const g4emu_dims* dims, void** args) {
  static_assert((kernel_param_ok<std::remove_cv_t<P>> && ...),
                "kernel parameters must be T*, const T*, int, long long or float");
  struct Ctx { void (*kernel)(P...); void** args; } ctx{kernel, args};
  run(name, dims, [](const void* c) {
    const Ctx* x = static_cast<const Ctx*>(c);
    call_unpacked(x->kernel, x->args, std::index_sequence_for<P...>{});
  }, &ctx);
}
}  // namespace g4emu

// ---- synchronisation and warp operations -------------------------------------------------------
void __syncthreads();
static inline void __syncwarp(unsigned mask = 0xffffffffu) { (void)mask; g4emu::warp_barrier(); }
static inline unsigned __activemask() { return g4emu::live_lanes(); }
static inline void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
static inline void __threadfence_block() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

namespace g4emu {
enum class Shfl { idx, up, down, bfly };

// One shuffle of any 4- or 8-byte value, with CUDA's rules for `width` (a power of two <= 32):
// lanes read within their own segment of `width` lanes; up/down past the segment's edge and
// xor into a later segment give the lane its own value, as does an absent source lane.
template <typename T>
G4EMU_UNCHECKED T shfl(T v, Shfl mode, int arg, int width) {
  static_assert(std::is_trivially_copyable<T>::value && sizeof(T) <= 8, "shuffle of a 1..8-byte value");
  uint32_t mine[2] = {0, 0};
  std::memcpy(mine, &v, sizeof(T));
  WarpView x = warp_exchange(mine, 2);
  const int lane = x.lane, seg = lane & ~(width - 1), in = lane - seg;
  int src = lane;
  switch (mode) {
    case Shfl::idx: src = seg + (arg & (width - 1)); break;
    case Shfl::up: src = in >= arg ? lane - arg : lane; break;
    case Shfl::down: src = in + arg < width ? lane + arg : lane; break;
    case Shfl::bfly: src = lane ^ arg; if (src >= seg + width) src = lane; break;
  }
  if (src < 0 || src > 31 || !((x.present >> src) & 1u)) src = lane;
  T out;
  std::memcpy(&out, x.word[src], sizeof(T));
  return out;
}

// What five __shfl_xor_sync steps with offsets 16, 8, 4, 2, 1 leave in the caller's lane, each
// step v = v + partner's v (kMax: fmaxf(v, partner's v); an absent partner gives the lane's own
// v), in one warp operation: the lanes deposit their v once and the butterfly is replayed for all
// of them, in the same order, so every lane's result is the same to the bit.
enum Butterfly { kSum, kMax };
float warp_butterfly(float v, Butterfly kind);
// bit j set when lane j took part and its predicate was true (one warp operation)
unsigned warp_ballot(int pred);
static inline unsigned vote(int pred) { return warp_ballot(pred); }
}  // namespace g4emu

template <typename T>
static inline T __shfl_sync(unsigned, T v, int src, int width = 32) {
  return g4emu::shfl(v, g4emu::Shfl::idx, src, width);
}
template <typename T>
static inline T __shfl_up_sync(unsigned, T v, unsigned delta, int width = 32) {
  return g4emu::shfl(v, g4emu::Shfl::up, (int)delta, width);
}
template <typename T>
static inline T __shfl_down_sync(unsigned, T v, unsigned delta, int width = 32) {
  return g4emu::shfl(v, g4emu::Shfl::down, (int)delta, width);
}
template <typename T>
static inline T __shfl_xor_sync(unsigned, T v, int lane_mask, int width = 32) {
  return g4emu::shfl(v, g4emu::Shfl::bfly, lane_mask, width);
}
static inline unsigned __ballot_sync(unsigned mask, int pred) { return g4emu::vote(pred) & mask; }
static inline int __any_sync(unsigned mask, int pred) { return (g4emu::vote(pred) & mask) != 0; }
static inline int __all_sync(unsigned mask, int pred) {
  // true when no present lane of the mask has a false predicate
  return (g4emu::vote(!pred) & mask) == 0;
}

// ---- atomics (sequentially consistent, returning the old value) --------------------------------
// Blocks on different workers run at the same time, so global atomics are real atomics. Each is
// checked as one atomic access and then done out of the sanitizer's sight.
namespace g4emu {
// old = *p; *p = next(old) as one atomic step; `next` returns false to leave *p unchanged
template <typename T, typename Next>
G4EMU_UNCHECKED T atomic_rmw(T* p, Next next) {
  check_atomic(p, sizeof(T));
  T old = __atomic_load_n(p, __ATOMIC_RELAXED), to;
  while (next(old, &to) && !__atomic_compare_exchange_n(p, &old, to, true, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {
  }
  return old;
}
}  // namespace g4emu

G4EMU_UNCHECKED static float atomicAdd(float* p, float v) {
  uint32_t old = g4emu::atomic_rmw(reinterpret_cast<uint32_t*>(p), [v](uint32_t o, uint32_t* n) {
    float f;
    std::memcpy(&f, &o, 4);
    f += v;
    std::memcpy(n, &f, 4);
    return true;
  });
  float f;
  std::memcpy(&f, &old, 4);
  return f;
}
G4EMU_UNCHECKED static int atomicAdd(int* p, int v) {
  g4emu::check_atomic(p, sizeof *p);
  return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST);
}
G4EMU_UNCHECKED static unsigned atomicAdd(unsigned* p, unsigned v) {
  g4emu::check_atomic(p, sizeof *p);
  return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST);
}
G4EMU_UNCHECKED static unsigned long long atomicAdd(unsigned long long* p, unsigned long long v) {
  g4emu::check_atomic(p, sizeof *p);
  return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST);
}
G4EMU_UNCHECKED static int atomicMax(int* p, int v) {
  return g4emu::atomic_rmw(p, [v](int o, int* n) { *n = v; return v > o; });
}
G4EMU_UNCHECKED static int atomicMin(int* p, int v) {
  return g4emu::atomic_rmw(p, [v](int o, int* n) { *n = v; return v < o; });
}
G4EMU_UNCHECKED static unsigned atomicMax(unsigned* p, unsigned v) {
  return g4emu::atomic_rmw(p, [v](unsigned o, unsigned* n) { *n = v; return v > o; });
}
G4EMU_UNCHECKED static int atomicExch(int* p, int v) {
  g4emu::check_atomic(p, sizeof *p);
  return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST);
}
template <typename T>
G4EMU_UNCHECKED static T atomicCAS(T* p, T expected, T desired) {
  static_assert(std::is_same<T, int>::value || std::is_same<T, unsigned>::value ||
                std::is_same<T, unsigned long long>::value, "atomicCAS of int, unsigned or unsigned long long");
  g4emu::check_atomic(p, sizeof *p);
  __atomic_compare_exchange_n(p, &expected, desired, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  return expected;  // the old value, whether or not it was replaced
}

// ---- math --------------------------------------------------------------------------------------
// The GPU's fast intrinsics, at full precision here. glibc's <math.h> declares __expf & co. as its
// internal names but libm does not export them, so a kernel calling them would leave the library
// with an undefined symbol: route them to the public functions instead.
static inline float g4emu_expf(float x) { return expf(x); }
static inline float g4emu_logf(float x) { return logf(x); }
static inline float g4emu_powf(float x, float y) { return powf(x, y); }
static inline float g4emu_sinf(float x) { return sinf(x); }
static inline float g4emu_cosf(float x) { return cosf(x); }
static inline void g4emu_sincosf(float x, float* s, float* c) { sincosf(x, s, c); }
#define __expf g4emu_expf
#define __logf g4emu_logf
#define __powf g4emu_powf
#define __sinf g4emu_sinf
#define __cosf g4emu_cosf
#define __sincosf g4emu_sincosf
static inline float __fdividef(float a, float b) { return a / b; }
static inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
static inline float __frcp_rn(float x) { return 1.0f / x; }
static inline float __fadd_rn(float a, float b) { return a + b; }
static inline float __fmul_rn(float a, float b) { return a * b; }
static inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
static inline float __saturatef(float x) { return x < 0.f ? 0.f : (x > 1.f ? 1.f : (x == x ? x : 0.f)); }
static inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }
static inline int __float_as_int(float f) { int i; std::memcpy(&i, &f, 4); return i; }
static inline float __uint_as_float(unsigned i) { float f; std::memcpy(&f, &i, 4); return f; }
static inline unsigned __float_as_uint(float f) { unsigned i; std::memcpy(&i, &f, 4); return i; }
static inline int __float2int_rn(float x) { return (int)nearbyintf(x); }  // default mode: to even
static inline int __float2int_rz(float x) { return (int)x; }
static inline int __float2int_rd(float x) { return (int)floorf(x); }
static inline int __float2int_ru(float x) { return (int)ceilf(x); }
static inline int __popc(unsigned x) { return __builtin_popcount(x); }
static inline int __ffs(int x) { return __builtin_ffs(x); }
static inline int __clz(int x) { return x ? __builtin_clz((unsigned)x) : 32; }
static inline int min(int a, int b) { return a < b ? a : b; }
static inline int max(int a, int b) { return a > b ? a : b; }
static inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
static inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
static inline long long min(long long a, long long b) { return a < b ? a : b; }
static inline long long max(long long a, long long b) { return a > b ? a : b; }
static inline float min(float a, float b) { return fminf(a, b); }
static inline float max(float a, float b) { return fmaxf(a, b); }
template <typename T>
static inline T __ldg(const T* p) { return *p; }

// ---- bfloat16 ----------------------------------------------------------------------------------
// Storage only: arithmetic converts to float and rounds back (round to nearest even).
struct __nv_bfloat16;
static inline __nv_bfloat16 __float2bfloat16(float f);
static inline float __bfloat162float(__nv_bfloat16 h);

struct __align__(2) __nv_bfloat16 {
  unsigned short __x;
  __nv_bfloat16() = default;
  __nv_bfloat16(float f);
  operator float() const;
};
struct __align__(4) __nv_bfloat162 { __nv_bfloat16 x, y; };

static inline __nv_bfloat16 __ushort_as_bfloat16(unsigned short u) { __nv_bfloat16 h; h.__x = u; return h; }
static inline unsigned short __bfloat16_as_ushort(__nv_bfloat16 h) { return h.__x; }
static inline __nv_bfloat16 __float2bfloat16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return __ushort_as_bfloat16(0x7fff);  // canonical NaN, as cvt.rn
  u += 0x7fffu + ((u >> 16) & 1u);  // round half to even; carries into the exponent (and to Inf)
  return __ushort_as_bfloat16((unsigned short)(u >> 16));
}
static inline __nv_bfloat16 __float2bfloat16_rn(float f) { return __float2bfloat16(f); }
static inline float __bfloat162float(__nv_bfloat16 h) {
  uint32_t u = (uint32_t)h.__x << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline __nv_bfloat16::__nv_bfloat16(float f) : __x(__float2bfloat16(f).__x) {}
inline __nv_bfloat16::operator float() const { return __bfloat162float(*this); }

static inline __nv_bfloat162 __floats2bfloat162_rn(float a, float b) {
  return {__float2bfloat16(a), __float2bfloat16(b)};
}
static inline __nv_bfloat162 __float22bfloat162_rn(float2 f) { return __floats2bfloat162_rn(f.x, f.y); }
static inline __nv_bfloat162 __halves2bfloat162(__nv_bfloat16 a, __nv_bfloat16 b) { return {a, b}; }
static inline float2 __bfloat1622float2(__nv_bfloat162 h) { return {__bfloat162float(h.x), __bfloat162float(h.y)}; }
static inline float __low2float(__nv_bfloat162 h) { return __bfloat162float(h.x); }
static inline float __high2float(__nv_bfloat162 h) { return __bfloat162float(h.y); }

#define G4EMU_BF16_OP(op, name)                                                              \
  static inline __nv_bfloat16 operator op(__nv_bfloat16 a, __nv_bfloat16 b) {                \
    return __float2bfloat16(__bfloat162float(a) op __bfloat162float(b));                     \
  }                                                                                          \
  static inline __nv_bfloat16 name(__nv_bfloat16 a, __nv_bfloat16 b) { return a op b; }
G4EMU_BF16_OP(+, __hadd)
G4EMU_BF16_OP(-, __hsub)
G4EMU_BF16_OP(*, __hmul)
G4EMU_BF16_OP(/, __hdiv)
#undef G4EMU_BF16_OP
static inline __nv_bfloat16 __hmax(__nv_bfloat16 a, __nv_bfloat16 b) {
  return __float2bfloat16(fmaxf(__bfloat162float(a), __bfloat162float(b)));
}
