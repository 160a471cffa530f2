#include "cli/machine_info.h"

#include <fmt/chrono.h>
#include <fmt/core.h>

#include <ctime>
#include <fstream>

namespace tmac::cli {

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    // x86 names the CPU "model name"; some ARM kernels only give "Hardware" or nothing.
    for (const char* key : {"model name", "Hardware"}) {
      if (line.rfind(key, 0) == 0) {
        const size_t colon = line.find(':');
        if (colon != std::string::npos) return line.substr(line.find_first_not_of(" \t", colon + 1));
      }
    }
  }
  return "unknown";
}

std::string UtcNow() { return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", fmt::gmtime(std::time(nullptr))); }

double LoadAverage() {
  std::ifstream in("/proc/loadavg");
  double load = -1;
  in >> load;
  return in ? load : -1;
}

}  // namespace tmac::cli
