// `tmac bench kernels`: y = W x for the T-MAC LUT kernel against the dequantize-then-FMA
// baseline, on the weight shapes of real models, as time and as a share of the memory bandwidth
// measured in the same run.
//
// Two regimes. "hot" re-reads one matrix, which then lives in cache: it shows the kernels'
// compute cost. "stream" cycles through enough copies of the matrix that every call reads its
// weights from DRAM, as decoding a real model does: there the limit is the read bandwidth.
#include <fmt/chrono.h>
#include <fmt/core.h>
#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "cli/commands.h"
#include "cli/machine_info.h"
#include "cli/progress.h"
#include "runtime/aligned_buffer.h"
#include "runtime/bandwidth.h"
#include "runtime/splitmix64.h"
#include "runtime/timer.h"
#include "tmac/dequant.h"
#include "tmac/error.h"
#include "tmac/ggml_matmul.h"
#include "tmac/ggml_random.h"
#include "tmac/lut.h"
#include "tmac/quant.h"
#include "tmac/ternary.h"
#include "tmac/thread_pool.h"

namespace tmac::cli {

namespace {

// Cases ---------------------------------------------------------------------------------------

struct Shape {
  int64_t rows, cols;  // M x K
  const char* model;
  const char* role;
};

const Shape kShapes[] = {
    {4096, 4096, "Llama-2-7B", "attn q/k/v/o"},     {11008, 4096, "Llama-2-7B", "ffn gate/up"},
    {4096, 11008, "Llama-2-7B", "ffn down"},        {14336, 4096, "Llama-3-8B", "ffn gate/up"},
    {4096, 14336, "Llama-3-8B", "ffn down"},        {3200, 3200, "BitNet-b1.58-3B", "attn q/k/v/o"},
    {8640, 3200, "BitNet-b1.58-3B", "ffn gate/up"}, {3200, 8640, "BitNet-b1.58-3B", "ffn down"},
};

std::string ShapeName(const Shape& s) { return fmt::format("{}x{}", s.rows, s.cols); }

// A packed weight matrix and its product, behind one interface so that every format is timed,
// cloned and sized the same way.
class Weights {
 public:
  virtual ~Weights() = default;
  virtual int64_t bytes() const = 0;
  virtual std::unique_ptr<Weights> Clone() const = 0;
  virtual void Multiply(const float* x, int64_t batch, float* y, const MatmulOptions& options) const = 0;
};

template <class Matrix, auto kMatmul>
class WeightsOf final : public Weights {
 public:
  explicit WeightsOf(Matrix matrix) : matrix_(std::move(matrix)) {}
  int64_t bytes() const override { return matrix_.bytes(); }
  std::unique_ptr<Weights> Clone() const override { return std::make_unique<WeightsOf>(matrix_.Clone()); }
  void Multiply(const float* x, int64_t batch, float* y, const MatmulOptions& options) const override {
    kMatmul(matrix_, x, batch, y, options);
  }

