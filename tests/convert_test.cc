// `tmac convert` and the packed-tensor GGUF mapping (src/formats/lut_gguf.h): a packed matrix
// written and read back is the same matrix, and converting a real model keeps everything but the
// matmul weights, which become tmac tensors whose products match the requantized weights.
#include <gtest/gtest.h>

#include <algorithm>
#include <sys/wait.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "formats/lut_gguf.h"
#include "gguf_test_util.h"
#include "reference.h"
#include "tmac/error.h"
#include "tmac/ggml_random.h"
#include "tmac/ggml_types.h"
#include "tmac/gguf.h"
#include "tmac/lut.h"
#include "tmac/requantize.h"
#include "tmac/ternary.h"

namespace tmac {
namespace {

using gguf_test::TempDir;
namespace fs = std::filesystem;

std::vector<float> Products(const LutMatrix& w, const std::vector<float>& x, int64_t batch, Isa isa) {
  std::vector<float> y(static_cast<size_t>(batch * w.rows()));
  MatmulOptions options;
  options.isa = isa;
  LutMatmul(w, x.data(), batch, y.data(), options);
  return y;
}

// The mapping on its own ------------------------------------------------------------------------

TEST(LutGguf, LutTensorRoundTrips) {
  TempDir dir;
  const QuantMatrix q = testing::RandomQuantMatrix(100, 256, 3, 64, /*symmetric=*/false, 7);
  LutLayout layout = DefaultLutLayout(3, 64, Isa::kScalar);
  const LutMatrix packed = LutMatrix::Pack(q, layout);
  const QuantMatrix q2 = testing::RandomQuantMatrix(64, 128, 1, 32, /*symmetric=*/true, 8);
  layout = DefaultLutLayout(1, 32, Isa::kScalar);
  layout.scale_type = ScaleType::kF32;
  layout.tile_rows = 128;
  const LutMatrix packed2 = LutMatrix::Pack(q2, layout);
  QuantMatrix q3 = testing::RandomQuantMatrix(64, 128, 4, 32, /*symmetric=*/false, 9);
  std::fill(q3.zeros.begin(), q3.zeros.end(), 8.f);  // Q4_0's zero point: bias terms not stored
  const LutMatrix packed3 = LutMatrix::Pack(q3, DefaultLutLayout(4, 32, Isa::kScalar));
  ASSERT_EQ(packed3.bias().form, BiasForm::kPerScale);

  GgufWriter writer;
  writer.Add(std::string(kTmacFormatVersionKey), kTmacFormatVersion);
  AddLutTensor(writer, "a.weight", packed);
  AddLutTensor(writer, "b.weight", packed2);
  AddLutTensor(writer, "c.weight", packed3);
  writer.Write(dir / "m.gguf");

  const GgufFile file = GgufFile::Open(dir / "m.gguf");
  for (const auto* original : {&packed, &packed2, &packed3}) {
    const GgufTensor& t =
        file.GetTensor(original == &packed ? "a.weight" : original == &packed2 ? "b.weight" : "c.weight");
    EXPECT_EQ(t.type, kLutGgufType);
    EXPECT_EQ(t.shape, (std::vector<int64_t>{original->bytes()}));
    EXPECT_EQ(PackedLogicalShape(file, t), (std::vector<int64_t>{original->cols(), original->rows()}));
    const LutMatrix back = ReadLutTensor(file, t);
    EXPECT_EQ(back.rows(), original->rows());
    EXPECT_EQ(back.cols(), original->cols());
    EXPECT_EQ(back.bias(), original->bias());
    EXPECT_EQ(back.layout().scale_type, original->layout().scale_type);
    EXPECT_EQ(back.layout().tile_rows, original->layout().tile_rows);
    ASSERT_EQ(back.bytes(), original->bytes());
    EXPECT_TRUE(std::equal(back.data(), back.data() + back.bytes(), original->data()));
    const std::vector<float> x = testing::RandomVector(2 * back.cols(), 3);
    EXPECT_EQ(Products(back, x, 2, Isa::kScalar), Products(*original, x, 2, Isa::kScalar));
    EXPECT_EQ(Products(back, x, 2, DefaultIsa()), Products(*original, x, 2, DefaultIsa()));
  }
  EXPECT_THROW(ReadTl2Tensor(file, file.GetTensor("a.weight")), Error);
}

TEST(LutGguf, Tl2TensorRoundTrips) {
  TempDir dir;
  std::vector<int8_t> values(70 * 128);
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<int8_t>(int(i * 7 % 3) - 1);
  const QuantMatrix q = MakeTernary(70, 128, 64, values, {0.25f});
  const Tl2Matrix packed = Tl2Matrix::Pack(q);
  GgufWriter writer;
  writer.Add(std::string(kTmacFormatVersionKey), kTmacFormatVersion);
  AddTl2Tensor(writer, "t.weight", packed);
  writer.Write(dir / "t.gguf");
  const GgufFile file = GgufFile::Open(dir / "t.gguf");
  const Tl2Matrix back = ReadTl2Tensor(file, file.GetTensor("t.weight"));
  ASSERT_EQ(back.bytes(), packed.bytes());
  EXPECT_EQ(back.group(), 64);
  EXPECT_TRUE(std::equal(back.data(), back.data() + back.bytes(), packed.data()));
  const std::vector<float> x = testing::RandomVector(128, 5);
  std::vector<float> y1(70), y2(70);
  Tl2Matmul(back, x.data(), 1, y1.data());
  Tl2Matmul(packed, x.data(), 1, y2.data());
  EXPECT_EQ(y1, y2);
}

TEST(LutGguf, FromBytesChecksTheSize) {
  const QuantMatrix q = testing::RandomQuantMatrix(64, 64, 2, 32, false, 1);
  const LutMatrix packed = LutMatrix::Pack(q, DefaultLutLayout(2, 32, Isa::kScalar));
  std::vector<uint8_t> bytes(packed.data(), packed.data() + packed.bytes());
  const LutBias stored{BiasForm::kStored};
  EXPECT_NO_THROW(LutMatrix::FromBytes(64, 64, packed.layout(), stored, bytes));
  EXPECT_NO_THROW(LutMatrix::FromBytes(64, 64, packed.layout(), {BiasForm::kMin}, bytes));
  EXPECT_THROW(LutMatrix::FromBytes(64, 64, packed.layout(), {BiasForm::kPerScale, -0.5f}, bytes), Error);
  EXPECT_THROW(LutMatrix::FromBytes(64, 64, packed.layout(), {BiasForm::kStored, -0.5f}, bytes), Error);
  EXPECT_THROW(LutMatrix::FromBytes(64, 64, packed.layout(), {BiasForm::kPerScale, 0.f}, bytes), Error);
  bytes.pop_back();
  EXPECT_THROW(LutMatrix::FromBytes(64, 64, packed.layout(), stored, bytes), Error);
  EXPECT_THROW(LutMatrix::FromBytes(64, 48, packed.layout(), stored, bytes), Error);
  EXPECT_THROW(Tl2Matrix::FromBytes(64, 64, 16, {}, bytes), Error);
}

TEST(LutGguf, PrivateTypesAreKnownButNotGgml) {
  ASSERT_NE(FindGgmlType(1000), nullptr);
  EXPECT_EQ(FindGgmlType(1000)->name, "TMAC_LUT");
  EXPECT_EQ(FindGgmlType(1001)->name, "TMAC_TL2");
  EXPECT_EQ(FindGgmlType(1002), nullptr);
  for (const GgmlTypeInfo& info : GgmlTypes()) EXPECT_FALSE(IsPackedGgufType(info.type));
}

// tmac convert on a real model ------------------------------------------------------------------

const fs::path kModel = fs::path(TMAC_MODELS_DIR) / "stories260K" / "stories260K.gguf";

struct RunResult {
  int status = -1;
  std::string out, err;
};

std::string Slurp(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs `tmac <args>`, capturing stdout and stderr in `logs` (a directory outside the tested one).
RunResult Tmac(const std::string& args, const TempDir& logs) {
  const std::string cmd = std::string(TMAC_BINARY) + " " + args + " >" + (logs / "out").string() + " 2>" +
                          (logs / "err").string();
  const int raw = std::system(cmd.c_str());
  RunResult run;
  run.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  run.out = Slurp(logs / "out");
  run.err = Slurp(logs / "err");
  return run;
}

class ConvertTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string(TMAC_BINARY).empty()) GTEST_SKIP() << "built without the tmac tool";
    if (!fs::exists(kModel)) GTEST_SKIP() << kModel << " is absent";
  }
  std::string Quote(const fs::path& p) { return "'" + p.string() + "'"; }
  TempDir dir_, logs_;
};

