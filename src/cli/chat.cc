#include "cli/chat.h"

#include <fmt/core.h>
#include <poll.h>
#include <pthread.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <vector>

#include "cli/sigint.h"
#include "tmac/error.h"
#include "tmac/gguf.h"

namespace tmac::cli {

namespace {

// Lines of stdin, read with read(2) so that no stdio buffer hides input from ppoll.
class StdinLines {
 public:
  enum class Result { kLine, kEnd, kInterrupted };

  // The next line without its line break (and carriage return); the last line may lack the break.
  Result Next(std::string& line) {
    while (true) {
      const size_t newline = buffer_.find('\n');
      if (newline != std::string::npos) {
        line.assign(buffer_, 0, newline);
        buffer_.erase(0, newline + 1);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        return Result::kLine;
      }
      if (at_end_) {
        if (buffer_.empty()) return Result::kEnd;
        line = std::move(buffer_);
        buffer_.clear();
        return Result::kLine;
      }
      if (!WaitForInput()) return Result::kInterrupted;
      char chunk[4096];
      const ssize_t n = read(STDIN_FILENO, chunk, sizeof chunk);
      if (n > 0) {
        buffer_.append(chunk, static_cast<size_t>(n));
      } else if (n == 0) {
        at_end_ = true;
      } else if (errno != EINTR && errno != EAGAIN) {
        throw Error(std::string("reading stdin: ") + std::strerror(errno));
      }
    }
  }

 private:
  // Waits until stdin is readable (input or EOF); false when Ctrl-C was pressed first. SIGINT is
  // blocked from the look at the counter until ppoll unblocks it atomically, so a press in
  // between interrupts ppoll instead of being missed while ppoll sleeps on.
  static bool WaitForInput() {
    const SigintBlocked blocked;
    sigset_t during_wait;
    pthread_sigmask(SIG_SETMASK, nullptr, &during_wait);
    sigdelset(&during_wait, SIGINT);
    while (!Interrupted()) {
      pollfd fd{STDIN_FILENO, POLLIN, 0};
      const int ready = ppoll(&fd, 1, nullptr, &during_wait);
      if (ready > 0) return true;
      if (ready < 0 && errno != EINTR) throw Error(std::string("waiting for stdin: ") + std::strerror(errno));
    }
    return false;
  }

  std::string buffer_;
  bool at_end_ = false;
};

// Whether the chat goes on after a turn (a reply, or a message whose evaluation was stopped): not
// after a second Ctrl-C during it. Starts the count again for the next turn.
bool ContinueAfterTurn() { return TakeInterrupts() < 2; }

}  // namespace

ChatFormat ChatFormatOf(const GgufFile& file, const std::string& forced) {
  if (!forced.empty()) return ChatFormatFromName(forced);
  const std::string* chat_template = file.Find<std::string>("tokenizer.chat_template");
  Require(chat_template != nullptr,
          file.name() + " has no chat template (tokenizer.chat_template): name the format to use with "
                        "--chat-template, e.g. --chat-template chatml");
  try {
    return DetectChatFormat(*chat_template);
  } catch (const Error& e) {
    throw Error(file.name() + ": " + e.what() + "; choose a format with --chat-template");
  }
}

void RunChat(Generator& generator, const Tokenizer& tokenizer, const ChatOptions& options, Utf8Stream& out) {
  const SigintCounter counter;
  std::vector<ChatMessage> messages;
  if (!options.system.empty()) messages.push_back({"system", options.system});
  // The conversation text the cache holds: each turn feeds only what the formatted conversation
  // adds to it, as llama.cpp's llama-cli does.
  std::string cached;
  StdinLines input;
  std::string line;
  while (true) {
    fmt::print(stderr, "> ");
    std::fflush(stderr);
    const StdinLines::Result result = input.Next(line);
    if (result != StdinLines::Result::kLine) {
      fmt::print(stderr, "\n");  // end the prompt's line (EOF or Ctrl-C)
      return;
    }
    if (line.empty()) continue;

    messages.push_back({"user", line});
    const std::string formatted = FormatChat(options.format, messages, /*add_generation_prompt=*/true);
    if (!formatted.starts_with(cached)) {
      // A format that rewrites earlier turns (Llama 3 trims each message, so a reply ending in
      // white space is written shorter): the cache no longer matches, so start it again.
      generator.Reset();
      cached.clear();
    }
    const std::vector<int32_t> tokens =
        tokenizer.Encode(std::string_view(formatted).substr(cached.size()), /*add_special=*/cached.empty(),
                         /*parse_special=*/true);
    if (generator.n_cached() + static_cast<int64_t>(tokens.size()) > generator.n_ctx()) {
      fmt::print(stderr, "tmac: the conversation would take {} tokens, more than the context of {}; ending the chat "
                 "(a larger --ctx holds more)\n",
                 generator.n_cached() + static_cast<int64_t>(tokens.size()), generator.n_ctx());
      return;
    }
    if (!generator.Feed(tokens, Interrupted)) {
      // Ctrl-C while the message was evaluated: the cache is back to before it, so is the
      // conversation.
      messages.pop_back();
      fmt::print(stderr, "tmac: interrupted before the reply; the message is dropped\n");
      if (!ContinueAfterTurn()) return;
      continue;
    }
    const Reply reply = generator.Generate(options.n_predict, out, Interrupted);
    out.Write("\n");
    messages.push_back({"assistant", reply.text});
    cached = formatted + reply.text;
    if (reply.stop == StopReason::kContextFull) {
      fmt::print(stderr, "tmac: the context of {} tokens is full; ending the chat (a larger --ctx holds more)\n",
                 generator.n_ctx());
      return;
    }
    if (!ContinueAfterTurn()) return;
  }
}

}  // namespace tmac::cli
