#include "tmac/chat_template.h"

#include <cctype>

#include "tmac/error.h"

namespace tmac {

namespace {

struct NamedFormat {
  std::string_view name;
  ChatFormat format;
};
constexpr NamedFormat kFormats[] = {
    {"chatml", ChatFormat::kChatMl},
    {"llama2", ChatFormat::kLlama2},
    {"llama2-sys", ChatFormat::kLlama2Sys},
    {"llama2-sys-bos", ChatFormat::kLlama2SysBos},
    {"llama2-sys-strip", ChatFormat::kLlama2SysStrip},
    {"llama3", ChatFormat::kLlama3},
};

std::string KnownNames() {
  std::string names;
  for (const NamedFormat& f : kFormats) names += (names.empty() ? "" : ", ") + std::string(f.name);
  return names;
}

std::string Trim(std::string_view s) {
  size_t begin = 0, end = s.size();
  while (begin < end && std::isspace(static_cast<unsigned char>(s[begin]))) ++begin;
  while (end > begin && std::isspace(static_cast<unsigned char>(s[end - 1]))) --end;
  return std::string(s.substr(begin, end - begin));
}

[[noreturn]] void ThrowUnsupported(std::string_view family) {
  throw Error("the chat template looks like llama.cpp's '" + std::string(family) +
              "' format, which tmac does not write (it writes " + KnownNames() + ")");
}

ChatFormat DetectLlama2Variant(std::string_view t) {
  const auto has = [&](std::string_view s) { return t.find(s) != std::string_view::npos; };
  if (has("[SYSTEM_PROMPT]")) ThrowUnsupported("mistral-v7");
  if (has("' [INST] ' + system_message") || has("[AVAILABLE_TOOLS]")) ThrowUnsupported("mistral-v1/v3");
  if (has("content.strip()")) return ChatFormat::kLlama2SysStrip;
  if (has("bos_token + '[INST]")) return ChatFormat::kLlama2SysBos;
  if (has("<<SYS>>")) return ChatFormat::kLlama2Sys;
  return ChatFormat::kLlama2;
}

void WriteLlama2(ChatFormat format, std::span<const ChatMessage> messages, std::string& out) {
  const bool system_tags = format != ChatFormat::kLlama2;
  const bool strip = format == ChatFormat::kLlama2SysStrip;
  bool inside_turn = true;  // the first [INST] is written here; BOS comes from the tokenizer
  out += "[INST] ";
  for (const ChatMessage& m : messages) {
    const std::string content = strip ? Trim(m.content) : m.content;
    if (!inside_turn) {
      inside_turn = true;
      out += format == ChatFormat::kLlama2SysBos ? "<s>[INST] " : "[INST] ";
    }
    if (m.role == "system") {
      out += system_tags ? "<<SYS>>\n" + content + "\n<</SYS>>\n\n" : content + "\n";
    } else if (m.role == "user") {
      out += content + " [/INST]";
    } else {
      out += content + "</s>";
      inside_turn = false;
    }
  }
}

}  // namespace

std::string_view ChatFormatName(ChatFormat format) {
  for (const NamedFormat& f : kFormats) {
    if (f.format == format) return f.name;
  }
  return "unknown";
}

ChatFormat ChatFormatFromName(std::string_view name) {
  for (const NamedFormat& f : kFormats) {
    if (f.name == name) return f.format;
  }
  throw Error("unknown chat format '" + std::string(name) + "' (known: " + KnownNames() + ")");
}

ChatFormat DetectChatFormat(std::string_view t) {
  for (const NamedFormat& f : kFormats) {
    if (f.name == t) return f.format;
  }
  // llama.cpp's tests, in its order up to Llama 3: the earlier ones decide first.
  const auto has = [&](std::string_view s) { return t.find(s) != std::string_view::npos; };
  if (has("<|im_start|>")) {
    if (has("<|im_sep|>")) ThrowUnsupported("phi4");
    if (has("<end_of_utterance>")) ThrowUnsupported("smolvlm");
    return ChatFormat::kChatMl;
  }
  if (t.substr(0, 7) == "mistral" || has("[INST]")) return DetectLlama2Variant(t);
  if (has("<|assistant|>") && has("<|end|>")) ThrowUnsupported("phi3");
  if (has("[gMASK]<sop>")) ThrowUnsupported("chatglm4");
  if (has("<|assistant|>") && has("<|user|>")) ThrowUnsupported("falcon3/glmedge/exaone-moe");
  if (has("<|{{ item['role'] }}|>") && has("<|begin_of_image|>")) ThrowUnsupported("glmedge");
  if (has("<|user|>") && has("<|endoftext|>")) ThrowUnsupported("zephyr");
  if (has("bos_token + message['role']")) ThrowUnsupported("monarch");
  if (has("<start_of_turn>")) ThrowUnsupported("gemma");
  if (has("'\\n\\nAssistant: ' + eos_token")) ThrowUnsupported("orion");
  if (has("GPT4 Correct ")) ThrowUnsupported("openchat");
  if (has("USER: ") && has("ASSISTANT: ")) ThrowUnsupported("vicuna");
  if (has("### Instruction:") && has("<|EOT|>")) ThrowUnsupported("deepseek");
  if (has("<|START_OF_TURN_TOKEN|>") && has("<|USER_TOKEN|>")) ThrowUnsupported("command-r");
  if (has("<|start_header_id|>") && has("<|end_header_id|>")) return ChatFormat::kLlama3;
  throw Error("unrecognised chat template (tmac writes " + KnownNames() + "; name one to force it)");
}

std::string FormatChat(ChatFormat format, std::span<const ChatMessage> messages, bool add_generation_prompt) {
  std::string out;
  switch (format) {
    case ChatFormat::kChatMl:
      for (const ChatMessage& m : messages)
        out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
      if (add_generation_prompt) out += "<|im_start|>assistant\n";
      break;
    case ChatFormat::kLlama3:
      for (const ChatMessage& m : messages) {
        out += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n" + Trim(m.content) + "<|eot_id|>";
      }
      if (add_generation_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
      break;
    case ChatFormat::kLlama2:
    case ChatFormat::kLlama2Sys:
    case ChatFormat::kLlama2SysBos:
    case ChatFormat::kLlama2SysStrip: WriteLlama2(format, messages, out); break;
  }
  return out;
}

}  // namespace tmac
