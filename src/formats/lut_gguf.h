// Packed tmac matrices as GGUF tensors (docs/format.md): what `tmac convert` writes and a loader
// reads back.
//
// A packed matrix is stored as a tensor of a tmac-private type (kLutGgufType for LutMatrix,
// kTl2GgufType for Tl2Matrix; ids 1000 and 1001, far above llama.cpp's) whose data are the
// packed bytes exactly as data() returns them. Those types have block size 1 and type size 1,
// so the tensor's GGUF shape is {byte count}; the logical shape and the layout parameters are
// metadata keys "tmac.tensor.<name>.<field>", and "tmac.format_version" marks the file.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tmac/ggml_types.h"
#include "tmac/gguf.h"
#include "tmac/lut.h"
#include "tmac/ternary.h"

namespace tmac {

inline constexpr GgmlType kLutGgufType = GgmlType::kTmacLut;  // id 1000
inline constexpr GgmlType kTl2GgufType = GgmlType::kTmacTl2;  // id 1001
inline constexpr uint32_t kTmacFormatVersion = 1;
inline constexpr std::string_view kTmacFormatVersionKey = "tmac.format_version";

// "tmac.tensor.<tensor>.<field>".
std::string TmacTensorKey(std::string_view tensor, std::string_view field);

// Whether `type` is one of the private packed-matrix types.
bool IsPackedGgufType(GgmlType type);

// Adds `w` as tensor `name` with its metadata keys. The writer keeps a view of w's bytes: w must
// outlive writer.Write. The caller adds kTmacFormatVersionKey once per file.
void AddLutTensor(GgufWriter& writer, const std::string& name, const LutMatrix& w);
void AddTl2Tensor(GgufWriter& writer, const std::string& name, const Tl2Matrix& w);

// The logical shape {cols, rows} (ggml order) of a packed tensor of `file`.
std::vector<int64_t> PackedLogicalShape(const GgufFile& file, const GgufTensor& tensor);

// The matrices back, copied out of the file. Throw tmac::Error naming the tensor when it has
// another type, its metadata is missing or inconsistent, or the file's format version is not one
// this build reads.
LutMatrix ReadLutTensor(const GgufFile& file, const GgufTensor& tensor);
Tl2Matrix ReadTl2Tensor(const GgufFile& file, const GgufTensor& tensor);

}  // namespace tmac
