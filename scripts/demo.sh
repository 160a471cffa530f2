#!/usr/bin/env bash
# Installs what is missing, builds Release into build/, and runs the main job: the kernel
# benchmark summary. TMAC_ISA=scalar|avx2|avx512|neon in the environment forces one kernel path.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh

export CMAKE_GENERATOR=Ninja  # only used when build/ is configured for the first time
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j2
exec ./build/tmac bench kernels --quick
