// `tmac info FILE`: what a GGUF file holds, as a person wants to see it: the header, the metadata
// (long values shortened), the tensor table, and the totals that tell how large the weights are.
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <variant>

#include "cli/commands.h"
#include "gguf/quote.h"
#include "tmac/gguf.h"

namespace tmac::cli {

namespace {

constexpr size_t kMaxStringShown = 60;  // bytes of a string value shown
constexpr size_t kMaxArrayShown = 60;   // characters of array elements shown before ", ..."

template <class T>
std::string FormatItem(const T& item);

// "[string x 32000] "<unk>", "<s>", ...": the type and length, then the elements that fit.
std::string FormatArray(const GgufArray& array) {
  std::string out = fmt::format("[{} x {}]", GgufTypeName(array.element_type()), array.size());
  std::visit(
      [&](const auto& items) {
        using Element = typename std::decay_t<decltype(items)>::value_type;
        std::string shown;
        for (size_t i = 0; i < items.size(); ++i) {
          const std::string item = FormatItem<Element>(items[i]);
          if (shown.size() + item.size() > kMaxArrayShown) {
            shown += i == 0 ? " ..." : ", ...";
            break;
          }
          shown += (i == 0 ? " " : ", ") + item;
        }
        out += shown;
      },
      array.elements);
  return out;
}

template <class T>
std::string FormatItem(const T& item) {
  if constexpr (std::is_same_v<T, std::string>) {
    return gguf::Quoted(item, kMaxStringShown);
  } else if constexpr (std::is_same_v<T, GgufArray>) {
    return fmt::format("[{} x {}]", GgufTypeName(item.element_type()), item.size());  // nested: no elements
  } else if constexpr (std::is_same_v<T, bool>) {
    return item ? "true" : "false";
  } else {
    return fmt::format("{}", item);  // shortest round-trip form for floats; u8/i8 as numbers
  }
}

std::string FormatValue(const GgufValue& value) {
  if (const auto* array = std::get_if<GgufArray>(&value)) return FormatArray(*array);
  return std::visit(
      [](const auto& item) {
        using T = std::decay_t<decltype(item)>;
        return fmt::format("{:<6} {}", GgufTypeName(kGgufTypeOf<T>), FormatItem<T>(item));
      },
      value);
}

std::string FormatShape(const std::vector<int64_t>& shape) {
  std::string out;
  for (const int64_t size : shape) out += (out.empty() ? "" : " x ") + std::to_string(size);
  return out;
}

void PrintInfo(const std::string& path) {
  const GgufFile file = GgufFile::Open(path);
  fmt::print("{}: GGUF version {}, {} bytes\n", file.name(), file.version(), file.file_size());
  fmt::print("  {} metadata entries, {} tensors, alignment {}, data section at byte {}\n",
             file.metadata().size(), file.tensors().size(), file.alignment(), file.data_offset());

  fmt::print("\nmetadata:\n");
  size_t key_width = 0;
  for (const GgufKeyValue& kv : file.metadata()) key_width = std::max(key_width, kv.key.size());
  for (const GgufKeyValue& kv : file.metadata()) {
    fmt::print("  {:<{}}  {}\n", kv.key, key_width, FormatValue(kv.value));
  }

  fmt::print("\ntensors:{}\n", file.tensors().empty() ? " none" : "");
  size_t name_width = 4, shape_width = 5;
  for (const GgufTensor& t : file.tensors()) {
    name_width = std::max(name_width, t.name.size());
    shape_width = std::max(shape_width, FormatShape(t.shape).size());
  }
  if (!file.tensors().empty()) {
    fmt::print("  {:<{}}  {:<{}}  {:<7}  {:>12}\n", "name", name_width, "shape", shape_width, "type",
               "bytes");
  }
  uint64_t total_bytes = 0;
  int64_t total_weights = 0;
  for (const GgufTensor& t : file.tensors()) {
    fmt::print("  {:<{}}  {:<{}}  {:<7}  {:>12}\n", t.name, name_width, FormatShape(t.shape), shape_width,
               GgmlTypeInfoOf(t.type).name, t.data.size());
    total_bytes += t.data.size();
    total_weights += t.elements();
  }

  fmt::print("\ntotal: {} tensors, {} bytes, {} weights", file.tensors().size(), total_bytes, total_weights);
  if (total_weights > 0) {
    const double per_weight = static_cast<double>(total_bytes) / static_cast<double>(total_weights);
    fmt::print(", {:.3f} bytes per weight ({:.2f} bits)", per_weight, 8 * per_weight);
  }
  fmt::print("\n");
}

}  // namespace

void RegisterInfo(CLI::App& app) {
  auto path = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("info", "Show a GGUF file's header, metadata and tensors");
  cmd->add_option("FILE", *path, "GGUF file")->required();
  cmd->callback([path] { PrintInfo(*path); });
}

}  // namespace tmac::cli
