// Ternary (TL2) kernels for the portable path, plain C++ on 16-byte vectors.
#define TMAC_ISA_NS scalar
#include "kernels/ops_scalar.h"
// The kernel body must come after its ops.
#include "kernels/tl2_kernel-inl.h"

namespace tmac::kernels {

const Tl2KernelSet* ScalarTl2Kernels() { return &scalar::tl2::kKernelSet; }

}  // namespace tmac::kernels
