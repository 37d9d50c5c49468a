// memory.cpp — the emulation's region (worker areas, shared-memory slots, device memory) and the
// device-memory allocator with its shadow, for the sanitizer and for EmuDevice (C ABI below).
//
// Device memory: every allocation starts at a 256-byte boundary (cudaMalloc's alignment) and is
// followed by a redzone of at least kRedzone bytes that no allocation uses. Freed blocks wait in a
// quarantine (up to kQuarantineBytes) before they are reused, so that a use after free is seen.
// The shadow holds, per 8 bytes, which bytes are allocated (low byte) and which have been written
// since (high byte): a write sets a byte's written bit, a read needs both bits.
#include <sys/mman.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>

#include "emu_internal.h"

namespace g4emu {

Region g_region;
uintptr_t worker_areas;

namespace {

constexpr size_t kAlign = 256;
constexpr size_t kRedzone = 256;
constexpr size_t kQuarantineBytes = 256u << 20;
constexpr size_t kReleaseBytes = 64u << 10;  // freed blocks this large give their pages back

struct Block {
  size_t bytes;  // as requested
  size_t span;   // bytes + padding + redzone
};

struct Heap {
  std::mutex mutex;
  size_t bump = 0;                          // first byte never handed out
  std::map<size_t, size_t> free_at;         // offset -> span
  std::multimap<size_t, size_t> free_size;  // span -> offset
  std::map<size_t, Block> live;             // offset -> block
  std::deque<std::pair<size_t, Block>> quarantine;
  size_t quarantined = 0, in_use = 0;
};
Heap g_heap;

std::once_flag g_reserve_once;
std::string g_reserve_error;

void do_reserve() {
  // Virtual space only (MAP_NORESERVE): pages exist once touched. Smaller heaps if refused.
  for (size_t heap : {size_t(64) << 30, size_t(16) << 30, size_t(4) << 30}) {
    const size_t span = kHeapOffset + heap;
    void* base = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) continue;
    void* shadow = mmap(nullptr, heap / 4, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (shadow == MAP_FAILED) {
      munmap(base, span);
      continue;
    }
    g_region.shadow = static_cast<uint16_t*>(shadow);
    g_region.heap_bytes = heap;
    g_region.base = reinterpret_cast<uintptr_t>(base);
    worker_areas = g_region.base;
    __atomic_store_n(&g_region.span, span, __ATOMIC_RELEASE);
    return;
  }
  g_reserve_error = std::string("cannot reserve address space for the emulated device: ") + std::strerror(errno);
}

unsigned char* heap_base() { return reinterpret_cast<unsigned char*>(g_region.base + kHeapOffset); }

// offset of p in device memory, or SIZE_MAX when p is not in it
size_t heap_offset(const void* p) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  if (!g_region.span || a < g_region.base + kHeapOffset) return SIZE_MAX;
  const size_t off = a - g_region.base - kHeapOffset;
  return off < g_region.heap_bytes ? off : SIZE_MAX;
}

// Sets (or clears) the bits `bits` (a mask of 8 for allocated, 8 << 8 for written) of bytes
// [off, off + n) in the shadow.
void shadow_bits(size_t off, size_t n, unsigned bits, bool set) {
  uint16_t* s = g_region.shadow;
  const size_t end = off + n;
  while (off < end) {
    const unsigned o = off & 7, c = (unsigned)std::min<size_t>(8 - o, end - off);
    if (o == 0 && end - off >= 64) {  // whole granules, eight at a time
      size_t g = off >> 3;
      const size_t full = (end - off) >> 3;
      const uint16_t b = (uint16_t)bits;
      if (set) for (size_t i = 0; i < full; ++i) __atomic_fetch_or(&s[g + i], b, __ATOMIC_RELAXED);
      else for (size_t i = 0; i < full; ++i) __atomic_fetch_and(&s[g + i], (uint16_t)~b, __ATOMIC_RELAXED);
      off += full << 3;
      continue;
    }
    const unsigned m = ((1u << c) - 1) << o;
    const uint16_t b = (uint16_t)((bits & 0xff ? m : 0) | (bits & 0xff00 ? m << 8 : 0));
    if (set) __atomic_fetch_or(&s[off >> 3], b, __ATOMIC_RELAXED);
    else __atomic_fetch_and(&s[off >> 3], (uint16_t)~b, __ATOMIC_RELAXED);
    off += c;
  }
}

void add_free(Heap& h, size_t off, size_t span) {
  // merge with the free neighbours on both sides
  auto next = h.free_at.find(off + span);
  if (next != h.free_at.end()) {
    span += next->second;
    for (auto [it, end] = h.free_size.equal_range(next->second); it != end; ++it) {
      if (it->second == next->first) { h.free_size.erase(it); break; }
    }
    h.free_at.erase(next);
  }
  auto prev = h.free_at.lower_bound(off);
  if (prev != h.free_at.begin()) {
    --prev;
    if (prev->first + prev->second == off) {
      for (auto [it, end] = h.free_size.equal_range(prev->second); it != end; ++it) {
        if (it->second == prev->first) { h.free_size.erase(it); break; }
      }
      off = prev->first;
      span += prev->second;
      h.free_at.erase(prev);
    }
  }
  if (off + span == h.bump) {  // the top of the heap: give it back to the bump pointer
    h.bump = off;
    return;
  }
  h.free_at[off] = span;
  h.free_size.emplace(span, off);
}

}  // namespace

