// Parsing GGUF files. Every count, length and offset is checked against the bytes actually there
// before it is used, so a corrupt or hostile file ends in a tmac::Error that names the problem and
// where it is, never in a crash, a hang or an allocation the file's size cannot justify.
#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <string>
#include <type_traits>
#include <utility>

#include "gguf/gguf_format.h"
#include "gguf/mapped_file.h"
#include "gguf/quote.h"
#include "tmac/error.h"
#include "tmac/gguf.h"

namespace tmac {

namespace {

using gguf::Quoted;

// Arrays may nest; the limit keeps a file made of nested array headers from exhausting the stack.
constexpr int kMaxArrayDepth = 16;

// The fewest bytes an encoded item can take, used to bound counts before reserving memory.
template <class T>
constexpr uint64_t kMinEncodedBytes = std::is_arithmetic_v<T>          ? sizeof(T)
                                      : std::is_same_v<T, std::string> ? 8       // length
                                                                       : 4 + 8;  // type, length
constexpr uint64_t kMinKeyValueBytes = 8 + 4 + 1;            // key length, value type, a u8 value
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 8 + 4 + 8;  // name length, n_dims, a dim, type, offset

// Reads the file image front to back, and says where it was when something is wrong.
class Cursor {
 public:
  Cursor(std::span<const uint8_t> bytes, const std::string& file) : bytes_(bytes), file_(file) {}

  size_t offset() const { return offset_; }
  size_t left() const { return bytes_.size() - offset_; }

  // The part being read, which error messages start with: "metadata entry 3 at byte 120".
  void set_context(std::string context) { context_ = std::move(context); }

  [[noreturn]] void Fail(const std::string& problem) const {
    throw Error(file_ + ": " + context_ + ": " + problem);
  }

  // `n` bytes, which error messages call what + what_more: the message is put together only on
  // failure, so that reading a large array does not build one for each element.
  const uint8_t* Take(uint64_t n, std::string_view what, std::string_view what_more = {}) {
    if (n > left()) {
      Fail("truncated: " + std::string(what) + std::string(what_more) + " needs " + std::to_string(n) +
           " bytes at byte " + std::to_string(offset_) + " but the file ends at byte " +
           std::to_string(bytes_.size()));
    }
    const uint8_t* p = bytes_.data() + offset_;
    offset_ += n;
    return p;
  }

  template <class T>
  T Read(std::string_view what, std::string_view what_more = {}) {
    T value;
    std::memcpy(&value, Take(sizeof(T), what, what_more), sizeof(T));
    return value;
  }

  std::string ReadString(std::string_view what) {
    const auto length = Read<uint64_t>("the length of ", what);
    if (length > left()) {
      Fail("truncated or corrupt: the length of " + std::string(what) + ", " + std::to_string(length) +
           " bytes, exceeds the " + std::to_string(left()) + " bytes left after byte " +
           std::to_string(offset_));
    }
    const auto* p = reinterpret_cast<const char*>(Take(length, what));
    return std::string(p, length);
  }

  // Checks a count of `what` (plural) of at least `min_item_bytes` each against the bytes left,
  // so that a corrupt count cannot make the caller reserve memory the file could never fill.
  void CheckCount(uint64_t count, std::string_view what, uint64_t min_item_bytes) const {
    if (count > left() / min_item_bytes) {
      Fail("truncated or corrupt: " + std::to_string(count) + " " + std::string(what) + " of at least " +
           std::to_string(min_item_bytes) + " bytes each cannot fit in the " + std::to_string(left()) +
           " bytes left after byte " + std::to_string(offset_));
    }
  }

