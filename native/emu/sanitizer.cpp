// sanitizer.cpp — the callbacks of GCC's -fsanitize=kernel-address instrumentation of the kernel
// files, and what they check (see the execution model at the top of cuda_emu.h).
//
// The kernel files are compiled with
//   -fsanitize=kernel-address -fsanitize-recover=kernel-address
//   --param asan-instrumentation-with-call-threshold=0 --param asan-stack=0 --param asan-globals=0
// so that every load and store of n bytes at address a first calls __asan_load<n>_noabort(a) or
// __asan_store<n>_noabort(a) (n = 1, 2, 4, 8, 16; other sizes __asan_loadN_noabort(a, n)), and
// nothing else is needed from a sanitizer runtime: no shadow at fixed addresses, no
// LD_PRELOAD. This file is compiled without the instrumentation.
//
// Where an address is decides what is checked:
//   the region's worker areas   fiber stacks and the runtime's own control blocks: nothing (a
//                               guard page is reported as a stack overflow)
//   dynamic shared memory       bounds (the launch's shared_bytes), races, reads before writes
//   device memory               allocated and, for reads, written (memory.cpp's shadow)
//   a worker's TLS block        static shared memory: inside one __shared__ array of a kernel
//                               file (found in the library's symbol table), races, reads before
//                               writes
//   the first 64 KiB            a null pointer
//   anywhere else               nothing (host memory the runtime hands the kernel: launch
//                               arguments, the warp exchange's view)
//
// Shared-memory records, per 2-byte granule of a worker's window: the last write and the reads
// since, each with the barrier interval (a count of the block's completed __syncthreads, unique
// per worker), the thread and its count of warp operations. Two accesses of different threads in
// the same interval are ordered only when the threads are lanes of one warp and a warp operation
// lies between them (their counts differ); otherwise a write against any other access is a race,
// except atomic against atomic.
#include <cxxabi.h>
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "emu_internal.h"

