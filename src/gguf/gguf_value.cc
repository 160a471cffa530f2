// GGUF metadata values: type names and array helpers.
#include <type_traits>
#include <variant>

#include "tmac/gguf.h"

namespace tmac {

// The variants' alternatives must stay in GgufType order: index() is taken as the type id.
static_assert(std::variant_size_v<GgufValue> == kGgufTypeCount);
static_assert(std::variant_size_v<GgufArrayElements> == kGgufTypeCount);
static_assert(kGgufTypeOf<bool> == GgufType::kBool && kGgufTypeOf<std::string> == GgufType::kString);
static_assert(kGgufTypeOf<GgufArray> == GgufType::kArray && kGgufTypeOf<double> == GgufType::kF64);
static_assert(std::is_same_v<std::variant_alternative_t<9, GgufArrayElements>, std::vector<GgufArray>>);

std::string_view GgufTypeName(GgufType type) {
  constexpr std::string_view kNames[kGgufTypeCount] = {"u8",   "i8",     "u16",   "i16", "u32", "i32", "f32",
                                                       "bool", "string", "array", "u64", "i64", "f64"};
  const auto id = static_cast<uint32_t>(type);
  return id < kGgufTypeCount ? kNames[id] : "unknown";
}

size_t GgufArray::size() const {
  return std::visit([](const auto& items) { return items.size(); }, elements);
}

bool GgufArray::operator==(const GgufArray& other) const { return elements == other.elements; }

}  // namespace tmac
