#include "cli/sigint.h"

#include <pthread.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "tmac/error.h"

namespace tmac::cli {

namespace {

// The handler only counts; the run acts on the count.
volatile std::sig_atomic_t g_interrupts = 0;

void CountInterrupt(int) { g_interrupts = g_interrupts + 1; }

}  // namespace

SigintBlocked::SigintBlocked() {
  sigset_t sigint;
  sigemptyset(&sigint);
  sigaddset(&sigint, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigint, &previous_);
}

SigintBlocked::~SigintBlocked() { pthread_sigmask(SIG_SETMASK, &previous_, nullptr); }

SigintCounter::SigintCounter() {
  g_interrupts = 0;
  struct sigaction action {};
  action.sa_handler = CountInterrupt;
  sigemptyset(&action.sa_mask);
  // SA_RESTART resumes a write to stdout a Ctrl-C lands in; the chat's wait for a line still ends
  // at once, as ppoll fails with EINTR whatever the flag (signal(7)).
  action.sa_flags = SA_RESTART;
  Require(sigaction(SIGINT, &action, &previous_) == 0,
          std::string("cannot install the SIGINT handler: ") + std::strerror(errno));
}

SigintCounter::~SigintCounter() { sigaction(SIGINT, &previous_, nullptr); }

bool Interrupted() { return g_interrupts != 0; }

int TakeInterrupts() {
  const SigintBlocked blocked;
  const int count = g_interrupts;
  g_interrupts = 0;
  return count;
}

}  // namespace tmac::cli