 private:
  Matrix matrix_;
};

// The layout the kernels of `isa` read fastest (chunk quads on AVX-512 VBMI/VNNI).
std::unique_ptr<Weights> PackLut(const QuantMatrix& w, Isa isa) {
  return std::make_unique<WeightsOf<LutMatrix, &LutMatmul>>(
      LutMatrix::Pack(w, DefaultLutLayout(w.bits, w.group, isa)));
}

// Ternary weights in the 1.67-bit TL2 layout.
std::unique_ptr<Weights> PackTl2(const QuantMatrix& w, Isa) {
  return std::make_unique<WeightsOf<Tl2Matrix, &Tl2Matmul>>(Tl2Matrix::Pack(w));
}

std::unique_ptr<Weights> PackDequant(const QuantMatrix& w) {
  return std::make_unique<WeightsOf<DequantMatrix, &DequantMatmul>>(DequantMatrix::Pack(w));
}

// A weight format under test: how random weights are drawn, and how the T-MAC side packs them.
// The dequant baseline always packs the same QuantMatrix with DequantMatrix::Pack.
struct Format {
  const char* name;  // as --bits spells it
  int bits;          // code width of the QuantMatrix
  bool ternary;      // codes {0, 1, 2}, zero point 1, one scale per tensor (BitNet b1.58)
  std::unique_ptr<Weights> (*pack)(const QuantMatrix&, Isa);
};

const Format kFormats[] = {
    {"1", 1, false, PackLut}, {"2", 2, false, PackLut}, {"3", 3, false, PackLut},
    {"4", 4, false, PackLut}, {"t2", 2, true, PackLut}, {"tl2", 2, true, PackTl2},
};

// One product to time: GEMV (batch 1, decode) or GEMM (batch > 1, prefill).
struct Case {
  const Shape* shape;
  const Format* format;
  int64_t batch;
};

// The prefill case: a batch of 128 on the square Llama-2 matrix at 2 and 4 bits.
constexpr int64_t kGemmBatch = 128;
const char* const kGemmShape = "4096x4096";
const char* const kGemmFormats[] = {"2", "4"};

enum class Regime { kHot, kStream };
const char* RegimeName(Regime r) { return r == Regime::kHot ? "hot" : "stream"; }

// Largest supported group that divides K: 128 for every listed shape (3200 = 25 * 128) except
// K = 8640, which takes 64.
int GroupFor(int64_t cols) {
  for (int group : {128, 64, 32}) {
    if (cols % group == 0) return group;
  }
  throw Error(fmt::format("K = {} is not a multiple of 32, the smallest group the kernels take", cols));
}

// Random data ---------------------------------------------------------------------------------

// Kernel speed depends on the format, not on the values, so a fast generator keeps the setup of
// a full run (hundreds of millions of weights) short.
float Uniform(SplitMix64& rng, float lo, float hi) {
  return lo + (hi - lo) * static_cast<float>(rng.NextUniform());
}

// b-bit weights with a scale and zero point per group, as GPTQ-style and llama.cpp *_1/*_K
// models carry them; ternary weights with one scale per tensor, as BitNet b1.58 does.
QuantMatrix RandomWeights(const Shape& shape, const Format& format, int group, uint64_t seed) {
  SplitMix64 rng(seed);
  const auto count = static_cast<size_t>(shape.rows * shape.cols);
  if (format.ternary) {
    std::vector<int8_t> values(count);
    for (auto& v : values) v = static_cast<int8_t>(static_cast<int>(rng.Next() % 3) - 1);
    return MakeTernary(shape.rows, shape.cols, group, values, {0.05f});
  }
  QuantMatrix w;
  w.rows = shape.rows;
  w.cols = shape.cols;
  w.bits = format.bits;
  w.group = group;
  w.codes.resize(count);
  for (auto& c : w.codes) c = static_cast<uint8_t>(rng.Next() >> (64 - format.bits));
  w.scales.resize(static_cast<size_t>(w.rows * w.groups_per_row()));
  for (auto& s : w.scales) s = Uniform(rng, 0.01f, 0.1f);
  w.zeros.resize(w.scales.size());
  for (auto& z : w.zeros) z = Uniform(rng, 0.f, static_cast<float>((1 << format.bits) - 1));
  return w;
}

std::vector<float> RandomActivations(int64_t count, uint64_t seed) {
  SplitMix64 rng(seed);
  std::vector<float> x(static_cast<size_t>(count));
  for (auto& v : x) v = Uniform(rng, -1.f, 1.f);
  return x;
}

// Timing --------------------------------------------------------------------------------------

// Copies of a matrix that together exceed this are far beyond any cache here (caches serve
// working sets up to about 64 MiB), so cycling through them streams every call from DRAM.
constexpr int64_t kStreamBytes = int64_t{512} << 20;
// Per thread, for the bandwidth probe: also far beyond the caches.
constexpr size_t kProbeBytesPerThread = size_t{256} << 20;
// Each timing aims at this much measured time, after a warm-up of kWarmupSeconds.
constexpr double kTargetSeconds = 0.25;
constexpr double kWarmupSeconds = 0.03;
constexpr int kMinRepetitions = 5;
constexpr int kMaxRepetitions = 100000;

// The matrices a timing cycles through: the matrix alone (hot), or it and enough clones that
// together they exceed kStreamBytes (stream).
class Rotation {
 public:
  Rotation(const Weights& original, Regime regime) {
    order_.push_back(&original);
    if (regime == Regime::kHot) return;
    const int64_t copies = kStreamBytes / original.bytes() + 1;
    for (int64_t i = 1; i < copies; ++i) {
      clones_.push_back(original.Clone());
      order_.push_back(clones_.back().get());
    }
  }
  const Weights& operator[](int64_t i) const { return *order_[static_cast<size_t>(i) % order_.size()]; }

