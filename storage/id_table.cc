#include "storage/id_table.h"

#include <sys/mman.h>

#include <cstdlib>

namespace stoker {

namespace {
constexpr size_t kHugePage = size_t{2} << 20;
}  // namespace

void* id_table_alloc(size_t bytes) {
  if (bytes < kHugePage) return std::calloc(1, bytes);
  // Over-allocate by a huge page and cut what lies outside the aligned range.
  const size_t len = bytes + kHugePage;
  void* m = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return nullptr;
  const auto start = reinterpret_cast<uintptr_t>(m);
  const uintptr_t aligned = (start + kHugePage - 1) & ~(uintptr_t{kHugePage} - 1);
  if (aligned > start) ::munmap(m, aligned - start);
  const uintptr_t end = start + len;
  if (end > aligned + bytes) ::munmap(reinterpret_cast<void*>(aligned + bytes), end - aligned - bytes);
  void* p = reinterpret_cast<void*>(aligned);
  ::madvise(p, bytes, MADV_HUGEPAGE);  // best effort: THP may be off
  return p;
}

void id_table_free(void* p, size_t bytes) {
  if (bytes < kHugePage) {
    std::free(p);
  } else {
    ::munmap(p, bytes);
  }
}

}  // namespace stoker
