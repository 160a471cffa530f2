#!/usr/bin/env python3
"""tmac against llama.cpp, side by side, on the same GGUF files (issue #5).

Usage:
  compare_llama.py --tmac TMAC --full [--keep] [--workdir DIR]    # the whole comparison, into docs/
  compare_llama.py --tmac TMAC --full --dry-run                    # the plan and its time estimate
  compare_llama.py --tmac TMAC --case SHAPE:TYPE [--case ...] [-t 1,2] [-n 16] [-p 0] [-r 2] [--rounds 2]
  compare_llama.py --tmac TMAC --smoke                             # every stage at a tiny shape

Each step makes one model file and times it:
  - `tmac synth --shape SHAPE --type TYPE` writes a random-weight model at a real model's shape in
    one of llama.cpp's own types; llama.cpp and tmac (which repacks it at load) both run it;
  - `tmac convert SOURCE OUT --bits B [--ternary-pack 1.67]` packs an earlier step's file for tmac's
    kernels (1, 2, 3, 4 bits requantized at group 128 unless the source type repacks losslessly;
    ternary; TL2); tmac runs it, and the table sets it against the llama.cpp row of the same bits.
In each of --rounds rounds llama.cpp runs every thread count and then `tmac bench -m FILE -o json`
runs the same thread counts (A B A B), so that drift in the machine's load hits both:
  - llama.cpp (llama-cpp-python in the running Python) is timed as llama-bench times it: from an
    empty KV cache, tgN evaluates N random tokens one llama_decode at a time, ppN evaluates N in one
    call; one warm-up run, then -r timed runs, on each thread count. It runs with its extra weight
    buffers (CPU_REPACK: its repacked Q4_0/Q4_K/... kernels, its best CPU path) unless its build
    has AMX, whose kernels crash on this project's machines (scripts/setup.sh builds it without);
  - tmac bench does the same on the same thread counts and measures the read bandwidth.
The table gives the median tokens/s of all timed runs, tmac / llama.cpp, and each engine's tg as a
share of its roofline: the read bandwidth tmac measured in the same round over the weight bytes the
engine reads per token. A file is deleted as soon as no later step needs it, unless --keep.

--full runs the issue's set (full_plan() below: Llama-2-7B and BitNet-b1.58-3B, padded and exact) and
writes a section of docs/benchmarks.md between the compare_llama markers (replaced atomically), all
raw samples to docs/benchmarks-compare.json, and two gnuplot plots, docs/tg-vs-bits.png and
docs/tg-vs-threads.png, with the machine, the date and the targets of issue #5. It takes about 45
minutes on an idle 2-core machine (18 of them in tmac convert) and up to 13 GB of disk; it prints its
estimate first.
--smoke does the same at tiny shapes, one short round, into a temporary directory, and fails if any
stage fails: the test command runs it (ctest compare_llama_smoke), in seconds.
"""

import argparse
import json
import math
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "oracle"))
try:
    import gguf
    import llama_cpp
    from llama_reference import load_llama
except SystemExit as error:  # llama_reference exits naming setup.sh when llama_cpp is missing
    sys.exit(f"compare_llama.py: {error}")
except ImportError as error:
    sys.exit(f"compare_llama.py: {error}; run scripts/setup.sh")

TOKEN_SEED = 1234  # as tmac bench and llama-bench: fixed random tokens
BEGIN_MARKER, END_MARKER = "<!-- compare_llama:begin -->", "<!-- compare_llama:end -->"
# bitnet.cpp's TL2 kernel on the real BitNet-b1.58-3B, measured on this machine type (issue #5).
BITNET_CPP_TL2 = {1: 10.72, 2: 19.32}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S', time.gmtime())}Z] {message}", file=sys.stderr, flush=True)


@dataclass
class Step:
    """One model file and what runs on it."""
    key: str  # unique, readable: "llama-2-7b Q4_0", "llama-2-7b convert 2-bit"
    shape: str  # tmac synth shape
    fmt: str  # the file's format: a llama.cpp type, or "convert 2", "convert t", "convert t 1.67"
    bits: str  # the weight width the step stands for: "1".."4", "t" (ternary); its plot and targets
    source: str = ""  # convert: the key of the step whose file it converts
    convert_args: tuple = ()  # convert: --bits ... [--ternary-pack ...]
    llama: bool = False  # llama.cpp runs it too (only llama.cpp's own types)
    pp: bool = False  # a ppN test besides tgN
    bench: bool = True  # False: only a source for later converts
    versus: str = ""  # the llama.cpp step a tmac-only step is compared against
    requantize: bool = False  # convert: the source's type does not repack losslessly at these bits

    @property
    def convert(self) -> bool:
        return bool(self.source)


def synth_step(shape, type_name, bits, llama=True, pp=False, bench=True):
    return Step(f"{shape} {type_name}", shape, type_name, bits, llama=llama, pp=pp, bench=bench)


def convert_step(source: Step, bits: str, versus: str, ternary_pack: str = "", pp=False):
    args = ("--bits", bits) + (("--ternary-pack", ternary_pack) if ternary_pack else ())
    name = f"convert {bits}" + (f" {ternary_pack}" if ternary_pack else "") + ("-bit" if bits != "t" else "")
    lossless = {"Q4_0": "4", "Q4_1": "4", "Q4_K": "4", "Q3_K": "3", "Q2_K": "2", "TQ1_0": "t", "TQ2_0": "t"}
    return Step(f"{source.shape} {name}", source.shape, name, bits, source=source.key, convert_args=args,
                pp=pp, versus=versus, requantize=lossless.get(source.fmt) != bits)