 private:
  std::span<const uint8_t> bytes_;
  const std::string& file_;
  std::string context_;
  size_t offset_ = 0;
};

GgufType ReadType(Cursor& in, std::string_view what) {
  const auto id = in.Read<uint32_t>("the ", what);
  if (id >= kGgufTypeCount) in.Fail("unknown " + std::string(what) + " " + std::to_string(id));
  return static_cast<GgufType>(id);
}

GgufArray ReadArray(Cursor& in, int depth);

template <class T>
T ReadItem(Cursor& in, int depth) {
  if constexpr (std::is_same_v<T, bool>) {
    const size_t at = in.offset();
    const auto byte = in.Read<uint8_t>("a bool");
    if (byte > 1)
      in.Fail("bool at byte " + std::to_string(at) + " is " + std::to_string(byte) + ", not 0 or 1");
    return byte == 1;
  } else if constexpr (std::is_same_v<T, std::string>) {
    return in.ReadString("a string");
  } else if constexpr (std::is_same_v<T, GgufArray>) {
    return ReadArray(in, depth + 1);
  } else {
    return in.Read<T>("a ", GgufTypeName(kGgufTypeOf<T>));
  }
}

GgufArray ReadArray(Cursor& in, int depth) {
  if (depth > kMaxArrayDepth) {
    in.Fail("arrays nested more than " + std::to_string(kMaxArrayDepth) + " deep at byte " +
            std::to_string(in.offset()));
  }
  return VisitGgufType(ReadType(in, "array element type"), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const auto count = in.Read<uint64_t>("the array length");
    in.CheckCount(count, "array elements", kMinEncodedBytes<T>);
    std::vector<T> items;
    items.reserve(count);
    for (uint64_t i = 0; i < count; ++i) items.push_back(ReadItem<T>(in, depth));
    return GgufArray{std::move(items)};
  });
}

struct Header {
  uint32_t version;
  uint64_t tensor_count;
  uint64_t metadata_count;
};

Header ReadHeader(Cursor& in) {
  in.set_context("header");
  const uint8_t* magic = in.Take(gguf::kMagic.size(), "the magic");
  if (std::memcmp(magic, gguf::kMagic.data(), gguf::kMagic.size()) != 0) {
    char hex[3 * 4];
    std::snprintf(hex, sizeof(hex), "%02x %02x %02x %02x", magic[0], magic[1], magic[2], magic[3]);
    in.Fail(std::string("not a GGUF file: it starts with bytes ") + hex + ", not \"GGUF\" (47 47 55 46)");
  }
  Header header;
  header.version = in.Read<uint32_t>("the version");
  if (header.version != 2 && header.version != 3) {
    const uint32_t swapped = __builtin_bswap32(header.version);
    if (swapped == 2 || swapped == 3)
      in.Fail("a big-endian GGUF file; only little-endian files are supported");
    in.Fail("unsupported GGUF version " + std::to_string(header.version) +
            "; versions 2 and 3 are supported");
  }
  header.tensor_count = in.Read<uint64_t>("the tensor count");  // checked where the tensor infos start
  header.metadata_count = in.Read<uint64_t>("the metadata entry count");
  in.CheckCount(header.metadata_count, "metadata entries", kMinKeyValueBytes);
  return header;
}

std::vector<GgufKeyValue> ReadMetadata(Cursor& in, uint64_t count,
                                       std::map<std::string, size_t, std::less<>>& index) {
  std::vector<GgufKeyValue> metadata;
  metadata.reserve(count);
  for (uint64_t i = 0; i < count; ++i) {
    const std::string entry =
        "metadata entry " + std::to_string(i) + " at byte " + std::to_string(in.offset());
    in.set_context(entry);
    std::string key = in.ReadString("the key");
    in.set_context(entry + " (" + Quoted(key) + ")");
    if (const auto it = index.find(key); it != index.end()) {
      in.Fail("duplicate key, first in metadata entry " + std::to_string(it->second));
    }
    GgufValue value = VisitGgufType(ReadType(in, "value type"), [&](auto tag) {
      using T = typename decltype(tag)::type;
      return GgufValue(std::in_place_type<T>, ReadItem<T>(in, 0));
    });
    index.emplace(key, i);
    metadata.push_back({std::move(key), std::move(value)});
  }
  return metadata;
}

std::vector<GgufTensor> ReadTensorInfos(Cursor& in, uint64_t count,
                                        std::map<std::string, size_t, std::less<>>& index) {
  in.set_context("tensor infos at byte " + std::to_string(in.offset()));
  in.CheckCount(count, "tensor infos", kMinTensorInfoBytes);
  std::vector<GgufTensor> tensors;
  tensors.reserve(count);
  for (uint64_t i = 0; i < count; ++i) {
    const std::string entry = "tensor info " + std::to_string(i) + " at byte " + std::to_string(in.offset());
    in.set_context(entry);
    GgufTensor tensor;
    tensor.name = in.ReadString("the name");
    in.set_context(entry + " (" + Quoted(tensor.name) + ")");
    if (tensor.name.size() > gguf::kMaxTensorName) {
      in.Fail("the name is " + std::to_string(tensor.name.size()) + " bytes long; at most " +
              std::to_string(gguf::kMaxTensorName) + " are allowed");
    }
    if (const auto it = index.find(tensor.name); it != index.end()) {
      in.Fail("duplicate tensor name, first in tensor info " + std::to_string(it->second));
    }
    const auto dims = in.Read<uint32_t>("the number of dimensions");
    if (dims == 0 || dims > gguf::kMaxDims) {
      in.Fail(std::to_string(dims) + " dimensions; a tensor has 1 to " + std::to_string(gguf::kMaxDims));
    }
    for (uint32_t d = 0; d < dims; ++d) {
      const auto size = in.Read<uint64_t>("a dimension");
      // Dimensions are int64 in ggml; zero ones are reported with the byte size check.
      if (size > uint64_t{INT64_MAX})
        in.Fail("dimension " + std::to_string(d) + " is " + std::to_string(size));
      tensor.shape.push_back(static_cast<int64_t>(size));
    }
    const auto type_id = in.Read<uint32_t>("the type");
    const GgmlTypeInfo* type = FindGgmlType(type_id);
    if (type == nullptr) in.Fail("unknown ggml type id " + std::to_string(type_id));
    tensor.type = type->type;
    tensor.offset = in.Read<uint64_t>("the data offset");
    index.emplace(tensor.name, i);
    tensors.push_back(std::move(tensor));
  }
  return tensors;
}

// general.alignment, which must be a u32 power of two when present.
uint32_t ReadAlignment(Cursor& in, const GgufFile& file) {
  const GgufValue* value = file.FindValue(gguf::kAlignmentKey);
  if (value == nullptr) return gguf::kDefaultAlignment;
  in.set_context("metadata " + Quoted(gguf::kAlignmentKey));
  const auto* alignment = std::get_if<uint32_t>(value);
  if (alignment == nullptr)
    in.Fail("has type " + std::string(GgufTypeName(TypeOf(*value))) + ", expected u32");
  if (!std::has_single_bit(*alignment)) in.Fail(std::to_string(*alignment) + " is not a power of two");
  return *alignment;
}

// Checks that each tensor's data lies aligned inside the file and overlaps no other tensor's, and
// points GgufTensor::data at it.
void PlaceTensors(Cursor& in, std::vector<GgufTensor>& tensors, std::span<const uint8_t> bytes,
                  uint64_t data_offset, uint32_t alignment) {
  if (tensors.empty()) return;  // vocab-only files may end before the aligned data section
  if (data_offset > bytes.size()) {
    in.set_context("data section");
    in.Fail("truncated: it starts at byte " + std::to_string(data_offset) + " but the file ends at byte " +
            std::to_string(bytes.size()));
  }
  const uint64_t data_size = bytes.size() - data_offset;
  const auto describe = [&](size_t i) {
    return "tensor " + std::to_string(i) + " (" + Quoted(tensors[i].name) + ")";
  };
  for (size_t i = 0; i < tensors.size(); ++i) {
    GgufTensor& t = tensors[i];
    in.set_context(describe(i));
    int64_t size = 0;
    try {
      size = GgmlTensorBytes(t.shape, t.type);
    } catch (const Error& e) {
      in.Fail(e.what());
    }
    if (t.offset % alignment != 0) {
      in.Fail("data offset " + std::to_string(t.offset) + " is not a multiple of the alignment " +
              std::to_string(alignment));
    }
    if (t.offset > data_size || static_cast<uint64_t>(size) > data_size - t.offset) {
      in.Fail("truncated or out of range: its " + std::to_string(size) + " bytes at data offset " +
              std::to_string(t.offset) + " (byte " + std::to_string(data_offset + t.offset) +
              ") pass the end of the file at byte " + std::to_string(bytes.size()));
    }
    t.data = bytes.subspan(data_offset + t.offset, static_cast<size_t>(size));
  }
  std::vector<size_t> order(tensors.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return tensors[a].offset < tensors[b].offset; });
  for (size_t k = 1; k < order.size(); ++k) {
    const GgufTensor& prev = tensors[order[k - 1]];
    const GgufTensor& cur = tensors[order[k]];
    if (prev.offset + prev.data.size() > cur.offset) {
      in.set_context(describe(order[k]));
      in.Fail("its data at data offset " + std::to_string(cur.offset) + " overlaps " +
              describe(order[k - 1]) + ", which spans data offsets " + std::to_string(prev.offset) + " to " +
              std::to_string(prev.offset + prev.data.size()));
    }
  }
}

}  // namespace

