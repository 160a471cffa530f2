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

// `tmac bench kernels`, added under the `bench` subcommand.
void RegisterBenchKernels(CLI::App& bench, const GlobalOptions& global);

// `tmac info FILE`, added at the top level.
void RegisterInfo(CLI::App& app);

// `tmac convert IN OUT --bits B`, added at the top level.
void RegisterConvert(CLI::App& app);

}  // namespace tmac::cli