def full_plan():
    """Issue #5's set. Llama-2-7B: llama.cpp's Q4_0, Q4_K, Q3_K, Q2_K, and tmac convert at 4..1 bits (from
    the Q4_0 file: random weights, only speed matters; Q4_0 repacks losslessly at 4 bits, g32). BitNet-3B
    padded to 256 (llama.cpp's super-block types need it): Q4_0, Q2_K, TQ2_0, TQ1_0 and TL2; exact
    shape (3200/8640, which only tmac runs in ternary): ternary LUT and TL2 requantized from Q4_0."""
    b7, pad, exact = "llama-2-7b", "bitnet-b1.58-3b-pad256", "bitnet-b1.58-3b"
    q4 = synth_step(b7, "Q4_0", "4", pp=True)
    tq2 = synth_step(pad, "TQ2_0", "t", pp=True)
    exact_src = synth_step(exact, "Q4_0", "4", llama=False, bench=False)
    steps = [
        q4,
        convert_step(q4, "4", versus=q4.key),
        convert_step(q4, "3", versus=f"{b7} Q3_K"),
        convert_step(q4, "2", versus=f"{b7} Q2_K"),
        convert_step(q4, "1", versus=f"{b7} Q2_K"),
        synth_step(b7, "Q2_K", "2", pp=True),
        synth_step(b7, "Q3_K", "3"),
        synth_step(b7, "Q4_K", "4"),  # the most common user format
        tq2,
        convert_step(tq2, "t", versus=tq2.key, ternary_pack="1.67"),
        synth_step(pad, "TQ1_0", "t"),
        synth_step(pad, "Q2_K", "2"),
        synth_step(pad, "Q4_0", "4"),
        exact_src,
        convert_step(exact_src, "t", versus=tq2.key),
        convert_step(exact_src, "t", versus=tq2.key, ternary_pack="1.67"),
    ]
    targets = {"ternary_pad": [s.key for s in steps if s.bits == "t" and s.shape == pad],
               "ternary_llama": tq2.key,
               "ternary_exact": [s.key for s in steps if s.bits == "t" and s.shape == exact],
               "two_bit": [s.key for s in steps if s.bits == "2" and s.shape == b7],
               "two_bit_llama": f"{b7} Q2_K",
               "four_bit": [s.key for s in steps if s.bits == "4" and s.shape == b7]}
    return steps, targets


def smoke_plan():
    """Every kind of step at tiny-llama: both engines on a llama.cpp type, with pp; a convert; a
    source-only file. The targets are computed as for --full (their values mean nothing here)."""
    q4 = synth_step("tiny-llama", "Q4_0", "4", pp=True)
    source = synth_step("tiny-llama", "Q8_0", "8", llama=False, bench=False)
    two_bit = convert_step(source, "2", versus=q4.key)
    tq2 = synth_step("tiny-llama", "TQ2_0", "t", pp=True)
    steps = [q4, source, two_bit, tq2]
    targets = {"ternary_pad": [tq2.key], "ternary_llama": tq2.key, "ternary_exact": [tq2.key],
               "two_bit": [two_bit.key], "two_bit_llama": q4.key, "four_bit": [q4.key]}
    return steps, targets


# --- time estimate -----------------------------------------------------------------------------

# Rough sizes and rates for the estimate only (idle 2-core Sapphire Rapids VM): matmul parameters
# of each shape, bits per weight of each format, read bandwidth, and the share of it each engine
# reaches in tg; pp is compute-bound: 2 operations per weight and token at about PP_OPS per second
# and thread.
PARAMS = {"llama-2-7b": 6.74e9, "llama-3-8b": 8.0e9, "bitnet-b1.58-3b": 3.3e9, "bitnet-b1.58-3b-pad256": 3.5e9,
          "bitnet-b1.58-2b4t": 2.4e9}
BPW = {"F32": 32, "F16": 16, "BF16": 16, "Q8_0": 8.5, "Q4_0": 4.5, "Q4_1": 5, "Q5_0": 5.5, "Q5_1": 6, "Q2_K": 2.625,
       "Q3_K": 3.44, "Q4_K": 4.5, "Q5_K": 5.5, "Q6_K": 6.56, "TQ1_0": 1.69, "TQ2_0": 2.06}
BANDWIDTH = {1: 19e9, 2: 30e9}
TG_EFFICIENCY = {"llama.cpp": 0.3, "tmac": 0.7}
PP_OPS = {"llama.cpp": 120e9, "tmac": 150e9}


def estimated_bytes(step: Step) -> float:
    params = PARAMS.get(step.shape, 1e7)
    if step.convert:
        bits = {"t": 2.25, "t 1.67": 1.8}.get(step.fmt.removeprefix("convert ").removesuffix("-bit"))
        bpw = bits if bits else int(step.bits) + 0.25
    else:
        bpw = BPW.get(step.fmt, 4.5)
    return params * bpw / 8


def estimated_seconds(step: Step, args) -> float:
    size = estimated_bytes(step)
    # tmac convert requantizes on one core per process, and several run at once: about 110 ns per
    # weight at 1..4 bits (MSE search), 40 at ternary (absmean). Repacks and synth go at disk speed.
    if step.requantize:
        seconds = (PARAMS.get(step.shape, 1e7) * (40e-9 if step.bits == "t" else 110e-9)
                   / min(args.jobs or 2, os.cpu_count() or 1, 2))
    else:
        seconds = size / 0.3e9
    if not step.bench:
        return seconds
    engines = ["tmac"] + (["llama.cpp"] if step.llama else [])
    for engine in engines:
        for threads in args.threads:
            tg = TG_EFFICIENCY[engine] * BANDWIDTH.get(threads, BANDWIDTH[2]) / size
            pp = 2 * PARAMS.get(step.shape, 1e7) * args.n_prompt / (PP_OPS[engine] * threads ** 0.8)
            run = args.n_gen / tg + (pp if step.pp else 0)
            seconds += args.rounds * (1 + args.repetitions) * run
        load = size / 2e9 if engine == "llama.cpp" else size / 0.7e9 + 4  # tmac: repack + bandwidth probe
        seconds += (args.rounds * load) if engine == "tmac" else load
    return seconds