 private:
  std::vector<std::unique_ptr<Weights>> clones_;
  std::vector<const Weights*> order_;
};

struct Timing {
  double seconds = 0;  // median per product
  int repetitions = 0;
};

// Median time of one product, call i using rotation[i]. repetitions == 0 picks a count that
// fills about kTargetSeconds, from the per-call time seen during the warm-up.
Timing TimeProducts(const Rotation& rotation, const float* x, int64_t batch, float* y,
                    const MatmulOptions& options, int repetitions) {
  int64_t call = 0;
  Stopwatch warmup;
  while (call < 2 || warmup.Seconds() < kWarmupSeconds) rotation[call++].Multiply(x, batch, y, options);
  if (repetitions == 0) {
    const double estimate = warmup.Seconds() / static_cast<double>(call);
    repetitions = static_cast<int>(
        std::clamp(kTargetSeconds / estimate, double{kMinRepetitions}, double{kMaxRepetitions}));
  }
  std::vector<double> seconds(static_cast<size_t>(repetitions));
  for (auto& s : seconds) {
    Stopwatch watch;
    rotation[call++].Multiply(x, batch, y, options);
    s = watch.Seconds();
  }
  return {Median(std::move(seconds)), repetitions};
}

// Running ---------------------------------------------------------------------------------------

struct Result {
  const Case* c;
  Regime regime;
  int group;
  int threads;
  int64_t lut_bytes, dequant_bytes;
  Timing lut, dequant;
  double LutGbps() const { return static_cast<double>(lut_bytes) / lut.seconds / 1e9; }
  double Speedup() const { return dequant.seconds / lut.seconds; }
  double GigaOps() const {  // multiply-adds count 2
    return 2.0 * static_cast<double>(c->shape->rows * c->shape->cols * c->batch) / lut.seconds / 1e9;
  }
};

struct Selection {
  std::vector<Case> cases;
  std::vector<int> threads;
  std::vector<Regime> regimes;
};

// GEMM reuses each weight `batch` times, so where the weights come from hardly matters: it runs
// in the hot regime only.
std::vector<Regime> RegimesFor(const Case& c, const std::vector<Regime>& selected) {
  if (c.batch == 1) return selected;
  if (std::find(selected.begin(), selected.end(), Regime::kHot) != selected.end()) return {Regime::kHot};
  return {};
}

std::vector<Result> RunCases(const Selection& sel, Isa isa, int repetitions) {
  int total = 0;
  for (const Case& c : sel.cases)
    total += static_cast<int>(2 * RegimesFor(c, sel.regimes).size() * sel.threads.size());
  Progress progress(total);

  std::map<int, std::unique_ptr<ThreadPool>> pools;
  for (int t : sel.threads) pools[t] = std::make_unique<ThreadPool>(t);

  std::vector<Result> results;
  uint64_t seed = 1;
  for (const Case& c : sel.cases) {
    const Shape& shape = *c.shape;
    const int group = GroupFor(shape.cols);
    std::unique_ptr<Weights> lut, dequant;
    {
      const QuantMatrix w = RandomWeights(shape, *c.format, group, seed++);
      lut = c.format->pack(w, isa);
      dequant = PackDequant(w);
    }
    const std::vector<float> x = RandomActivations(c.batch * shape.cols, seed++);
    std::vector<float> y(static_cast<size_t>(c.batch * shape.rows));

    for (Regime regime : RegimesFor(c, sel.regimes)) {
      const size_t first = results.size();
      for (int t : sel.threads) {
        results.push_back({&c, regime, group, t, lut->bytes(), dequant->bytes(), {}, {}});
      }
      // One kernel's copies at a time, so a stream run holds only ~kStreamBytes of clones.
      for (const bool is_lut : {true, false}) {
        const Rotation rotation(is_lut ? *lut : *dequant, regime);
        for (size_t i = 0; i < sel.threads.size(); ++i) {
          Result& r = results[first + i];
          progress.Step(fmt::format("{} {}{} {}t{} {} {}", ShapeName(shape), c.format->ternary ? "" : "b",
                                    c.format->name, c.batch > 1 ? fmt::format("n{} ", c.batch) : "",
                                    r.threads, RegimeName(regime), is_lut ? "lut" : "dequant"));
          const MatmulOptions options{TableMode::kInt8, isa, pools.at(r.threads).get()};
          (is_lut ? r.lut : r.dequant) =
              TimeProducts(rotation, x.data(), c.batch, y.data(), options, repetitions);
        }
      }
    }
  }
  return results;
}

// Output ----------------------------------------------------------------------------------------

void PrintGemvTable(const std::vector<Result>& results, Regime regime,
                    const std::map<int, double>& bandwidth) {
  fmt::print("\n{}: {}\n", RegimeName(regime),
             regime == Regime::kHot
                 ? "one matrix re-read (cache resident)"
                 : fmt::format("cycling through > {} MiB of copies (from DRAM)", kStreamBytes >> 20));
  fmt::print("{:<11} {:<16} {:<13} {:>5} {:>3} {:>5} {:>8} {:>7} {:>6} {:>8} {:>7}\n", "shape", "model",
             "role", "bits", "thr", "group", "LUT ms", "GB/s", "%BW", "deq ms", "speedup");
  for (const Result& r : results) {
    if (r.regime != regime || r.c->batch != 1) continue;
    const double gbps = r.LutGbps();
    fmt::print("{:<11} {:<16} {:<13} {:>5} {:>3} {:>5} {:>8.3f} {:>7.1f} {:>5.0f}% {:>8.3f} {:>6.2f}x\n",
               ShapeName(*r.c->shape), r.c->shape->model, r.c->shape->role, r.c->format->name, r.threads,
               r.group, r.lut.seconds * 1e3, gbps, 100 * gbps / bandwidth.at(r.threads),
               r.dequant.seconds * 1e3, r.Speedup());
  }
}

void PrintGemmTable(const std::vector<Result>& results) {
  if (std::none_of(results.begin(), results.end(), [](const Result& r) { return r.c->batch > 1; })) return;
  fmt::print("\ngemm: batch {} (hot)\n", kGemmBatch);
  fmt::print("{:<11} {:>5} {:>3} {:>8} {:>8} {:>8} {:>7}\n", "shape", "bits", "thr", "LUT ms", "GOP/s",
             "deq ms", "speedup");
  for (const Result& r : results) {
    if (r.c->batch == 1) continue;
    fmt::print("{:<11} {:>5} {:>3} {:>8.2f} {:>8.1f} {:>8.2f} {:>6.2f}x\n", ShapeName(*r.c->shape),
               r.c->format->name, r.threads, r.lut.seconds * 1e3, r.GigaOps(), r.dequant.seconds * 1e3,
               r.Speedup());
  }
}

// Headline ratios per shape at the smallest thread count: 1-bit against 2-bit time (T-MAC's
// cost should fall with the bit width), LUT against dequant at 2 bits, and streaming efficiency.
void PrintSummary(const std::vector<Result>& results, const std::map<int, double>& bandwidth) {
  if (results.empty()) return;
  const int threads = bandwidth.begin()->first;
  auto find = [&](const Shape* shape, const char* format, Regime regime) -> const Result* {
    for (const Result& r : results) {
      if (r.c->shape == shape && r.c->batch == 1 && r.regime == regime && r.threads == threads &&
          std::string(r.c->format->name) == format) {
        return &r;
      }
    }
    return nullptr;
  };
  std::vector<std::string> bit_ratio, speedup, efficiency;
  for (const Shape& shape : kShapes) {
    const Result* hot1 = find(&shape, "1", Regime::kHot);
    const Result* hot2 = find(&shape, "2", Regime::kHot);
    const Result* stream2 = find(&shape, "2", Regime::kStream);
    if (hot1 && hot2) {
      bit_ratio.push_back(
          fmt::format("{:.2f} ({})", hot1->lut.seconds / hot2->lut.seconds, ShapeName(shape)));
    }
    if (hot2) speedup.push_back(fmt::format("{:.2f}x ({})", hot2->Speedup(), ShapeName(shape)));
    if (stream2) {
      efficiency.push_back(fmt::format("{:.0f}% ({}, {:.3f} ms)",
                                       100 * stream2->LutGbps() / bandwidth.at(threads), ShapeName(shape),
                                       stream2->lut.seconds * 1e3));
    }
  }
  auto line = [](const char* what, const std::vector<std::string>& items) {
    if (!items.empty()) fmt::print("  {}: {}\n", what, fmt::join(items, ", "));
  };
  fmt::print("\nsummary ({} thread{}):\n", threads, threads == 1 ? "" : "s");
  line("hot, LUT time 1-bit / 2-bit", bit_ratio);
  line("hot, 2-bit LUT speedup over dequant", speedup);
  line("stream, 2-bit LUT share of read bandwidth", efficiency);
}

struct RunInfo {
  Isa isa;
  std::string date;
  double load_before, load_after;
  std::map<int, double> bandwidth;  // GB/s by thread count
};

nlohmann::ordered_json ToJson(const std::vector<Result>& results, const RunInfo& run) {
  const std::map<int, double>& bandwidth = run.bandwidth;
  nlohmann::ordered_json bw = nlohmann::ordered_json::object();
  for (const auto& [threads, gbps] : bandwidth) bw[std::to_string(threads)] = gbps;
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  for (const Result& r : results) {
    const double lut_gbps = r.LutGbps();
    rows.push_back({
        {"regime", RegimeName(r.regime)},
        {"m", r.c->shape->rows},
        {"k", r.c->shape->cols},
        {"model", r.c->shape->model},
        {"role", r.c->shape->role},
        {"bits", r.c->format->name},
        {"batch", r.c->batch},
        {"group", r.group},
        {"threads", r.threads},
        {"lut_ms", r.lut.seconds * 1e3},
        {"lut_bytes", r.lut_bytes},
        {"lut_gbps", lut_gbps},
        {"lut_fraction_of_bandwidth", lut_gbps / bandwidth.at(r.threads)},
        {"lut_repetitions", r.lut.repetitions},
        {"dequant_ms", r.dequant.seconds * 1e3},
        {"dequant_bytes", r.dequant_bytes},
        {"dequant_gbps", static_cast<double>(r.dequant_bytes) / r.dequant.seconds / 1e9},
        {"dequant_repetitions", r.dequant.repetitions},
        {"speedup", r.Speedup()},
    });
  }
  return {
      {"command", "tmac bench kernels"},
      {"version", TMAC_VERSION},
      {"date", run.date},
      {"machine",
       {{"cpu", CpuModel()},
        {"logical_cpus", std::thread::hardware_concurrency()},
        {"isa", IsaName(run.isa)},
        {"read_bandwidth_gbps", bw},
        {"load_average_before", run.load_before},
        {"load_average_after", run.load_after}}},
      {"settings",
       {{"lut_layout", {{"tile_rows", 64}, {"scale_type", "f16"}}},
        {"table_mode", "int8"},
        {"stream_bytes", kStreamBytes},
        {"probe_bytes_per_thread", kProbeBytesPerThread}}},
      {"results", rows},
  };
}

// Written to a temporary file and renamed, so a reader never sees a half-written file.
void WriteFileAtomically(const std::string& path, const std::string& contents) {
  const std::string temp = fmt::format("{}.tmp.{}", path, getpid());
  std::ofstream out(temp, std::ios::binary | std::ios::trunc);
  out << contents;
  out.close();
  std::error_code ec;
  if (out) {
    std::filesystem::rename(temp, path, ec);
  } else {
    ec = std::error_code(errno, std::generic_category());  // what the failed open or write left
  }
  if (ec) {
    std::error_code ignored;
    std::filesystem::remove(temp, ignored);
    throw Error("cannot write " + path + ": " + ec.message());
  }
}

// Command line ----------------------------------------------------------------------------------

struct BenchOptions {
  std::vector<std::string> shapes, bits;  // empty: all (or the --quick subset)
  std::vector<int> threads;               // empty: 1 and 2 (or 1 with --quick)
  std::string regime = "both";
  int repetitions = 0;  // 0 (not given): chosen per case
  std::string json;
  bool quick = false;
  std::vector<std::string> ggml;  // ggml type names: time GgmlMatmul instead of the LUT cases
};

// ggml tensors kept in their file format (--ggml) ------------------------------------------------

// The output heads that run on this path every token.
const Shape kGgmlShapes[] = {
    {49152, 576, "SmolLM2-135M", "output (tied)"},
    {32000, 4096, "Llama-2-7B", "output"},
};

// A ggml tensor in aligned memory (huge pages, as a mapped model would get them).
class GgmlTensor {
 public:
  GgmlTensor(GgmlType type, int64_t rows, int64_t cols, const uint8_t* data)
      : view_{type, rows, cols, nullptr},
        bytes_(rows * GgmlRowBytes(type, cols)),
        storage_(CopyAligned(data, static_cast<size_t>(bytes_), true)) {
    view_.data = storage_.get();
  }
  int64_t bytes() const { return bytes_; }
  GgmlTensor Clone() const { return {view_.type, view_.rows, view_.cols, view_.data}; }
  const GgmlMatrixView& view() const { return view_; }

