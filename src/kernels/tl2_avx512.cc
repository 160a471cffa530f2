// Ternary (TL2) kernels for AVX-512 F/BW/VL (compiled with the flags of lut_avx512.cc).
#define TMAC_ISA_NS avx512
#include "kernels/ops_avx512.h"
// The kernel body must come after its ops.
#include "kernels/tl2_kernel-inl.h"

namespace tmac::kernels {

const Tl2KernelSet* Avx512Tl2Kernels() { return &avx512::tl2::kKernelSet; }

}  // namespace tmac::kernels