bool IsMatmul(const GgufTensor& t) {
  return t.shape.size() == 2 && t.name.starts_with("blk.") && t.name.find("norm") == std::string::npos;
}

// Converts at `bits`, checks the file's structure, and returns it.
void CheckConverted(const fs::path& out, const std::string& bits, GgmlType packed_type) {
  const GgufFile src = GgufFile::Open(kModel);
  const GgufFile dst = GgufFile::Open(out);
  ASSERT_EQ(dst.tensors().size(), src.tensors().size());
  EXPECT_EQ(dst.GetU32(kTmacFormatVersionKey), kTmacFormatVersion);
  for (const GgufKeyValue& kv : src.metadata()) {
    const GgufValue* value = dst.FindValue(kv.key);
    ASSERT_NE(value, nullptr) << kv.key;
    EXPECT_TRUE(*value == kv.value) << kv.key;
  }
  int packed = 0;
  for (const GgufTensor& s : src.tensors()) {
    const GgufTensor& d = dst.GetTensor(s.name);
    if (IsMatmul(s) && s.shape[0] % 16 == 0) {
      ++packed;
      EXPECT_EQ(d.type, packed_type) << s.name;
      EXPECT_EQ(PackedLogicalShape(dst, d), s.shape) << s.name;
      EXPECT_EQ(dst.GetString(TmacTensorKey(s.name, "source_type")), "F32");
      EXPECT_FALSE(dst.Get<bool>(TmacTensorKey(s.name, "lossless")));
      if (packed_type == kLutGgufType) {
        EXPECT_EQ(dst.GetU32(TmacTensorKey(s.name, "bits")), bits == "t" ? 2u : uint32_t(bits[0] - '0'));
        EXPECT_EQ(dst.GetU32(TmacTensorKey(s.name, "group")), 64u);  // the default 128 does not divide K = 64
        EXPECT_EQ(dst.GetString(TmacTensorKey(s.name, "index_order")), "chunk_pairs");
      }
    } else {
      EXPECT_EQ(d.type, s.type) << s.name;
      EXPECT_EQ(d.shape, s.shape) << s.name;
      EXPECT_TRUE(std::equal(d.data.begin(), d.data.end(), s.data.begin(), s.data.end())) << s.name;
    }
  }
  EXPECT_EQ(packed, 5 * 6);  // q, k, v, output, gate, up per layer; ffn_down's K = 172 has no group
}