 private:
  GgmlMatrixView view_;
  int64_t bytes_;
  std::unique_ptr<uint8_t, void (*)(void*)> storage_;
};

void GgmlTensorMatmul(const GgmlTensor& w, const float* x, int64_t batch, float* y,
                      const MatmulOptions& options) {
  GgmlMatmul(w.view(), x, batch, y, options);
}

// The plain baseline: each row decoded with DecodeRow, then a sequential float dot product with
// every vector; rows split across the pool as GgmlMatmul splits them.
void DecodeThenDot(const GgmlTensor& t, const float* x, int64_t batch, float* y,
                   const MatmulOptions& options) {
  const GgmlMatrixView& w = t.view();
  const int64_t row_bytes = GgmlRowBytes(w.type, w.cols);
  const std::function<void(int64_t, int64_t)> rows = [&](int64_t begin, int64_t end) {
    std::vector<float> decoded(static_cast<size_t>(w.cols));
    for (int64_t m = begin; m < end; ++m) {
      DecodeRow(w.type, w.data + m * row_bytes, w.cols, decoded.data());
      for (int64_t n = 0; n < batch; ++n) {
        float sum = 0.f;
        for (int64_t k = 0; k < w.cols; ++k) sum += decoded[static_cast<size_t>(k)] * x[n * w.cols + k];
        y[n * w.rows + m] = sum;
      }
    }
  };
  ThreadPool::RunOn(options.pool, w.rows, rows);
}

// GgmlMatmul against DecodeThenDot on the output-head shapes, batch 1, streaming from DRAM.
void RunGgmlBench(const BenchOptions& opt, Isa isa) {
  std::vector<GgmlType> types;
  for (const std::string& name : opt.ggml) {
    const GgmlTypeInfo* found = nullptr;
    for (const GgmlTypeInfo& info : GgmlTypes()) {
      if (info.name == name) found = &info;
    }
    Require(found != nullptr && GgmlMatmulSupports(found->type),
            "unknown or unsupported ggml type '" + name + "'");
    types.push_back(found->type);
  }
  std::vector<int> threads = opt.threads.empty() ? std::vector<int>{1, 2} : opt.threads;
  std::map<int, double> bandwidth;
  for (int t : threads) {
    Require(t >= 1, fmt::format("thread count must be at least 1, got {}", t));
    bandwidth[t] = MeasureReadBandwidth(t, kProbeBytesPerThread);
  }
  fmt::print("tmac bench kernels --ggml: isa {}, cpu {}, {}\n", IsaName(isa), CpuModel(), UtcNow());

  struct Row {
    const Shape* shape;
    GgmlType type;
    int threads;
    int64_t bytes;
    Timing fast, baseline;
  };
  std::vector<Row> rows;
  // K-quants need K to be a multiple of 256: SmolLM2's 576 is not.
  const auto fits = [](const Shape& shape, GgmlType type) {
    return shape.cols % GgmlBlock(type).block_size == 0;
  };
  size_t steps = 0;
  for (const Shape& shape : kGgmlShapes) {
    for (GgmlType type : types) steps += fits(shape, type) ? 2 * bandwidth.size() : 0;
  }
  Progress progress(steps);
  uint64_t seed = 1;
  for (const Shape& shape : kGgmlShapes) {
    for (GgmlType type : types) {
      if (!fits(shape, type)) continue;
      using Tensor = WeightsOf<GgmlTensor, &GgmlTensorMatmul>;
      using Baseline = WeightsOf<GgmlTensor, &DecodeThenDot>;
      std::vector<uint8_t> data(static_cast<size_t>(shape.rows * GgmlRowBytes(type, shape.cols)));
      RandomGgmlRows(type, shape.cols, 0.02f, seed++, 0, shape.rows, data.data());
      const Tensor fast(GgmlTensor(type, shape.rows, shape.cols, data.data()));
      const Baseline baseline(GgmlTensor(type, shape.rows, shape.cols, data.data()));
      const std::vector<float> x = RandomActivations(shape.cols, seed++);
      std::vector<float> y(static_cast<size_t>(shape.rows));
      const size_t first = rows.size();
      for (const auto& [t, gbps] : bandwidth) rows.push_back({&shape, type, t, fast.bytes(), {}, {}});
      for (const bool is_fast : {true, false}) {
        const Rotation rotation(is_fast ? static_cast<const Weights&>(fast) : baseline, Regime::kStream);
        for (size_t i = first; i < rows.size(); ++i) {
          progress.Step(fmt::format("{} {} {}t {}", ShapeName(shape), GgmlTypeName(type), rows[i].threads,
                                    is_fast ? "ggml" : "baseline"));
          ThreadPool pool(rows[i].threads);
          const MatmulOptions options{TableMode::kInt8, isa, &pool};
          (is_fast ? rows[i].fast : rows[i].baseline) =
              TimeProducts(rotation, x.data(), 1, y.data(), options, opt.repetitions);
        }
      }
    }
  }
  progress.Finish();
  fmt::print("\nggml: batch 1, streaming from DRAM; baseline = DecodeRow then a plain dot, same run\n");
  fmt::print("{:<10} {:<13} {:<6} {:>3} {:>8} {:>7} {:>5} {:>8} {:>7} {:>7}\n", "shape", "model", "type",
             "thr", "ms", "GB/s", "%BW", "base ms", "GB/s", "speedup");
  for (const Row& r : rows) {
    const double gbps = static_cast<double>(r.bytes) / r.fast.seconds / 1e9;
    fmt::print("{:<10} {:<13} {:<6} {:>3} {:>8.3f} {:>7.1f} {:>4.0f}% {:>8.3f} {:>7.1f} {:>6.1f}x\n",
               ShapeName(*r.shape), r.shape->model, GgmlTypeName(r.type), r.threads, r.fast.seconds * 1e3,
               gbps, 100 * gbps / bandwidth.at(r.threads), r.baseline.seconds * 1e3,
               static_cast<double>(r.bytes) / r.baseline.seconds / 1e9, r.baseline.seconds / r.fast.seconds);
  }
}

template <class T, size_t N, class Name>
const T& FindByName(const T (&items)[N], const std::string& wanted, const char* what, Name name) {
  for (const T& item : items) {
    if (name(item) == wanted) return item;
  }
  std::vector<std::string> known;
  for (const T& item : items) known.push_back(name(item));
  throw Error(fmt::format("unknown {} '{}' (expected one of {})", what, wanted, fmt::join(known, ", ")));
}

Selection Select(const BenchOptions& opt) {
  std::vector<std::string> shapes = opt.shapes, bits = opt.bits;
  std::vector<int> threads = opt.threads;
  if (shapes.empty()) {
    if (opt.quick) {
      shapes = {"4096x4096", "4096x14336"};
    } else {
      for (const Shape& s : kShapes) shapes.push_back(ShapeName(s));
    }
  }
  if (bits.empty()) {
    if (opt.quick) {
      bits = {"1", "2", "4"};
    } else {
      for (const Format& f : kFormats) bits.push_back(f.name);
    }
  }
  if (threads.empty()) threads = opt.quick ? std::vector<int>{1} : std::vector<int>{1, 2};

  Selection sel;
  std::vector<const Shape*> selected_shapes;
  std::vector<const Format*> selected_formats;
  for (const auto& name : shapes) selected_shapes.push_back(&FindByName(kShapes, name, "shape", ShapeName));
  for (const auto& name : bits) {
    selected_formats.push_back(
        &FindByName(kFormats, name, "bit width", [](const Format& f) { return std::string(f.name); }));
  }
  for (int t : threads) Require(t >= 1, fmt::format("thread count must be at least 1, got {}", t));
  std::sort(threads.begin(), threads.end());
  threads.erase(std::unique(threads.begin(), threads.end()), threads.end());
  sel.threads = threads;

  if (opt.regime == "hot" || opt.regime == "both") sel.regimes.push_back(Regime::kHot);
  if (opt.regime == "stream" || opt.regime == "both") sel.regimes.push_back(Regime::kStream);
  Require(!sel.regimes.empty(), "unknown regime '" + opt.regime + "' (expected hot, stream or both)");

  for (const Shape* s : selected_shapes) {
    for (const Format* f : selected_formats) sel.cases.push_back({s, f, 1});
  }
  for (const Shape* s : selected_shapes) {
    if (ShapeName(*s) != kGemmShape) continue;
    for (const Format* f : selected_formats) {
      if (std::find(std::begin(kGemmFormats), std::end(kGemmFormats), std::string(f->name)) !=
          std::end(kGemmFormats)) {
        sel.cases.push_back({s, f, kGemmBatch});
      }
    }
  }
  return sel;
}

void RunBenchKernels(const BenchOptions& opt, Isa isa) {
  if (!opt.ggml.empty()) return RunGgmlBench(opt, isa);
  const Selection sel = Select(opt);
  Require(!sel.cases.empty(), "no cases selected");
  // Checked now rather than after minutes of timing.
  if (!opt.json.empty()) {
    const std::filesystem::path dir = std::filesystem::path(opt.json).parent_path();
    Require(dir.empty() || std::filesystem::is_directory(dir),
            "cannot write " + opt.json + ": no directory " + dir.string());
  }
  RunInfo run{isa, UtcNow(), LoadAverage(), -1, {}};
  fmt::print("tmac bench kernels: {} cases, isa {}, cpu {}, {}\n", sel.cases.size(), IsaName(isa), CpuModel(),
             run.date);
  if (run.load_before >= 0.5) {
    fmt::print(stderr,
               "warning: load average {:.1f}: other processes are running, timings will be low and noisy\n",
               run.load_before);
  }

  Stopwatch total;
  for (int t : sel.threads) {
    fmt::print(stderr, "measuring read bandwidth on {} thread{}\n", t, t == 1 ? "" : "s");
    run.bandwidth[t] = MeasureReadBandwidth(t, kProbeBytesPerThread);
  }
  std::vector<std::string> bw;
  for (const auto& [t, gbps] : run.bandwidth) {
    bw.push_back(fmt::format("{:.1f} GB/s on {} thread{}", gbps, t, t == 1 ? "" : "s"));
  }
  fmt::print("read bandwidth: {}\n", fmt::join(bw, ", "));

  const std::vector<Result> results = RunCases(sel, isa, opt.repetitions);
  run.load_after = LoadAverage();
  for (Regime regime : sel.regimes) PrintGemvTable(results, regime, run.bandwidth);
  PrintGemmTable(results);
  PrintSummary(results, run.bandwidth);
  fmt::print("\nran in {:.0f} s\n", total.Seconds());

  if (!opt.json.empty()) {
    WriteFileAtomically(opt.json, ToJson(results, run).dump(2) + "\n");
    fmt::print("wrote {}\n", opt.json);
  }
}

}  // namespace

void RegisterBenchKernels(CLI::App& bench, const GlobalOptions& global) {
  auto opt = std::make_shared<BenchOptions>();
  CLI::App* cmd =
      bench.add_subcommand("kernels", "Time y = W x: LUT kernel vs dequant baseline, hot and streaming");
  cmd->add_option("--shapes", opt->shapes, "Matrix shapes MxK, comma-separated (default: all model shapes)")
      ->delimiter(',');
  cmd->add_option(
         "--bits", opt->bits,
         "Formats among 1,2,3,4,t2,tl2 (t2: ternary as 2-bit codes; tl2: ternary in the 1.67-bit TL2 layout)")
      ->delimiter(',');
  cmd->add_option("-t,--threads", opt->threads, "Thread counts, comma-separated (default: 1,2)")
      ->delimiter(',');
  cmd->add_option("--regime", opt->regime, "hot (cache resident), stream (from DRAM) or both")
      ->capture_default_str();
  CLI::Option* repetitions = cmd->add_option("-r,--repetitions", opt->repetitions,
                                             "Timed products per case (default: ~0.25 s worth)");
  cmd->add_option("--json", opt->json, "Also write all results and machine info to this JSON file");
  cmd->add_option("--ggml", opt->ggml,
                  "Instead: ggml types kept in file format (e.g. Q8_0,Q6_K,F16) on output-head shapes, "
                  "GgmlMatmul vs decode-then-dot, batch 1 from DRAM")
      ->delimiter(',');
  cmd->add_flag("--quick", opt->quick, "Small demo subset: 4096x4096 and 4096x14336, bits 1,2,4, 1 thread");
  cmd->callback([opt, repetitions, &global] {
    Require(repetitions->count() == 0 || opt->repetitions >= 1,
            fmt::format("repetitions must be at least 1, got {}", opt->repetitions));
    RunBenchKernels(*opt, SelectedIsa(global));
  });
}

}  // namespace tmac::cli
