// `tmac bench -m MODEL`: a whole model's prompt-processing and generation speed, measured the way
// llama-bench measures it, next to the roofline that the memory read bandwidth, measured in the
// same run, sets for generation.
//
// As in llama-bench, every test starts from an empty KV cache: ppN evaluates N random tokens in
// one Eval, tgN evaluates N random tokens one at a time. Each test runs once to warm up, then -r
// times; the tokens/s of those runs are reported as mean ± sample standard deviation. The logits of
// the last token are computed, nothing is sampled.
#include <fmt/core.h>
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/machine_info.h"
#include "cli/model_options.h"
#include "cli/progress.h"
#include "model/layer_weights.h"
#include "runtime/bandwidth.h"
#include "runtime/timer.h"
#include "tmac/context.h"
#include "tmac/error.h"
#include "tmac/model.h"

namespace tmac::cli {
namespace {

struct BenchModelOptions {
  ModelOptions model;
  std::vector<int> threads{1, 2};
  int64_t n_prompt = 128;
  int64_t n_gen = 64;
  int repetitions = 5;
  std::string output = "md";
};

const char* const kOutputFormats[] = {"md", "json", "csv"};

// Per thread, for the bandwidth probe: far beyond the caches (which serve up to about 64 MiB
// here), so it measures DRAM as decoding a model does.
constexpr size_t kProbeBytesPerThread = size_t{256} << 20;
// llama-bench's seed for its random tokens; any fixed one makes runs comparable.
constexpr uint32_t kTokenSeed = 1234;

// The model, as the table's leading columns describe it.
struct ModelSummary {
  std::string file;  // file name without directories
  std::string arch;
  int64_t file_bytes = 0;
  int64_t params = 0;         // every tensor's elements, as llama-bench counts them
  int64_t matmul_params = 0;  // the matrices one decoded token reads (the layers' and the output head)
  int64_t weight_bytes_per_token = 0;
  std::string kernel;  // ISA and how the matrices are stored, e.g. "avx512vnni tl2 g256; output Q8_0"

  // Bits each matrix weight costs in memory traffic, scales and zero points included.
  double BitsPerWeight() const {
    return 8.0 * static_cast<double>(weight_bytes_per_token) / static_cast<double>(matmul_params);
  }
};

ModelSummary Summarize(const Model& model, const std::string& path) {
  ModelSummary s;
  s.file = std::filesystem::path(path).filename().string();
  s.arch = model.config().arch_name;
  s.file_bytes = static_cast<int64_t>(model.file().file_size());
  for (const GgufTensor& t : model.file().tensors()) s.params += t.elements();
  s.weight_bytes_per_token = model.weight_bytes_per_token();
  // The distinct kinds Model::Describe() counts, on one line.
  std::set<std::string> layer_kinds;
  for (const LayerWeights& l : model.layers()) {
    for (const Linear* w : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) {
      s.matmul_params += w->rows() * w->cols();
      layer_kinds.insert(w->Describe());
    }
  }
  s.matmul_params += model.output().rows() * model.output().cols();
  s.kernel = fmt::format("{} {}; output {}", IsaName(model.isa()), fmt::join(layer_kinds, " + "),
                         model.output().Describe());
  return s;
}

// One line of the table: one test at one thread count.
struct Result {
  int threads = 0;
  bool generation = false;
  int64_t n_tokens = 0;
  std::vector<double> tokens_per_second;  // one per timed run
  double bandwidth_gbps = 0;              // measured on `threads` threads

