// emu_internal.h — the runtime's own types (not seen by kernels): the memory region, a launch,
// a worker with its fibers, and the entry points the runtime's files share. Nothing here is
// compiled with the sanitizer's instrumentation.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "cuda_emu.h"

namespace g4emu {

// ---- the region ----------------------------------------------------------------------------------
// One reservation holds everything whose accesses the sanitizer must tell apart quickly:
//   [0, kWorkersBytes)             per worker kWorkerBytes: its control block (Worker, below) and
//                                  kMaxThreads fiber stacks, each with a guard page at its bottom
//   [kWorkersBytes, kHeapOffset)   per worker one slot of dynamic shared memory, kSmemSlot bytes
//                                  (kMaxDynamicSmem usable, the rest a redzone)
//   [kHeapOffset, region end)      device memory (memory.cpp)
constexpr int kMaxWorkers = 32;
constexpr size_t kStackBytes = 64u << 10;  // one fiber, guard included
constexpr size_t kGuardBytes = 4096;
constexpr size_t kControlBytes = 1u << 20;  // the Worker struct, in the first 16 stack slots
// a power of two (offsets within a worker area are taken with a mask), more than needed
constexpr size_t kWorkerBytes = kWorkerAreaBytes;
constexpr size_t kWorkersBytes = kMaxWorkers * kWorkerBytes;
constexpr size_t kSmemSlot = 512u << 10;
constexpr size_t kHeapOffset = kWorkersBytes + kMaxWorkers * kSmemSlot;
static_assert((kWorkerBytes & (kWorkerBytes - 1)) == 0 && kControlBytes % kStackBytes == 0 &&
              kControlBytes + (size_t)kMaxThreads * kStackBytes <= kWorkerBytes, "worker area layout");

// Where the region is; set once (region()), read by the sanitizer's callbacks.
struct Region {
  uintptr_t base = 0;
  size_t span = 0;        // whole region; 0 until reserved
  size_t heap_bytes = 0;  // device memory part
  uint16_t* shadow = nullptr;  // per 8 bytes of device memory: bit i = byte i allocated, bit 8+i = written
};
extern Region g_region;
// Reserves the region on first use; false (with `why`) if the system refuses.
bool reserve_region(std::string* why);

// ---- launches -----------------------------------------------------------------------------------
// The one launch in flight (launches are serialised); read by every worker taking part.
struct Launch {
  const char* kernel = "";
  g4emu_dims dims{};
  void (*body)(const void*) = nullptr;
  const void* ctx = nullptr;
  unsigned threads = 0, warps = 0;
  uint64_t blocks = 0;
  std::atomic<uint64_t> next_block{0};
  std::atomic<bool> aborting{false};
  std::string error;  // the first error of the launch, set before `aborting`

  // Records the first error; the workers stop taking blocks.
  void abort(const std::string& message);
};

// ---- fibers and workers ---------------------------------------------------------------------------
struct Fiber {
  void* sp = nullptr;  // saved stack pointer while switched out
  uint3 idx{};
  unsigned tid = 0;
  uint32_t ops = 0;    // warp operations so far in this block: orders the lanes of a warp
};

struct Warp {
  unsigned live = 0;     // lanes that exist and have not exited
  unsigned arrived = 0;  // lanes waiting in the pending operation
  unsigned pending_buf = 0;      // the exchange buffer of the pending operation
  unsigned present[2] = {0, 0};  // the lanes of the last completed operation on each buffer
  // What a warp-wide operation computes once for all lanes (a butterfly's results, a ballot), per
  // buffer, tagged with the operation (the block's first interval and the operation's count).
  uint64_t result_tag[2] = {0, 0};
  uint32_t result[2][32];
  alignas(64) uint32_t word[2][32][kExchangeWords];
};

// Race and initialisation records of one window of shared memory, per 2-byte granule.
struct SharedRecord {
  uint64_t write;  // the last write or atomic: interval, warp-op count, thread, atomic flag
  uint64_t read;   // the reads of the current interval: interval, latest count, a reader, flags
};

// An OS thread that runs whole blocks, each thread of a block a fiber on it. Lives at the start of
// its area of the region, so the exchange areas read by kernel code are cheap to check.
struct Worker {
  Builtins builtins{};       // first: kernels find it from their stack pointer (cuda_emu.h)
  unsigned index = 0;
  Launch* launch = nullptr;
  Fiber* cur = nullptr;      // the running fiber
  void* sched_sp = nullptr;  // the worker's own context while a fiber runs
  bool block_aborted = false;

  unsigned live = 0;         // fibers of the block that have not exited
  unsigned at_barrier = 0;   // fibers waiting at __syncthreads, in barrier_wait[0..at_barrier)
  unsigned ready_head = 0, ready_tail = 0;  // ring of ready fibers (indices, kMaxThreads slots)
  unsigned guarded = 0;      // fiber stacks whose guard page is in place

