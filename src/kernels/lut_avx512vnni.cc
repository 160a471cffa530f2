// LUT kernels for AVX-512 F/BW/VL plus VBMI and VNNI (the same ops, with the kChunkQuads
// ones enabled by the extra flags).
#define TMAC_ISA_NS avx512vnni
#include "kernels/ops_avx512.h"
// The kernel body must come after its ops.
#include "kernels/lut_kernel-inl.h"

namespace tmac::kernels {

const LutKernelSet* Avx512VnniLutKernels() { return &avx512vnni::kKernelSet; }

}  // namespace tmac::kernels