bool reserve_region(std::string* why) {
  std::call_once(g_reserve_once, do_reserve);
  if (g_region.span) return true;
  *why = g_reserve_error;
  return false;
}

std::string describe_device_address(uintptr_t a) {
  const size_t off = heap_offset(reinterpret_cast<const void*>(a));
  if (off == SIZE_MAX) return "";
  char buf[200];
  auto at = [](size_t o) { return (void*)(heap_base() + o); };
  std::lock_guard<std::mutex> lock(g_heap.mutex);
  auto it = g_heap.live.upper_bound(off);
  if (it != g_heap.live.begin()) {
    --it;
    const size_t rel = off - it->first;
    if (rel < it->second.bytes) {
      snprintf(buf, sizeof buf, "offset %zu of the %zu-byte allocation at %p", rel, it->second.bytes, at(it->first));
      return buf;
    }
    if (rel < it->second.span) {
      snprintf(buf, sizeof buf, "%zu bytes past the end of the %zu-byte allocation at %p",
               rel - it->second.bytes, it->second.bytes, at(it->first));
      return buf;
    }
  }
  for (auto q = g_heap.quarantine.rbegin(); q != g_heap.quarantine.rend(); ++q) {
    if (off >= q->first && off < q->first + q->second.span) {
      snprintf(buf, sizeof buf, "offset %zu of the %zu-byte allocation at %p, which has been freed",
               off - q->first, q->second.bytes, at(q->first));
      return buf;
    }
  }
  return "outside every live allocation";
}

}  // namespace g4emu

using g4emu::g_heap;
using g4emu::g_region;

// Device memory of `bytes` bytes, 256-byte aligned: zero-filled and counted as written when
// `zeroed`, else filled with 0xff bytes (NaN in fp32 and bf16) and counted as never written, like
// cudaMalloc's memory. NULL when the emulated device is out of memory.
extern "C" __attribute__((visibility("default"))) void* g4emu_alloc(uint64_t bytes, int zeroed) {
  std::string why;
  if (!g4emu::reserve_region(&why)) return nullptr;
  const size_t span = ((std::max<uint64_t>(bytes, 1) + g4emu::kAlign - 1) & ~(g4emu::kAlign - 1)) + g4emu::kRedzone;
  size_t off;
  {
    std::lock_guard<std::mutex> lock(g_heap.mutex);
    auto fit = g_heap.free_size.lower_bound(span);
    if (fit != g_heap.free_size.end()) {
      off = fit->second;
      const size_t have = fit->first;
      g_heap.free_size.erase(fit);
      g_heap.free_at.erase(off);
      if (have > span) {
        g_heap.free_at[off + span] = have - span;
        g_heap.free_size.emplace(have - span, off + span);
      }
    } else {
      if (g_heap.bump + span > g_region.heap_bytes) return nullptr;
      off = g_heap.bump;
      g_heap.bump += span;
    }
    g_heap.live[off] = {bytes, span};
    g_heap.in_use += bytes;
  }
  unsigned char* p = g4emu::heap_base() + off;
  std::memset(p, zeroed ? 0 : 0xff, bytes);
  g4emu::shadow_bits(off, bytes, zeroed ? 0xffff : 0x00ff, true);
  return p;
}

