#!/usr/bin/env python3
"""tmac against llama.cpp (llama-cpp-python) on one model file.

On a fixed text evaluated the way llama.cpp's perplexity tool does (chunks of --ctx tokens, the
second half of each scored), and on greedy generation from a few prompts.

Why the thresholds are measured, not fixed: with quantized activations (llama.cpp rounds them to
Q8 blocks, tmac to int8 per weight group) the forward pass is chaotic. Any difference in the last
bit of any value flips some of those roundings, the flips cascade through the layers, and the
logits move by the full size of the activation-quantization noise. So this script measures
llama.cpp against itself on a copy of the model whose norm weights are moved by one ulp (the
smallest change there is; on SmolLM2 it costs llama.cpp 4 points of top-1 agreement), and requires
tmac to be as close to llama.cpp as llama.cpp is to that copy:
  - top-1 agreement >= llama.cpp's self-agreement - --agreement-margin, and >= --min-agreement;
  - mean |logit difference| <= --diff-factor x llama.cpp's own;
  - perplexity within --max-ppl-diff (relative) of llama.cpp's;
  - greedy generation: identical tokens up to the first position where llama.cpp's top two
    logits are closer than the noise (twice the 99th percentile of llama.cpp's own per-position
    max |logit difference|), and at least --min-greedy-tokens identical tokens. Where llama.cpp's
    own continuation on the one-ulp copy departs is printed beside it.
With --strict (float models, where nothing is quantized and nothing is chaotic) it instead
requires 100% top-1 agreement, max |difference| <= --max-diff and identical greedy texts.

With --numerics llama.cpp, tmac runs with llama.cpp's own arithmetic (src/model/llama_cpp_numerics.h)
and the criteria are absolute: top-1 agreement >= --min-agreement, max |logit difference| <=
--max-diff, perplexity within --max-ppl-diff, identical greedy texts. That arithmetic is the
reference build's (llama-cpp-python as scripts/setup.sh builds it, on an AVX-512 CPU without
AVX512-FP16, where ggml picks the kernels it restates); on another CPU llama.cpp sums in other
orders, so the script skips (exit 77) instead.
Exits non-zero on any failure, including llama_cpp not being installed (run scripts/setup.sh).
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

import numpy as np

from llama_reference import add_bos_of, greedy, load_llama, perplexity


def one_ulp_copy(model, path):
    """A copy of `model` with every float32 norm weight moved up by one ulp: the same model to
    within the last bit of a few thousand values."""
    try:
        import gguf
    except ImportError as error:
        sys.exit(f"llama_conformance: {error}; run scripts/setup.sh, which installs gguf in .venv")
    shutil.copyfile(model, path)
    moved = 0
    for tensor in gguf.GGUFReader(path, "r+").tensors:
        if tensor.name.endswith("norm.weight") and tensor.tensor_type == gguf.GGMLQuantizationType.F32:
            tensor.data[:] = np.nextafter(tensor.data, np.float32(np.inf))
            moved += 1
    if moved == 0:
        sys.exit(f"llama_conformance: {model} has no float32 norm weights to move by one ulp")
    return path


def reference_cpu():
    """Whether ggml, built with -march=native here, takes the AVX-512 paths (without AVX512-FP16's
    half-precision sums) that --numerics llama.cpp reproduces."""
    try:
        flags = next(line for line in open("/proc/cpuinfo") if line.startswith("flags")).split()
    except (OSError, StopIteration):
        return False
    return {"avx512f", "avx512dq", "avx512vl", "fma"} <= set(flags) and "avx512_fp16" not in flags


def run_tmac(args, *extra):
    cmd = [args.tmac, *extra, "-m", args.model, "-t", str(args.threads), "--numerics", args.numerics]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"llama_conformance: {' '.join(cmd)} failed:\n{result.stderr}")
    return result.stdout


def distance(a, b):
    diff = np.abs(a - b)
    return {"agreement": float((a.argmax(axis=1) == b.argmax(axis=1)).mean()),
            "max": float(diff.max()), "mean": float(diff.mean()),
            "p99_row_max": float(np.quantile(diff.max(axis=1), 0.99))}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--tmac", required=True)
    p.add_argument("--model", help="GGUF file (or use --synth)")
    p.add_argument("--synth", metavar="SHAPE:TYPE[:EMBD]",
                   help="test on a `tmac synth` model: its shape, weight type, and embedding/output type")
    p.add_argument("--text", required=True)
    p.add_argument("--ctx", type=int, default=512)
    p.add_argument("--chunks", type=int, default=None)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--min-positions", type=int, default=1000)
    p.add_argument("--min-agreement", type=float, default=0.9)
    p.add_argument("--agreement-margin", type=float, default=0.01)
    p.add_argument("--diff-factor", type=float, default=1.25)
    p.add_argument("--max-ppl-diff", type=float, default=0.005)
    p.add_argument("--prompt", action="append", default=[])
    p.add_argument("--n-predict", type=int, default=64)
    p.add_argument("--min-greedy-tokens", type=int, default=0)
    p.add_argument("--strict", action="store_true")
    p.add_argument("--max-diff", type=float, default=0.01)
    p.add_argument("--numerics", choices=["fast", "llama.cpp"], default="fast")
    args = p.parse_args()
    if args.numerics == "llama.cpp" and not reference_cpu():
        print("SKIP: llama.cpp's kernels on this CPU are not the AVX-512 ones --numerics llama.cpp restates")
        sys.exit(77)
    with tempfile.TemporaryDirectory() as tmp:
        if args.synth:
            args.model = os.path.join(tmp, "synth.gguf")
            shape, weights, *embd = args.synth.split(":")
            extra = ["--embd-type", embd[0], "--output-type", embd[0]] if embd else []
            subprocess.run([args.tmac, "synth", "--shape", shape, "--type", weights, *extra, "-o", args.model],
                           check=True, capture_output=True)
        if not args.model or not os.path.exists(args.model):
            sys.exit(f"llama_conformance: model {args.model} is missing; run scripts/setup.sh to fetch it")
        failures = check(args, tmp)
    for f in failures:
        print("FAIL:", f)
    sys.exit(1 if failures else 0)


def check(args, tmp):
    failures = []

    text = open(args.text, encoding="utf-8").read()
    llm = load_llama(args.model, args.ctx, args.threads, logits_all=True)
    tokens = llm.tokenize(text.encode("utf-8"), add_bos=add_bos_of(llm), special=False)
    ref, ref_ppl = perplexity(llm, tokens, args.ctx, args.chunks)
    del llm

    npy = os.path.join(tmp, "logits.npy")
    extra = ["--chunks", str(args.chunks)] if args.chunks else []
    out = run_tmac(args, "perplexity", "-f", args.text, "--ctx", str(args.ctx), "--save-logits", npy, *extra)
    logits = np.load(npy)
    match = re.search(r"Final estimate: PPL = ([0-9.]+)", out)
    if not match:
        sys.exit(f"llama_conformance: no perplexity in tmac's output:\n{out}")
    ppl = float(match.group(1))
    if logits.shape != ref.shape:
        sys.exit(f"llama_conformance: logits shape {logits.shape} != llama.cpp's {ref.shape}")

    d = distance(logits, ref)
    ppl_diff = abs(ppl - ref_ppl) / ref_ppl
    print(f"{logits.shape[0]} positions: tmac vs llama.cpp: top-1 agreement {d['agreement']:.4f}, "
          f"max |logit diff| {d['max']:.4f}, mean {d['mean']:.5f}, "
          f"bit-identical rows {float((logits == ref).all(axis=1).mean()):.4f}")
    print(f"perplexity: tmac {ppl:.4f}, llama.cpp {ref_ppl:.4f}, relative difference {ppl_diff:.5f}")
    if logits.shape[0] < args.min_positions:
        failures.append(f"only {logits.shape[0]} scored positions (< {args.min_positions})")
    if ppl_diff > args.max_ppl_diff:
        failures.append(f"perplexity differs by {ppl_diff:.5f} > {args.max_ppl_diff}")

    exact = args.strict or args.numerics == "llama.cpp"
    if exact:
        noise = 0.0
        floor = args.min_agreement if args.numerics == "llama.cpp" else 1.0
        if d["agreement"] < floor:
            failures.append(f"top-1 agreement {d['agreement']:.4f} < {floor}")
        if d["max"] > args.max_diff:
            failures.append(f"max |logit diff| {d['max']:.4f} > {args.max_diff}")
    else:
        ulp_model = one_ulp_copy(args.model, os.path.join(tmp, "one-ulp.gguf"))
        llm_ulp = load_llama(ulp_model, args.ctx, args.threads, logits_all=True)
        ref_ulp, ulp_ppl = perplexity(llm_ulp, tokens, args.ctx, args.chunks)
        del llm_ulp
        s = distance(ref_ulp, ref)
        noise = 2 * s["p99_row_max"]
        print(f"llama.cpp vs itself with norm weights one ulp apart: top-1 agreement {s['agreement']:.4f}, "
              f"max |logit diff| {s['max']:.4f}, mean {s['mean']:.5f}, perplexity {ulp_ppl:.4f} "
              f"({abs(ulp_ppl - ref_ppl) / ref_ppl:.5f} apart); noise level {noise:.4f}")
        floor = max(args.min_agreement, s["agreement"] - args.agreement_margin)
        if d["agreement"] < floor:
            failures.append(f"top-1 agreement {d['agreement']:.4f} < {floor:.4f}")
        if d["mean"] > args.diff_factor * s["mean"]:
            failures.append(f"mean |logit diff| {d['mean']:.5f} > {args.diff_factor} x llama.cpp's own {s['mean']:.5f}")

    gen = load_llama(args.model, args.ctx, args.threads, logits_all=True)
    gen_ulp = None if exact else load_llama(ulp_model, args.ctx, args.threads, logits_all=True)
    for prompt in args.prompt:
        ref_tokens, gaps = greedy(gen, prompt, args.n_predict)
        ref_text = gen.detokenize(ref_tokens).decode("utf-8", errors="replace")
        if gen_ulp:
            ulp_tokens, _ = greedy(gen_ulp, prompt, args.n_predict)
            same = next((i for i, (a, b) in enumerate(zip(ref_tokens, ulp_tokens)) if a != b),
                        min(len(ref_tokens), len(ulp_tokens)))
            print(f"greedy {prompt!r}: llama.cpp on its one-ulp copy is identical for {same} tokens")
        out = run_tmac(args, "run", "-p", prompt, "-n", str(args.n_predict), "--temp", "0")
        mine = out[len(prompt):-1] if out.startswith(prompt) and out.endswith("\n") else out
        if mine == ref_text:
            print(f"greedy {prompt!r}: identical ({len(ref_tokens)} tokens)")
            continue
        # The first token whose text differs, and whether llama.cpp was near a tie there.
        pos, prefix = 0, ""
        while pos < len(ref_tokens):
            piece = gen.detokenize(ref_tokens[:pos + 1]).decode("utf-8", errors="replace")
            if not mine.startswith(piece):
                break
            prefix, pos = piece, pos + 1
        near_tie = pos < len(gaps) and gaps[pos] < noise
        print(f"greedy {prompt!r}: identical for {pos} tokens; then llama.cpp's top-2 gap is "
              f"{gaps[pos] if pos < len(gaps) else float('nan'):.4f} (noise level {noise:.4f})")
        if exact or not near_tie or pos < args.min_greedy_tokens:
            failures.append(f"greedy continuation of {prompt!r} differs after {pos} tokens:\n"
                            f"  tmac:      {mine!r}\n  llama.cpp: {ref_text!r}")

    return failures


if __name__ == "__main__":
    main()
