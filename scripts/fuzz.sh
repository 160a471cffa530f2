#!/usr/bin/env bash
# Fuzzes the GGUF parser with libFuzzer for a bounded time:
#   scripts/fuzz.sh [SECONDS [BUILD_DIR]]      (defaults: 60, build-fuzz)
# Needs clang and its libFuzzer runtime (Debian: libclang-rt-14-dev); without them it says so and
# exits 0. The seeds in tests/fuzz/corpus are only read: inputs libFuzzer finds go to
# BUILD_DIR/corpus, and a crashing input to BUILD_DIR/crash-* (then the script fails).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
dir=${2:-build-fuzz}

cxx=$(command -v clang++ || command -v clang++-14 || true)
if [[ -z $cxx ]]; then
  echo "fuzz: clang++ not found; skipped"
  exit 0
fi
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' >"$probe/probe.cc"
if ! "$cxx" -fsanitize=fuzzer "$probe/probe.cc" -o "$probe/probe" 2>/dev/null; then
  echo "fuzz: $cxx cannot link libFuzzer (is libclang-rt-14-dev installed?); skipped"
  exit 0
fi

echo "=== fuzz: build $dir with $cxx"
cmake -S . -B "$dir" -G Ninja -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTMAC_FUZZ=ON -DTMAC_BUILD_TESTS=OFF -DTMAC_BUILD_CLI=OFF >/dev/null
cmake --build "$dir" -j2 --target gguf_fuzzer
mkdir -p "$dir/corpus"
echo "=== fuzz: gguf_fuzzer for ${seconds} s"
"$dir/gguf_fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$dir/" "$dir/corpus" tests/fuzz/corpus
echo "fuzz: no crash in ${seconds} s"
