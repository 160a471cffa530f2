#include "runtime/aligned_buffer.h"

#include <sys/mman.h>

#include <cstdlib>
#include <cstring>
#include <new>

namespace tmac {

std::unique_ptr<uint8_t, void (*)(void*)> AllocateAligned(size_t bytes, bool huge_pages) {
  constexpr size_t kHugePage = size_t{2} << 20;
  const bool huge = huge_pages && bytes >= kHugePage;
  const size_t alignment = huge ? kHugePage : 64;
  const size_t rounded = (bytes + alignment - 1) / alignment * alignment;
  void* p = std::aligned_alloc(alignment, rounded == 0 ? alignment : rounded);
  if (p == nullptr) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
  if (huge) madvise(p, rounded, MADV_HUGEPAGE);  // advisory: failure only costs speed
#endif
  std::memset(p, 0, rounded == 0 ? alignment : rounded);
  return {static_cast<uint8_t*>(p), &std::free};
}

std::unique_ptr<uint8_t, void (*)(void*)> CopyAligned(const uint8_t* data, size_t bytes, bool huge_pages) {
  auto out = AllocateAligned(bytes, huge_pages);
  if (bytes > 0) std::memcpy(out.get(), data, bytes);
  return out;
}

}  // namespace tmac
