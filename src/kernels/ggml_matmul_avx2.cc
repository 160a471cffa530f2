// ggml matrix product kernels for AVX2 (compiled with -mavx2 -mfma -mf16c).
#define TMAC_ISA_NS avx2
#include "kernels/ggml_matmul_ops_x86.h"
// The kernel body must come after its ops.
#include "kernels/ggml_matmul_kernel-inl.h"

namespace tmac::kernels {

const GgmlKernelSet* Avx2GgmlKernels() { return &avx2::kGgmlKernelSet; }

}  // namespace tmac::kernels