int64_t GgufTensor::elements() const {
  return std::accumulate(shape.begin(), shape.end(), int64_t{1}, std::multiplies<>());
}

GgufFile GgufFile::Open(const std::filesystem::path& path) {
  auto mapping = std::make_unique<MappedFile>(path);
  GgufFile file = Parse(mapping->bytes(), path.string());
  file.mapping_ = std::move(mapping);
  return file;
}

GgufFile GgufFile::Parse(std::span<const uint8_t> bytes, std::string name) {
  GgufFile file;
  file.bytes_ = bytes;
  file.name_ = std::move(name);
  Cursor in(bytes, file.name_);
  const Header header = ReadHeader(in);
  file.version_ = header.version;
  file.metadata_ = ReadMetadata(in, header.metadata_count, file.key_index_);
  file.tensors_ = ReadTensorInfos(in, header.tensor_count, file.tensor_index_);
  file.alignment_ = ReadAlignment(in, file);
  file.data_offset_ = gguf::AlignUp(in.offset(), file.alignment_);
  PlaceTensors(in, file.tensors_, bytes, file.data_offset_, file.alignment_);
  return file;
}

GgufFile::GgufFile(GgufFile&&) noexcept = default;
GgufFile& GgufFile::operator=(GgufFile&&) noexcept = default;
GgufFile::~GgufFile() = default;

const GgufValue* GgufFile::FindValue(std::string_view key) const {
  const auto it = key_index_.find(key);
  return it == key_index_.end() ? nullptr : &metadata_[it->second].value;
}

const GgufTensor* GgufFile::FindTensor(std::string_view name) const {
  const auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

const GgufTensor& GgufFile::GetTensor(std::string_view name) const {
  const GgufTensor* tensor = FindTensor(name);
  if (tensor == nullptr) throw Error(name_ + ": no tensor named " + Quoted(name));
  return *tensor;
}

void GgufFile::ReleasePages(const GgufTensor& tensor) const {
  if (mapping_ != nullptr) mapping_->ReleasePages(tensor.data);
}

void GgufFile::ThrowMissingKey(std::string_view key) const {
  throw Error(name_ + ": no metadata key " + Quoted(key));
}

void GgufFile::ThrowWrongType(std::string_view key, std::string_view expected,
                              std::string_view actual) const {
  throw Error(name_ + ": metadata key " + Quoted(key) + " has type " + std::string(actual) + ", expected " +
              std::string(expected));
}

}  // namespace tmac
