// Writing a file all or nothing: the bytes go to a temporary file in the destination's directory,
// which is synced and renamed onto the destination only when complete, and removed otherwise.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>

namespace tmac {

class AtomicFile {
 public:
  // Creates the temporary file. Throws tmac::Error when `path` exists, unless `overwrite`.
  AtomicFile(std::filesystem::path path, bool overwrite);
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  // Removes the temporary file unless Commit succeeded, e.g. when an exception unwinds.
  ~AtomicFile();

  void Write(std::span<const uint8_t> bytes);
  void WriteZeros(uint64_t count);
  // Syncs the data and renames the temporary file to the destination; without `overwrite` the
  // rename fails, rather than replace a file that appeared since the constructor checked.
  void Commit();

 private:
  [[noreturn]] void Fail(const char* what, int error) const;

  std::filesystem::path path_;
  std::filesystem::path temp_path_;
  bool overwrite_;
  int fd_ = -1;
  bool committed_ = false;
};

}  // namespace tmac
