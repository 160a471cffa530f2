// A memory read-bandwidth probe: the roofline every GEMV benchmark is measured against.
//
// Decode reads each weight once per token, so a GEMV can go no faster than the weights stream in
// from DRAM. The probe streams the way a good kernel should (huge pages, software prefetch ahead
// of the loads), so its number is what this machine can actually deliver, not a datasheet figure.
#pragma once

#include <cstddef>

namespace tmac {

// Reads `bytes_per_thread` bytes on each of `threads` threads, every thread its own region of
// one huge-page buffer, `repetitions` times after a warm-up pass, and returns the median
// aggregate rate in GB/s (1e9 bytes/s). To measure DRAM rather than cache, the total must be far
// larger than the last-level cache (hundreds of MiB). Throws tmac::Error on threads < 1,
// bytes_per_thread < 64 or repetitions < 1.
double MeasureReadBandwidth(int threads, size_t bytes_per_thread, int repetitions = 7);

}  // namespace tmac