def peak_bytes(steps: list, keep: bool) -> float:
    """The most bytes of model files alive at once, as run_plan makes and deletes them."""
    alive, peak = set(), 0.0
    for index, step in enumerate(steps):
        alive |= {step.key} | {s.key for s in steps[index + 1:] if step.convert and s.source == step.source}
        peak = max(peak, sum(estimated_bytes(s) for s in steps if s.key in alive))
        if not keep:
            alive &= {s.key for s in steps[index + 1:]} | {s.source for s in steps[index + 1:]}
    return peak


# --- making the files ----------------------------------------------------------------------------

def run_tool(args: list) -> None:
    run = subprocess.run(args, capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, args))} failed: {run.stderr.strip()[-2000:]}")


def make_file(step: Step, tmac: str, path: Path, files: dict) -> float:
    start = time.perf_counter()
    if step.convert:
        run_tool([tmac, "convert", str(files[step.source]), str(path), *step.convert_args, "--force"])
    else:
        run_tool([tmac, "synth", "--shape", step.shape, "--type", step.fmt, "-o", str(path), "--force"])
    return time.perf_counter() - start


def weights_read_per_token(path: Path) -> tuple:
    """(bytes, elements) of the matrices one decoded token reads in llama.cpp, as tmac bench counts
    them: the layers' matmul weights and the output head (the token embedding when tied)."""
    reader = gguf.GGUFReader(str(path))
    tensors = {t.name: t for t in reader.tensors}
    matrices = [t for name, t in tensors.items()
                if len(t.shape) == 2 and name.startswith("blk.") and name.endswith(".weight") and "norm" not in name]
    matrices.append(tensors.get("output.weight", tensors["token_embd.weight"]))
    return sum(int(t.n_bytes) for t in matrices), sum(int(t.n_elements) for t in matrices)


# --- the engines -----------------------------------------------------------------------------------

def llama_build_has_amx() -> bool:
    return "AMX_INT8 = 1" in llama_cpp.llama_print_system_info().decode()


class LlamaCpp:
    """One llama.cpp model and context, timed like llama-bench."""

    def __init__(self, path: Path, n_ctx: int, extra_buffers: bool):
        self.llm = load_llama(path, n_ctx=n_ctx, threads=1, extra_buffers=extra_buffers)
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


def llama_tests(n_vocab: int, n_prompt: int, n_gen: int) -> dict:
    rng = random.Random(TOKEN_SEED)
    tests = {}
    if n_prompt > 0:
        tests[f"pp{n_prompt}"] = ([rng.randrange(n_vocab) for _ in range(n_prompt)], False)
    if n_gen > 0:
        tests[f"tg{n_gen}"] = ([rng.randrange(n_vocab) for _ in range(n_gen)], True)
    return tests


