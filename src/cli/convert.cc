// `tmac convert IN OUT --bits B`: a llama.cpp GGUF model to one whose matmul weights are packed
// for tmac's kernels (docs/format.md). Which tensors convert, and how:
//   - a tensor converts when it is 2-D, its name is "blk.<...>.weight" and holds no "norm": the
//     per-layer matmul weights. token_embd, output, norms and anything else keep their bytes.
//   - a source type that RepackGgml reads at the requested width (Q4_0/Q4_1/Q4_K for 4, Q3_K for
//     3, Q2_K for 2, TQ1_0/TQ2_0 for t) is repacked losslessly, with its own group and f32 scales.
//   - anything else DecodeRow reads is decoded to float and requantized: QuantizeMse, asymmetric,
//     at --bits and the largest supported group <= --group that divides K (t: ternary absmean).
//   - a tensor no supported group divides, or of a type DecodeRow does not read, is kept (a note
//     on stderr says so).
// Packed with DefaultLutLayout(bits, group, Isa::kScalar) (chunk pairs: every ISA reads them), or
// as TL2 for --bits t --ternary-pack 1.67.
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cli/commands.h"
#include "cli/progress.h"
#include "formats/lut_gguf.h"
#include "tmac/error.h"
#include "tmac/ggml_repack.h"
#include "tmac/ggml_types.h"
#include "tmac/gguf.h"
#include "tmac/lut.h"
#include "tmac/quant.h"
#include "tmac/requantize.h"
#include "tmac/ternary.h"
#include "tmac/thread_pool.h"

