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
