#include "tmac/model.h"

#include <atomic>
#include <map>
#include <mutex>

#include "model/layer_weights.h"
#include "model/linear.h"
#include "tmac/error.h"
#include "tmac/thread_pool.h"
#include "util/str_cat.h"

namespace tmac {
namespace {

// A 1-D float tensor of exactly `length` values (norm weights, rope frequency factors).
std::vector<float> ReadVector(const GgufFile& file, std::string_view name, int64_t length) {
  const GgufTensor& t = file.GetTensor(name);
  Require(t.elements() == length,
          StrCat(file.name(), ": tensor '", name, "' has ", t.elements(), " values, expected ", length));
  Require(
      t.type == GgmlType::kF32 || t.type == GgmlType::kF16 || t.type == GgmlType::kBF16,
      StrCat(file.name(), ": tensor '", name, "' is ", GgmlTypeName(t.type), ", expected F32, F16 or BF16"));
  std::vector<float> values(static_cast<size_t>(length));
  DecodeRow(t.type, t.data.data(), length, values.data());
  return values;
}

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string text;
  for (const int64_t d : shape) text += (text.empty() ? "" : " x ") + std::to_string(d);
  return text;
}

std::string BlockTensor(int64_t layer, std::string_view name, std::string_view suffix = "weight") {
  return StrCat("blk.", layer, ".", name, ".", suffix);
}

// One matrix to load: where it goes and the shape the config says it has.
struct MatrixJob {
  std::string name;
  Linear* destination;
  int64_t rows, cols;
  bool mapped;  // used in place (the embedding), never repacked
};

}  // namespace

Model::Model(GgufFile file) : file_(std::move(file)) {}
Model::~Model() = default;