def tmac_bench(tmac: str, path: Path, threads: list, n_prompt: int, n_gen: int, repetitions: int) -> list:
    args = [tmac, "bench", "-m", str(path), "-p", str(n_prompt), "-n", str(n_gen), "-r", str(repetitions),
            "-t", ",".join(map(str, threads)), "-o", "json"]
    run = subprocess.run(args, capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {run.stderr.strip()[-2000:]}")
    return json.loads(run.stdout)


# --- running the plan --------------------------------------------------------------------------------

@dataclass
class Result:
    """Everything measured on one step: the raw samples of each round, by engine."""
    step: Step
    file_bytes: int = 0
    make_seconds: float = 0.0
    llama_bytes_per_token: int = 0
    llama_elements: int = 0
    llama: list = field(default_factory=list)  # per round: {threads: {test: [t/s ...]}}
    tmac: list = field(default_factory=list)  # per round: tmac bench's json records


def run_step(step: Step, args, path: Path, make_seconds: float) -> Result:
    result = Result(step, file_bytes=path.stat().st_size, make_seconds=make_seconds)
    if not step.bench:
        return result
    n_prompt = args.n_prompt if step.pp else 0
    llama = None
    if step.llama:
        result.llama_bytes_per_token, result.llama_elements = weights_read_per_token(path)
        llama = LlamaCpp(path, n_ctx=max(n_prompt, args.n_gen), extra_buffers=args.extra_buffers)
        tests = llama_tests(llama.n_vocab, n_prompt, args.n_gen)
    try:
        for round_index in range(args.rounds):
            if llama:
                log(f"  round {round_index + 1}/{args.rounds}: llama.cpp, {args.threads} threads")
                result.llama.append({threads: llama.run(threads, tests, args.repetitions) for threads in args.threads})
            log(f"  round {round_index + 1}/{args.rounds}: tmac, {args.threads} threads")
            result.tmac.append(tmac_bench(args.tmac, path, args.threads, n_prompt, args.n_gen, args.repetitions))
    finally:
        del llama
    return result


def make_files(batch: list, args, files: dict) -> dict:
    """{key: seconds} making the files of `batch`, up to --jobs at once: nothing is timed meanwhile,
    and tmac convert's requantization runs on one core (a 7B model at 1 to 3 bits takes minutes)."""
    for step in batch:
        log(f"{'convert' if step.convert else 'synth'} {step.key}")
    with ThreadPoolExecutor(max_workers=args.jobs or len(batch)) as pool:
        futures = {s.key: pool.submit(make_file, s, args.tmac, files[s.key], files) for s in batch}
        return {key: future.result() for key, future in futures.items()}


def run_plan(steps: list, args, workdir: Path) -> list:
    files, made, results = {}, {}, []
    estimates = [estimated_seconds(s, args) for s in steps]
    started = time.perf_counter()
    for index, step in enumerate(steps):
        done = time.perf_counter() - started
        # The remaining estimate, scaled by how the finished steps compared with theirs.
        scale = done / sum(estimates[:index]) if index and sum(estimates[:index]) > 0 else 1.0
        log(f"step {index + 1}/{len(steps)}: {step.key}; {done / 60:.1f} min so far, "
            f"about {scale * sum(estimates[index:]) / 60:.0f} min to go")
        if step.key not in made:  # with a convert, every later convert of the same source too
            batch = [step] + [s for s in steps[index + 1:] if step.convert and s.source == step.source]
            for s in batch:
                files[s.key] = workdir / (s.key.replace(" ", "-").replace(".", "_") + ".gguf")
            made.update(make_files(batch, args, files))
        results.append(run_step(step, args, files[step.key], made[step.key]))
        if not args.keep:  # delete every file no later step runs or converts
            needed = {s.key for s in steps[index + 1:]} | {s.source for s in steps[index + 1:]}
            for key in [key for key in files if key not in needed]:
                files.pop(key).unlink(missing_ok=True)
    log(f"done in {(time.perf_counter() - started) / 60:.1f} min")
    return results


# --- the table ----------------------------------------------------------------------------------------

def median(values):
    return statistics.median(values) if values else None


@dataclass
class Row:
    """One step, thread count and test: medians over every timed run of every round."""
    step: Step
    threads: int
    test: str
    tmac: list  # t/s samples
    llama: list  # t/s samples of the step itself or of its `versus` step
    versus: str  # "" when llama.cpp ran the same file
    tmac_bpw: float
    llama_bpw: float
    tmac_roofline: list
    llama_roofline: list
    kernel: str
    file_bytes: int

    def ratio(self):
        return median(self.tmac) / median(self.llama) if self.tmac and self.llama else None

    def share(self, engine: str):
        samples, limits = (self.tmac, self.tmac_roofline) if engine == "tmac" else (self.llama, self.llama_roofline)
        return median(samples) / median(limits) if samples and limits else None


def rows_of(results: list) -> list:
    by_key = {r.step.key: r for r in results}
    rows = []
    for result in results:
        step = result.step
        if not step.bench:
            continue
        records = {}
        for round_records in result.tmac:
            for record in round_records:
                records.setdefault((record["n_threads"], record["test"]), []).append(record)
        reference = result if step.llama else by_key.get(step.versus)
        for (threads, test), recs in sorted(records.items()):
            llama, llama_roofline = [], []
            if reference and reference.llama:
                for round_index, round_samples in enumerate(reference.llama):
                    llama += round_samples.get(threads, {}).get(test, [])
                    if test.startswith("tg") and reference is result and reference.llama_bytes_per_token:
                        # The bandwidth tmac measured in the same round, over llama.cpp's bytes.
                        bandwidth = next((r["read_bandwidth_gbps"] for r in result.tmac[round_index]
                                          if r["n_threads"] == threads), None)
                        if bandwidth:
                            llama_roofline.append(bandwidth * 1e9 / reference.llama_bytes_per_token)
            rows.append(Row(step, threads, test,
                            tmac=[v for r in recs for v in r["samples_ts"]],
                            llama=llama, versus="" if reference is result else (step.versus if reference else ""),
                            tmac_bpw=recs[0]["bits_per_weight"],
                            llama_bpw=(8 * reference.llama_bytes_per_token / reference.llama_elements
                                       if reference and reference.llama_elements else float("nan")),
                            tmac_roofline=[r["roofline_ts"] for r in recs if r["roofline_ts"] is not None],
                            llama_roofline=llama_roofline, kernel=recs[0]["kernel"], file_bytes=result.file_bytes))
    return rows


def fmt_rate(value):
    return f"{value:.2f}" if value is not None else ""


def fmt_share(value):
    return f"{100 * value:.0f}%" if value is not None else ""


def table(rows: list) -> str:
    lines = ["| model | file | size | tmac bpw | threads | test | llama.cpp t/s | tmac t/s | tmac / llama.cpp "
             "| tmac % roofline | llama.cpp % roofline | tmac kernel |",
             "| --- | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in rows:
        ratio = r.ratio()
        versus = f" (vs {r.versus.split()[-1]})" if r.versus else ""
        lines.append(f"| {r.step.shape} | {r.step.fmt} | {r.file_bytes / 2**30:.2f} GiB | {r.tmac_bpw:.2f} | "
                     f"{r.threads} | {r.test} | {fmt_rate(median(r.llama))}{versus} | {fmt_rate(median(r.tmac))} | "
                     f"{f'{ratio:.2f}x' if ratio else ''} | {fmt_share(r.share('tmac'))} | "
                     f"{fmt_share(r.share('llama')) if not r.versus else ''} | {r.kernel} |")
    return "\n".join(lines)


def evaluate_targets(rows: list, spec: dict, n_prompt: int) -> list:
    """[(target, threads, result text, reached or None when not measured)]."""
    def tg_rows(keys):
        return [r for r in rows if r.step.key in keys and r.test.startswith("tg")]

    def best(candidates):
        return max(candidates, key=lambda r: median(r.tmac), default=None)

    out = []
    threads_list = sorted({r.threads for r in rows})
    for threads in threads_list:
        def at(candidates):
            return [r for r in candidates if r.threads == threads]

        def against_llama(label, tmac_steps, llama_step, llama_type, goal):
            """The fastest tmac row of tmac_steps over llama.cpp's row of llama_step."""
            llama = at(tg_rows([llama_step]))
            top = best(at(tg_rows(tmac_steps)))
            if top and llama and llama[0].llama:
                ratio = median(top.tmac) / median(llama[0].llama)
                out.append((label, threads, f"{ratio:.2f}x: tmac {top.step.fmt} {median(top.tmac):.2f} t/s, "
                            f"llama.cpp {llama_type} {median(llama[0].llama):.2f}", ratio >= goal))

        against_llama("ternary BitNet-3B (padded) >= 3.5x llama.cpp TQ2_0", spec["ternary_pad"],
                      spec["ternary_llama"], "TQ2_0", 3.5)
        top = best(at(tg_rows(spec["ternary_exact"])))
        if top and threads in BITNET_CPP_TL2:
            ratio = median(top.tmac) / BITNET_CPP_TL2[threads]
            out.append(("ternary BitNet-3B (exact shape) >= 1.8x bitnet.cpp TL2", threads,
                        f"{ratio:.2f}x: tmac {top.step.fmt} {median(top.tmac):.2f} t/s, bitnet.cpp "
                        f"{BITNET_CPP_TL2[threads]:.2f} (issue #5, not this run)", ratio >= 1.8))
        ternary = [r for r in at(tg_rows(spec["ternary_pad"] + spec["ternary_exact"])) if r.share("tmac")]
        top = best(ternary)
        if top:
            out.append(("ternary BitNet-3B >= 85% of roofline (the fastest ternary row)", threads,
                        f"{100 * top.share('tmac'):.0f}%: {top.step.shape} {top.step.fmt}", top.share("tmac") >= 0.85))
        against_llama("2 bits Llama-2-7B >= 2.8x llama.cpp Q2_K", spec["two_bit"], spec["two_bit_llama"], "Q2_K", 2.8)
        four = [r for r in at(tg_rows(spec["four_bit"])) if r.share("tmac")]
        top = max(four, key=lambda r: r.share("tmac"), default=None)
        if top:
            out.append(("4 bits Llama-2-7B >= 90% of roofline", threads,
                        f"{100 * top.share('tmac'):.0f}%: {top.step.fmt}", top.share("tmac") >= 0.9))
        pp = [r for r in rows if r.threads == threads and r.test == f"pp{n_prompt}" and r.tmac and r.llama]
        if pp:
            worst = min(pp, key=lambda r: r.ratio())
            out.append((f"pp{n_prompt} >= 2x llama.cpp at the same bits (the lowest of {len(pp)} ratios)",
                        threads, f"{worst.ratio():.2f}x: {worst.step.key}; " + ", ".join(
                            f"{r.step.key} {r.ratio():.2f}x" for r in pp), worst.ratio() >= 2))
    return out


def targets_table(targets: list) -> str:
    lines = ["| target | threads | this run | reached |", "| --- | ---: | --- | --- |"]
    for name, threads, text, reached in targets:
        lines.append(f"| {name} | {threads} | {text} | {'yes' if reached else '**no**'} |")
    return "\n".join(lines)


# --- machine and build -------------------------------------------------------------------------------

def machine(args) -> dict:
    cpu, flags = platform.processor(), []
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name") and cpu in ("", "x86_64"):
                cpu = line.split(":", 1)[1].strip()
            if line.startswith(("flags", "Features")) and not flags:
                flags = line.split(":", 1)[1].split()
    isa = [f for f in flags if f.startswith(("avx", "amx", "fma", "f16c", "bmi2", "asimd", "sve", "i8mm", "dotprod"))]
    try:
        commit = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"],
                                capture_output=True, text=True).stdout.strip() or "no git commit"
    except OSError:
        commit = "no git"
    version = subprocess.run([args.tmac, "--version"], capture_output=True, text=True).stdout.strip()
    stamp = Path(sys.prefix) / "llama_cpp_python.cmake_args"
    return {"cpu": cpu, "cores": os.cpu_count(), "isa": " ".join(isa),
            "kernel": platform.release(),
            "tmac": f"{version} ({commit})", "tmac_binary": str(Path(args.tmac).resolve()),
            "llama_cpp_python": llama_cpp.__version__,
            "llama_cpp_cmake_args": stamp.read_text().strip() if stamp.exists() else "unknown",
            "llama_cpp_system_info": llama_cpp.llama_print_system_info().decode().strip(),
            "llama_cpp_extra_buffers": args.extra_buffers}


def bandwidths(results: list) -> dict:
    """{threads: median read bandwidth tmac bench measured over every run}, GB/s."""
    seen = {}
    for result in results:
        for round_records in result.tmac:
            for record in round_records:
                if record["test"].startswith("tg"):
                    seen.setdefault(record["n_threads"], []).append(record["read_bandwidth_gbps"])
    return {t: statistics.median(v) for t, v in sorted(seen.items())}


def shown(path) -> str:
    """A path as the docs show it: relative to the repository when inside it."""
    absolute = Path(path).resolve()
    return str(absolute.relative_to(REPO)) if absolute.is_relative_to(REPO) else str(path)


def load_average() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


# --- outputs -----------------------------------------------------------------------------------------

def markdown(args, info, results, rows, targets, started, finished, load_start, load_end, command) -> str:
    bw = bandwidths(results)
    probes = ", ".join(f"{v:.1f} GB/s on {t} thread{'s' if t > 1 else ''}" for t, v in bw.items())
    extra = ("on (CPU_REPACK: llama.cpp's repacked kernels)" if info["llama_cpp_extra_buffers"]
             else "**off** (this llama.cpp build has AMX, whose kernels crash here: run scripts/setup.sh)")
    raw = f" Raw samples: `{shown(Path(args.out) / 'benchmarks-compare.json')}`." if args.out and not args.smoke else ""
    lines = [
        f"### `compare_llama.py` results, {started}",
        "",
        f"Command: `{command}`, {started} to {finished[-9:]}, load average {load_start} at the start and "
        f"{load_end} at the end. Medians of {args.rounds} round(s) x {args.repetitions} timed run(s) per engine "
        "on random-weight files. A llama.cpp rate marked \"(vs TYPE)\" is that llama.cpp file's row: tmac on a "
        f"`tmac convert` output against llama.cpp at the same bits.{raw}",
        "",
        "| | |",
        "| --- | --- |",
        f"| CPU | {info['cpu']}, {info['cores']} cores, Linux {info['kernel']} |",
        f"| ISA | {info['isa']} |",
        f"| read bandwidth (tmac bench's probe, median of the run) | {probes} |",
        f"| tmac | {info['tmac']} |",
        f"| llama.cpp | llama-cpp-python {info['llama_cpp_python']}, CMAKE_ARGS `{info['llama_cpp_cmake_args']}`, "
        f"extra buffers {extra} |",
        "",
        table(rows),
        "",
    ]
    if targets:
        lines += ["Targets (issue #5):", "", targets_table(targets), ""]
    if args.out:
        lines += ["![generation tokens/s against bits per weight](tg-vs-bits.png)",
                  "![generation tokens/s against threads](tg-vs-threads.png)"]
    return "\n".join(lines) + "\n"


def write_atomically(path: Path, data, binary=False) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_bytes(data) if binary else tmp.write_text(data)
    os.replace(tmp, path)


def replace_section(path: Path, section: str) -> None:
    """The text between the compare_llama markers of `path` becomes `section` (the markers are
    appended when the file has none)."""
    text = path.read_text() if path.exists() else ""
    begin, end = text.find(BEGIN_MARKER), text.find(END_MARKER)
    if begin < 0 or end < begin:
        text = text.rstrip("\n") + f"\n\n{BEGIN_MARKER}\n{END_MARKER}\n"
        begin, end = text.find(BEGIN_MARKER), text.find(END_MARKER)
    write_atomically(path, text[:begin + len(BEGIN_MARKER)] + "\n" + section + text[end:])


def raw_json(args, info, results, rows, targets, started, finished, load_start, load_end, command) -> str:
    def step_json(result: Result):
        s = result.step
        return {"key": s.key, "shape": s.shape, "format": s.fmt, "bits": s.bits, "source": s.source,
                "convert_args": list(s.convert_args), "versus": s.versus, "file_bytes": result.file_bytes,
                "make_seconds": result.make_seconds, "llama_bytes_per_token": result.llama_bytes_per_token,
                "llama_matmul_elements": result.llama_elements,
                "llama_rounds": [{str(t): tests for t, tests in round_samples.items()} for round_samples in result.llama],
                "tmac_rounds": result.tmac}

    return json.dumps({
        "command": command, "started": started, "finished": finished, "load_average_start": load_start,
        "load_average_end": load_end, "machine": info, "read_bandwidth_gbps": bandwidths(results),
        "settings": {"threads": args.threads, "n_gen": args.n_gen, "n_prompt": args.n_prompt,
                     "repetitions": args.repetitions, "rounds": args.rounds},
        "steps": [step_json(r) for r in results],
        "table": [{"key": r.step.key, "threads": r.threads, "test": r.test, "versus": r.versus,
                   "tmac_ts": median(r.tmac), "llama_ts": median(r.llama), "ratio": r.ratio(),
                   "tmac_bpw": r.tmac_bpw, "llama_bpw": r.llama_bpw if math.isfinite(r.llama_bpw) else None,
                   "tmac_roofline_fraction": r.share("tmac"), "llama_roofline_fraction": r.share("llama"),
                   "kernel": r.kernel} for r in rows],
        "targets": [{"target": n, "threads": t, "result": text, "reached": ok} for n, t, text, ok in targets],
    }, indent=1) + "\n"


def family(shape: str) -> str:
    return "BitNet-b1.58-3B" if shape.startswith("bitnet") else shape


def plots(rows: list, out_dir: Path, work: Path) -> list:
    """docs/tg-vs-bits.png and docs/tg-vs-threads.png through gnuplot; returns their paths."""
    tg = [r for r in rows if r.test.startswith("tg")]
    families = sorted({family(r.step.shape) for r in tg})
    colors = {1: "#1f77b4", 2: "#d62728", 3: "#2ca02c", 4: "#9467bd"}
    # tg against bits: one panel per model family; tmac's convert outputs as a line per thread
    # count, tmac on llama.cpp's files as points, llama.cpp as a dashed line; labels: the format.
    script = [f"set terminal pngcairo noenhanced size {760 * len(families)},560 font ',9'",
              f"set output '{out_dir / 'tg-vs-bits.png'}'",
              f"set multiplot layout 1,{len(families)} title 'generation tokens/s against bits per weight read "
              "per token (lines: tmac convert outputs, dashed: llama.cpp)'",
              "set grid", "set key top right", "set xlabel 'bits per weight read per token'",
              "set ylabel 'tokens/s'", "set yrange [0:*]", "set offsets 0.3, 0.6, 0, 0"]
    for fam in families:
        plot = []
        for threads in sorted({r.threads for r in tg}):
            here = [r for r in tg if family(r.step.shape) == fam and r.threads == threads]
            shapes = list(dict.fromkeys(r.step.shape for r in here if r.step.convert))
            # One convert line per shape (the BitNet panel has the padded and the exact one).
            series = [(("tmac convert" + (f" {shape}" if len(shapes) > 1 else ""), f"linespoints pt {7 - i}"),
                       sorted((r.tmac_bpw, median(r.tmac), r.step.fmt.removeprefix("convert "))
                              for r in here if r.step.convert and r.step.shape == shape))
                      for i, shape in enumerate(shapes)]
            series += [(("tmac, llama.cpp file", "points pt 5"),
                        [(r.tmac_bpw, median(r.tmac), r.step.fmt) for r in here if not r.step.convert]),
                       (("llama.cpp", "linespoints dt 2 pt 9 ps 1.4"),
                        sorted((r.llama_bpw, median(r.llama), r.step.fmt) for r in here if r.step.llama and r.llama))]
            for (name, style), points in series:
                if not points:
                    continue
                data = work / f"bits-{len(plot)}-{fam}-{threads}.dat".replace(" ", "_")
                data.write_text("".join(f"{x} {y} \"{label}\"\n" for x, y, label in points))
                color = colors.get(threads, "black")
                plot.append(f"'{data}' using 1:2 with {style} lc rgb '{color}' "
                            f"title '{name}, {threads}T'")
                plot.append(f"'{data}' using 1:2:3 with labels offset 0,0.8 font ',7' tc rgb '{color}' notitle")
        script += [f"set title '{fam}'", "plot " + ", ".join(plot)]
    script.append("unset multiplot")
    # tg against threads: one line per engine and file, one panel per model family.
    script += [f"set output '{out_dir / 'tg-vs-threads.png'}'",
               f"set multiplot layout 1,{len(families)} title 'generation (tg) tokens/s against threads'",
               "set xlabel 'threads'", "set offsets 0.1, 0.1, 0, 0", "set key outside right top font ',7'",
               f"set xtics ({', '.join(str(t) for t in sorted({r.threads for r in tg}))})"]
    for fam in families:
        plot = []
        keys = list(dict.fromkeys(r.step.key for r in tg if family(r.step.shape) == fam))
        for key in keys:
            for engine in ("tmac", "llama.cpp"):
                points = [(r.threads, median(r.tmac if engine == "tmac" else r.llama)) for r in tg
                          if r.step.key == key and (engine == "tmac" or (r.step.llama and r.llama))]
                if not points:
                    continue
                data = work / f"threads-{len(plot)}-{fam}.dat".replace(" ", "_")
                data.write_text("".join(f"{x} {y}\n" for x, y in sorted(points)))
                style = "linespoints pt 7" if engine == "tmac" else "linespoints pt 9 dt 2"
                label = key.removeprefix("bitnet-b1.58-3b-pad256 ").replace("bitnet-b1.58-3b ", "exact ")
                label = label.removeprefix("llama-2-7b ")
                plot.append(f"'{data}' using 1:2 with {style} title '{engine} {label}'")
        script += [f"set title '{fam}'", "plot " + ", ".join(plot)]
    script.append("unset multiplot")
    gp = work / "plots.gp"
    gp.write_text("\n".join(script) + "\n")
    try:
        run = subprocess.run(["gnuplot", str(gp)], capture_output=True, text=True)
    except FileNotFoundError:
        raise RuntimeError("gnuplot is not installed: scripts/setup.sh installs it (gnuplot-nox)") from None
    if run.returncode != 0:
        raise RuntimeError(f"gnuplot failed: {run.stderr.strip()[-2000:]}")
    return [out_dir / "tg-vs-bits.png", out_dir / "tg-vs-threads.png"]


# --- main ----------------------------------------------------------------------------------------------

def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 2)[2])
    parser.add_argument("--tmac", required=True, help="the tmac binary")
    preset = parser.add_mutually_exclusive_group()
    preset.add_argument("--full", action="store_true", help="issue #5's whole set, written into docs/")
    preset.add_argument("--smoke", action="store_true", help="every stage at tiny shapes, into a temp dir")
    preset.add_argument("--case", action="append", metavar="SHAPE:TYPE",
                        help="a tmac synth shape and llama.cpp type, both engines (repeatable)")
    parser.add_argument("-t", "--threads", default="1,2", help="thread counts, comma-separated (default 1,2)")
    parser.add_argument("-n", "--n-gen", type=int, help="generated tokens per tg run (default 16)")
    parser.add_argument("-p", "--n-prompt", type=int,
                        help="prompt tokens per pp run, 0: none (default: 128 with --full on the steps that "
                             "have pp, else 0)")
    parser.add_argument("-r", "--repetitions", type=int, default=2, help="timed runs per test and round (default 2)")
    parser.add_argument("--rounds", type=int, default=2, help="A B rounds (default 2)")
    parser.add_argument("--workdir", help="where the model files go (default: a temporary directory)")
    parser.add_argument("--keep", action="store_true", help="keep the model files (needs --workdir)")
    parser.add_argument("--out", help="directory for benchmarks-compare.json and the two PNGs "
                                      "(default: docs/ with --full, none otherwise)")
    parser.add_argument("--markdown", help="the file whose compare_llama section gets the results "
                                           "(default: docs/benchmarks.md with --full)")
    parser.add_argument("-j", "--jobs", type=int, default=0,
                        help="tmac convert processes at once (default 0: all the converts of a source file; "
                             "nothing is timed meanwhile)")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and its time estimate only")
    args = parser.parse_args()
    if args.smoke:
        args.n_gen, args.n_prompt, args.repetitions, args.rounds = 4, 8, 1, 1
    if args.n_gen is None:
        args.n_gen = 16
    if args.n_prompt is None:
        args.n_prompt = 128 if args.full else 0
    if args.full:
        args.out = args.out or str(REPO / "docs")
        args.markdown = args.markdown or str(REPO / "docs" / "benchmarks.md")
    try:
        args.threads = [int(t) for t in args.threads.split(",")]
    except ValueError:
        parser.error(f"-t: expected comma-separated thread counts, got '{args.threads}'")
    if min(args.threads) < 1 or args.repetitions < 1 or args.rounds < 1 or args.n_gen < 0 or args.n_prompt < 0:
        parser.error("thread counts, -r and --rounds must be at least 1, -n and -p not negative")
    if args.n_gen == 0:
        parser.error("-n 0: the comparison needs a tg test")
    if not (Path(args.tmac).is_file() and os.access(args.tmac, os.X_OK)):
        parser.error(f"--tmac {args.tmac}: not an executable file")
    if args.keep and not args.workdir:
        parser.error("--keep needs --workdir (the default work directory is temporary)")
    if args.case and any(case.count(":") != 1 for case in args.case):
        parser.error("--case takes SHAPE:TYPE, e.g. llama-2-7b:Q2_K")
    return args


