// `tmac tokenize -m FILE (-p TEXT ... | -f FILE)`: the token ids of text under a GGUF file's
// vocabulary, printed like llama.cpp's llama-tokenize (one `id -> 'piece'` line per token) or, with
// --ids, as one `[id, id, ...]` line per input, for comparing with other tokenizers.
#include <fmt/core.h>
#include <fmt/ranges.h>

#include <CLI/CLI.hpp>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "tmac/error.h"
#include "tmac/gguf.h"
#include "tmac/tokenizer.h"

namespace tmac::cli {

namespace {

struct TokenizeOptions {
  std::string model;
  std::vector<std::string> prompts;
  std::string file;
  bool ids_only = false;
  bool no_bos = false;
  bool no_parse_special = false;
};

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  Require(in.good(), path + ": cannot open");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Require(!in.bad(), path + ": read error");
  return text;
}

void PrintTokens(const Tokenizer& tokenizer, const std::vector<int32_t>& ids, bool ids_only) {
  if (ids_only) {
    fmt::print("[{}]\n", fmt::join(ids, ", "));
    return;
  }
  for (const int32_t id : ids) fmt::print("{:6} -> '{}'\n", id, tokenizer.TokenToPiece(id, /*special=*/true));
}

void RunTokenize(const TokenizeOptions& o) {
  const GgufFile file = GgufFile::Open(o.model);
  const Tokenizer tokenizer = Tokenizer::FromGguf(file);
  std::vector<std::string> inputs = o.prompts;
  if (!o.file.empty()) inputs.push_back(ReadWholeFile(o.file));
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (i > 0 && !o.ids_only) fmt::print("\n");
    PrintTokens(tokenizer, tokenizer.Encode(inputs[i], !o.no_bos, !o.no_parse_special), o.ids_only);
  }
}

}  // namespace

void RegisterTokenize(CLI::App& app) {
  auto o = std::make_shared<TokenizeOptions>();
  CLI::App* cmd = app.add_subcommand("tokenize", "Show the token ids of text under a GGUF file's vocabulary");
  cmd->add_option("-m,--model", o->model, "GGUF file whose tokenizer.ggml.* vocabulary to use")->required();
  auto* prompt = cmd->add_option("-p,--prompt", o->prompts, "Text to tokenize; repeat for several inputs");
  auto* file = cmd->add_option("-f,--file", o->file, "Tokenize the whole content of this file as one input");
  prompt->excludes(file);
  file->excludes(prompt);
  cmd->add_flag("--ids", o->ids_only,
                "Print only the ids, one line per input, as a list: [1, 2, 3] (default: one "
                "\"id -> 'piece'\" line per token, inputs separated by a blank line)");
  cmd->add_flag("--no-bos", o->no_bos, "Add no BOS/EOS, even where the vocabulary asks for them");
  cmd->add_flag("--no-parse-special", o->no_parse_special,
                "Tokenize control tokens written in the text (\"<|im_start|>\") as plain text");
  cmd->callback([o] {
    Require(!o->prompts.empty() || !o->file.empty(), "tokenize: give text with -p or a file with -f");
    RunTokenize(*o);
  });
}

}  // namespace tmac::cli
