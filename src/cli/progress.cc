#include "cli/progress.h"

#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>

namespace tmac::cli {

Progress::Progress(size_t total) : total_(total), tty_(isatty(STDERR_FILENO) != 0) {}

void Progress::Step(std::string_view what) {
  constexpr size_t kWidth = 24;
  ++done_;
  const size_t filled = total_ > 0 ? std::min(done_, total_) * kWidth / total_ : kWidth;
  const std::string bar = std::string(filled, '#') + std::string(kWidth - filled, '.');
  fmt::print(stderr, "{}[{}] {:>3}/{} {}{}", tty_ ? "\r\033[K" : "", bar, done_, total_, what,
             tty_ ? "" : "\n");
  std::fflush(stderr);
  line_open_ = tty_;
}

void Progress::Finish() {
  if (line_open_) fmt::print(stderr, "\n");
  line_open_ = false;
}

}  // namespace tmac::cli