def main() -> int:
    args = parse_args()
    if args.full:
        steps, target_spec = full_plan()
    elif args.smoke:
        steps, target_spec = smoke_plan()
    else:
        cases = args.case or ["bitnet-b1.58-3b-pad256:TQ2_0"]
        steps = [synth_step(*case.split(":"), bits="", pp=args.n_prompt > 0) for case in cases]
        target_spec = None
    args.extra_buffers = not llama_build_has_amx()
    if not args.extra_buffers:
        log("warning: this llama.cpp build has AMX, which crashes here: llama.cpp runs without its extra "
            "buffers (CPU_REPACK), off its best path; scripts/setup.sh builds it without AMX")

    estimate = sum(estimated_seconds(s, args) for s in steps)
    log(f"plan: {len(steps)} steps, about {estimate / 60:.0f} min on an idle machine; at most "
        f"{peak_bytes(steps, args.keep) / 1e9:.1f} GB of model files at a time")
    for step in steps:
        what = ("both engines" if step.llama else "tmac") if step.bench else "source only"
        log(f"  {step.key}: {what}{', pp' if step.pp and args.n_prompt else ''}, "
            f"about {estimated_seconds(step, args) / 60:.1f} min")
    if args.dry_run:
        return 0

    command = "bench/compare_llama.py " + " ".join(shown(a) for a in sys.argv[1:])
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load_start = load_average()
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="compare_llama."))
    work.mkdir(parents=True, exist_ok=True)
    if args.smoke:  # every writer, into the work directory: a copy of docs/benchmarks.md, json, plots
        args.out, args.markdown = str(work / "out"), str(work / "out" / "benchmarks.md")
        Path(args.out).mkdir(exist_ok=True)
        shutil.copy(REPO / "docs" / "benchmarks.md", args.markdown)
    failures = []
    try:
        results = run_plan(steps, args, work)
        finished = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        load_end = load_average()
        rows = rows_of(results)
        targets = evaluate_targets(rows, target_spec, args.n_prompt) if target_spec else []
        info = machine(args)
        outputs = (args, info, results, rows, targets, started, finished, load_start, load_end, command)
        section = markdown(*outputs)
        print(section)
        if args.out:
            out = Path(args.out)
            out.mkdir(parents=True, exist_ok=True)
            for png in plots(rows, out, work):
                log(f"wrote {png}")
            write_atomically(out / "benchmarks-compare.json", raw_json(*outputs))
            log(f"wrote {out / 'benchmarks-compare.json'}")
        if args.markdown:
            replace_section(Path(args.markdown), section)
            log(f"wrote {args.markdown}")
        failures = check(rows)
        if args.smoke:
            failures += check_outputs(Path(args.markdown), Path(args.out), section)
    except (RuntimeError, OSError) as error:  # a tool failed or is missing: the message says which
        failures.append(str(error))
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    for failure in failures:
        print(f"FAIL: {failure}", file=sys.stderr)
    return 1 if failures else 0


