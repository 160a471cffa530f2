// The tmac command tree: main builds the top level, each subcommand lives in its own file and
// registers itself through one function declared here.
#pragma once

#include <string>

#include "tmac/isa.h"

namespace CLI {
class App;
}

namespace tmac::cli {

// Flags that belong to the top-level app; main fills them in before any subcommand runs.
struct GlobalOptions {
  std::string isa;  // --isa; empty means tmac::DefaultIsa()
};

// The ISA kernels run on: --isa when given (it must be supported here), else DefaultIsa().
Isa SelectedIsa(const GlobalOptions& global);

// `tmac bench -m MODEL`: the flags and the action of the `bench` subcommand itself, which runs
// when no subcommand of it (kernels) is given.
void RegisterBenchModel(CLI::App& bench, const GlobalOptions& global);

// `tmac bench kernels`, added under the `bench` subcommand.
void RegisterBenchKernels(CLI::App& bench, const GlobalOptions& global);

// `tmac info FILE`, added at the top level.
void RegisterInfo(CLI::App& app);

// `tmac convert IN OUT --bits B`, added at the top level.
void RegisterConvert(CLI::App& app);

// `tmac synth --shape S --type T -o OUT`, added at the top level.
void RegisterSynth(CLI::App& app);

// `tmac run -m MODEL -p PROMPT`, added at the top level.
void RegisterRun(CLI::App& app, const GlobalOptions& global);

// `tmac perplexity -m MODEL -f TEXT`, added at the top level.
void RegisterPerplexity(CLI::App& app, const GlobalOptions& global);

// `tmac tokenize -m MODEL (-p TEXT ... | -f FILE)`, added at the top level.
void RegisterTokenize(CLI::App& app);

// `tmac tune -m MODEL`, added at the top level.
void RegisterTune(CLI::App& app, const GlobalOptions& global);

}  // namespace tmac::cli