// Frees an allocation of g4emu_alloc; 0 on success, -1 if p is not one.
extern "C" __attribute__((visibility("default"))) int g4emu_free(void* p) {
  const size_t off = g4emu::heap_offset(p);
  if (off == SIZE_MAX) return -1;
  g4emu::Block b;
  {
    std::lock_guard<std::mutex> lock(g_heap.mutex);
    auto it = g_heap.live.find(off);
    if (it == g_heap.live.end()) return -1;
    b = it->second;
    g_heap.live.erase(it);
    g_heap.in_use -= b.bytes;
  }
  g4emu::shadow_bits(off, b.bytes, 0xffff, false);
  if (b.span >= g4emu::kReleaseBytes) {
    const uintptr_t lo = (reinterpret_cast<uintptr_t>(p) + 4095) & ~(uintptr_t)4095;
    const uintptr_t hi = (reinterpret_cast<uintptr_t>(p) + b.span) & ~(uintptr_t)4095;
    if (hi > lo) madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
  }
  std::lock_guard<std::mutex> lock(g_heap.mutex);
  g_heap.quarantine.emplace_back(off, b);
  g_heap.quarantined += b.span;
  while (g_heap.quarantined > g4emu::kQuarantineBytes) {
    auto [o, old] = g_heap.quarantine.front();
    g_heap.quarantine.pop_front();
    g_heap.quarantined -= old.span;
    g4emu::add_free(g_heap, o, old.span);
  }
  return 0;
}

// Counts bytes [p, p + bytes) of device memory as written (a copy from the host, a fill). Bytes
// outside device memory are ignored.
extern "C" __attribute__((visibility("default"))) void g4emu_mark_written(const void* p, uint64_t bytes) {
  const size_t off = g4emu::heap_offset(p);
  if (off == SIZE_MAX || bytes == 0) return;
  g4emu::shadow_bits(off, std::min<size_t>(bytes, g_region.heap_bytes - off), 0xff00, true);
}

// dst takes src's written bits for `bytes` bytes (a device-to-device copy carries them along).
extern "C" __attribute__((visibility("default"))) void g4emu_copy_written(const void* dst, const void* src,
                                                                         uint64_t bytes) {
  const size_t d = g4emu::heap_offset(dst), s = g4emu::heap_offset(src);
  if (d == SIZE_MAX || bytes == 0) return;
  if (s == SIZE_MAX) {  // from the host: all of it is written
    g4emu_mark_written(dst, bytes);
    return;
  }
  const uint16_t* sh = g_region.shadow;
  size_t i = 0;
  while (i < bytes) {
    // runs of bytes whose written bit is the same in src
    const bool w = (sh[(s + i) >> 3] >> (8 + ((s + i) & 7))) & 1u;
    size_t j = i + 1;
    while (j < bytes && (((sh[(s + j) >> 3] >> (8 + ((s + j) & 7))) & 1u) == w)) ++j;
    g4emu::shadow_bits(d + i, j - i, 0xff00, w);
    i = j;
  }
}

// The offset of the first never-written byte of [p, p + bytes), or -1 when all were written (or p
// is not device memory).
extern "C" __attribute__((visibility("default"))) int64_t g4emu_first_unwritten(const void* p, uint64_t bytes) {
  const size_t off = g4emu::heap_offset(p);
  if (off == SIZE_MAX) return -1;
  const uint16_t* sh = g_region.shadow;
  for (uint64_t i = 0; i < bytes; ++i) {
    if (((i + off) & 7) == 0 && i + 8 <= bytes && (sh[(off + i) >> 3] >> 8) == 0xff) {
      i += 7;
      continue;
    }
    if (!((sh[(off + i) >> 3] >> (8 + ((off + i) & 7))) & 1u)) return (int64_t)i;
  }
  return -1;
}

// Bytes of device memory allocated and not freed.
extern "C" __attribute__((visibility("default"))) uint64_t g4emu_bytes_in_use(void) {
  std::lock_guard<std::mutex> lock(g_heap.mutex);
  return g_heap.in_use;
}