def check(rows: list) -> list:
    """Every row has positive finite rates from both engines (a tmac-only row: from its versus)."""
    failures = []
    for r in rows:
        if not r.tmac or not all(math.isfinite(v) and v > 0 for v in r.tmac + r.llama):
            failures.append(f"{r.step.key} {r.threads}T {r.test}: a rate that is missing or not positive")
        if not r.llama:
            failures.append(f"{r.step.key} {r.threads}T {r.test}: no llama.cpp rate to compare with")
    return failures


def check_outputs(markdown_path: Path, out: Path, section: str) -> list:
    failures = []
    text = markdown_path.read_text()
    original = (REPO / "docs" / "benchmarks.md").read_text()
    if section not in text or text.count(BEGIN_MARKER) != 1 or text.count(END_MARKER) != 1:
        failures.append(f"{markdown_path}: the section is not between one pair of markers")
    if not text.startswith(original[:original.find(BEGIN_MARKER)] if BEGIN_MARKER in original else original):
        failures.append(f"{markdown_path}: the text before the markers changed")
    data = json.loads((out / "benchmarks-compare.json").read_text())
    if not data["steps"] or not data["table"] or not data["targets"]:
        failures.append("benchmarks-compare.json lacks steps, table or targets")
    for png in ("tg-vs-bits.png", "tg-vs-threads.png"):
        path = out / png
        if not path.exists() or path.read_bytes()[:8] != b"\x89PNG\r\n\x1a\n" or path.stat().st_size < 2000:
            failures.append(f"{path}: not a PNG plot")
    return failures


if __name__ == "__main__":
    sys.exit(main())
