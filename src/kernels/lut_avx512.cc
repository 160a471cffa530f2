// LUT kernels for AVX-512 F/BW/VL (compiled with its own -m flags).
#define TMAC_ISA_NS avx512
#include "kernels/ops_avx512.h"
// The kernel body must come after its ops.
#include "kernels/lut_kernel-inl.h"

namespace tmac::kernels {

const LutKernelSet* Avx512LutKernels() { return &avx512::kKernelSet; }

}  // namespace tmac::kernels
