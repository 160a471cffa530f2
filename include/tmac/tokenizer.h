// Text <-> token ids for llama.cpp GGUF vocabularies, giving the ids llama.cpp's llama-vocab gives.
//
// Two kinds of vocabulary, named by `tokenizer.ggml.model`:
//   llama  SentencePiece-style BPE: merges chosen by token score, spaces written as "▁", a space
//          put before the text (add_space_prefix), bytes without a token as <0xXX> tokens.
//   gpt2   byte-level BPE: the text is cut into words by the pre-tokenizer `tokenizer.ggml.pre`
//          names (default, gpt-2, llama3 / llama-bpe, smollm / starcoder, ...), each byte is
//          written as a printable code point (GPT-2's bytes_to_unicode), and pairs merge in the
//          order of `tokenizer.ggml.merges`.
// Special tokens (CONTROL and USER_DEFINED token types) are cut out of the text before either
// runs, as llama.cpp's tokenizer_st_partition does: user-defined ones always, control ones only
// when `parse_special` is set.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tmac {

class GgufFile;

class Tokenizer {
 public:
  enum class Kind { kSentencePiece, kByteLevelBpe };

  // Reads the tokenizer.ggml.* metadata of `file`, copying what it needs (the Tokenizer may
  // outlive the file). Throws tmac::Error naming the key for a missing
  // token list or merges, values of the wrong type, a tokenizer model or pre-tokenizer this does
  // not support, and inconsistent lengths (scores or token types shorter than the token list).
  static Tokenizer FromGguf(const GgufFile& file);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // The ids of `text`, which may be any bytes (invalid UTF-8 is tokenized as llama.cpp does:
  // as byte tokens for SentencePiece, as U+FFFD for byte-level BPE). With `add_special`, BOS
  // and/or EOS are added as the vocabulary asks (add_bos() / add_eos()). With `parse_special`,
  // control tokens written in the text ("<|im_start|>") become their ids; otherwise they are
  // tokenized as plain text.
  std::vector<int32_t> Encode(std::string_view text, bool add_special, bool parse_special) const;

  // The bytes token `id` stands for in output text: "▁" -> " " for SentencePiece, GPT-2's byte
  // mapping undone for byte-level BPE, <0xXX> -> that byte; user-defined tokens as their text;
  // control and unknown tokens empty unless `special`. A piece may be part of a UTF-8 character,
  // so a streaming caller concatenates pieces before printing. Throws tmac::Error for an id
  // outside [0, size()).
  std::string TokenToPiece(int32_t id, bool special = false) const;
  // The pieces of `ids` concatenated, less the space SentencePiece put before the text (when the
  // first piece starts with one and add_space_prefix is on), so Decode(Encode(t, ...)) == t for
  // valid UTF-8 text without special tokens.
  std::string Decode(std::span<const int32_t> ids, bool special = false) const;

  // The token's text as the vocabulary stores it ("▁the", "Ġthe", "<0x0A>", "<|im_end|>").
  const std::string& TokenText(int32_t id) const;

  Kind kind() const;
  int32_t size() const;
  // Special ids; -1 when the vocabulary has none.
  int32_t bos() const;
  int32_t eos() const;
  int32_t eot() const;  // end of turn: <|im_end|>, <|eot_id|>, ... (llama.cpp's detection)
  int32_t unk() const;
  bool add_bos() const;  // whether Encode(..., add_special=true, ...) starts with bos()
  bool add_eos() const;
  // Whether generation stops at `id`: EOS, EOT, EOM and the tokens llama.cpp treats as
  // end-of-generation by their text (<|im_end|>, <|endoftext|>, <|eot_id|>, ...).
  bool IsEndOfGeneration(int32_t id) const;
  // Whether `id` is a control token (rendered empty by TokenToPiece unless asked).
  bool IsControl(int32_t id) const;

 private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tmac
