// What a benchmark records about the machine and the moment it ran, so that its numbers can be
// read later: the CPU, the date, and how busy the machine was.
#pragma once

#include <string>

namespace tmac::cli {

// The CPU's model name from /proc/cpuinfo, "unknown" where it has none.
std::string CpuModel();

// The current time in UTC, ISO 8601 (2026-11-22T06:30:29Z).
std::string UtcNow();

// The 1-minute load average: other processes on the benchmark's cores skew every number, so it
// is recorded with the results and warned about up front. -1 where /proc/loadavg is missing.
double LoadAverage();

}  // namespace tmac::cli
