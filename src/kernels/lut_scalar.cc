// LUT kernels for the portable path, plain C++ on 16-byte vectors.
#define TMAC_ISA_NS scalar
#include "kernels/ops_scalar.h"
// The kernel body must come after its ops.
#include "kernels/lut_kernel-inl.h"

namespace tmac::kernels {

const LutKernelSet* ScalarLutKernels() { return &scalar::kKernelSet; }

}  // namespace tmac::kernels
