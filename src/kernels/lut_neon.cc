// LUT kernels for ARM NEON (AArch64).
#define TMAC_ISA_NS neon
#include "kernels/ops_neon.h"
// The kernel body must come after its ops.
#include "kernels/lut_kernel-inl.h"

namespace tmac::kernels {

const LutKernelSet* NeonLutKernels() { return &neon::kKernelSet; }

}  // namespace tmac::kernels
