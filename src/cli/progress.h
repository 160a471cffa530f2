// A progress bar on stderr for the commands that take a while (convert, bench, synth): on a
// terminal one line redrawn in place, otherwise (a log file, a pipe) one line per step, so that
// logs stay readable.
#pragma once

#include <cstddef>
#include <string_view>

namespace tmac::cli {

class Progress {
 public:
  // `total` steps make the bar full.
  explicit Progress(size_t total);
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;
  ~Progress() { Finish(); }

  // Counts one more step done and shows `what` after the bar: "[####....] 3/8 what".
  void Step(std::string_view what);
  // Ends the redrawn line, so that what is printed next starts on its own line; the destructor
  // does it when not called.
  void Finish();

 private:
  size_t total_;
  size_t done_ = 0;
  bool tty_;
  bool line_open_ = false;  // a redrawn line awaits its newline
};

}  // namespace tmac::cli
