// ggml matrix product kernels for AVX-512 F/BW/VL/DQ (compiled with its own -m flags).
#define TMAC_ISA_NS avx512
#include "kernels/ggml_matmul_ops_x86.h"
// The kernel body must come after its ops.
#include "kernels/ggml_matmul_kernel-inl.h"

namespace tmac::kernels {

const GgmlKernelSet* Avx512GgmlKernels() { return &avx512::kGgmlKernelSet; }

}  // namespace tmac::kernels
