// Ctrl-C for `tmac run`: instead of killing the process, SIGINT is counted, and the run asks the
// count between steps (a pass of the prompt, a sampled token, a wait for a chat line) and stops
// there cleanly.
#pragma once

#include <csignal>

namespace tmac::cli {

// Blocks SIGINT in the calling thread while it lives. Threads started meanwhile inherit the
// mask, so Context's workers never take a Ctrl-C: it must reach the main thread, the one that
// counts it and may be blocked reading stdin.
class SigintBlocked {
 public:
  SigintBlocked();
  ~SigintBlocked();
  SigintBlocked(const SigintBlocked&) = delete;
  SigintBlocked& operator=(const SigintBlocked&) = delete;

 private:
  sigset_t previous_;
};

// Counts SIGINTs instead of dying while it lives, from zero; restores the previous action
// afterwards. One at a time: the count is the process's.
class SigintCounter {
 public:
  SigintCounter();
  ~SigintCounter();
  SigintCounter(const SigintCounter&) = delete;
  SigintCounter& operator=(const SigintCounter&) = delete;

 private:
  struct sigaction previous_ {};
};

// Whether Ctrl-C was pressed since the counter started or the last TakeInterrupts.
bool Interrupted();

// The presses counted so far, and the count back to zero. SIGINT is blocked meanwhile, so a press
// cannot fall between the look and the reset.
int TakeInterrupts();

}  // namespace tmac::cli
