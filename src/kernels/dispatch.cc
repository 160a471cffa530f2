// Which kernels this binary has, which this CPU runs, and the choice among them.
#include <cstdlib>
#include <string>

#include "kernels/lut_kernels.h"
#include "tmac/error.h"
#include "tmac/isa.h"

namespace tmac {
namespace kernels {

// Builds for one architecture compile only its kernels; the others report absence.
#if !TMAC_HAVE_X86
const LutKernelSet* Avx2LutKernels() { return nullptr; }
const LutKernelSet* Avx512LutKernels() { return nullptr; }
const LutKernelSet* Avx512VnniLutKernels() { return nullptr; }
#endif
#if !TMAC_HAVE_NEON
const LutKernelSet* NeonLutKernels() { return nullptr; }
#endif

const LutKernelSet& LutKernelsFor(Isa isa) {
  Require(IsaSupported(isa), std::string("ISA ") + IsaName(isa) + " is not supported on this machine");
  switch (isa) {
    case Isa::kAvx2: return *Avx2LutKernels();
    case Isa::kAvx512: return *Avx512LutKernels();
    case Isa::kAvx512Vnni: return *Avx512VnniLutKernels();
    case Isa::kNeon: return *NeonLutKernels();
    case Isa::kScalar: break;
  }
  return *ScalarLutKernels();
}

}  // namespace kernels

const char* IsaName(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return "scalar";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512: return "avx512";
    case Isa::kAvx512Vnni: return "avx512vnni";
    case Isa::kNeon: return "neon";
  }
  return "unknown";
}

Isa ParseIsa(std::string_view name) {
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512, Isa::kAvx512Vnni, Isa::kNeon}) {
    if (name == IsaName(isa)) return isa;
  }
  throw Error("unknown ISA '" + std::string(name) + "' (expected scalar, avx2, avx512, avx512vnni or neon)");
}

bool IsaSupported(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return true;
#if TMAC_HAVE_X86
    case Isa::kAvx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
             __builtin_cpu_supports("f16c");
    case Isa::kAvx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl");
    case Isa::kAvx512Vnni:
      return IsaSupported(Isa::kAvx512) && __builtin_cpu_supports("avx512vbmi") &&
             __builtin_cpu_supports("avx512vnni");
#endif
#if TMAC_HAVE_NEON
    case Isa::kNeon: return true;  // Advanced SIMD is mandatory on AArch64
#endif
    default: return false;
  }
}

std::vector<Isa> SupportedIsas() {
  std::vector<Isa> isas;
  for (Isa isa : {Isa::kScalar, Isa::kNeon, Isa::kAvx2, Isa::kAvx512, Isa::kAvx512Vnni}) {
    if (IsaSupported(isa)) isas.push_back(isa);
  }
  return isas;
}

Isa DefaultIsa() {
  if (const char* forced = std::getenv("TMAC_ISA"); forced != nullptr && *forced != '\0') {
    const Isa isa = ParseIsa(forced);
    Require(IsaSupported(isa), std::string("TMAC_ISA=") + forced + " is not supported on this machine");
    return isa;
  }
  return SupportedIsas().back();
}

}  // namespace tmac