  std::string TestName() const { return fmt::format("{}{}", generation ? "tg" : "pp", n_tokens); }
  double Mean() const {
    return std::accumulate(tokens_per_second.begin(), tokens_per_second.end(), 0.0) /
           static_cast<double>(tokens_per_second.size());
  }
  // The sample standard deviation (n - 1), as llama-bench reports it; 0 for a single run.
  double Sd() const {
    const size_t n = tokens_per_second.size();
    if (n < 2) return 0.0;
    const double mean = Mean();
    double sum = 0;
    for (double v : tokens_per_second) sum += (v - mean) * (v - mean);
    return std::sqrt(sum / static_cast<double>(n - 1));
  }
  // Generation cannot beat the rate at which the weights stream in; prompt processing reads
  // them once per pass, so no such bound applies to it.
  double RooflineTokensPerSecond(const ModelSummary& model) const {
    return bandwidth_gbps * 1e9 / static_cast<double>(model.weight_bytes_per_token);
  }
};

struct RunInfo {
  std::string date, cpu;
  double load_before = -1;
};

// Timing ----------------------------------------------------------------------------------------

// Tokens/s of one run from an empty cache: all tokens in one Eval (prompt processing), or one
// Eval per token (generation).
double TimeRun(Context& context, const std::vector<int32_t>& tokens, bool generation) {
  context.Reset();
  Stopwatch watch;
  if (generation) {
    for (const int32_t& token : tokens) context.Eval({&token, 1});
  } else {
    context.Eval(tokens);
  }
  return static_cast<double>(tokens.size()) / watch.Seconds();
}

std::vector<int32_t> RandomTokens(int64_t count, int64_t n_vocab, std::mt19937& rng) {
  std::uniform_int_distribution<int32_t> id(0, static_cast<int32_t>(n_vocab - 1));
  std::vector<int32_t> tokens(static_cast<size_t>(count));
  for (int32_t& t : tokens) t = id(rng);
  return tokens;
}

std::vector<Result> RunTests(const Model& model, const BenchModelOptions& o) {
  struct Test {
    bool generation;
    int64_t n_tokens;
  };
  std::vector<Test> tests;
  if (o.n_prompt > 0) tests.push_back({false, o.n_prompt});
  if (o.n_gen > 0) tests.push_back({true, o.n_gen});

  std::mt19937 rng(kTokenSeed);
  std::vector<std::vector<int32_t>> tokens;
  for (const Test& test : tests) tokens.push_back(RandomTokens(test.n_tokens, model.config().n_vocab, rng));

  Progress progress(o.threads.size() * (1 + tests.size() * static_cast<size_t>(1 + o.repetitions)));
  std::vector<Result> results;
  for (int threads : o.threads) {
    progress.Step(fmt::format("read bandwidth, {} thread{}", threads, threads == 1 ? "" : "s"));
    const double bandwidth = MeasureReadBandwidth(threads, kProbeBytesPerThread);
    ModelOptions model_options = o.model;
    model_options.threads = threads;
    Context context(model, model_options.ToContextOptions());
    for (size_t i = 0; i < tests.size(); ++i) {
      Result r{threads, tests[i].generation, tests[i].n_tokens, {}, bandwidth};
      progress.Step(fmt::format("{} t{} warm-up", r.TestName(), threads));
      TimeRun(context, tokens[i], r.generation);
      for (int rep = 0; rep < o.repetitions; ++rep) {
        progress.Step(fmt::format("{} t{} run {}/{}", r.TestName(), threads, rep + 1, o.repetitions));
        r.tokens_per_second.push_back(TimeRun(context, tokens[i], r.generation));
      }
      results.push_back(std::move(r));
    }
  }
  return results;
}

// Output ----------------------------------------------------------------------------------------

std::string Gib(int64_t bytes) { return fmt::format("{:.2f} GiB", static_cast<double>(bytes) / (1 << 30)); }

// 6.74 B, 135.00 M, as llama-bench writes parameter counts.
std::string Count(int64_t n) {
  const double v = static_cast<double>(n);
  if (v >= 1e9) return fmt::format("{:.2f} B", v / 1e9);
  if (v >= 1e6) return fmt::format("{:.2f} M", v / 1e6);
  return fmt::format("{:.2f} K", v / 1e3);
}

std::string BandwidthLine(const std::vector<Result>& results) {
  std::vector<std::string> parts;
  std::set<int> seen;
  for (const Result& r : results) {
    if (seen.insert(r.threads).second) {
      parts.push_back(fmt::format("{:.1f} GB/s on {} thread{}", r.bandwidth_gbps, r.threads, r.threads == 1 ? "" : "s"));
    }
  }
  return fmt::format("{}", fmt::join(parts, ", "));
}

void PrintMarkdown(const ModelSummary& m, const std::vector<Result>& results, const RunInfo& run) {
  fmt::print("| model | arch | size | params | bpw | kernel | threads | test | t/s | roofline t/s | % roofline |\n");
  fmt::print("| --- | --- | ---: | ---: | ---: | --- | ---: | --- | ---: | ---: | ---: |\n");
  for (const Result& r : results) {
    std::string roofline, share;
    if (r.generation) {
      const double limit = r.RooflineTokensPerSecond(m);
      roofline = fmt::format("{:.2f}", limit);
      share = fmt::format("{:.0f}%", 100 * r.Mean() / limit);
    }
    fmt::print("| {} | {} | {} | {} | {:.2f} | {} | {} | {} | {:.2f} ± {:.2f} | {} | {} |\n", m.file, m.arch,
               Gib(m.file_bytes), Count(m.params), m.BitsPerWeight(), m.kernel, r.threads, r.TestName(), r.Mean(),
               r.Sd(), roofline, share);
  }
  fmt::print("\nread bandwidth: {}; weights read per token: {:.1f} MiB; roofline t/s = bandwidth / that\n",
             BandwidthLine(results), static_cast<double>(m.weight_bytes_per_token) / (1 << 20));
  fmt::print("cpu {}, {}, load average {:.2f} before the run\n", run.cpu, run.date, run.load_before);
}

// One flat record per line, the same fields for JSON and CSV, named as llama-bench names the
// ones it has too.
nlohmann::ordered_json Record(const ModelSummary& m, const Result& r, const BenchModelOptions& o,
                              const RunInfo& run) {
  nlohmann::ordered_json record = {
      {"model_filename", m.file},
      {"model_arch", m.arch},
      {"model_size", m.file_bytes},
      {"model_n_params", m.params},
      {"matmul_n_params", m.matmul_params},
      {"weight_bytes_per_token", m.weight_bytes_per_token},
      {"bits_per_weight", m.BitsPerWeight()},
      {"kernel", m.kernel},
      {"cpu_info", run.cpu},
      {"date", run.date},
      {"load_average", run.load_before},
      {"n_threads", r.threads},
      {"n_batch", o.model.n_batch},
      {"type_k", o.model.kv_type},
      {"tables", o.model.tables},
      {"numerics", o.model.numerics},
      {"test", r.TestName()},
      {"n_prompt", r.generation ? 0 : r.n_tokens},
      {"n_gen", r.generation ? r.n_tokens : 0},
      {"repetitions", r.tokens_per_second.size()},
      {"avg_ts", r.Mean()},
      {"stddev_ts", r.Sd()},
      {"samples_ts", r.tokens_per_second},
      {"read_bandwidth_gbps", r.bandwidth_gbps},
      {"roofline_ts", nullptr},
      {"roofline_fraction", nullptr},
  };
  if (r.generation) {
    const double limit = r.RooflineTokensPerSecond(m);
    record["roofline_ts"] = limit;
    record["roofline_fraction"] = r.Mean() / limit;
  }
  return record;
}

// A JSON value as a CSV cell: strings quoted (quotes doubled), arrays space-separated in quotes as
// llama-bench writes its samples, null empty.
std::string CsvCell(const nlohmann::ordered_json& value) {
  if (value.is_null()) return "";
  if (value.is_array()) {
    std::vector<std::string> items;
    for (const auto& item : value) items.push_back(item.dump());
    return CsvCell(fmt::format("{}", fmt::join(items, " ")));
  }
  if (!value.is_string()) return value.dump();
  std::string quoted = "\"";
  for (char c : value.get<std::string>()) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

void PrintRecords(const std::vector<nlohmann::ordered_json>& records, const std::string& format) {
  if (format == "json") {
    fmt::print("{}\n", nlohmann::ordered_json(records).dump(2));
    return;
  }
  std::vector<std::string> header, cells;
  for (const auto& [key, value] : records.front().items()) header.push_back(key);
  fmt::print("{}\n", fmt::join(header, ","));
  for (const auto& record : records) {
    cells.clear();
    for (const auto& [key, value] : record.items()) cells.push_back(CsvCell(value));
    fmt::print("{}\n", fmt::join(cells, ","));
  }
}

// Command line ----------------------------------------------------------------------------------

void Check(const BenchModelOptions& o) {
  Require(!o.threads.empty(), "-t: give at least one thread count");
  for (int t : o.threads) Require(t >= 1, fmt::format("-t: thread counts must be at least 1, got {}", t));
  Require(o.repetitions >= 1, fmt::format("-r: repetitions must be at least 1, got {}", o.repetitions));
  Require(o.n_prompt >= 0 && o.n_gen >= 0,
          fmt::format("-p and -n must not be negative, got -p {} -n {}", o.n_prompt, o.n_gen));
  Require(o.n_prompt > 0 || o.n_gen > 0, "-p and -n are both 0: nothing to measure");
  Require(std::find(std::begin(kOutputFormats), std::end(kOutputFormats), o.output) != std::end(kOutputFormats),
          fmt::format("-o: unknown output format '{}' (expected md, json or csv)", o.output));
  const int64_t needed = std::max(o.n_prompt, o.n_gen);
  Require(o.model.n_ctx == 0 || o.model.n_ctx >= needed,
          fmt::format("--ctx {} is too small for -p {} and -n {} (needs {})", o.model.n_ctx, o.n_prompt, o.n_gen,
                      needed));
}

void RunBenchModel(BenchModelOptions o, const GlobalOptions& global) {
  Check(o);
  // Each test starts from an empty cache, so the longest one bounds the context, as in llama-bench.
  if (o.model.n_ctx == 0) o.model.n_ctx = std::max(o.n_prompt, o.n_gen);
  o.model.threads = *std::max_element(o.threads.begin(), o.threads.end());  // for repacking at load
  const RunInfo run{UtcNow(), CpuModel(), LoadAverage()};
  const LoadedModel loaded = LoadModel(o.model, global);
  if (run.load_before >= 0.5) {
    fmt::print(stderr, "warning: load average {:.1f}: other processes are running, timings will be low and noisy\n",
               run.load_before);
  }
  ModelSummary summary = Summarize(*loaded.model, o.model.model_path);
  if (o.model.numerics == "llama.cpp") {  // the layers run llama.cpp's products, not the LUT kernels
    summary.kernel =
        fmt::format("llama.cpp numerics (Q4_1 x Q8_1); output {}", loaded.model->output().Describe());
  }
  const std::vector<Result> results = RunTests(*loaded.model, o);
  if (o.output == "md") return PrintMarkdown(summary, results, run);
  std::vector<nlohmann::ordered_json> records;
  for (const Result& r : results) records.push_back(Record(summary, r, o, run));
  PrintRecords(records, o.output);
}

}  // namespace

void RegisterBenchModel(CLI::App& bench, const GlobalOptions& global) {
  auto o = std::make_shared<BenchModelOptions>();
  // llama-bench's default micro-batch: a pp128 is one pass, so the weights are read once for it.
  o->model.n_batch = 512;
  o->model.AddFlagsExceptThreads(bench);
  // `tmac bench kernels` takes no model: -m is checked in the callback instead.
  bench.get_option("-m")->required(false);
  bench.get_option("--ctx")->description("Context size in tokens (0: the longest test's, as in llama-bench)");
  bench.add_option("-p,--n-prompt", o->n_prompt, "Prompt tokens, evaluated in one Eval (0: no pp test)")
      ->capture_default_str();
  bench.add_option("-n,--n-gen", o->n_gen, "Tokens generated one at a time (0: no tg test)")->capture_default_str();
  bench.add_option("-t,--threads", o->threads, "Thread counts, comma-separated")
      ->delimiter(',')
      ->capture_default_str();
  bench.add_option("-r,--repetitions", o->repetitions, "Timed runs of each test, after one warm-up run")
      ->capture_default_str();
  bench.add_option("-o,--output", o->output, "Output format: md, json or csv")->capture_default_str();
  bench.callback([o, &global, &bench] {
    // After `bench kernels`, whose own callback ran; and a bare `bench`, whose help main prints.
    if (!bench.get_subcommands().empty() || bench.count_all() <= 1) return;
    Require(!o->model.model_path.empty(), "bench: give -m MODEL (or a subcommand: kernels)");
    RunBenchModel(*o, global);
  });
}

}  // namespace tmac::cli