namespace g4emu {
namespace {

bool g_enabled = true;
constexpr uintptr_t kNullBytes = 64u << 10;

// ---- static shared memory: the library's TLS block ------------------------------------------------
struct SharedArray {
  size_t offset, bytes;
  std::string name;  // "__shared__ " and the demangled name
};

struct TlsLayout {
  size_t bytes = 0;                 // PT_TLS memory size
  std::vector<uint8_t> id;          // per byte: 1 + index % 255 of the array covering it, 0 none
  std::vector<SharedArray> arrays;  // sorted by offset
};
TlsLayout g_tls;
std::once_flag g_tls_once;
std::string g_tls_error;
uintptr_t g_tls_lo = 0, g_tls_span = 0;  // covers every registered worker's block
Worker* g_tls_workers[kMaxWorkers];
unsigned g_tls_count = 0;

std::string demangle(const char* name) {
  int status = 0;
  char* d = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  if (status != 0 || !d) return name;
  std::string s(d);
  std::free(d);
  return s;
}

// The TLS variables defined by the kernel files (.cu), read from the library's own symbol table:
// local symbols follow the STT_FILE symbol of the file that defined them.
void read_shared_arrays(const char* path) {
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  struct stat st;
  void* map = fstat(fd, &st) == 0 ? mmap(nullptr, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
  close(fd);
  if (map == MAP_FAILED) return;
  const auto* file = static_cast<const unsigned char*>(map);
  const auto* eh = reinterpret_cast<const Elf64_Ehdr*>(file);
  if (std::memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0 && eh->e_ident[EI_CLASS] == ELFCLASS64 &&
      eh->e_shoff + (size_t)eh->e_shnum * sizeof(Elf64_Shdr) <= (size_t)st.st_size) {
    const auto* sh = reinterpret_cast<const Elf64_Shdr*>(file + eh->e_shoff);
    for (unsigned i = 0; i < eh->e_shnum; ++i) {
      if (sh[i].sh_type != SHT_SYMTAB || sh[i].sh_link >= eh->e_shnum) continue;
      const auto* sym = reinterpret_cast<const Elf64_Sym*>(file + sh[i].sh_offset);
      const char* names = reinterpret_cast<const char*>(file + sh[sh[i].sh_link].sh_offset);
      bool kernel_file = false;
      for (size_t k = 0; k < sh[i].sh_size / sizeof(Elf64_Sym); ++k) {
        const unsigned type = ELF64_ST_TYPE(sym[k].st_info);
        const char* name = names + sym[k].st_name;
        if (type == STT_FILE) {
          const size_t len = std::strlen(name);
          kernel_file = len > 3 && std::strcmp(name + len - 3, ".cu") == 0;
        } else if (type == STT_TLS && kernel_file && sym[k].st_size > 0 && std::strncmp(name, "_ZGV", 4) != 0 &&
                   sym[k].st_value + sym[k].st_size <= g_tls.bytes) {  // not the guard of a dynamic initialisation
          g_tls.arrays.push_back({(size_t)sym[k].st_value, (size_t)sym[k].st_size, "__shared__ " + demangle(name)});
        }
      }
    }
  }
  munmap(map, (size_t)st.st_size);
}

struct ModuleTls {
  uintptr_t load_base;
  size_t bytes = 0;
  void* block = nullptr;
};

int find_module_tls(dl_phdr_info* info, size_t, void* arg) {
  auto* m = static_cast<ModuleTls*>(arg);
  if (info->dlpi_addr != m->load_base) return 0;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    if (info->dlpi_phdr[i].p_type == PT_TLS) m->bytes = info->dlpi_phdr[i].p_memsz;
  }
  m->block = info->dlpi_tls_data;
  return 1;
}

// This thread's copy of the library's TLS block (the thread must have touched it already).
bool this_thread_tls(uintptr_t* lo, size_t* bytes, std::string* why) {
  Dl_info info;
  if (!dladdr(reinterpret_cast<void*>(&register_worker_shared), &info) || !info.dli_fbase) {
    *why = "cannot find the emulation library's own file";
    return false;
  }
  ModuleTls m{reinterpret_cast<uintptr_t>(info.dli_fbase)};
  dl_iterate_phdr(find_module_tls, &m);
  if (!m.block || !m.bytes) {
    *why = "cannot find this thread's copy of the emulation library's thread-local storage";
    return false;
  }
  *lo = reinterpret_cast<uintptr_t>(m.block);
  *bytes = m.bytes;
  std::call_once(g_tls_once, [&] {
    g_tls.bytes = m.bytes;
    read_shared_arrays(info.dli_fname);
    std::sort(g_tls.arrays.begin(), g_tls.arrays.end(),
              [](const SharedArray& a, const SharedArray& b) { return a.offset < b.offset; });
    g_tls.id.assign(g_tls.bytes, 0);
    for (size_t i = 0; i < g_tls.arrays.size(); ++i) {
      const SharedArray& s = g_tls.arrays[i];
      std::memset(&g_tls.id[s.offset], (int)(1 + i % 255), s.bytes);
    }
  });
  return true;
}

SharedRecord* map_records(size_t window_bytes) {
  void* p = mmap(nullptr, (window_bytes / 2 + 1) * sizeof(SharedRecord), PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return p == MAP_FAILED ? nullptr : static_cast<SharedRecord*>(p);
}

// ---- reports --------------------------------------------------------------------------------------
const char* verb(unsigned kind) { return kind == 0 ? "read" : kind == 1 ? "write" : "atomic"; }

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

// ---- shared-memory records ------------------------------------------------------------------------
// write: bits 0-31 interval, 32-51 warp-op count, 52-61 thread, 62 atomic
// read:  bits 0-31 interval, 32-51 the latest warp-op count of a reader, 52-61 a reader at that
//        count, 62 several readers at that count, 63 readers in several warps
constexpr uint32_t kOpsMask = (1u << 20) - 1;
constexpr uint64_t kAtomicBit = 1ull << 62, kManyBit = 1ull << 62, kWarpsBit = 1ull << 63;

inline uint64_t stamp(uint32_t interval, uint32_t ops, unsigned tid) {
  return interval | (uint64_t)(ops & kOpsMask) << 32 | (uint64_t)tid << 52;
}
inline unsigned rec_tid(uint64_t r) { return (unsigned)(r >> 52) & 1023u; }
inline uint32_t rec_ops(uint64_t r) { return (uint32_t)(r >> 32) & kOpsMask; }

// the write record is another thread's, in this interval, not ordered before this thread's access
inline bool write_conflict(uint64_t r, uint32_t interval, uint32_t ops, unsigned tid) {
  if ((uint32_t)r != interval) return false;
  const unsigned t = rec_tid(r);
  return t != tid && ((t >> 5) != (tid >> 5) || rec_ops(r) == (ops & kOpsMask));
}

inline bool read_conflict(uint64_t r, uint32_t interval, uint32_t ops, unsigned tid) {
  if ((uint32_t)r != interval) return false;
  if (r & kWarpsBit) return true;
  const unsigned t = rec_tid(r);
  if ((t >> 5) != (tid >> 5)) return true;
  if (rec_ops(r) != (ops & kOpsMask)) return false;  // every read of this warp came before a warp op
  return t != tid || (r & kManyBit);
}

inline uint64_t add_read(uint64_t r, uint32_t interval, uint32_t ops, unsigned tid) {
  if ((uint32_t)r != interval) return stamp(interval, ops, tid);
  if (r & kWarpsBit) return r;
  const unsigned t = rec_tid(r);
  if ((t >> 5) != (tid >> 5)) return r | kWarpsBit;
  if (rec_ops(r) != (ops & kOpsMask)) return stamp(interval, ops, tid);
  return t == tid ? r : r | kManyBit;
}

// written by some thread of the running block
inline bool written_in_block(const Worker& w, uint64_t write) {
  return (uint32_t)((uint32_t)write - w.block_start) <= (uint32_t)(w.interval - w.block_start);
}

[[noreturn]] __attribute__((noinline)) void report_race(const Worker& w, const char* window, size_t off,
                                                        uintptr_t a, unsigned n, unsigned kind, uint64_t other,
                                                        unsigned other_kind) {
  std::string them;
  if (other_kind == 0 && (other & kWarpsBit)) them = "reads by threads of several warps";
  else them = std::string(other_kind == 0 ? "a read" : other_kind == 1 ? "a write" : "an atomic") + " by " +
              thread_of(rec_tid(other)) + (other_kind == 0 && (other & kManyBit) ? " and others" : "");
  char buf[160];
  snprintf(buf, sizeof buf, " (%s, offset %zu)", window, off);
  report_here("shared-memory race: this thread's " + access_text(a, n, kind) + buf + " and " + them +
              " in the same barrier interval, with no __syncthreads between them (nor a warp operation "
              "between lanes of one warp)");
  (void)w;
}

[[noreturn]] __attribute__((noinline)) void report_unwritten_shared(const char* window, size_t off, uintptr_t a,
                                                                    unsigned n, unsigned kind) {
  char buf[160];
  snprintf(buf, sizeof buf, " (%s, offset %zu)", window, off);
  report_here("read of uninitialised shared memory: " + access_text(a, n, kind) + buf +
              ", which no thread of this block has written");
}

// The access [off, off + n) of window `recs` by the running fiber of w.
// `shown` is the offset the messages give (within the array for static shared memory). Reads
// before writes are looked for only where every write is seen (`check_init`).
void shared_records(Worker& w, SharedRecord* recs, const char* window, size_t off, size_t shown, unsigned n,
                    unsigned kind, uintptr_t a, bool check_init) {
  const Fiber* f = w.cur;
  if (!f || !recs) return;
  const uint32_t interval = w.interval, ops = f->ops;
  const unsigned tid = f->tid;
  for (size_t g = off >> 1, last = (off + n - 1) >> 1; g <= last; ++g) {
    SharedRecord& r = recs[g];
    if (kind == 0) {
      if (write_conflict(r.write, interval, ops, tid)) report_race(w, window, shown, a, n, kind, r.write, r.write & kAtomicBit ? 2 : 1);
      if (check_init && !written_in_block(w, r.write)) report_unwritten_shared(window, shown, a, n, kind);
      const uint64_t next = add_read(r.read, interval, ops, tid);
      if (next != r.read) r.read = next;
    } else {
      if (kind == 2 && check_init && !written_in_block(w, r.write)) report_unwritten_shared(window, shown, a, n, kind);
      if (write_conflict(r.write, interval, ops, tid) && !(kind == 2 && (r.write & kAtomicBit))) {
        report_race(w, window, shown, a, n, kind, r.write, r.write & kAtomicBit ? 2 : 1);
      }
      if (read_conflict(r.read, interval, ops, tid)) report_race(w, window, shown, a, n, kind, r.read, 0);
      r.write = stamp(interval, ops, tid) | (kind == 2 ? kAtomicBit : 0);
    }
  }
}

// ---- the checks by address ------------------------------------------------------------------------
__attribute__((noinline)) void device_access(uintptr_t a, size_t h, unsigned n, unsigned kind) {
  if (!g_enabled) return;
  uint16_t* s = g_region.shadow;
  const size_t end = h + n;
  for (size_t b = h; b < end;) {
    const unsigned o = b & 7, c = (unsigned)((end - b) < 8 - o ? end - b : 8 - o);
    const unsigned m = (c == 8 ? 0xffu : ((1u << c) - 1) << o);
    const unsigned v = __atomic_load_n(&s[b >> 3], __ATOMIC_RELAXED);
    if ((v & m) != m) {
      report_here("out-of-bounds global access: " + access_text(a, n, kind) + ", " +
                  describe_device_address(b + g_region.base + kHeapOffset));
    }
    if (kind != 1 && ((v >> 8) & m) != m) {
      report_here("read of uninitialised device memory: " + access_text(a, n, kind) + ", " +
                  describe_device_address(a) + ", never written since it was allocated");
    }
    if (kind != 0 && ((v >> 8) & m) != m) __atomic_fetch_or(&s[b >> 3], (uint16_t)(m << 8), __ATOMIC_RELAXED);
    b += c;
  }
}

__attribute__((noinline)) void dynamic_shared_access(uintptr_t a, size_t s, unsigned n, unsigned kind) {
  if (!g_enabled) return;
  Worker* w = worker_at((unsigned)(s / kSmemSlot));
  if (!w || !w->launch) return;
  const size_t off = s % kSmemSlot, limit = w->launch->dims.shared_bytes;
  if (off + n > limit) {
    char buf[200];
    snprintf(buf, sizeof buf, " at offset %zu of dynamic shared memory, past the %zu bytes of the launch", off, limit);
    report_here("out-of-bounds shared access: " + access_text(a, n, kind) + buf);
  }
  shared_records(*w, w->dyn_records, "dynamic shared memory", off, off, n, kind, a, true);
}

const SharedArray* array_near(size_t off) {
  const SharedArray* best = nullptr;
  for (const SharedArray& s : g_tls.arrays) {
    if (s.offset <= off) best = &s;
  }
  return best;
}

__attribute__((noinline)) void static_shared_access(uintptr_t a, unsigned n, unsigned kind) {
  if (!g_enabled) return;
  for (unsigned i = 0; i < g_tls_count; ++i) {
    Worker* w = g_tls_workers[i];
    const size_t off = a - w->tls_lo;
    if (off >= g_tls.bytes) continue;
    const uint8_t id = g_tls.id[off];
    if (id == 0 || off + n > g_tls.bytes || g_tls.id[off + n - 1] != id) {
      const SharedArray* s = array_near(off);
      char buf[400];
      if (s && off >= s->offset + s->bytes) {
        snprintf(buf, sizeof buf, ", %zu bytes past the end of the %zu-byte %s",
                 off - (s->offset + s->bytes), s->bytes, s->name.c_str());
      } else if (s) {
        snprintf(buf, sizeof buf, ", running past the end of the %zu-byte %s", s->bytes, s->name.c_str());
      } else {
        snprintf(buf, sizeof buf, ", outside every __shared__ array");
      }
      report_here("out-of-bounds shared access: " + access_text(a, n, kind) + buf);
    }
    const SharedArray* s = array_near(off);
    // GCC leaves accesses at constant offsets of a static array uninstrumented (they are in bounds),
    // so some writes are never seen here: no read-before-write check
    shared_records(*w, w->tls_records, s->name.c_str(), off, off - s->offset, n, kind, a, false);
    return;
  }
}

__attribute__((noinline)) void other_access(uintptr_t a, unsigned n, unsigned kind) {
  if (!g_enabled) return;
  if (a - g_tls_lo < g_tls_span) static_shared_access(a, n, kind);
  else if (a < kNullBytes && t_worker && t_worker->cur) {
    report_here("null pointer access: " + access_text(a, n, kind));
  }
}

__attribute__((noinline)) void worker_area_access(uintptr_t a, unsigned n, unsigned kind) {
  if (!g_enabled) return;
  char buf[200];
  snprintf(buf, sizeof buf, "fiber stack overflow: %u-byte %s at %p in the guard page of a thread's %zu-KiB stack "
           "(the kernel's locals are too large for the emulation)", n, verb(kind), reinterpret_cast<void*>(a),
           (kStackBytes - kGuardBytes) >> 10);
  report_here(buf);
}

// The common entry of every callback: a few compares for the addresses that need nothing.
inline __attribute__((always_inline)) void check(uintptr_t a, unsigned n, unsigned kind) {
  const uintptr_t d = a - g_region.base;
  if (__builtin_expect(d < g_region.span, 1)) {
    if (d >= kHeapOffset) device_access(a, d - kHeapOffset, n, kind);
    else if (d >= kWorkersBytes) dynamic_shared_access(a, d - kWorkersBytes, n, kind);
    else if ((d & (kStackBytes - 1)) < kGuardBytes && (d & (kWorkerBytes - 1)) >= kControlBytes) {
      worker_area_access(a, n, kind);
    }
    return;
  }
  other_access(a, n, kind);
}

}  // namespace

bool sanitizer_enabled() { return g_enabled; }
void set_sanitizer(bool on) { g_enabled = on; }

bool register_worker_shared(Worker& w, std::string* why) {
  size_t bytes = 0;
  if (!this_thread_tls(&w.tls_lo, &bytes, why)) return false;
  w.dyn_records = map_records(kMaxDynamicSmem);
  w.tls_records = map_records(bytes);
  if (!w.dyn_records || !w.tls_records) {
    *why = "cannot map the shared-memory records of the sanitizer";
    return false;
  }
  // widen the range the callbacks send to static_shared_access; no launch runs meanwhile
  const uintptr_t lo = g_tls_count ? std::min(g_tls_lo, w.tls_lo) : w.tls_lo;
  const uintptr_t hi = g_tls_count ? std::max(g_tls_lo + g_tls_span, w.tls_lo + bytes) : w.tls_lo + bytes;
  g_tls_workers[g_tls_count] = &w;
  __atomic_store_n(&g_tls_count, g_tls_count + 1, __ATOMIC_RELEASE);
  g_tls_lo = lo;
  g_tls_span = hi - lo;
  return true;
}

void next_interval(Worker& w) {
  if (++w.interval != 0) return;
  // 2^32 intervals: old records could pass for new ones, so they go, and this block's
  // reads-before-writes are no longer told apart
  std::memset(w.dyn_records, 0, (kMaxDynamicSmem / 2 + 1) * sizeof(SharedRecord));
  std::memset(w.tls_records, 0, (g_tls.bytes / 2 + 1) * sizeof(SharedRecord));
  w.interval = 1;
  w.block_start = 0;
}

void check_atomic(const void* p, unsigned bytes) { check(reinterpret_cast<uintptr_t>(p), bytes, 2); }

}  // namespace g4emu

// ---- the callbacks --------------------------------------------------------------------------------
#define G4EMU_CALLBACKS(n)                                                                          \
  extern "C" __attribute__((visibility("hidden"))) void __asan_load##n##_noabort(uintptr_t a) {   \
    g4emu::check(a, n, 0);                                                                          \
  }                                                                                                 \
  extern "C" __attribute__((visibility("hidden"))) void __asan_store##n##_noabort(uintptr_t a) {  \
    g4emu::check(a, n, 1);                                                                          \
  }
G4EMU_CALLBACKS(1)
G4EMU_CALLBACKS(2)
G4EMU_CALLBACKS(4)
G4EMU_CALLBACKS(8)
G4EMU_CALLBACKS(16)
#undef G4EMU_CALLBACKS

extern "C" __attribute__((visibility("hidden"))) void __asan_loadN_noabort(uintptr_t a, size_t n) {
  if (n) g4emu::check(a, (unsigned)n, 0);
}
extern "C" __attribute__((visibility("hidden"))) void __asan_storeN_noabort(uintptr_t a, size_t n) {
  if (n) g4emu::check(a, (unsigned)n, 1);
}
// Before a call that does not return (the kernels' only such calls end the launch): nothing to do.
extern "C" __attribute__((visibility("hidden"))) void __asan_handle_no_return(void) {}
