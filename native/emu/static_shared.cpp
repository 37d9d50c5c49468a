// static_shared.cpp — where the kernels' static __shared__ arrays are: each worker thread's copy of
// the library's thread-local storage (`__shared__` is `static thread_local` in cuda_emu.h), and
// within it the arrays the kernel files define, read from the library's own symbol table so that
// the sanitizer can tell an access inside an array from one running past it.
#include <cxxabi.h>
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "emu_internal.h"

namespace g4emu {

StaticShared g_static;

namespace {

std::once_flag g_layout_once;
std::vector<uint8_t> g_static_id;

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
                   sym[k].st_value + sym[k].st_size <= g_static.bytes) {  // not the guard of a dynamic initialisation
          g_static.arrays.push_back({(size_t)sym[k].st_value, (size_t)sym[k].st_size, "__shared__ " + demangle(name)});
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
  std::call_once(g_layout_once, [&] {
    g_static.bytes = m.bytes;
    read_shared_arrays(info.dli_fname);
    std::sort(g_static.arrays.begin(), g_static.arrays.end(),
              [](const SharedArray& a, const SharedArray& b) { return a.offset < b.offset; });
    if (g_static.arrays.empty()) {  // no symbol table (a stripped library): one array, no bounds
      g_static.arrays.push_back({0, g_static.bytes, "static shared memory"});
    }
    g_static_id.assign(g_static.bytes, 0);
    for (size_t i = 0; i < g_static.arrays.size(); ++i) {
      const SharedArray& s = g_static.arrays[i];
      std::memset(&g_static_id[s.offset], (int)(1 + i % 255), s.bytes);
    }
    g_static.id = g_static_id.data();
  });
  return true;
}

SharedRecord* map_records(size_t window_bytes) {
  void* p = mmap(nullptr, (window_bytes / 2 + 1) * sizeof(SharedRecord), PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return p == MAP_FAILED ? nullptr : static_cast<SharedRecord*>(p);
}

}  // namespace

const SharedArray* shared_array_near(size_t off) {
  auto it = std::upper_bound(g_static.arrays.begin(), g_static.arrays.end(), off,
                             [](size_t o, const SharedArray& s) { return o < s.offset; });
  return it == g_static.arrays.begin() ? nullptr : &*(it - 1);
}

bool register_worker_shared(Worker& w, std::string* why) {
  size_t bytes = 0;
  if (!this_thread_tls(&w.tls_lo, &bytes, why)) return false;
  if (!w.dyn_records) w.dyn_records = map_records(kMaxDynamicSmem);  // a reused slot keeps its records
  if (!w.tls_records) w.tls_records = map_records(bytes);
  if (!w.dyn_records || !w.tls_records) {
    *why = "cannot map the shared-memory records of the sanitizer";
    return false;
  }
  // widen the range the callbacks look up static shared memory in; no launch runs meanwhile
  StaticShared& g = g_static;
  const uintptr_t lo = g.count ? std::min(g.lo, w.tls_lo) : w.tls_lo;
  const uintptr_t hi = g.count ? std::max(g.lo + g.span, w.tls_lo + bytes) : w.tls_lo + bytes;
  g.workers[g.count] = &w;
  g.lo = lo;
  g.span = hi - lo;
  __atomic_store_n(&g.count, g.count + 1, __ATOMIC_RELEASE);
  return true;
}

void unregister_worker_shared(Worker& w) {
  StaticShared& g = g_static;
  for (unsigned i = 0; i < g.count; ++i) {
    if (g.workers[i] != &w) continue;
    g.workers[i] = g.workers[g.count - 1];
    __atomic_store_n(&g.count, g.count - 1, __ATOMIC_RELEASE);
    return;
  }
}

}  // namespace g4emu
