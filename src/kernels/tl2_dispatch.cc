// Which ternary (TL2) kernels this binary has, and the choice among them (as dispatch.cc does for
// the bit-plane kernels; which ISAs a CPU runs is decided there, by IsaSupported).
#include <string>

#include "kernels/tl2_kernels.h"
#include "tmac/error.h"
#include "tmac/isa.h"

namespace tmac::kernels {

// Builds for one architecture compile only its kernels; the others report absence.
#if !TMAC_HAVE_X86
const Tl2KernelSet* Avx2Tl2Kernels() { return nullptr; }
const Tl2KernelSet* Avx512Tl2Kernels() { return nullptr; }
#endif
#if !TMAC_HAVE_NEON
const Tl2KernelSet* NeonTl2Kernels() { return nullptr; }
#endif

const Tl2KernelSet& Tl2KernelsFor(Isa isa) {
  Require(IsaSupported(isa), std::string("ISA ") + IsaName(isa) + " is not supported on this machine");
  switch (isa) {
    case Isa::kAvx2: return *Avx2Tl2Kernels();
    case Isa::kAvx512:
    case Isa::kAvx512Vnni: return *Avx512Tl2Kernels();
    case Isa::kNeon: return *NeonTl2Kernels();
    case Isa::kScalar: break;
  }
  return *ScalarTl2Kernels();
}

}  // namespace tmac::kernels
