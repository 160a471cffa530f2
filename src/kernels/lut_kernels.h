// The interface between the ISA-independent library and the per-ISA LUT kernels.
//
// Kernels are compiled once per instruction set, each in its own translation unit with its own
// compiler flags. They see only the plain views below, never library classes, so no inline
// library code gets compiled with flags a CPU may lack.
#pragma once

#include <cstdint>

#include "tmac/isa.h"

namespace tmac::kernels {

// Activations per table: one 16-entry table covers 4 activations, and one index byte holds the
// nibbles of two consecutive chunks (a "chunk pair", 8 activations).
inline constexpr int kChunk = 4;
inline constexpr int kPair = 2 * kChunk;
inline constexpr int kTableEntries = 16;

// What a table entry holds and how a lookup pair is merged.
enum class LookupKind {
  kInt8,     // int8 entries; the two chunks of a pair are summed exactly in int16
  kInt8Avg,  // int8 entries stored +128 as uint8; a pair is merged by the rounding average
  kInt16,    // exact int16 entries as two byte planes (low byte plane, then high byte plane)
};

// A packed b-bit matrix (see LutMatrix and docs/kernels.md for the byte layout).
struct LutWeights {
  const uint8_t* data = nullptr;
  int64_t rows = 0;        // valid output rows; the last tile may be partly padding
  int64_t groups = 0;      // groups per row (K / group)
  int bits = 0;
  int group = 0;
  int tile_rows = 0;
  bool f16_scales = true;
  bool two_level = false;    // ScaleType::kTwoLevel: int8 factors times f16 super-scales
  int sub_groups = 1;        // groups per block: super_group / group with two_level, else 1
  bool has_bias = false;     // a value per row after the scales: the bias term, or
  bool bias_is_min = false;  // with this, the group's min: the term is scale * mid - min
  float bias_per_scale = 0;  // nothing stored and not 0: the term is scale * this
  bool quads = false;       // IndexOrder::kChunkQuads, else kChunkPairs
  int64_t header_bytes = 0;  // two_level: the f16 super-scales (and super-mins) opening a block
  int64_t index_bytes = 0;   // per (tile, group): (group / 8) * bits * tile_rows
  int64_t param_bytes = 0;   // the scales of a group (its biases take as many again)
  int64_t sub_bytes = 0;     // a group's index bytes, scales (and biases)
  int64_t block_bytes = 0;   // header_bytes + sub_groups * sub_bytes
  int64_t prefetch_bytes = 0;  // how far ahead of each weight load to prefetch (KernelTuning)
};

// Byte offset of chunk c's table. int8 tables are 16 bytes each, back to back. int16 tables come
// in blocks of four chunks, the four low-byte planes then the four high-byte planes, so both
// one chunk's plane (16 bytes) and four chunks' planes (64 bytes, for VPERMB) are single loads.
inline constexpr int kInt16TableBlock = 4;
constexpr int64_t TableOffset(LookupKind kind, int64_t c) {
  return kind == LookupKind::kInt16
             ? (c / kInt16TableBlock) * (2 * kInt16TableBlock * kTableEntries) + (c % kInt16TableBlock) * kTableEntries
             : c * kTableEntries;
}
// Offset from a chunk's low-byte plane to its high-byte plane (kInt16).
inline constexpr int kHighPlaneOffset = kInt16TableBlock * kTableEntries;

// Tables for one activation vector: table c covers activations [4c, 4c + 4).
struct LutTables {
  const uint8_t* lut = nullptr;   // at TableOffset(kind, c)
  const float* unit = nullptr;    // per group: the value of one unit of the integer sum
  const float* act_sum = nullptr; // per group: the sum of the activations
};

struct LutKernelSet {
  Isa isa;
  bool reads_quads;  // gemv_tiles accepts IndexOrder::kChunkQuads
  // Tables from fp32 activations (kInt8 or kInt8Avg); k is a multiple of `group`.
  void (*build_tables_f32)(const float* x, int64_t k, int group, LookupKind kind, uint8_t* lut,
                           float* unit, float* act_sum);
  // Exact int16 tables from int8 activations x ~= scale * q.
  void (*build_tables_i8)(const int8_t* q, float scale, int64_t k, int group, uint8_t* lut,
                          float* unit, float* act_sum);
  // y[r] for the rows of tiles [tile_begin, tile_end); y points at row 0.
  void (*gemv_tiles)(const LutWeights& w, const LutTables& t, LookupKind kind, int64_t tile_begin,
                     int64_t tile_end, float* y);
};

// Per-ISA entry points; each returns nullptr when this binary was built without that ISA.
const LutKernelSet* ScalarLutKernels();
const LutKernelSet* Avx2LutKernels();
const LutKernelSet* Avx512LutKernels();
const LutKernelSet* Avx512VnniLutKernels();
const LutKernelSet* NeonLutKernels();

// The kernels for `isa`; throws tmac::Error when it is not supported here.
const LutKernelSet& LutKernelsFor(Isa isa);

}  // namespace tmac::kernels
