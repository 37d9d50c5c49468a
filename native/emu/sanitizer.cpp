// sanitizer.cpp — the callbacks of GCC's -fsanitize=kernel-address instrumentation of the kernel
// files, and what they check (see the execution model at the top of cuda_emu.h).
//
// The kernel files are compiled with
//   -fsanitize=kernel-address -fsanitize-recover=kernel-address
//   --param asan-instrumentation-with-call-threshold=0 --param asan-stack=0 --param asan-globals=0
// so that every load and store of n bytes at address a first calls __asan_load<n>_noabort(a) or
// __asan_store<n>_noabort(a) (n = 1, 2, 4, 8, 16; other sizes __asan_loadN_noabort(a, n)), and
// nothing else is needed from a sanitizer runtime: no shadow at fixed addresses, no LD_PRELOAD.
// This file is compiled without the instrumentation. (GCC leaves out accesses it can prove in
// bounds: a local, or a static array at a constant offset. Atomics are checked explicitly, see
// check_atomic.)
//
// Where an address is decides what is checked:
//   the region's worker areas   fiber stacks and the runtime's own control blocks: nothing (a
//                               guard page is reported as a stack overflow)
//   dynamic shared memory       bounds (the launch's shared_bytes), races, reads before writes
//   device memory               allocated and, for reads, written (memory.cpp's shadow)
//   a worker's TLS block        static shared memory: inside one __shared__ array of a kernel
//                               file (static_shared.cpp), races
//   the first 64 KiB            a null pointer
//   anywhere else               nothing (host memory the runtime hands the kernel: the launch's
//                               arguments)
//
// Shared-memory records, per 2-byte granule of a worker's window: the stamp (emu_internal.h) of
// the last write and a summary of the reads since it in the same interval. Two accesses of
// different threads in one interval are ordered only when the threads are lanes of one warp and
// a warp operation lies between them (their counts differ); otherwise a write against any other
// access is a race, except atomic against atomic. A read needs some write of the running block
// before it (dynamic shared memory only: GCC does not show every write to a static array).
#include <cstdio>
#include <cstring>
#include <string>

#include "emu_internal.h"

