// StrCat(a, b, ...): the arguments' text concatenated, for error messages and descriptions in the
// library (which, unlike the CLI, does not link fmt: the aarch64 sysroot has no fmt).
#pragma once

#include <sstream>
#include <string>

namespace tmac {

template <class... Args>
std::string StrCat(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}

}  // namespace tmac
