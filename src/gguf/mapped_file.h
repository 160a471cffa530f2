// A whole file mapped read-only into memory, unmapped on destruction.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>

namespace tmac {

class MappedFile {
 public:
  // Maps the regular file at `path`; throws tmac::Error naming the path and the system's reason.
  explicit MappedFile(const std::filesystem::path& path);
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  std::span<const uint8_t> bytes() const { return {data_, size_}; }
  // Drops the whole pages inside `range` (a part of bytes()) from the resident set
  // (madvise MADV_DONTNEED: the mapping is private and read-only, so they are re-read on access).
  void ReleasePages(std::span<const uint8_t> range) const;

 private:
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace tmac
