// Instruction sets the kernels are built for, and the run-time choice among them.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tmac {

// kAvx512 needs AVX-512 F/BW/VL; kAvx512Vnni adds VBMI (VPERMB) and VNNI (VPDPBUSD).
enum class Isa { kScalar, kAvx2, kAvx512, kAvx512Vnni, kNeon };

const char* IsaName(Isa isa);
// Parses "scalar", "avx2", "avx512", "avx512vnni" or "neon"; throws tmac::Error otherwise.
Isa ParseIsa(std::string_view name);
// True when this binary has kernels for `isa` and this CPU can run them.
bool IsaSupported(Isa isa);
// Every supported ISA, the portable scalar path first and the best last.
std::vector<Isa> SupportedIsas();
// The ISA kernels use by default: the environment variable TMAC_ISA when set (an unknown or
// unsupported value is an error), else the best supported one.
Isa DefaultIsa();

}  // namespace tmac
