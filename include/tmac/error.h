// Error type used across libtmac: every rejected input raises tmac::Error with a
// message that names the problem; the CLI turns it into a non-zero exit.
#pragma once

#include <stdexcept>
#include <string>

namespace tmac {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Throws tmac::Error(message) unless `condition` holds.
inline void Require(bool condition, const std::string& message) {
  if (!condition) throw Error(message);
}

}  // namespace tmac
