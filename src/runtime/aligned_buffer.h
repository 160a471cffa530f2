// Aligned heap memory for packed weights and tables.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace tmac {

// `bytes` zeroed bytes aligned to 64; with huge_pages, large buffers are 2 MiB aligned and
// advised for transparent huge pages (the system's THP mode here is `madvise`): streaming
// weights from DRAM needs them to avoid TLB misses. Throws std::bad_alloc on failure.
std::unique_ptr<uint8_t, void (*)(void*)> AllocateAligned(size_t bytes, bool huge_pages = false);

// A new buffer as AllocateAligned makes it, holding a copy of data[0, bytes).
std::unique_ptr<uint8_t, void (*)(void*)> CopyAligned(const uint8_t* data, size_t bytes, bool huge_pages = false);

}  // namespace tmac
