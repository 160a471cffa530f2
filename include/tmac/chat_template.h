// Chat prompts in the formats of the models tmac runs: ChatML, Llama 2 (and its system-message
// variants) and Llama 3. The format is recognised from the GGUF `tokenizer.chat_template` (a
// Jinja template) by the substrings llama.cpp's llm_chat_detect_template looks for, and the
// prompt is written the way llama.cpp's llm_chat_apply_template writes it; no Jinja is run.
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace tmac {

struct ChatMessage {
  std::string role;  // "system", "user", "assistant"
  std::string content;
};

enum class ChatFormat {
  kChatMl,          // <|im_start|>role\ncontent<|im_end|>\n
  kLlama2,          // [INST] ... [/INST]; a system message is put before the first user message
  kLlama2Sys,       // the same with <<SYS>>\n...\n<</SYS>>\n\n around the system message
  kLlama2SysBos,    // ... and <s> before every [INST] after the first
  kLlama2SysStrip,  // ... with each message's surrounding white space trimmed
  kLlama3,          // <|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|>
};

// llama.cpp's names: "chatml", "llama2", "llama2-sys", "llama2-sys-bos", "llama2-sys-strip",
// "llama3". ChatFormatFromName throws tmac::Error listing them for any other name.
std::string_view ChatFormatName(ChatFormat format);
ChatFormat ChatFormatFromName(std::string_view name);

// The format of Jinja chat template `chat_template` (or of a format name given instead). Throws
// tmac::Error when llama.cpp would take it for a format tmac does not write (naming that
// format), or when it recognises none.
ChatFormat DetectChatFormat(std::string_view chat_template);

// The prompt for `messages`; with `add_generation_prompt` it ends with the opening of an
// assistant turn (ChatML, Llama 3; Llama 2 prompts end ready for the answer anyway). BOS is not
// included: the tokenizer adds it.
std::string FormatChat(ChatFormat format, std::span<const ChatMessage> messages, bool add_generation_prompt);

}  // namespace tmac
