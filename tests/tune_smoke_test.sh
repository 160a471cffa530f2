#!/bin/sh
# `tmac tune` end to end on a tiny synthetic model: it writes the tuning cache named by
# TMAC_TUNE_CACHE (never the real one under ~/.cache), and `tmac bench -m` then reports the tuned
# configuration; with the cache off it reports the default.
#   tune_smoke_test.sh TMAC WORKDIR
set -eu
tmac=$1
dir=$2
rm -rf "$dir"
mkdir -p "$dir"
"$tmac" synth --shape tiny-llama --type Q4_0 -o "$dir/tiny.gguf" -t 1 2>/dev/null
export TMAC_TUNE_CACHE="$dir/tune.json"
"$tmac" tune -m "$dir/tiny.gguf" -t 1,2 -r 1 2>/dev/null >"$dir/tune.txt"
cat "$dir/tune.txt"
grep -q "^wrote 8 entries" "$dir/tune.txt"
grep -q '"format": "tmac-tune"' "$dir/tune.json"
"$tmac" bench -m "$dir/tiny.gguf" -p 0 -n 2 -r 1 -t 2 2>/dev/null >"$dir/bench.txt"
grep "tiny.gguf" "$dir/bench.txt"
grep -q "tuned r" "$dir/bench.txt"
# (`! grep` would not stop a `set -e` script: POSIX exempts negated commands.)
if grep -q ", default" "$dir/bench.txt"; then echo "a default configuration with a tuned cache" >&2; exit 1; fi
TMAC_TUNE_CACHE=off "$tmac" bench -m "$dir/tiny.gguf" -p 0 -n 2 -r 1 -t 2 2>/dev/null >"$dir/bench-off.txt"
grep -q ", default" "$dir/bench-off.txt"
if grep -q "tuned r" "$dir/bench-off.txt"; then echo "a tuned configuration with the cache off" >&2; exit 1; fi
# A corrupt cache: one warning, and the run goes on with the defaults.
echo "not json" >"$dir/tune.json"
"$tmac" bench -m "$dir/tiny.gguf" -p 0 -n 2 -r 1 -t 1 2>"$dir/warn.txt" >"$dir/bench-bad.txt"
test "$(grep -c "ignoring the tuning cache" "$dir/warn.txt")" = 1
grep -q ", default" "$dir/bench-bad.txt"
rm -rf "$dir"
echo "tune smoke test passed"
