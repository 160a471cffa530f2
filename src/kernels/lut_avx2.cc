// LUT kernels for AVX2 (compiled with -mavx2 -mfma -mf16c).
#define TMAC_ISA_NS avx2
#include "kernels/ops_avx2.h"
// The kernel body must come after its ops.
#include "kernels/lut_kernel-inl.h"

namespace tmac::kernels {

const LutKernelSet* Avx2LutKernels() { return &avx2::kKernelSet; }

}  // namespace tmac::kernels