// The converted tensor, rebuilt, is the matrix packed directly from the requantized weights, and
// its product is within the int8 table bound of the exact product of those weights.
void CheckProduct(const fs::path& out, const std::string& name, int bits) {
  const GgufFile src = GgufFile::Open(kModel);
  const GgufFile dst = GgufFile::Open(out);
  const GgufTensor& s = src.GetTensor(name);
  const int64_t k = s.shape[0], m = s.shape[1];
  std::vector<float> w(static_cast<size_t>(m * k));
  for (int64_t r = 0; r < m; ++r) DecodeRow(s.type, s.data.data() + r * k * 4, k, w.data() + r * k);
  const QuantMatrix q = bits == 0 ? QuantizeTernaryAbsmean(w.data(), m, k, 64)
                                  : QuantizeMse(w.data(), m, k, bits, 64, /*symmetric=*/false);
  const LutMatrix direct = LutMatrix::Pack(q, DefaultLutLayout(q.bits, 64, Isa::kScalar));
  const LutMatrix rebuilt = ReadLutTensor(dst, dst.GetTensor(name));
  ASSERT_EQ(rebuilt.bytes(), direct.bytes());
  EXPECT_TRUE(std::equal(rebuilt.data(), rebuilt.data() + rebuilt.bytes(), direct.data()));

  const std::vector<float> x = testing::RandomVector(k, 11);
  for (const Isa isa : {Isa::kScalar, DefaultIsa()}) {
    const std::vector<float> y = Products(rebuilt, x, 1, isa);
    EXPECT_EQ(y, Products(direct, x, 1, isa));
    const QuantMatrix stored = rebuilt.Unpack();  // scales and zeros as the file holds them
    const std::vector<double> exact = testing::ReferenceMatmul(stored, x.data(), 1);
    for (int64_t r = 0; r < m; ++r) {
      EXPECT_NEAR(y[r], exact[r], testing::Int8TableBound(stored, x.data(), r, false)) << name << " row " << r;
    }
  }
}