  // Barrier intervals: `interval` grows at every block start and every completed __syncthreads
  // (32 bits, wrapping: the records are cleared when it wraps); `block_start` is the first of the
  // running block.
  uint32_t interval = 0, block_start = 0;
  uint64_t stamp = 0;         // make_stamp() of the running fiber
  uint32_t smem_bytes = 0;    // dynamic shared memory of the launch

  unsigned char* smem = nullptr;       // dynamic shared memory slot
  uintptr_t tls_lo = 0;                // this thread's copy of the library's TLS (static shared)
  SharedRecord* dyn_records = nullptr;  // per 2 bytes of the dynamic slot
  SharedRecord* tls_records = nullptr;  // per 2 bytes of the TLS block

  std::atomic<unsigned> go{0};  // futex word: bumped for every launch this worker joins

  Fiber fibers[kMaxThreads];
  uint16_t ready[kMaxThreads];
  uint16_t barrier_wait[kMaxThreads];
  Warp warps[kMaxThreads / 32];
};
static_assert(sizeof(Worker) <= kControlBytes, "the Worker fits its control area");

// The worker running on this OS thread (null on other threads).
extern __thread Worker* t_worker __attribute__((visibility("hidden")));

// The worker of the running fiber, from the stack pointer (cheaper than t_worker's TLS lookup);
// only on a fiber's stack.
inline Worker& fiber_worker() {
  uintptr_t sp;
  asm("movq %%rsp, %0" : "=r"(sp));
  return *reinterpret_cast<Worker*>(worker_areas + ((sp - worker_areas) & ~(kWorkerBytes - 1)));
}

// ---- fiber.cpp ----------------------------------------------------------------------------------
// Runs block `linear` of the worker's launch to its end (or its abort).
void run_block(Worker& w, uint64_t linear);
// Leaves the running fiber for good after an error; the block ends.
[[noreturn]] void abandon_fiber(Worker& w);
// Sets up the fiber stacks of a new worker (guard pages come as blocks need them).
void init_worker_fibers(Worker& w);

// ---- static shared memory (static_shared.cpp) ----------------------------------------------------
// Every worker's copy of the library's TLS block holds the kernels' __shared__ arrays.
struct SharedArray {
  size_t offset, bytes;  // within the TLS block
  std::string name;      // "__shared__ " and the demangled name
};
struct StaticShared {
  size_t bytes = 0;                 // the TLS block's size
  const uint8_t* id = nullptr;      // per byte: 1 + index % 255 of the array covering it, 0 none
  std::vector<SharedArray> arrays;  // sorted by offset
  uintptr_t lo = 0, span = 0;       // covers every registered worker's block
  Worker* workers[kMaxWorkers];     // the registered ones
  unsigned count = 0;
};
extern StaticShared g_static;
// Registers the calling worker thread's TLS block (its static shared memory) and maps its
// shared-memory records; false (with `why`) if either cannot be found or made.
bool register_worker_shared(Worker& w, std::string* why);
// Forgets a worker whose thread ends (its TLS block goes with it); no launch may run.
void unregister_worker_shared(Worker& w);
// The array containing (or else preceding) offset `off` of the TLS block, or null.
const SharedArray* shared_array_near(size_t off);

// ---- sanitizer.cpp ------------------------------------------------------------------------------
bool sanitizer_enabled();
void set_sanitizer(bool on);
// A new interval began for `w` (block start or completed barrier); clears records on wrap.
void next_interval(Worker& w);

// The stamp of a shared-memory access: bits 0-31 the barrier interval, 32-51 the thread's count
// of warp operations (mod 2^20), 52-61 the thread (bits 57-61 its warp). Kept current in
// Worker::stamp for the running fiber.
constexpr uint32_t kOpsMask = (1u << 20) - 1;
inline uint64_t make_stamp(uint32_t interval, uint32_t ops, unsigned tid) {
  return interval | (uint64_t)(ops & kOpsMask) << 32 | (uint64_t)tid << 52;
}
inline void restamp(Worker& w) {
  if (w.cur) w.stamp = make_stamp(w.interval, w.cur->ops, w.cur->tid);
}

// ---- memory.cpp ---------------------------------------------------------------------------------
// Describes a device address for an error message ("12 bytes past the end of the 1024-byte
// allocation at 0x..."), or "" when it is not in device memory.
std::string describe_device_address(uintptr_t a);

// "block (x,y,z), thread (x,y,z)" of the running fiber of `w`.
std::string where(const Worker& w);
// Records the error for the worker's launch and leaves the running fiber (never returns).
[[noreturn]] void report(Worker& w, const std::string& message);

}  // namespace g4emu
