// Random llama.cpp tensors: rows of ggml blocks with uniformly random codes, for synthetic models
// at real shapes (`tmac synth`), whose speed and file size are those of a real model of the type.
//
// Codes are uniform over their range (ternary types: -1, 0 and +1 a third each); the block
// scales are set so that the decoded weights have mean about 0 and standard deviation about
// `std`, with each block's scale varied by up to +-25% and the K-quants' sub-block scales drawn
// from the upper half of their range, so that every field of the format carries information.
// Float types (F32, F16, BF16) hold uniform values of that standard deviation.
#pragma once

#include <cstdint>

#include "tmac/ggml_types.h"

namespace tmac {

// Writes rows first_row .. first_row + rows - 1 of a random tensor of `type` with rows of k
// weights: GgmlRowBytes(type, k) bytes per row, at `out`. A row's bytes depend only on (type, k,
// std, seed) and its index, so a tensor may be made in pieces, in any order, on any thread.
// Throws tmac::Error for a type DecodeRow does not read, or k not a positive multiple of its
// block size.
void RandomGgmlRows(GgmlType type, int64_t k, float std, uint64_t seed, int64_t first_row, int64_t rows,
                    uint8_t* out);

}  // namespace tmac
