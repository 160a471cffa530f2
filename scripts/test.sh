#!/usr/bin/env bash
# Installs what is missing, then builds and runs every test in three configurations:
#   build/        Release, warnings are errors (x86-64: scalar, AVX2, AVX-512 kernels)
#   build-asan/   AddressSanitizer + UndefinedBehaviorSanitizer
#   build-arm64/  aarch64 cross build, tests under qemu-aarch64 (scalar and NEON kernels)
# then fuzzes the GGUF parser for a minute (scripts/fuzz.sh, build-fuzz/).
# Stops at the first failure; ends with the total over all runs as "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh

export CMAKE_GENERATOR=Ninja  # only used when a build directory is configured for the first time
export UBSAN_OPTIONS=print_stacktrace=1

passed=0
failed=0

# Configures and builds directory $1 with the remaining arguments as cmake options, then runs its
# tests and adds them to the totals.
build_and_test() {
  local dir=$1 log status=0
  shift
  echo "=== $dir: configure and build"
  cmake -S . -B "$dir" "$@"
  cmake --build "$dir" -j2
  echo "=== $dir: test"
  log=$(mktemp)
  (cd "$dir" && ctest --output-on-failure --no-tests=error --timeout 300 -j2) | tee "$log" || status=$?
  # ctest's summary: "100% tests passed, 0 tests failed out of 170" (colour codes stripped).
  local counts f total
  counts=$(sed 's/\x1b\[[0-9;]*m//g' "$log" | sed -nE 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1 \2/p')
  rm -f "$log"
  if [[ -n $counts ]]; then
    read -r f total <<<"$counts"
    failed=$((failed + f))
    passed=$((passed + total - f))
  fi
  if ((status != 0)); then
    echo "$passed passed, $failed failed"
    exit "$status"
  fi
}

build_and_test build -DCMAKE_BUILD_TYPE=Release -DTMAC_WERROR=ON
# GCC's sanitizer instrumentation brings its own false-positive warnings, so no -Werror here.
build_and_test build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTMAC_SANITIZE=ON -DTMAC_BUILD_CLI=OFF
# The CLI links libfmt, which has no aarch64 build installed; the library and tests need none.
build_and_test build-arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake \
  -DCMAKE_BUILD_TYPE=Release -DTMAC_WERROR=ON -DTMAC_BUILD_CLI=OFF

# A minute of fuzzing the GGUF parser (build-fuzz/, clang; skipped with a message without clang).
if ! ./scripts/fuzz.sh 60; then
  echo "$passed passed, $((failed + 1)) failed"
  exit 1
fi

echo "$passed passed, $failed failed"