namespace g4emu {
namespace {

bool g_enabled = true;
constexpr uintptr_t kNullBytes = 64u << 10;
enum Kind : unsigned { kRead = 0, kWrite = 1, kAtomic = 2 };

// write record: a stamp, bit 62 set for an atomic
// read record:  the stamp of a read at the latest warp-op count seen in the interval; bit 62: other
//               lanes read at that count too; bit 63: threads of several warps read
constexpr uint64_t kAtomicBit = 1ull << 62, kManyBit = 1ull << 62, kWarpsBit = 1ull << 63;
constexpr uint64_t kLaneBits = 31ull << 52;  // the lane within the warp, of a stamp's thread

inline unsigned tid_of(uint64_t r) { return (unsigned)(r >> 52) & 1023u; }
inline bool other_thread(uint64_t x) { return (x >> 52) & 1023u; }  // x = record ^ stamp
inline bool other_warp(uint64_t x) { return (x >> 57) & 31u; }
inline bool other_ops(uint64_t x) { return (x >> 32) & kOpsMask; }
inline bool same_interval(uint64_t r, uint64_t s) { return (uint32_t)(r ^ s) == 0; }

// another thread's write in this interval, not ordered before the access of stamp s
inline bool write_conflict(uint64_t w, uint64_t s) {
  const uint64_t x = w ^ s;
  return (uint32_t)x == 0 && other_thread(x) && (other_warp(x) || !other_ops(x));
}

// another thread's read in this interval, not ordered before a write of stamp s
inline bool read_conflict(uint64_t r, uint64_t s) {
  if (!same_interval(r, s)) return false;
  if (r & kWarpsBit) return true;
  const uint64_t x = r ^ s;
  if (other_warp(x)) return true;
  if (other_ops(x)) return false;  // every read of this warp came before a warp operation
  return other_thread(x) || (r & kManyBit);
}

// Whether read record r already stands for a read of stamp s: the same stamp, reads of several
// warps in this interval, or other lanes of this warp at this warp-op count. Such a read changes
// no record and passes every check: the reads that made r passed them against the last write,
// and any write since, by another thread, raced with them and was reported (a lane of this warp
// writing after a warp operation moves this warp's count past r's).
inline bool read_absorbed(uint64_t r, uint64_t s) {
  const uint64_t x = r ^ s;
  if (x == 0) return true;
  if ((uint32_t)x != 0) return false;
  if (r & kWarpsBit) return true;
  return (r & kManyBit) && !(x & ~(kLaneBits | kManyBit));
}

inline uint64_t add_read(uint64_t r, uint64_t s) {
  if (!same_interval(r, s) ) return s;
  if (r & kWarpsBit) return r;
  const uint64_t x = r ^ s;
  if (other_warp(x)) return r | kWarpsBit;
  if (other_ops(x)) return s;  // the counts only grow: the older reads are ordered before this one
  return other_thread(x) ? r | kManyBit : r;
}

// ---- reports --------------------------------------------------------------------------------------
const char* verb(unsigned kind) { return kind == kRead ? "read" : kind == kWrite ? "write" : "atomic"; }

std::string access_text(uintptr_t a, unsigned n, unsigned kind) {
  char buf[80];
  snprintf(buf, sizeof buf, "%u-byte %s at %p", n, verb(kind), reinterpret_cast<void*>(a));
  return buf;
}

[[noreturn]] void report_here(const std::string& message) { report(*t_worker, message); }

std::string thread_of(unsigned tid) {
  const dim3 b = launch_block;
  char buf[48];
  snprintf(buf, sizeof buf, "thread (%u,%u,%u)", tid % b.x, tid / b.x % b.y, tid / (b.x * b.y));
  return buf;
}

// " (dynamic shared memory, offset 12)" or " (__shared__ f(int)::buf, offset 12)"
std::string window_text(bool dynamic, size_t off) {
  char buf[64];
  if (dynamic) {
    snprintf(buf, sizeof buf, ", offset %zu)", off);
    return " (dynamic shared memory" + std::string(buf);
  }
  const SharedArray* s = shared_array_near(off);
  snprintf(buf, sizeof buf, ", offset %zu)", s ? off - s->offset : off);
  return " (" + (s ? s->name : std::string("static shared memory")) + buf;
}

[[noreturn]] __attribute__((noinline)) void report_race(bool dynamic, size_t off, uintptr_t a, unsigned n,
                                                        unsigned kind, uint64_t other, unsigned other_kind) {
  std::string them;
  if (other_kind == kRead && (other & kWarpsBit)) them = "reads by threads of several warps";
  else them = std::string(other_kind == kRead ? "a read" : other_kind == kWrite ? "a write" : "an atomic") + " by " +
              thread_of(tid_of(other)) + (other_kind == kRead && (other & kManyBit) ? " and others" : "");
  report_here("shared-memory race: this thread's " + access_text(a, n, kind) + window_text(dynamic, off) + " and " +
              them + " in the same barrier interval, with no __syncthreads between them (nor a warp operation "
              "between lanes of one warp)");
}

[[noreturn]] __attribute__((noinline)) void report_unwritten_shared(size_t off, uintptr_t a, unsigned n,
                                                                    unsigned kind) {
  report_here("read of uninitialised shared memory: " + access_text(a, n, kind) + window_text(true, off) +
              ", which no thread of this block has written");
}

// ---- shared memory --------------------------------------------------------------------------------
// Whether a read of granules [first, last] by stamp s changes no record and passes every check
// (read_absorbed, for each of them alike): most reads of shared memory, and the cheap test the
// callbacks make before anything else.
inline bool shared_read_absorbed(const SharedRecord* recs, size_t first, size_t last, uint64_t s) {
  const uint64_t rd = recs[first].read;
  if (!read_absorbed(rd, s)) return false;
  uint64_t differ = 0;  // no branch per granule: spans of whole rows are tens of granules
#pragma GCC unroll 4
  for (size_t g = first + 1; g <= last; ++g) differ |= recs[g].read ^ rd;
  return differ == 0;
}

// A write to granules [first, last] by stamp s that none of this interval's accesses of other
// threads precedes: it passes every check, and only the write records change.
inline bool shared_write_alone(SharedRecord* recs, size_t first, size_t last, uint64_t s) {
  for (size_t g = first; g <= last; ++g) {
    const uint64_t wr = recs[g].write, rd = recs[g].read;
    if ((same_interval(wr, s) && wr != s) || (same_interval(rd, s) && rd != s)) return false;
  }
  for (size_t g = first; g <= last; ++g) recs[g].write = s;
  return true;
}

// The access [off, off + n) of a window with records `recs` by the running fiber of w.
template <unsigned K>
__attribute__((noinline)) void shared_access(Worker& w, SharedRecord* recs, bool dynamic, size_t off, unsigned n,
                                             uintptr_t a) {
  const uint64_t s = w.stamp;
  uint64_t seen_w = ~0ull, seen_r = ~0ull, next_w = 0, next_r = 0;  // the previous granule, before and after
  for (size_t g = off >> 1, last = (off + n - 1) >> 1; g <= last; ++g) {
    SharedRecord& r = recs[g];
    const uint64_t wr = r.write, rd = r.read;
    if (wr == seen_w && rd == seen_r) {  // the same history as the granule before (one word written as one)
      if (next_w != wr) r.write = next_w;
      if (next_r != rd) r.read = next_r;
      continue;
    }
    seen_w = wr;
    seen_r = rd;
    next_w = wr;
    next_r = rd;
    if (K == kRead) {
      if (same_interval(wr, s)) {
        if (write_conflict(wr, s)) report_race(dynamic, off, a, n, K, wr, wr & kAtomicBit ? kAtomic : kWrite);
      } else if (dynamic && (uint32_t)((uint32_t)wr - w.block_start) > (uint32_t)((uint32_t)s - w.block_start)) {
        report_unwritten_shared(off, a, n, K);  // last written before this block began, or never
      }
      if (rd != s) {
        next_r = add_read(rd, s);
        if (next_r != rd) r.read = next_r;
      }
    } else {
      if (K == kAtomic && dynamic && !same_interval(wr, s) &&
          (uint32_t)((uint32_t)wr - w.block_start) > (uint32_t)((uint32_t)s - w.block_start)) {
        report_unwritten_shared(off, a, n, K);
      }
      if (write_conflict(wr, s) && !(K == kAtomic && (wr & kAtomicBit))) {
        report_race(dynamic, off, a, n, K, wr, wr & kAtomicBit ? kAtomic : kWrite);
      }
      if (read_conflict(rd, s)) report_race(dynamic, off, a, n, K, rd, kRead);
      next_w = s | (K == kAtomic ? kAtomicBit : 0);
      if (wr != next_w) r.write = next_w;
    }
  }
}

[[noreturn]] __attribute__((noinline)) void report_dynamic_oob(uintptr_t a, size_t off, unsigned n, unsigned kind,
                                                               size_t limit) {
  char buf[200];
  snprintf(buf, sizeof buf, " at offset %zu of dynamic shared memory, past the %zu bytes of the launch", off, limit);
  report_here("out-of-bounds shared access: " + access_text(a, n, kind) + buf);
}

template <unsigned K>
inline void dynamic_shared_access(uintptr_t a, size_t s, unsigned n) {
  // the slot tells the worker: its control block is at the start of its area
  Worker& w = *reinterpret_cast<Worker*>(g_region.base + (s / kSmemSlot) * kWorkerBytes);
  const size_t off = s % kSmemSlot;
  if (__builtin_expect(off + n > w.smem_bytes, 0)) report_dynamic_oob(a, off, n, K, w.smem_bytes);
  if (K == kRead && shared_read_absorbed(w.dyn_records, off >> 1, (off + n - 1) >> 1, w.stamp)) return;
  if (K == kWrite && shared_write_alone(w.dyn_records, off >> 1, (off + n - 1) >> 1, w.stamp)) return;
  shared_access<K>(w, w.dyn_records, true, off, n, a);
}

[[noreturn]] __attribute__((noinline)) void report_static_oob(uintptr_t a, size_t off, unsigned n, unsigned kind) {
  const SharedArray* s = shared_array_near(off);
  char buf[400];
  if (s && off >= s->offset + s->bytes) {
    snprintf(buf, sizeof buf, ", %zu bytes past the end of the %zu-byte %s", off - (s->offset + s->bytes), s->bytes,
             s->name.c_str());
  } else if (s) {
    snprintf(buf, sizeof buf, ", running past the end of the %zu-byte %s", s->bytes, s->name.c_str());
  } else {
    snprintf(buf, sizeof buf, ", outside every __shared__ array");
  }
  report_here("out-of-bounds shared access: " + access_text(a, n, kind) + buf);
}

// Static shared memory is in the TLS block of the worker running the access.
template <unsigned K>
__attribute__((noinline)) void static_shared_access(uintptr_t a, unsigned n) {
  const StaticShared& g = g_static;
  for (unsigned i = 0; i < g.count; ++i) {
    Worker& w = *g.workers[i];
    const size_t off = a - w.tls_lo;
    if (off >= g.bytes) continue;
    const uint8_t id = g.id[off];
    if (id == 0 || off + n > g.bytes || g.id[off + n - 1] != id) report_static_oob(a, off, n, K);
    if (K == kRead && shared_read_absorbed(w.tls_records, off >> 1, (off + n - 1) >> 1, w.stamp)) return;
    if (K == kWrite && shared_write_alone(w.tls_records, off >> 1, (off + n - 1) >> 1, w.stamp)) return;
    shared_access<K>(w, w.tls_records, false, off, n, a);
    return;
  }
}

// ---- device memory --------------------------------------------------------------------------------
[[noreturn]] __attribute__((noinline)) void report_device(uintptr_t a, size_t h, unsigned n, unsigned kind) {
  // the first byte that fails says which rule the access broke
  const uint16_t* sh = g_region.shadow;
  for (size_t b = h; b < h + n; ++b) {
    const unsigned v = sh[b >> 3], bit = 1u << (b & 7);
    if (!(v & bit)) {
      report_here("out-of-bounds global access: " + access_text(a, n, kind) + ", " +
                  describe_device_address(g_region.base + kHeapOffset + b));
    }
    if (kind != kWrite && !((v >> 8) & bit)) {
      report_here("read of uninitialised device memory: " + access_text(a, n, kind) + ", " +
                  describe_device_address(g_region.base + kHeapOffset + b) + ", never written since it was allocated");
    }
  }
  report_here("unexplained device-memory report: " + access_text(a, n, kind));
}

// Bytes [h, h + n) of device memory: allocated, and for a read (or atomic) written; a write marks
// them written.
template <unsigned K>
__attribute__((noinline)) void device_access_span(uintptr_t a, size_t h, unsigned n) {
  uint16_t* s = g_region.shadow;
  for (size_t b = h, end = h + n; b < end;) {
    const unsigned o = b & 7, c = end - b < 8 - o ? (unsigned)(end - b) : 8 - o;
    const unsigned m = (c == 8 ? 0xffu : ((1u << c) - 1) << o);
    const unsigned need = K == kWrite ? m : m | m << 8;
    const unsigned v = __atomic_load_n(&s[b >> 3], __ATOMIC_RELAXED);
    if (__builtin_expect((v & need) != need, 0)) report_device(a, h, n, K);
    if (K != kRead && ((v >> 8) & m) != m) __atomic_fetch_or(&s[b >> 3], (uint16_t)(m << 8), __ATOMIC_RELAXED);
    b += c;
  }
}

// The same, inline for the common access within one 8-byte shadow granule.
template <unsigned K>
inline void device_access(uintptr_t a, size_t h, unsigned n) {
  const unsigned o = h & 7;
  if (__builtin_expect(o + n > 8, 0)) return device_access_span<K>(a, h, n);
  uint16_t* s = &g_region.shadow[h >> 3];
  const unsigned m = (n == 8 ? 0xffu : ((1u << n) - 1) << o);
  const unsigned need = K == kWrite ? m : m | m << 8;
  const unsigned v = __atomic_load_n(s, __ATOMIC_RELAXED);
  if (__builtin_expect((v & need) != need, 0)) report_device(a, h, n, K);
  if (K != kRead && ((v >> 8) & m) != m) __atomic_fetch_or(s, (uint16_t)(m << 8), __ATOMIC_RELAXED);
}

// ---- the rest -------------------------------------------------------------------------------------
[[noreturn]] __attribute__((noinline)) void report_stack_overflow(uintptr_t a, unsigned n, unsigned kind) {
  char buf[200];
  snprintf(buf, sizeof buf, "fiber stack overflow: %u-byte %s at %p in the guard page of a thread's %zu-KiB stack "
           "(the kernel's locals are too large for the emulation)", n, verb(kind), reinterpret_cast<void*>(a),
           (kStackBytes - kGuardBytes) >> 10);
  report_here(buf);
}

__attribute__((noinline)) void report_null(uintptr_t a, unsigned n, unsigned kind) {
  if (t_worker && t_worker->cur) report_here("null pointer access: " + access_text(a, n, kind));
}

// The common entry of every callback: a few compares for the addresses that need nothing.
template <unsigned K>
inline __attribute__((always_inline)) void check(uintptr_t a, unsigned n) {
  if (__builtin_expect(!g_enabled, 0)) return;
  const uintptr_t d = a - g_region.base;
  if (__builtin_expect(d < g_region.span, 1)) {
    if (d >= kHeapOffset) {
      device_access<K>(a, d - kHeapOffset, n);
    } else if (d >= kWorkersBytes) {
      dynamic_shared_access<K>(a, d - kWorkersBytes, n);
    } else if ((d & (kStackBytes - 1)) < kGuardBytes && (d & (kWorkerBytes - 1)) >= kControlBytes) {
      report_stack_overflow(a, n, K);
    }
    return;
  }
  if (a - g_static.lo < g_static.span) static_shared_access<K>(a, n);
  else if (__builtin_expect(a < kNullBytes, 0)) report_null(a, n, K);
}

}  // namespace

#if defined(G4EMU_INSTRUMENTED)
constexpr bool kInstrumented = true;
#else
constexpr bool kInstrumented = false;  // the callbacks are never called: nothing is checked
#endif
bool sanitizer_enabled() { return kInstrumented && g_enabled; }
void set_sanitizer(bool on) { g_enabled = on; }

void next_interval(Worker& w) {
  if (++w.interval == 0) {
    // 2^32 intervals: old records could pass for new ones, so they go, and reads of what this
    // block wrote before are taken as reads before writes no more (block_start 0 covers all)
    std::memset(w.dyn_records, 0, (kMaxDynamicSmem / 2 + 1) * sizeof(SharedRecord));
    std::memset(w.tls_records, 0, (g_static.bytes / 2 + 1) * sizeof(SharedRecord));
    w.interval = 1;
    w.block_start = 0;
  }
  restamp(w);
}

void check_atomic(const void* p, unsigned bytes) { check<kAtomic>(reinterpret_cast<uintptr_t>(p), bytes); }
void check_read(const void* p, unsigned bytes) {
  if (bytes) check<kRead>(reinterpret_cast<uintptr_t>(p), bytes);
}
void check_write(const void* p, unsigned bytes) {
  if (bytes) check<kWrite>(reinterpret_cast<uintptr_t>(p), bytes);
}
void check_read_rows(const void* p, unsigned bytes, size_t stride, uint32_t rows) {
  if (!rows || !bytes || !g_enabled) return;
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  const uintptr_t d = a - g_region.base, span = (31 - __builtin_clz(rows)) * stride + bytes;
  const size_t slot = d - kWorkersBytes;
  if (d < kWorkersBytes || d >= kHeapOffset || slot % kSmemSlot + span > kSmemSlot) {
    for (; rows; rows &= rows - 1) check<kRead>(a + __builtin_ctz(rows) * stride, bytes);
    return;
  }
  // rows of one worker's dynamic shared memory: what dynamic_shared_access finds once for all
  Worker& w = *reinterpret_cast<Worker*>(g_region.base + (slot / kSmemSlot) * kWorkerBytes);
  const size_t base = slot % kSmemSlot;
  const uint64_t s = w.stamp;
  for (; rows; rows &= rows - 1) {
    const size_t off = base + __builtin_ctz(rows) * stride;
    const uintptr_t at = a + (off - base);
    if (__builtin_expect(off + bytes > w.smem_bytes, 0)) report_dynamic_oob(at, off, bytes, kRead, w.smem_bytes);
    const SharedRecord* r = w.dyn_records + (off >> 1);
    if (bytes == 4 && !(off & 1) ? read_absorbed(r[0].read, s) && r[1].read == r[0].read
                                 : shared_read_absorbed(w.dyn_records, off >> 1, (off + bytes - 1) >> 1, s)) {
      continue;
    }
    shared_access<kRead>(w, w.dyn_records, true, off, bytes, at);
  }
}

}  // namespace g4emu

