// ggml matrix product kernels for AVX-512 plus VNNI: Q8_0 block sums with VPDPBUSD.
#define TMAC_ISA_NS avx512vnni
#include "kernels/ggml_matmul_ops_x86.h"
// The kernel body must come after its ops.
#include "kernels/ggml_matmul_kernel-inl.h"

namespace tmac::kernels {

const GgmlKernelSet* Avx512VnniGgmlKernels() { return &avx512vnni::kGgmlKernelSet; }

}  // namespace tmac::kernels
