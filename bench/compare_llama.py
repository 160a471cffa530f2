#!/usr/bin/env python3
"""tmac against llama.cpp, side by side, on the same GGUF files (issue #5).

Usage:
  compare_llama.py --tmac TMAC [--case SHAPE:TYPE ...] [-t 1,2] [-n 32] [-p 0] [-r 3] [--rounds 2]
                   [--workdir DIR] [--keep] [--markdown FILE]
  compare_llama.py --tmac TMAC --smoke

For each case, `tmac synth` writes a random-weight model at the shape in llama.cpp's own type.
Then, --rounds times, llama.cpp and tmac take turns (A B A B), so that drift in the machine's load
hits both:
  - llama.cpp (llama-cpp-python from .venv) is timed as llama-bench times it: from an empty KV
    cache, tgN evaluates N random tokens one llama_decode at a time, ppN evaluates N in one; one
    warm-up run, then -r timed runs, on each thread count;
  - `tmac bench -m FILE -o json` does the same on the same thread counts (it repacks at load).
The table gives the median tokens/s of all timed runs of each engine, the ratio tmac / llama.cpp
and tmac's generation rate as a share of the roofline its run measured (read bandwidth / weight
bytes per token). Synthetic files are deleted afterwards unless --keep.

llama.cpp runs without its extra weight buffers (AMX, CPU_REPACK): they crash its decode on this
project's machines (tests/oracle/llama_reference.py), so its Q4_0 does not get the AMX path.

--smoke runs tiny-llama in Q4_0 and TQ2_0, one round of a few tokens: it checks that the pipeline
works (both engines produce positive rates for every row), in seconds; the test command runs it.
"""

import argparse
import json
import math
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "oracle"))
try:
    from llama_reference import load_llama
except SystemExit as error:  # llama_reference exits naming setup.sh when llama_cpp is missing
    sys.exit(f"compare_llama.py: {error}")

TOKEN_SEED = 1234  # as tmac bench and llama-bench: fixed random tokens


def synth(tmac: str, shape: str, type_name: str, out: Path) -> None:
    run = subprocess.run([tmac, "synth", "--shape", shape, "--type", type_name, "-o", str(out)],
                         capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"compare_llama.py: tmac synth --shape {shape} --type {type_name} failed: {run.stderr.strip()}")


class LlamaCpp:
    """One llama.cpp model and context, timed like llama-bench."""

    def __init__(self, path: Path, n_ctx: int):
        self.llm = load_llama(path, n_ctx=n_ctx, threads=1)
        self.n_vocab = self.llm.n_vocab()

    def tokens_per_second(self, tokens: list, generation: bool) -> float:
        self.llm.reset()  # the next eval removes every cached position
        start = time.perf_counter()
        if generation:
            for token in tokens:
                self.llm.eval([token])
        else:
            self.llm.eval(tokens)
        return len(tokens) / (time.perf_counter() - start)

    def run(self, threads: int, tests: dict, repetitions: int) -> dict:
        """{test name: [tokens/s of each timed run]} on `threads` threads, after one warm-up."""
        self.llm._ctx.set_n_threads(threads, threads)
        samples = {}
        for name, (tokens, generation) in tests.items():
            self.tokens_per_second(tokens, generation)
            samples[name] = [self.tokens_per_second(tokens, generation) for _ in range(repetitions)]
        return samples


def tmac_bench(tmac: str, path: Path, threads: list, n_prompt: int, n_gen: int, repetitions: int) -> list:
    args = [tmac, "bench", "-m", str(path), "-p", str(n_prompt), "-n", str(n_gen), "-r", str(repetitions),
            "-t", ",".join(map(str, threads)), "-o", "json"]
    run = subprocess.run(args, capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"compare_llama.py: {' '.join(args)} failed: {run.stderr.strip()}")
    return json.loads(run.stdout)


def llama_tests(n_vocab: int, n_prompt: int, n_gen: int) -> dict:
    rng = random.Random(TOKEN_SEED)
    tests = {}
    if n_prompt > 0:
        tests[f"pp{n_prompt}"] = ([rng.randrange(n_vocab) for _ in range(n_prompt)], False)
    if n_gen > 0:
        tests[f"tg{n_gen}"] = ([rng.randrange(n_vocab) for _ in range(n_gen)], True)
    return tests


