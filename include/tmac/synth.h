// Synthetic models: GGUF files with random weights at the shapes of real models (Llama 2 7B,
// Llama 3 8B, BitNet b1.58 3B and 2B4T, and tiny ones for tests), which llama.cpp loads and runs,
// for measuring speed and file size at real sizes without the real weights (`tmac synth`).
//
// A file is what llama.cpp's converter would write for the architecture:
//   - metadata: the hyperparameters, general.file_type, and every tokenizer.* entry of a vocab
//     GGUF, its token list padded with unused placeholder tokens up to the shape's vocabulary;
//   - token_embd, the blk.N matmul weights and output (BitNet ties it to token_embd) with random
//     codes (tmac/ggml_random.h) whose decoded weights have standard deviation 1/sqrt(row
//     length); norm weights are F32 ones.
// Tensors are made while the file is written, a few megabytes at a time, so memory stays small
// whatever the model's size, and the file appears only when complete (GgufWriter).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string_view>

#include "tmac/ggml_types.h"
#include "tmac/gguf.h"

namespace tmac {

class ThreadPool;

struct ModelShape {
  std::string_view name;
  std::string_view arch;  // general.architecture
  int64_t n_embd, n_ff, n_layer, n_head, n_head_kv;
  int64_t n_vocab;  // 0: as many tokens as the vocab file has
  uint32_t n_ctx;
  float rope_base;
  // BitNet b1.58: RMS norms before attn_output and ffn_down (attn_sub_norm, ffn_sub_norm), and
  // the logits come from token_embd (no output.weight).
  bool bitnet;
  std::string_view vocab_file;  // the vocab GGUF it is meant for, from llama.cpp's test vocabularies
  std::string_view padded;      // the shape's variant whose rows fit 256-weight blocks, if any
};

// Every shape; the names are unique.
std::span<const ModelShape> ModelShapes();
// The shape called `name`; throws tmac::Error listing the names when there is none.
const ModelShape& FindModelShape(std::string_view name);

struct SynthOptions {
  const ModelShape* shape = nullptr;
  GgmlType type = GgmlType::kQ4_0;       // the blk.N matmul weights
  GgmlType embd_type = GgmlType::kQ8_0;  // token_embd
  // output.weight; default Q8_0. Not for BitNet shapes, which have none.
  std::optional<GgmlType> output_type;
  uint64_t seed = 1;           // the same seed gives the same file
  ThreadPool* pool = nullptr;  // makes the weights; null: the calling thread alone
  // Called as each tensor's turn to be made comes (index from 0, of count, and a description
  // "name TYPE K x rows"); it may throw to stop, and the file is then not written.
  std::function<void(size_t index, size_t count, std::string_view what)> on_tensor;
};

struct SynthSummary {
  size_t tensors = 0;
  int64_t n_vocab = 0;
  uint64_t weights = 0;
  uint64_t bytes = 0;  // of tensor data
};

// Writes the model to `out` with the tokenizer of `vocab` (a GGUF file with tokenizer.* metadata).
// Throws tmac::Error, before anything is written, for a type RandomGgmlRows does not make, one
// whose blocks do not divide the shape's rows (naming the padded shape when there is one), an
// output type for a BitNet shape, or a vocab with more tokens than the shape; and as
// GgufWriter::Write for the file itself.
SynthSummary WriteSynthModel(const SynthOptions& options, const GgufFile& vocab,
                             const std::filesystem::path& out, bool overwrite);

}  // namespace tmac
