#include "cli/chat.h"

#include <fmt/core.h>
#include <poll.h>
#include <pthread.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <vector>

#include "tmac/error.h"
#include "tmac/gguf.h"

namespace tmac::cli {

namespace {

// Ctrl-C presses since the last reply; the handler only counts, the chat loop acts on them.
volatile std::sig_atomic_t g_interrupts = 0;

void CountInterrupt(int) { g_interrupts = g_interrupts + 1; }

bool Interrupted() { return g_interrupts != 0; }

// Counts SIGINTs instead of dying while it lives; restores the previous action afterwards.
class SigintCounter {
 public:
  SigintCounter() {
    g_interrupts = 0;
    struct sigaction action {};
    action.sa_handler = CountInterrupt;
    sigemptyset(&action.sa_mask);
    // SA_RESTART resumes a write to stdout a Ctrl-C lands in; the prompt's wait still ends at
    // once, as ppoll fails with EINTR whatever the flag (signal(7)).
    action.sa_flags = SA_RESTART;
    Require(sigaction(SIGINT, &action, &previous_) == 0,
            std::string("cannot install the SIGINT handler: ") + std::strerror(errno));
  }
  ~SigintCounter() { sigaction(SIGINT, &previous_, nullptr); }
  SigintCounter(const SigintCounter&) = delete;
  SigintCounter& operator=(const SigintCounter&) = delete;

 private:
  struct sigaction previous_ {};
};

sigset_t SigintSet() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  return set;
}

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

// Whether the chat goes on after a reply: not after a second Ctrl-C during it. Clears the count
// with SIGINT blocked, so a press cannot fall between the look and the reset.
bool ContinueAfterReply() {
  const SigintBlocked blocked;
  const bool pressed_twice = g_interrupts >= 2;
  g_interrupts = 0;
  return !pressed_twice;
}

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

SigintBlocked::SigintBlocked() {
  const sigset_t sigint = SigintSet();
  pthread_sigmask(SIG_BLOCK, &sigint, &previous_);
}

SigintBlocked::~SigintBlocked() { pthread_sigmask(SIG_SETMASK, &previous_, nullptr); }

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
    generator.Feed(tokens);
    const Reply reply = generator.Generate(options.n_predict, out, Interrupted);
    out.Write("\n");
    messages.push_back({"assistant", reply.text});
    cached = formatted + reply.text;
    if (reply.stop == StopReason::kContextFull) {
      fmt::print(stderr, "tmac: the context of {} tokens is full; ending the chat (a larger --ctx holds more)\n",
                 generator.n_ctx());
      return;
    }
    if (!ContinueAfterReply()) return;
  }
}

}  // namespace tmac::cli
