#include "gguf/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>

#include "tmac/error.h"

namespace tmac {

namespace {

std::filesystem::path DirectoryOf(const std::filesystem::path& path) {
  return path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
}

// Opens a new, uniquely named file next to `path`. The name starts with a dot so that a crash
// leaves nothing that looks like a model, and open() rather than mkstemp() gives it the usual
// permissions (0666 less the umask) instead of 0600.
int CreateTemporary(const std::filesystem::path& path, std::filesystem::path& temp_path) {
  std::random_device random;
  for (int attempt = 0; attempt < 100; ++attempt) {
    char suffix[16];
    std::snprintf(suffix, sizeof(suffix), ".tmp-%08x", static_cast<unsigned>(random()));
    temp_path = DirectoryOf(path) / ("." + path.filename().string() + suffix);
    const int fd = open(temp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0 || errno != EEXIST) return fd;
  }
  errno = EEXIST;
  return -1;
}

}  // namespace

AtomicFile::AtomicFile(std::filesystem::path path, bool overwrite)
    : path_(std::move(path)), overwrite_(overwrite) {
  // Checked here as well as by Commit's rename so that a refusal comes before any work.
  Require(overwrite_ || !std::filesystem::exists(path_),
          path_.string() + ": already exists; not overwriting it unless told to");
  fd_ = CreateTemporary(path_, temp_path_);
  if (fd_ < 0) Fail("cannot create a temporary file in its directory", errno);
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) close(fd_);
  if (!committed_) unlink(temp_path_.c_str());
}

void AtomicFile::Fail(const char* what, int error) const {
  throw Error(path_.string() + ": " + what + ": " + std::strerror(error));
}

void AtomicFile::Write(std::span<const uint8_t> bytes) {
  while (!bytes.empty()) {
    const ssize_t n = write(fd_, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) Fail("write failed", errno);
    bytes = bytes.subspan(static_cast<size_t>(n));
  }
}

void AtomicFile::WriteZeros(uint64_t count) {
  static constexpr uint8_t kZeros[4096] = {};
  while (count > 0) {
    const uint64_t n = std::min<uint64_t>(count, sizeof(kZeros));
    Write({kZeros, static_cast<size_t>(n)});
    count -= n;
  }
}

void AtomicFile::Commit() {
  if (fsync(fd_) != 0) Fail("sync failed", errno);
  const int fd = fd_;
  fd_ = -1;
  if (close(fd) != 0) Fail("close failed", errno);
  const int renamed =
      overwrite_ ? rename(temp_path_.c_str(), path_.c_str())
                 : renameat2(AT_FDCWD, temp_path_.c_str(), AT_FDCWD, path_.c_str(), RENAME_NOREPLACE);
  if (renamed != 0 && errno == EEXIST) {
    throw Error(path_.string() + ": already exists; not overwriting it unless told to");
  }
  if (renamed != 0) Fail("cannot rename the temporary file onto it", errno);
  committed_ = true;
  // Make the rename itself durable. Best effort: the file is complete and in place already.
  const int dir = open(DirectoryOf(path_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    fsync(dir);
    close(dir);
  }
}

}  // namespace tmac
