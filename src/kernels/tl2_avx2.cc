// Ternary (TL2) kernels for AVX2 (compiled with the flags of lut_avx2.cc).
#define TMAC_ISA_NS avx2
#include "kernels/ops_avx2.h"
// The kernel body must come after its ops.
#include "kernels/tl2_kernel-inl.h"

namespace tmac::kernels {

const Tl2KernelSet* Avx2Tl2Kernels() { return &avx2::tl2::kKernelSet; }

}  // namespace tmac::kernels
