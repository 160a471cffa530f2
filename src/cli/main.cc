// tmac: the command-line tool. Subcommands work like git's (`tmac bench kernels ...`); every
// error, from the parser or from the library, ends the run with a message and a non-zero exit.
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <new>
#include <string>

#include "cli/commands.h"
#include "tmac/error.h"
#include "tmac/isa.h"

namespace tmac::cli {

Isa SelectedIsa(const GlobalOptions& global) {
  if (global.isa.empty()) return DefaultIsa();
  const Isa isa = ParseIsa(global.isa);
  Require(IsaSupported(isa), "--isa " + global.isa + " is not supported on this machine");
  return isa;
}

}  // namespace tmac::cli

namespace {

// True when the user stopped at a command that only groups subcommands (`tmac`, `tmac bench`):
// main then prints its help, as git does. Subcommands are not marked required because CLI11
// would then report a mistyped name as "a subcommand is required" instead of naming it. A group
// given flags of its own runs itself (`tmac bench -m MODEL`).
bool StoppedAtGroup(const CLI::App& app) {
  const CLI::App* command = &app;
  while (!command->get_subcommands().empty()) command = command->get_subcommands().front();
  const bool group = !command->get_subcommands([](const CLI::App*) { return true; }).empty();
  return group && (command == &app || command->count_all() <= 1);  // 1: the subcommand's own name
}

// Validates --isa at parse time with the library's own parser, so the accepted names are always
// the ones the library knows.
const CLI::Validator IsaName(
    [](const std::string& name) {
      try {
        tmac::ParseIsa(name);
        return std::string();
      } catch (const tmac::Error& e) {
        return std::string(e.what());
      }
    },
    "ISA");

}  // namespace

int main(int argc, char** argv) {
  using tmac::cli::GlobalOptions;
  CLI::App app{"tmac: low-bit LLM matrix products by table lookup (T-MAC)", "tmac"};
  // Top-level flags such as --isa may also follow a subcommand; subcommands inherit this.
  app.fallthrough();
  app.set_version_flag("--version", std::string("tmac ") + TMAC_VERSION);

  GlobalOptions global;
  app.add_option("--isa", global.isa,
                 "Kernel instruction set: scalar, avx2, avx512, ... (default: the best this CPU runs, or "
                 "env TMAC_ISA)")
      ->check(IsaName);

  CLI::App* bench = app.add_subcommand("bench", "Measure the speed of a model (-m MODEL), or of kernels");
  tmac::cli::RegisterBenchModel(*bench, global);
  tmac::cli::RegisterBenchKernels(*bench, global);
  tmac::cli::RegisterInfo(app);
  tmac::cli::RegisterConvert(app);
  tmac::cli::RegisterSynth(app);
  tmac::cli::RegisterTokenize(app);
  tmac::cli::RegisterTune(app, global);
  tmac::cli::RegisterRun(app, global);
  tmac::cli::RegisterPerplexity(app, global);

  try {
    app.parse(argc, argv);
    if (StoppedAtGroup(app)) {
      fmt::print(stderr, "{}", app.help());  // the help of the deepest command given
      return 1;
    }
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::bad_alloc&) {
    fmt::print(stderr, "tmac: error: out of memory\n");
    return 1;
  } catch (const std::exception& e) {  // tmac::Error and anything else the library lets through
    fmt::print(stderr, "tmac: error: {}\n", e.what());
    return 1;
  }
  return 0;
}
