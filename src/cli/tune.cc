// `tmac tune -m MODEL`: searches the LUT and TL2 kernels' layout and run-time parameters for
// each kind of matrix the model repacks, timed streaming from DRAM as decoding reads them, and
// writes the winners to this machine's tuning cache (cli/tune_cache.h), which every later load
// of a model uses. docs/kernels.md ("Tuning") says what is searched and why.
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "cli/commands.h"
#include "cli/machine_info.h"
#include "cli/progress.h"
#include "cli/tune_cache.h"
#include "model/linear.h"
#include "runtime/splitmix64.h"
#include "runtime/timer.h"
#include "tmac/error.h"
#include "tmac/gguf.h"
#include "tmac/model.h"
#include "tmac/thread_pool.h"
#include "tmac/tune.h"

namespace tmac::cli {
namespace {

// Copies of a matrix are cycled through until they exceed this, so that every product reads its
// weights from DRAM (the last-level cache here is far smaller), as decoding does.
constexpr int64_t kStreamBytes = int64_t{256} << 20;
// A winner replaces the default only when it is at least this much faster in the final
// alternating timing: smaller differences are within the noise of a shared machine.
constexpr double kMinGain = 0.03;

struct TuneOptions {
  std::string model_path;
  std::vector<int> threads;
  int repetitions = 7;
  std::string tables = "int8";
};

// One kind of matrix of the model: a tensor standing for `count` tensors of its kind.
struct MatrixKind {
  TuneKey key;  // threads are set per search
  const GgufTensor* tensor = nullptr;
  int count = 0;
  // Where the search starts: DefaultConfig, or for a tensor `tmac convert` packed, its stored
  // layout (which loading keeps: only the run-time parameters are searched then).
  TunedConfig base;
  bool fixed_layout = false;
  std::string description;  // Linear::Describe without the tuning part, e.g. "lut 4-bit g32 f16 quads"
};

// The matrices Model::Load repacks or reads packed (every 2-D weight but an untied embedding),
// grouped by kind, in file order.
std::vector<MatrixKind> MatrixKinds(const GgufFile& file, Isa isa) {
  const bool tied = file.FindTensor("output.weight") == nullptr;
  std::vector<MatrixKind> kinds;
  std::map<std::tuple<GgmlType, int64_t, int64_t>, size_t> seen;  // (type, cols, rows) -> kinds index
  for (const GgufTensor& t : file.tensors()) {
    if (t.name == "token_embd.weight" && !tied) continue;  // used in place, never repacked
    const bool packed = t.type == GgmlType::kTmacLut || t.type == GgmlType::kTmacTl2;
    if (!packed && t.shape.size() != 2) continue;
    const auto id = std::make_tuple(t.type, packed ? int64_t{-1} : t.shape[0], packed ? int64_t{-1} : t.shape[1]);
    if (const auto it = seen.find(id); it != seen.end() && !packed) {
      ++kinds[it->second].count;
      continue;
    }
    Linear probe;
    try {
      probe = Linear::Load(file, t, isa);
    } catch (const Error&) {
      continue;  // a type with no kernel: not a weight matrix the model multiplies by
    }
    const std::optional<TuneKey> key = probe.tune_key(isa, 1);
    if (!key) continue;
    // Packed tensors are matched by their kind, since their ggml shape is not the logical one.
    const auto same = std::find_if(kinds.begin(), kinds.end(), [&](const MatrixKind& k) { return k.key == *key; });
    if (same != kinds.end()) {
      ++same->count;
      continue;
    }
    std::string description = probe.Describe();
    description = description.substr(0, description.rfind(", "));
    seen[id] = kinds.size();
    const TunedConfig base = packed ? *probe.kernel_config() : DefaultConfig(*key);
    kinds.push_back({*key, &t, 1, base, packed, std::move(description)});
  }
  return kinds;
}

// Times one kind of matrix on one thread count, under any configuration.
class KindTimer {
 public:
  KindTimer(const GgufFile& file, const MatrixKind& kind, int threads, bool int8_activations, TableMode mode,
            int repetitions)
      : file_(file), kind_(kind), pool_(threads), int8_(int8_activations), repetitions_(repetitions) {
    key_ = kind.key;
    key_.threads = threads;
    options_.isa = key_.isa;
    options_.mode = mode;
    options_.pool = &pool_;
    SplitMix64 random(0x7475'6e65);
    x_.resize(static_cast<size_t>(key_.cols));
    for (float& v : x_) v = static_cast<float>(random.NextUniform() * 2.0 - 1.0);
    y_.resize(static_cast<size_t>(key_.rows));
    if (int8_) activations_ = QuantizeActivations(x_.data(), 1, key_.cols);
  }

  const TuneKey& key() const { return key_; }

  // Median seconds of one product over `repetitions` passes through the copies.
  double Measure(const TunedConfig& config) {
    std::vector<double> seconds;
    for (int i = 0; i < repetitions_; ++i) seconds.push_back(Pass(config));
    return Median(std::move(seconds));
  }

  // Both configurations measured in alternating passes, so that a change in the machine's load
  // hits both alike: {median a, median b}.
  std::pair<double, double> MeasurePair(const TunedConfig& a, const TunedConfig& b) {
    std::vector<double> sa, sb;
    for (int i = 0; i < repetitions_; ++i) {
      sa.push_back(Pass(a));
      sb.push_back(Pass(b));
    }
    return {Median(std::move(sa)), Median(std::move(sb))};
  }

  // Drops every set of copies but those of `keep`'s layouts (at most two are alive).
  void KeepOnly(const std::vector<TunedConfig>& keep) {
    std::erase_if(copies_, [&](const auto& entry) {
      return std::none_of(keep.begin(), keep.end(), [&](const TunedConfig& c) { return LayoutOf(c) == entry.first; });
    });
  }

 private:
  using Layout = std::pair<int, IndexOrder>;
  static Layout LayoutOf(const TunedConfig& c) { return {c.tile_rows, c.order}; }

  // The copies of the matrix packed in config's layout, packing them on first use exactly as a
  // model load with this configuration would (Linear::Load with a one-entry table).
  std::vector<Linear>& Copies(const TunedConfig& config) {
    std::vector<Linear>& copies = copies_[LayoutOf(config)];
    if (copies.empty()) {
      TuneTable only;
      only.Set(key_, config);
      copies.push_back(Linear::Load(file_, *kind_.tensor, key_.isa, {&only, key_.threads}));
      const int64_t count = std::max<int64_t>(2, (kStreamBytes + copies[0].bytes() - 1) / copies[0].bytes());
      while (static_cast<int64_t>(copies.size()) < count) copies.push_back(copies[0].Clone());
    }
    return copies;
  }

  // One product per copy (a warm-up product first); the seconds of one product.
  double Pass(const TunedConfig& config) {
    std::vector<Linear>& copies = Copies(config);
    for (Linear& w : copies) w.set_kernel_tuning(config.runtime);
    Multiply(copies.back());
    Stopwatch watch;
    for (const Linear& w : copies) Multiply(w);
    return watch.Seconds() / static_cast<double>(copies.size());
  }

  void Multiply(const Linear& w) {
    if (int8_) {
      w.ForwardInt8(activations_, y_.data(), options_);
    } else {
      w.Forward(x_.data(), 1, y_.data(), options_);
    }
  }

  const GgufFile& file_;
  const MatrixKind& kind_;
  TuneKey key_;
  ThreadPool pool_;
  bool int8_;
  int repetitions_;
  MatmulOptions options_;
  std::vector<float> x_, y_;
  Int8Activations activations_;
  std::map<Layout, std::vector<Linear>> copies_;
};

struct SearchResult {
  TuneKey key;
  const MatrixKind* kind = nullptr;
  TunedConfig chosen;
  double default_seconds = 0, tuned_seconds = 0;
};

// Timings one Search takes, for the progress bar.
int SearchSteps(const TuneSpace& space, bool fixed_layout) {
  const int layouts = fixed_layout ? 1 : static_cast<int>(space.tile_rows.size() * space.orders.size());
  return 1 + static_cast<int>(space.prefetch_bytes.size()) - 1 + layouts - 1 +
         static_cast<int>(space.tiles_per_item.size()) - 1 + 1;
}

// A pruned coordinate search from the default: the prefetch distance on the default layout,
// then every layout with the best distance, then the tile split; finally the winner and the
// default are timed again in alternation, and the winner must beat the default there by
// kMinGain (a winner picked among many noisy timings looks better than it is).
SearchResult Search(KindTimer& timer, const MatrixKind& kind, Progress& progress) {
  const TuneKey& key = timer.key();
  const TuneSpace space = TuneSpaceFor(key);
  const std::string what = fmt::format("{}x{} {} t{}", key.rows, key.cols, kind.description, key.threads);
  const TunedConfig base = kind.base;
  TunedConfig best = base;
  progress.Step(what + " default");
  double best_seconds = timer.Measure(base);
  const auto sweep = [&](const std::vector<TunedConfig>& candidates, const char* axis) {
    for (const TunedConfig& c : candidates) {
      progress.Step(fmt::format("{} {}", what, axis));
      const double seconds = timer.Measure(c);
      if (seconds < best_seconds) best = c, best_seconds = seconds;
      timer.KeepOnly({base, best});  // at most two layouts' copies in memory
    }
  };

  std::vector<TunedConfig> candidates;
  for (const int prefetch : space.prefetch_bytes) {
    TunedConfig c = base;
    c.runtime.prefetch_bytes = prefetch;
    if (!(c == base)) candidates.push_back(c);
  }
  sweep(candidates, "prefetch");

  candidates.clear();
  const TunedConfig with_prefetch = best;
  for (const int rows : kind.fixed_layout ? std::vector<int>{} : space.tile_rows) {
    for (const IndexOrder order : space.orders) {
      TunedConfig c = with_prefetch;
      c.tile_rows = rows;
      c.order = order;
      if (!(c == with_prefetch)) candidates.push_back(c);
    }
  }
  sweep(candidates, "layout");

  candidates.clear();
  const TunedConfig with_layout = best;
  for (const int split : space.tiles_per_item) {
    TunedConfig c = with_layout;
    c.runtime.tiles_per_item = split;
    if (!(c == with_layout)) candidates.push_back(c);
  }
  sweep(candidates, "split");

  progress.Step(what + " confirm");
  SearchResult result{key, &kind, base, 0, 0};
  const auto [default_seconds, best_again] = timer.MeasurePair(base, best);
  result.default_seconds = default_seconds;
  result.tuned_seconds = default_seconds;
  if (!(best == base) && best_again * (1.0 + kMinGain) < default_seconds) {
    result.chosen = best;
    result.tuned_seconds = best_again;
  }
  timer.KeepOnly({});
  return result;
}

void PrintResults(const std::vector<SearchResult>& results) {
  fmt::print("{:<12} {:<26} {:>5} {:>3} {:>11} {:>9} {:>7}  {}\n", "matrix", "kind", "count", "thr", "default ms",
             "tuned ms", "gain", "chosen");
  std::map<int, std::pair<double, double>> per_token;  // threads -> (default, tuned) seconds
  for (const SearchResult& r : results) {
    const bool is_default = r.chosen == r.kind->base;
    fmt::print("{:<12} {:<26} {:>5} {:>3} {:>11.3f} {:>9.3f} {:>+6.1f}%  {}{}\n",
               fmt::format("{}x{}", r.key.rows, r.key.cols), r.kind->description, r.kind->count, r.key.threads,
               r.default_seconds * 1e3, r.tuned_seconds * 1e3, 100.0 * (r.default_seconds / r.tuned_seconds - 1.0),
               DescribeConfig(r.key.format, r.chosen), is_default ? " (the default)" : "");
    auto& [d, t] = per_token[r.key.threads];
    d += r.kind->count * r.default_seconds;
    t += r.kind->count * r.tuned_seconds;
  }
  for (const auto& [threads, times] : per_token) {
    fmt::print("per token, all these matrices once, {} thread{}: default {:.2f} ms, tuned {:.2f} ms ({:+.1f}%)\n",
               threads, threads == 1 ? "" : "s", times.first * 1e3, times.second * 1e3,
               100.0 * (times.first / times.second - 1.0));
  }
}

void RunTune(const TuneOptions& o, const GlobalOptions& global) {
  const Isa isa = SelectedIsa(global);
  for (const int t : o.threads) Require(t >= 1, fmt::format("-t: thread counts must be at least 1, got {}", t));
  Require(o.repetitions >= 1, fmt::format("-r: repetitions must be at least 1, got {}", o.repetitions));
  const GgufFile file = GgufFile::Open(o.model_path);
  const ModelConfig config = ModelConfig::FromGguf(file);
  const TableMode mode = o.tables == "int16" ? TableMode::kInt16 : TableMode::kInt8;
  const std::vector<MatrixKind> kinds = MatrixKinds(file, isa);
  Require(!kinds.empty(), o.model_path + ": no matrix runs on the LUT or TL2 kernels, nothing to tune");

  const double load = LoadAverage();
  fmt::print("tmac tune: {}, isa {}, cpu {}, {}, load average {:.2f}\n", o.model_path, IsaName(isa), CpuModel(),
             UtcNow(), load);
  if (load >= 0.5) {
    fmt::print(stderr, "warning: load average {:.1f}: other processes are running, timings will be noisy\n", load);
  }
  size_t steps = 0;
  for (const MatrixKind& kind : kinds) {
    for (const int threads : o.threads) {
      TuneKey key = kind.key;
      key.threads = threads;
      steps += static_cast<size_t>(SearchSteps(TuneSpaceFor(key), kind.fixed_layout));
    }
  }
  std::vector<SearchResult> results;
  {
    Progress progress(steps);
    for (const MatrixKind& kind : kinds) {
      for (const int threads : o.threads) {
        KindTimer timer(file, kind, threads, config.int8_activations, mode, o.repetitions);
        results.push_back(Search(timer, kind, progress));
      }
    }
  }
  PrintResults(results);

  const std::optional<std::filesystem::path> path = TuneCachePath(CpuModel(), DefaultIsa());
  if (!path) {
    fmt::print("the tuning cache is off (TMAC_TUNE_CACHE=off or no home directory): nothing written\n");
    return;
  }
  std::string warning;
  TuneTable table = ReadTuneCache(*path, &warning);  // other models' entries stay
  if (!warning.empty()) fmt::print(stderr, "tmac: warning: {}; it will be replaced\n", warning);
  for (const SearchResult& r : results) table.Set(r.key, r.chosen);
  WriteTuneCache(*path, table, CpuModel());
  fmt::print("wrote {} entries ({} new or updated) to {}\n", table.entries().size(), results.size(), path->string());
}

}  // namespace

void RegisterTune(CLI::App& app, const GlobalOptions& global) {
  auto o = std::make_shared<TuneOptions>();
  const int hardware = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  o->threads = hardware > 1 ? std::vector<int>{1, hardware} : std::vector<int>{1};
  CLI::App* cmd = app.add_subcommand(
      "tune", "Search the LUT/TL2 kernels' tiling, layout and prefetch for a model's matrices on this machine; "
              "cache the winners for later loads");
  cmd->add_option("-m,--model", o->model_path, "GGUF model file")->required();
  cmd->add_option("-t,--threads", o->threads, "Thread counts to tune for, comma-separated (default: 1 and all)")
      ->delimiter(',');
  cmd->add_option("-r,--repetitions", o->repetitions, "Timed passes per candidate (the median counts)")
      ->capture_default_str();
  cmd->add_option("--tables", o->tables, "LUT tables the runs will use (as run's --tables)")
      ->capture_default_str()
      ->check(CLI::IsMember({"int8", "int16"}));
  cmd->callback([o, &global] { RunTune(*o, global); });
}

}  // namespace tmac::cli