TEST_F(ConvertTest, FourBits) {
  const RunResult run = Tmac("convert " + Quote(kModel) + " " + Quote(dir_ / "q4.gguf") + " --bits 4", logs_);
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_NE(run.err.find("48/48"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("note: kept as F32: no supported group <= 128 divides K = 172: blk.0.ffn_down.weight and 4 more"),
            std::string::npos)
      << run.err;
  CheckConverted(dir_ / "q4.gguf", "4", kLutGgufType);
  CheckProduct(dir_ / "q4.gguf", "blk.0.attn_q.weight", 4);
  CheckProduct(dir_ / "q4.gguf", "blk.4.ffn_gate.weight", 4);
  const RunResult info = Tmac("info " + Quote(dir_ / "q4.gguf"), logs_);
  EXPECT_EQ(info.status, 0) << info.err;
  EXPECT_NE(info.out.find("TMAC_LUT"), std::string::npos);
  EXPECT_NE(info.out.find("total: 48 tensors"), std::string::npos);
}

TEST_F(ConvertTest, TwoBitsAndTernary) {
  for (const std::string bits : {"2", "t"}) {
    const fs::path out = dir_ / ("q" + bits + ".gguf");
    const RunResult run = Tmac("convert " + Quote(kModel) + " " + Quote(out) + " --bits " + bits + " --group 64", logs_);
    ASSERT_EQ(run.status, 0) << run.err;
    CheckConverted(out, bits, kLutGgufType);
    CheckProduct(out, "blk.1.attn_k.weight", bits == "t" ? 0 : 2);
    CheckProduct(out, "blk.3.ffn_up.weight", bits == "t" ? 0 : 2);
  }
}

TEST_F(ConvertTest, TernaryTl2) {
  const fs::path out = dir_ / "tl2.gguf";
  const RunResult run = Tmac("convert " + Quote(kModel) + " " + Quote(out) + " --bits t --ternary-pack 1.67", logs_);
  ASSERT_EQ(run.status, 0) << run.err;
  CheckConverted(out, "t", kTl2GgufType);
  const GgufFile src = GgufFile::Open(kModel);
  const GgufFile dst = GgufFile::Open(out);
  const GgufTensor& s = src.GetTensor("blk.2.attn_v.weight");
  const int64_t k = s.shape[0], m = s.shape[1];
  std::vector<float> w(static_cast<size_t>(m * k));
  for (int64_t r = 0; r < m; ++r) DecodeRow(s.type, s.data.data() + r * k * 4, k, w.data() + r * k);
  const Tl2Matrix direct = Tl2Matrix::Pack(QuantizeTernaryAbsmean(w.data(), m, k, 64));
  const Tl2Matrix rebuilt = ReadTl2Tensor(dst, dst.GetTensor("blk.2.attn_v.weight"));
  ASSERT_EQ(rebuilt.bytes(), direct.bytes());
  EXPECT_TRUE(std::equal(rebuilt.data(), rebuilt.data() + rebuilt.bytes(), direct.data()));
}

// A matmul weight whose type has a lossless repack at --bits is repacked, not requantized: the
// rebuilt matrix's weights are the decoder's, bit for bit, in the scale storage of fewest bytes.
TEST_F(ConvertTest, RepacksMatchingTypesLosslessly) {
  struct Case {
    GgmlType type;
    int bits, group;
    const char* scale_type;
  };
  // Q4_0's scales and bias terms (-d/2) are f16 values; the K-quants' are d * sc products.
  for (const Case& c : {Case{GgmlType::kQ4_0, 4, 32, "f16"}, Case{GgmlType::kQ2_K, 2, 16, "i8xf16"},
                        Case{GgmlType::kQ3_K, 3, 16, "i8xf16"}, Case{GgmlType::kQ4_K, 4, 32, "i8xf16"}}) {
    const std::string name = GgmlTypeName(c.type);
    const int64_t k = 512, m = 96;
    const int64_t row_bytes = GgmlRowBytes(c.type, k);
    std::vector<uint8_t> blocks(static_cast<size_t>(m * row_bytes));
    RandomGgmlRows(c.type, k, 0.02f, 7, 0, m, blocks.data());
    GgufWriter writer;
    writer.Add("general.architecture", std::string("llama"));
    writer.AddTensor("blk.0.attn_q.weight", {k, m}, c.type, blocks);
    writer.Write(logs_ / (name + ".gguf"));
    const fs::path out = dir_ / (name + ".out.gguf");
    const RunResult run =
        Tmac("convert " + Quote(logs_ / (name + ".gguf")) + " " + Quote(out) + " --bits " + std::to_string(c.bits), logs_);
    ASSERT_EQ(run.status, 0) << run.err;
    EXPECT_NE(run.out.find("1 repacked losslessly"), std::string::npos) << run.out;
    const GgufFile file = GgufFile::Open(out);
    const GgufTensor& t = file.GetTensor("blk.0.attn_q.weight");
    EXPECT_TRUE(file.Get<bool>(TmacTensorKey(t.name, "lossless"))) << name;
    EXPECT_EQ(file.GetString(TmacTensorKey(t.name, "source_type")), name);
    EXPECT_EQ(file.GetString(TmacTensorKey(t.name, "scale_type")), c.scale_type) << name;
    EXPECT_EQ(file.GetU32(TmacTensorKey(t.name, "group")), static_cast<uint32_t>(c.group)) << name;
    const std::vector<float> weights = Dequantize(ReadLutTensor(file, t).Unpack());
    std::vector<float> decoded(static_cast<size_t>(m * k));
    for (int64_t r = 0; r < m; ++r) DecodeRow(c.type, blocks.data() + r * row_bytes, k, decoded.data() + r * k);
    EXPECT_EQ(weights, decoded) << name;
  }
}

TEST_F(ConvertTest, RefusesToOverwriteWithoutForce) {
  const fs::path out = dir_ / "out.gguf";
  { std::ofstream(out) << "precious"; }
  RunResult run = Tmac("convert " + Quote(kModel) + " " + Quote(out) + " --bits 4", logs_);
  EXPECT_EQ(run.status, 1);
  EXPECT_NE(run.err.find("--force"), std::string::npos) << run.err;
  EXPECT_EQ(Slurp(out), "precious");
  EXPECT_EQ(dir_.Entries(), std::vector<std::string>{"out.gguf"});
  run = Tmac("convert " + Quote(kModel) + " " + Quote(out) + " --bits 4 --force", logs_);
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_EQ(GgufFile::Open(out).tensors().size(), 48u);
  EXPECT_EQ(dir_.Entries(), std::vector<std::string>{"out.gguf"});
}

TEST_F(ConvertTest, FailuresLeaveNothingBehind) {
  const fs::path out = dir_ / "out.gguf";
  const std::string model = Quote(kModel), target = Quote(out);
  const struct {
    std::string args, message;
  } cases[] = {
      {"convert " + model + " " + target + " --bits 5", "--bits 5: expected 1, 2, 3, 4 or t"},
      {"convert " + model + " " + target + " --bits 4 --group 48", "--group 48: expected"},
      {"convert " + model + " " + target + " --bits t --ternary-pack 1.67 --group 16", "--group 16: expected"},
      {"convert " + model + " " + target + " --bits 4 --ternary-pack 1.67", "--ternary-pack applies to --bits t"},
      {"convert " + model + " " + target + " --bits t --ternary-pack 3", "--ternary-pack 3"},
      {"convert " + Quote(dir_ / "missing.gguf") + " " + target + " --bits 4", "missing.gguf: no such file"},
      {"convert " + Quote(kModel.parent_path() / "tok512.bin") + " " + target + " --bits 4", "not a GGUF file"},
  };
  for (const auto& c : cases) {
    const RunResult run = Tmac(c.args, logs_);
    EXPECT_EQ(run.status, 1) << c.args;
    EXPECT_NE(run.err.find("tmac: error: "), std::string::npos) << run.err;
    EXPECT_NE(run.err.find(c.message), std::string::npos) << run.err;
    EXPECT_TRUE(dir_.Entries().empty()) << c.args;
  }
  // A converted file is not converted again.
  ASSERT_EQ(Tmac("convert " + model + " " + Quote(logs_ / "once.gguf") + " --bits 4", logs_).status, 0);
  const RunResult again = Tmac("convert " + Quote(logs_ / "once.gguf") + " " + target + " --bits 4", logs_);
  EXPECT_EQ(again.status, 1);
  EXPECT_NE(again.err.find("already a tmac-converted file"), std::string::npos) << again.err;
  EXPECT_TRUE(dir_.Entries().empty());
}

}  // namespace
}  // namespace tmac