namespace tmac::cli {

namespace {

struct ConvertOptions {
  std::string in, out;
  std::string bits;
  int group = 128;
  std::string ternary_pack = "2";
  int threads = 0;  // 0: one per CPU
  bool force = false;
};

bool IsMatmulWeight(const GgufTensor& t) {
  const std::string& n = t.name;
  return t.shape.size() == 2 && n.starts_with("blk.") && n.ends_with(".weight") &&
         n.find("norm") == std::string::npos;
}

// Whether RepackGgml reads `type` losslessly at the requested width (0 = ternary).
bool RepackMatches(GgmlType type, int bits) {
  switch (type) {
    case GgmlType::kQ4_0:
    case GgmlType::kQ4_1:
    case GgmlType::kQ4_K: return bits == 4;
    case GgmlType::kQ3_K: return bits == 3;
    case GgmlType::kQ2_K: return bits == 2;
    case GgmlType::kTQ1_0:
    case GgmlType::kTQ2_0: return bits == 0;
    default: return false;
  }
}

// The largest supported group <= `requested` (and >= `min_group`) that divides k, or 0.
int ChooseGroup(int64_t k, int requested, int min_group) {
  for (int g = requested; g >= min_group; g /= 2) {
    if (IsSupportedGroup(g) && k % g == 0) return g;
  }
  return 0;
}

bool IsTernary(const QuantMatrix& q) {
  if (q.bits != 2 || q.zeros.empty()) return false;
  for (const float z : q.zeros) {
    if (z != 1.f) return false;
  }
  for (const uint8_t c : q.codes) {
    if (c > 2) return false;
  }
  return true;
}

void Convert(const ConvertOptions& o) {
  // Arguments first, so that a mistake costs no work.
  int bits = 0;  // 0: ternary
  if (o.bits == "t") {
    bits = 0;
  } else if (o.bits == "1" || o.bits == "2" || o.bits == "3" || o.bits == "4") {
    bits = o.bits[0] - '0';
  } else {
    throw Error("--bits " + o.bits + ": expected 1, 2, 3, 4 or t (ternary)");
  }
  Require(o.ternary_pack == "2" || o.ternary_pack == "1.67",
          "--ternary-pack " + o.ternary_pack + ": expected 2 (LUT, 2 bits per weight) or 1.67 (TL2)");
  const bool tl2 = bits == 0 && o.ternary_pack == "1.67";
  Require(o.ternary_pack == "2" || bits == 0, "--ternary-pack applies to --bits t only");
  const int min_group = tl2 ? 32 : 16;
  Require(IsSupportedGroup(o.group) && o.group >= min_group,
          "--group " + std::to_string(o.group) + ": expected " + (tl2 ? "" : "16, ") + "32, 64, 128 or 256");
  std::error_code ec;
  Require(std::filesystem::exists(o.in, ec), o.in + ": no such file");
  Require(o.force || !std::filesystem::exists(o.out, ec), o.out + " exists; pass --force to overwrite it");

  const GgufFile in = GgufFile::Open(o.in);
  Require(in.FindValue(kTmacFormatVersionKey) == nullptr, o.in + " is already a tmac-converted file");

  GgufWriter writer;
  for (const GgufKeyValue& kv : in.metadata()) writer.Add(kv.key, kv.value);
  writer.Add(std::string(kTmacFormatVersionKey), kTmacFormatVersion);

  std::deque<LutMatrix> luts;  // packed bytes the writer points at, alive until Write
  std::deque<Tl2Matrix> tl2s;
  ThreadPool pool(o.threads > 0 ? o.threads : std::max(1, static_cast<int>(std::thread::hardware_concurrency())));
  Progress progress(in.tensors().size());
  size_t converted = 0, repacked = 0, kept = 0;
  uint64_t bytes_in = 0, bytes_out = 0;
  std::map<std::string, std::vector<std::string>> notes;  // what happened -> the tensors it happened to
  for (const GgufTensor& t : in.tensors()) {
    bytes_in += t.data.size();
    std::optional<std::string> keep_reason;
    if (!IsMatmulWeight(t)) keep_reason = "";
    const int64_t k = t.shape[0], m = t.shape.size() == 2 ? t.shape[1] : 0;
    const bool repack = !keep_reason && RepackMatches(t.type, bits);
    int group = 0;
    if (!keep_reason && !repack) {
      group = ChooseGroup(k, o.group, min_group);
      if (!IsDecodable(t.type)) {
        keep_reason = GgmlTypeName(t.type) + " cannot be decoded";
      } else if (group == 0) {
        keep_reason =
            "no supported group <= " + std::to_string(o.group) + " divides K = " + std::to_string(k);
      } else if (group != o.group) {
        notes["group " + std::to_string(group) + ", the largest supported group <= " +
              std::to_string(o.group) + " dividing K = " + std::to_string(k)]
            .push_back(t.name);
      }
    }
    if (keep_reason) {
      if (!keep_reason->empty())
        notes["kept as " + GgmlTypeName(t.type) + ": " + *keep_reason].push_back(t.name);
      writer.AddTensor(t.name, t.shape, t.type, t.data);
      bytes_out += t.data.size();
      ++kept;
      progress.Step(fmt::format("{}: kept {} ({} bytes)", t.name, GgmlTypeName(t.type), t.data.size()));
      continue;
    }

    QuantMatrix q;
    bool lossless = repack;
    if (repack) q = RepackGgml(t.type, t.data.data(), m, k);
    if (repack && tl2 && !IsTernary(q)) lossless = false;  // TQ2_0's code 3 has no TL2 form
    if (!lossless) {
      if (group == 0) group = ChooseGroup(k, o.group, min_group);
      Require(group != 0, t.name + ": no supported group divides K = " + std::to_string(k));
      std::vector<float> w(static_cast<size_t>(m * k));
      const int64_t row_bytes = GgmlRowBytes(t.type, k);
      for (int64_t r = 0; r < m; ++r) DecodeRow(t.type, t.data.data() + r * row_bytes, k, w.data() + r * k);
      q = bits == 0 ? QuantizeTernaryAbsmean(w.data(), m, k, group)
                    : QuantizeMse(w.data(), m, k, bits, group, /*symmetric=*/false, &pool);
    }
    const std::string what = lossless ? "repacked" : "requantized";
    uint64_t packed_bytes = 0;
    if (tl2) {
      tl2s.push_back(Tl2Matrix::Pack(q));
      AddTl2Tensor(writer, t.name, tl2s.back());
      packed_bytes = static_cast<uint64_t>(tl2s.back().bytes());
    } else {
      LutLayout layout = DefaultLutLayout(q.bits, q.group, Isa::kScalar);
      if (lossless) layout = WithLosslessScales(layout, q);  // the decoders' scales, exactly
      luts.push_back(LutMatrix::Pack(q, layout));
      AddLutTensor(writer, t.name, luts.back());
      packed_bytes = static_cast<uint64_t>(luts.back().bytes());
    }
    writer.Add(TmacTensorKey(t.name, "source_type"), GgmlTypeName(t.type));
    writer.Add(TmacTensorKey(t.name, "lossless"), lossless);
    bytes_out += packed_bytes;
    ++(lossless ? repacked : converted);
    progress.Step(fmt::format("{}: {} {} -> {} g{} ({} -> {} bytes)", t.name, what, GgmlTypeName(t.type),
                              tl2 ? "TL2" : (bits == 0 ? "ternary LUT" : "LUT" + std::to_string(q.bits)),
                              q.group, t.data.size(), packed_bytes));
  }
  progress.Finish();
  for (const auto& [note, names] : notes) {
    fmt::print(stderr, "note: {}: {}{}\n", note, names.front(),
               names.size() > 1 ? fmt::format(" and {} more", names.size() - 1) : "");
  }

  writer.Write(o.out, o.force);
  fmt::print("{}: {} tensors: {} requantized, {} repacked losslessly, {} kept; {} -> {} bytes\n", o.out,
             in.tensors().size(), converted, repacked, kept, bytes_in, bytes_out);
}

}  // namespace

void RegisterConvert(CLI::App& app) {
  auto o = std::make_shared<ConvertOptions>();
  CLI::App* cmd = app.add_subcommand("convert", "Pack a GGUF model's matmul weights for tmac's kernels");
  cmd->add_option("IN", o->in, "Input GGUF file")->required();
  cmd->add_option("OUT", o->out, "Output GGUF file")->required();
  cmd->add_option("--bits", o->bits, "Weight bits: 1, 2, 3, 4, or t (ternary)")->required();
  cmd->add_option("--group", o->group,
                  "Weights per scale group along K for requantized tensors (16..256; the largest "
                  "supported group <= this that divides K is used)")
      ->capture_default_str();
  cmd->add_option("--ternary-pack", o->ternary_pack, "With --bits t: 2 (LUT layout) or 1.67 (TL2 layout)")
      ->capture_default_str();
  cmd->add_option("-t,--threads", o->threads, "Threads requantizing (default: one per CPU)")
      ->check(CLI::Range(1, 1024));
  cmd->add_flag("--force", o->force, "Overwrite OUT if it exists");
  cmd->callback([o] { Convert(*o); });
}

}  // namespace tmac::cli
