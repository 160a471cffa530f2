// The interactive chat of `tmac run -i`: read a user message per line of stdin, answer it in the
// model's chat format, keep the KV cache across turns. Ctrl-C stops a reply, or the evaluation of
// a message (which is then dropped from the conversation); at the prompt (or pressed twice) it
// ends the chat, as EOF on stdin does.
#pragma once

#include <cstdint>
#include <string>

#include "cli/generate.h"
#include "tmac/chat_template.h"

namespace tmac {
class GgufFile;
}

namespace tmac::cli {

// The format named by `forced` (a ChatFormatFromName name) or else the one of the file's
// tokenizer.chat_template. Throws tmac::Error naming --chat-template when the file has none.
ChatFormat ChatFormatOf(const GgufFile& file, const std::string& forced);

struct ChatOptions {
  ChatFormat format = ChatFormat::kChatMl;
  std::string system;  // the system message; empty: none
  int64_t n_predict = 0;
};

// Runs the chat until EOF, Ctrl-C at the prompt, or a full context (which it reports on
// stderr). Replies go to `out` (stdout), one line break after each (a dropped message has no
// reply, not even an empty line); the "> " prompt and notices go to stderr. SIGINT is counted
// (SigintCounter) only while this runs.
void RunChat(Generator& generator, const Tokenizer& tokenizer, const ChatOptions& options, Utf8Stream& out);

}  // namespace tmac::cli