std::unique_ptr<Model> Model::Load(const std::filesystem::path& path, const LoadOptions& options) {
  std::unique_ptr<Model> model(new Model(GgufFile::Open(path)));
  const GgufFile& file = model->file_;
  const ModelConfig& c = model->config_ = ModelConfig::FromGguf(file);
  model->isa_ = options.isa;
  Require(IsaSupported(options.isa), std::string("ISA ") + IsaName(options.isa) + " is not supported here");

  model->token_embd_ = std::make_unique<Linear>();
  model->output_ = std::make_unique<Linear>();
  std::vector<MatrixJob> jobs;
  jobs.push_back({"token_embd.weight", model->token_embd_.get(), c.n_vocab, c.n_embd, true});
  const bool tied = file.FindTensor("output.weight") == nullptr;
  jobs.push_back(
      {tied ? "token_embd.weight" : "output.weight", model->output_.get(), c.n_vocab, c.n_embd, false});
  model->output_norm_ = ReadVector(file, "output_norm.weight", c.n_embd);

  const int64_t q_rows = c.n_head * c.head_dim, kv_rows = c.n_head_kv * c.head_dim;
  model->layers_.resize(static_cast<size_t>(c.n_layer));
  for (int64_t i = 0; i < c.n_layer; ++i) {
    LayerWeights& l = model->layers_[static_cast<size_t>(i)];
    l.attn_norm = ReadVector(file, BlockTensor(i, "attn_norm"), c.n_embd);
    l.ffn_norm = ReadVector(file, BlockTensor(i, "ffn_norm"), c.n_embd);
    if (c.sub_norms) {
      l.attn_sub_norm = ReadVector(file, BlockTensor(i, "attn_sub_norm"), q_rows);
      l.ffn_sub_norm = ReadVector(file, BlockTensor(i, "ffn_sub_norm"), c.n_ff);
    }
    jobs.push_back({BlockTensor(i, "attn_q"), &l.wq, q_rows, c.n_embd, false});
    jobs.push_back({BlockTensor(i, "attn_k"), &l.wk, kv_rows, c.n_embd, false});
    jobs.push_back({BlockTensor(i, "attn_v"), &l.wv, kv_rows, c.n_embd, false});
    jobs.push_back({BlockTensor(i, "attn_output"), &l.wo, c.n_embd, q_rows, false});
    jobs.push_back({BlockTensor(i, "ffn_gate"), &l.w_gate, c.n_ff, c.n_embd, false});
    jobs.push_back({BlockTensor(i, "ffn_up"), &l.w_up, c.n_ff, c.n_embd, false});
    jobs.push_back({BlockTensor(i, "ffn_down"), &l.w_down, c.n_embd, c.n_ff, false});
  }
  if (file.FindTensor("rope_freqs.weight") != nullptr) {
    model->rope_freq_factors_ = ReadVector(file, "rope_freqs.weight", c.n_rot / 2);
  }

  // Every tensor exists with the config's shape before any repacking starts.
  for (const MatrixJob& job : jobs) {
    const GgufTensor& t = file.GetTensor(job.name);
    const std::vector<int64_t> shape =
        (t.type == GgmlType::kTmacLut || t.type == GgmlType::kTmacTl2) ? std::vector<int64_t>{} : t.shape;
    Require(shape.empty() || (shape.size() == 2 && shape[0] == job.cols && shape[1] == job.rows),
            StrCat(file.name(), ": tensor '", job.name, "' has shape ", ShapeText(t.shape), ", expected ",
                   job.cols, " x ", job.rows));
  }

  // Repacking is the slow part of loading: spread the matrices over the threads.
  ThreadPool pool(std::max(1, options.threads));
  std::atomic<int64_t> done{0};
  std::mutex progress_mutex;
  const int64_t total = static_cast<int64_t>(jobs.size());
  pool.Run(total, [&](int64_t begin, int64_t end) {
    for (int64_t j = begin; j < end; ++j) {
      const MatrixJob& job = jobs[static_cast<size_t>(j)];
      const GgufTensor& t = file.GetTensor(job.name);
      *job.destination = job.mapped ? Linear::Mapped(t) : Linear::Load(file, t, options.isa, {options.tuning, std::max(1, options.threads)});
      Require(job.destination->rows() == job.rows && job.destination->cols() == job.cols,
              StrCat(file.name(), ": tensor '", job.name, "' is ", job.destination->cols(), " x ",
                     job.destination->rows(), ", expected ", job.cols, " x ", job.rows));
      const int64_t finished = ++done;
      if (options.progress) {
        std::lock_guard<std::mutex> lock(progress_mutex);
        options.progress(finished, total);
      }
    }
  });

  // bitnet's optional per-tensor output scales.
  for (int64_t i = 0; i < c.n_layer; ++i) {
    LayerWeights& l = model->layers_[static_cast<size_t>(i)];
    const std::pair<const char*, Linear*> scaled[] = {
        {"attn_q", &l.wq},       {"attn_k", &l.wk},   {"attn_v", &l.wv},      {"attn_output", &l.wo},
        {"ffn_gate", &l.w_gate}, {"ffn_up", &l.w_up}, {"ffn_down", &l.w_down}};
    for (const auto& [name, linear] : scaled) {
      const std::string scale_name = BlockTensor(i, name, "scale");
      if (file.FindTensor(scale_name) != nullptr)
        linear->set_output_scale(ReadVector(file, scale_name, 1)[0]);
    }
  }
  return model;
}

int64_t Model::weight_bytes_per_token() const {
  int64_t bytes = output_->bytes();
  for (const LayerWeights& l : layers_) {
    for (const Linear* w : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) bytes += w->bytes();
  }
  return bytes;
}

std::vector<std::string> Model::Describe() const {
  std::map<std::string, int> counts;
  for (const LayerWeights& l : layers_) {
    for (const Linear* w : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down})
      ++counts[w->Describe()];
  }
  std::vector<std::string> lines;
  for (const auto& [kind, count] : counts) lines.push_back(StrCat("layers: ", count, " x ", kind));
  lines.push_back("token embedding: " + token_embd_->Describe());
  lines.push_back("output: " + output_->Describe());
  return lines;
}

}  // namespace tmac
