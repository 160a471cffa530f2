// Ternary (TL2) kernels for ARM NEON (AArch64).
#define TMAC_ISA_NS neon
#include "kernels/ops_neon.h"
// The kernel body must come after its ops.
#include "kernels/tl2_kernel-inl.h"

namespace tmac::kernels {

const Tl2KernelSet* NeonTl2Kernels() { return &neon::tl2::kKernelSet; }

}  // namespace tmac::kernels