def compare(args, shape: str, type_name: str, workdir: Path) -> list:
    """Rows of the table for one case: {threads, test, llama: [...], tmac: [...], roofline: [...], ...}."""
    path = workdir / f"{shape}-{type_name}.gguf"
    print(f"[{time.strftime('%H:%M:%S', time.gmtime())}Z] synth {shape} {type_name}", file=sys.stderr)
    synth(args.tmac, shape, type_name, path)
    rows = {}
    try:
        llama = LlamaCpp(path, n_ctx=max(args.n_prompt, args.n_gen))
        tests = llama_tests(llama.n_vocab, args.n_prompt, args.n_gen)
        for round_index in range(args.rounds):
            for threads in args.threads:
                print(f"[{time.strftime('%H:%M:%S', time.gmtime())}Z] round {round_index + 1}/{args.rounds}: "
                      f"llama.cpp {threads} thread(s)", file=sys.stderr)
                for name, samples in llama.run(threads, tests, args.repetitions).items():
                    rows.setdefault((threads, name), {"llama": [], "tmac": [], "roofline": []})["llama"] += samples
            print(f"[{time.strftime('%H:%M:%S', time.gmtime())}Z] round {round_index + 1}/{args.rounds}: tmac",
                  file=sys.stderr)
            for record in tmac_bench(args.tmac, path, args.threads, args.n_prompt, args.n_gen, args.repetitions):
                row = rows[record["n_threads"], record["test"]]
                row["tmac"] += record["samples_ts"]
                if record["roofline_ts"] is not None:
                    row["roofline"].append(record["roofline_ts"])
                row["kernel"] = record["kernel"]
                row["size"] = record["model_size"]
        del llama
    finally:
        if not args.keep:
            path.unlink(missing_ok=True)
    return [{"shape": shape, "type": type_name, "threads": threads, "test": test, **row}
            for (threads, test), row in sorted(rows.items())]


def table(rows: list) -> str:
    lines = ["| shape | type | size | threads | test | llama.cpp t/s | tmac t/s | tmac / llama.cpp | roofline t/s "
             "| tmac % roofline |",
             "| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        llama, tmac = statistics.median(r["llama"]), statistics.median(r["tmac"])
        roofline = share = ""
        if r["roofline"]:
            limit = statistics.median(r["roofline"])
            roofline, share = f"{limit:.2f}", f"{100 * tmac / limit:.0f}%"
        lines.append(f"| {r['shape']} | {r['type']} | {r['size'] / 2**30:.2f} GiB | {r['threads']} | {r['test']} | "
                     f"{llama:.2f} | {tmac:.2f} | {tmac / llama:.2f}x | {roofline} | {share} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tmac", required=True, help="the tmac binary")
    parser.add_argument("--case", action="append", metavar="SHAPE:TYPE",
                        help="a tmac synth shape and llama.cpp type (default: bitnet-b1.58-3b-pad256:TQ2_0)")
    parser.add_argument("-t", "--threads", default="1,2", help="thread counts, comma-separated")
    parser.add_argument("-n", "--n-gen", type=int, default=32, help="generated tokens per tg run")
    parser.add_argument("-p", "--n-prompt", type=int, default=0, help="prompt tokens per pp run (0: no pp test)")
    parser.add_argument("-r", "--repetitions", type=int, default=3, help="timed runs per test and round")
    parser.add_argument("--rounds", type=int, default=2, help="A B rounds")
    parser.add_argument("--workdir", help="where the synthetic files go (default: a temporary directory)")
    parser.add_argument("--keep", action="store_true", help="keep the synthetic files")
    parser.add_argument("--markdown", help="also write the table here")
    parser.add_argument("--smoke", action="store_true", help="tiny-llama Q4_0 and TQ2_0, one short round")
    args = parser.parse_args()
    if args.smoke:
        args.case = ["tiny-llama:Q4_0", "tiny-llama:TQ2_0"]
        args.n_gen, args.n_prompt, args.repetitions, args.rounds = 4, 8, 1, 1
    cases = args.case or ["bitnet-b1.58-3b-pad256:TQ2_0"]
    try:
        args.threads = [int(t) for t in args.threads.split(",")]
    except ValueError:
        parser.error(f"-t: expected comma-separated thread counts, got '{args.threads}'")
    if min(args.threads) < 1 or args.repetitions < 1 or args.rounds < 1 or args.n_gen < 0 or args.n_prompt < 0:
        parser.error("thread counts, -r and --rounds must be at least 1, -n and -p not negative")
    if args.n_gen == 0 and args.n_prompt == 0:
        parser.error("-n and -p are both 0: nothing to measure")
    if any(case.count(":") != 1 for case in cases):
        parser.error("--case takes SHAPE:TYPE, e.g. llama-2-7b:Q2_K")

    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    with open("/proc/loadavg") as f:
        load = f.read().split()[0]
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="compare_llama."))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        rows = [row for case in cases for row in compare(args, *case.split(":"), workdir)]
    finally:
        if not args.workdir and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    out = (f"{started}, load average {load} at the start; medians of {args.rounds} round(s) x "
           f"{args.repetitions} run(s) per engine\n\n{table(rows)}\n")
    print(out)
    if args.markdown:
        Path(args.markdown).write_text(out)
    bad = [r for r in rows
           if not all(math.isfinite(v) and v > 0 for v in r["llama"] + r["tmac"]) or not r["llama"] or not r["tmac"]]
    if bad:
        print(f"FAIL: rows without positive rates from both engines: {bad}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
