// Test helper for tests/gguf_roundtrip_test.py, which compares tmac's GGUF reader and writer with
// llama.cpp's gguf Python package through JSON:
//   gguf_tool types                     the ggml type table
//   gguf_tool dump FILE                 what GgufFile::Open reads from FILE
//   gguf_tool write SPEC OUT [--force]  writes OUT with GgufWriter from a JSON description
// A metadata value is {"type": "u32", "value": 7}; an array's value is {"type": ELEMENT_TYPE,
// "items": [...]}, with nested arrays' items in the same form. Tensor data is hex in SPEC.
#include <cstdio>
#include <exception>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "tmac/error.h"
#include "tmac/gguf.h"

namespace tmac {
namespace {

using nlohmann::json;

GgufType ParseGgufType(const std::string& name) {
  for (uint32_t id = 0; id < kGgufTypeCount; ++id) {
    if (GgufTypeName(static_cast<GgufType>(id)) == name) return static_cast<GgufType>(id);
  }
  throw Error("unknown GGUF type " + name);
}

GgmlType ParseGgmlType(const std::string& name) {
  for (const GgmlTypeInfo& info : GgmlTypes()) {
    if (info.name == name) return info.type;
  }
  throw Error("unknown ggml type " + name);
}

template <class T>
json ItemToJson(const T& item);

json ArrayToJson(const GgufArray& array) {
  json items = json::array();
  std::visit(
      [&](const auto& elements) {
        using Element = typename std::decay_t<decltype(elements)>::value_type;
        for (auto&& element : elements) items.push_back(ItemToJson<Element>(element));
      },
      array.elements);
  return {{"type", GgufTypeName(array.element_type())}, {"items", items}};
}

template <class T>
json ItemToJson(const T& item) {
  if constexpr (std::is_same_v<T, GgufArray>) {
    return ArrayToJson(item);
  } else {
    return item;
  }
}

GgufArray ArrayFromJson(const json& j);

template <class T>
T ItemFromJson(const json& j) {
  if constexpr (std::is_same_v<T, GgufArray>) {
    return ArrayFromJson(j);
  } else {
    return j.get<T>();
  }
}

GgufArray ArrayFromJson(const json& j) {
  return VisitGgufType(ParseGgufType(j.at("type")), [&](auto tag) {
    using T = typename decltype(tag)::type;
    std::vector<T> items;
    for (const json& item : j.at("items")) items.push_back(ItemFromJson<T>(item));
    return GgufArray{std::move(items)};
  });
}

std::vector<uint8_t> FromHex(const std::string& hex) {
  std::vector<uint8_t> bytes(hex.size() / 2);
  for (size_t i = 0; i < bytes.size(); ++i)
    bytes[i] = static_cast<uint8_t>(std::stoi(hex.substr(2 * i, 2), nullptr, 16));
  return bytes;
}

json Types() {
  json types = json::array();
  for (const GgmlTypeInfo& info : GgmlTypes()) {
    types.push_back({{"id", static_cast<uint32_t>(info.type)},
                     {"name", info.name},
                     {"block_size", info.block_size},
                     {"type_size", info.type_size}});
  }
  return types;
}

json Dump(const std::string& path) {
  const GgufFile file = GgufFile::Open(path);
  json metadata = json::array();
  for (const GgufKeyValue& kv : file.metadata()) {
    metadata.push_back({{"key", kv.key},
                        {"type", GgufTypeName(TypeOf(kv.value))},
                        {"value", std::visit([](const auto& v) { return ItemToJson(v); }, kv.value)}});
  }
  json tensors = json::array();
  for (const GgufTensor& t : file.tensors()) {
    tensors.push_back({{"name", t.name},
                       {"shape", t.shape},
                       {"type", GgmlTypeInfoOf(t.type).name},
                       {"offset", t.offset},
                       {"file_offset", file.data_offset() + t.offset},
                       {"bytes", t.data.size()}});
  }
  return {{"version", file.version()},
          {"alignment", file.alignment()},
          {"data_offset", file.data_offset()},
          {"metadata", metadata},
          {"tensors", tensors}};
}

void Write(const std::string& spec_path, const std::string& out, bool force) {
  const json spec = json::parse(std::ifstream(spec_path));
  GgufWriter writer;
  for (const json& kv : spec.at("metadata")) {
    writer.Add(kv.at("key"), VisitGgufType(ParseGgufType(kv.at("type")), [&](auto tag) {
                 using T = typename decltype(tag)::type;
                 return GgufValue(std::in_place_type<T>, ItemFromJson<T>(kv.at("value")));
               }));
  }
  std::vector<std::vector<uint8_t>> data;  // must outlive writer.Write
  data.reserve(spec.at("tensors").size());
  for (const json& t : spec.at("tensors")) {
    data.push_back(FromHex(t.at("data")));
    writer.AddTensor(t.at("name"), t.at("shape"), ParseGgmlType(t.at("type")), data.back());
  }
  writer.Write(out, force);
}

int Run(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() == 1 && args[0] == "types") {
    std::cout << Types().dump() << "\n";
  } else if (args.size() == 2 && args[0] == "dump") {
    std::cout << Dump(args[1]).dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
  } else if ((args.size() == 3 || (args.size() == 4 && args[3] == "--force")) && args[0] == "write") {
    Write(args[1], args[2], args.size() == 4);
  } else {
    std::fprintf(stderr, "usage: gguf_tool types | dump FILE | write SPEC OUT [--force]\n");
    return 2;
  }
  return 0;
}

}  // namespace
}  // namespace tmac

int main(int argc, char** argv) {
  try {
    return tmac::Run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gguf_tool: error: %s\n", e.what());
    return 1;
  }
}
