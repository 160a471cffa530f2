// The interface between the ISA-independent library and the per-ISA ternary (TL2) kernels.
//
// Like lut_kernels.h: kernels are compiled once per instruction set and see only the plain views
// below. The layout they read is drawn in include/tmac/ternary.h and docs/kernels.md; every size
// in it is computed once, by the library (formats/tl2_view.h), and handed over here.
#pragma once

#include <cstdint>

#include "tmac/isa.h"

namespace tmac::kernels {

// A chunk is 3 weights ("triple", index |9 w0 + 3 w1 + w2| in 0..13 plus a sign bit) or, once
// per group, the 2-weight fallback (index 3 w0 + w1 + 4 in 0..8, never negated). Index bytes
// hold two chunks (low nibble, high nibble); a sign byte holds the signs of 8 chunks, i.e. of
// 4 index bytes.
inline constexpr int kTl2TripleWeights = 3;
inline constexpr int kTl2PairsPerSignByte = 4;
inline constexpr int kTl2TableEntries = 16;

// kTl2TripleDigits[i] = (w0, w1, w2) in {-1, 0, 1} with 9 w0 + 3 w1 + w2 = i (balanced ternary):
// the weights a triple index stands for before its sign is applied.
inline constexpr int8_t kTl2TripleDigits[14][3] = {
    {0, 0, 0},  {0, 0, 1},  {0, 1, -1}, {0, 1, 0}, {0, 1, 1},  {1, -1, -1}, {1, -1, 0},
    {1, -1, 1}, {1, 0, -1}, {1, 0, 0},  {1, 0, 1}, {1, 1, -1}, {1, 1, 0},   {1, 1, 1},
};

// What a table entry holds.
enum class Tl2Lookup {
  kInt8,   // int8 entries with one scale per group (fp32 activations): lossy, bounded
  kInt16,  // exact entries e = l + 127 h as two int8 planes, low l in [-63, 63] then high h
           // in [-3, 3]: both, and sums of two of them, negate exactly in int8
};

// A packed ternary matrix. Per (tile, group) block, for R = tile_rows:
//   `pairs` index rows and ceil(pairs / 4) sign rows of R bytes each, every sign row just
//   before the (up to) 4 index rows it covers, then R f16 scales.
struct Tl2Weights {
  const uint8_t* data = nullptr;
  int64_t rows = 0;    // valid output rows; the last tile may be partly padding
  int64_t groups = 0;  // groups per row (K / group)
  int group = 0;
  int triples = 0;  // triples per group: group / 3; the fallback chunk follows them
  int pairs = 0;    // index bytes per row and group: ceil((triples + 1) / 2)
  int tile_rows = 0;
  int64_t index_bytes = 0;  // per block: index and sign rows
  int64_t block_bytes = 0;  // index_bytes plus the scales
  int64_t prefetch_bytes = 0;  // how far ahead of each weight load to prefetch (KernelTuning)
};

// Tables for one activation vector: per group, 2 * pairs tables of 16 entries (32 bytes for
// kInt16, low plane first) in chunk order: triples, the fallback, a zero table when the chunk
// count is odd.
struct Tl2Tables {
  const uint8_t* lut = nullptr;
  const float* unit = nullptr;  // per group: the value of one unit of the integer sum
};

struct Tl2KernelSet {
  Isa isa;
  // kInt8 tables from fp32 activations x[0, groups * group).
  void (*build_tables_f32)(const Tl2Weights& w, const float* x, uint8_t* lut, float* unit);
  // Exact kInt16 tables from int8 activations x ~= scale * q.
  void (*build_tables_i8)(const Tl2Weights& w, const int8_t* q, float scale, uint8_t* lut, float* unit);
  // y[r] for the rows of tiles [tile_begin, tile_end); y points at row 0.
  void (*gemv_tiles)(const Tl2Weights& w, const Tl2Tables& t, Tl2Lookup kind, int64_t tile_begin,
                     int64_t tile_end, float* y);
};

// Per-ISA entry points; each returns nullptr when this binary was built without that ISA.
const Tl2KernelSet* ScalarTl2Kernels();
const Tl2KernelSet* Avx2Tl2Kernels();
const Tl2KernelSet* Avx512Tl2Kernels();
const Tl2KernelSet* NeonTl2Kernels();

// The kernels for `isa`; throws tmac::Error when it is not supported here.
const Tl2KernelSet& Tl2KernelsFor(Isa isa);

}  // namespace tmac::kernels
