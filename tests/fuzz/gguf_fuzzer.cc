// libFuzzer target for the GGUF parser: on any bytes, GgufFile::Parse either throws tmac::Error or
// returns a file whose every tensor lies inside the input, at the size its shape and type give,
// and whose lookups find what it lists. ASan and UBSan catch out-of-bounds reads and undefined
// behaviour, libFuzzer's -rss_limit_mb/-malloc_limit_mb allocations a count made too big, and its
// -timeout hangs. scripts/fuzz.sh builds and runs it.
#include <cstddef>
#include <cstdint>
#include <span>

#include "tmac/error.h"
#include "tmac/gguf.h"

namespace {

void Check(bool condition) {
  if (!condition) __builtin_trap();
}

void CheckConsistent(const tmac::GgufFile& file, std::span<const uint8_t> input) {
  Check(file.data_offset() % file.alignment() == 0);
  for (const tmac::GgufKeyValue& kv : file.metadata()) Check(file.FindValue(kv.key) == &kv.value);
  for (const tmac::GgufTensor& t : file.tensors()) {
    Check(file.FindTensor(t.name) == &t);
    Check(t.data.data() >= input.data() && t.data.data() + t.data.size() <= input.data() + input.size());
    Check(static_cast<uint64_t>(tmac::GgmlTensorBytes(t.shape, t.type)) == t.data.size());
    Check(t.offset % file.alignment() == 0);
    Check(t.elements() > 0);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> input(data, size);
  try {
    CheckConsistent(tmac::GgufFile::Parse(input, "fuzz"), input);
  } catch (const tmac::Error&) {
    // Rejected with a message: the outcome expected for most inputs.
  }
  return 0;
}