// ---- the callbacks --------------------------------------------------------------------------------
#define G4EMU_CALLBACKS(n)                                                                          \
  extern "C" __attribute__((visibility("hidden"))) void __asan_load##n##_noabort(uintptr_t a) {   \
    g4emu::check<g4emu::kRead>(a, n);                                                               \
  }                                                                                                 \
  extern "C" __attribute__((visibility("hidden"))) void __asan_store##n##_noabort(uintptr_t a) {  \
    g4emu::check<g4emu::kWrite>(a, n);                                                              \
  }
G4EMU_CALLBACKS(1)
G4EMU_CALLBACKS(2)
G4EMU_CALLBACKS(4)
G4EMU_CALLBACKS(8)
G4EMU_CALLBACKS(16)
#undef G4EMU_CALLBACKS

extern "C" __attribute__((visibility("hidden"))) void __asan_loadN_noabort(uintptr_t a, size_t n) {
  if (n) g4emu::check<g4emu::kRead>(a, (unsigned)n);
}
extern "C" __attribute__((visibility("hidden"))) void __asan_storeN_noabort(uintptr_t a, size_t n) {
  if (n) g4emu::check<g4emu::kWrite>(a, (unsigned)n);
}
// Before a call that does not return (the kernels' only such calls end the launch): nothing to do.
extern "C" __attribute__((visibility("hidden"))) void __asan_handle_no_return(void) {}
