#!/usr/bin/env python3
"""tmac against llama.cpp (llama-cpp-python) on one model file.

Checks, on a fixed text evaluated the way llama.cpp's perplexity tool does (chunks of --ctx
tokens, the second half of each scored):
  - top-1 next-token agreement over every scored position >= --min-agreement;
  - perplexity within --max-ppl-diff (relative) of llama.cpp's;
and, for each --prompt, that greedy generation of --n-predict tokens gives the same text.
Prints the maximum logit difference and the other measurements. Exits non-zero on any failure,
including llama_cpp not being installed (run scripts/setup.sh).
"""
import argparse
import math
import os
import re
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import llama_cpp
except ImportError as e:
    sys.exit(f"llama_conformance: {e}; run scripts/setup.sh to install llama-cpp-python into .venv")


def load_llama(path, n_ctx, threads, logits_all):
    # ggml's extra buffer types (its AMX and repacked-weight paths) crash on this VM in
    # llama-cpp-python 0.3.36; the plain CPU path computes the same functions.
    default_params = llama_cpp.llama_model_default_params

    def params():
        p = default_params()
        p.use_extra_bufts = False
        return p

    llama_cpp.llama_model_default_params = params
    llama_cpp.llama.llama_cpp.llama_model_default_params = params
    try:
        return llama_cpp.Llama(model_path=path, n_ctx=n_ctx, n_batch=n_ctx, n_threads=threads,
                               logits_all=logits_all, verbose=False)
    finally:
        llama_cpp.llama_model_default_params = default_params
        llama_cpp.llama.llama_cpp.llama_model_default_params = default_params


def nll(logits, token):
    m = logits.max()
    return -(float(logits[token] - m) - math.log(float(np.exp((logits - m).astype(np.float64)).sum())))


def llama_perplexity(llm, tokens, n_ctx, add_bos, bos):
    """Scored positions' logits and the perplexity, as llama.cpp's perplexity tool computes them."""
    first = n_ctx // 2
    chunks = len(tokens) // n_ctx
    rows, total, count = [], 0.0, 0
    for c in range(chunks):
        chunk = list(tokens[c * n_ctx:(c + 1) * n_ctx])
        if add_bos:
            chunk[0] = bos
        llm.reset()
        llm.eval(chunk)
        scores = np.array(llm.scores[:n_ctx], dtype=np.float32)
        for j in range(first, n_ctx - 1):
            total += nll(scores[j], chunk[j + 1])
            count += 1
        rows.append(scores[first:n_ctx - 1])
    return np.concatenate(rows), math.exp(total / count)


def run_tmac(args, *extra):
    cmd = [args.tmac, *extra, "-m", args.model, "-t", str(args.threads)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"llama_conformance: {' '.join(cmd)} failed:\n{result.stderr}")
    return result.stdout


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--tmac", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--text", required=True)
    p.add_argument("--ctx", type=int, default=512)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--min-agreement", type=float, default=0.99)
    p.add_argument("--max-ppl-diff", type=float, default=0.005)
    p.add_argument("--min-positions", type=int, default=1000)
    p.add_argument("--prompt", action="append", default=[])
    p.add_argument("--n-predict", type=int, default=64)
    args = p.parse_args()
    if not os.path.exists(args.model):
        sys.exit(f"llama_conformance: {args.model} is missing; run scripts/setup.sh to fetch it")
    failures = []

    llm = load_llama(args.model, args.ctx, args.threads, logits_all=True)
    text = open(args.text, encoding="utf-8").read()
    add_bos = bool(llama_cpp.llama_vocab_get_add_bos(llama_cpp.llama_model_get_vocab(llm.model)))
    tokens = llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=False)
    ref_logits, ref_ppl = llama_perplexity(llm, tokens, args.ctx, add_bos, llm.token_bos())

    with tempfile.TemporaryDirectory() as tmp:
        npy = os.path.join(tmp, "logits.npy")
        out = run_tmac(args, "perplexity", "-f", args.text, "--ctx", str(args.ctx), "--save-logits", npy)
        logits = np.load(npy)
    match = re.search(r"Final estimate: PPL = ([0-9.]+)", out)
    if not match:
        sys.exit(f"llama_conformance: no perplexity in tmac's output:\n{out}")
    ppl = float(match.group(1))

    if logits.shape != ref_logits.shape:
        sys.exit(f"llama_conformance: logits shape {logits.shape} != llama.cpp's {ref_logits.shape}")
    positions = logits.shape[0]
    agreement = float((logits.argmax(axis=1) == ref_logits.argmax(axis=1)).mean())
    max_diff = float(np.abs(logits - ref_logits).max())
    ppl_diff = abs(ppl - ref_ppl) / ref_ppl
    print(f"{positions} positions: top-1 agreement {agreement:.4f}, max |logit diff| {max_diff:.4f}")
    print(f"perplexity: tmac {ppl:.4f}, llama.cpp {ref_ppl:.4f}, relative difference {ppl_diff:.5f}")
    if positions < args.min_positions:
        failures.append(f"only {positions} scored positions (< {args.min_positions})")
    if agreement < args.min_agreement:
        failures.append(f"top-1 agreement {agreement:.4f} < {args.min_agreement}")
    if ppl_diff > args.max_ppl_diff:
        failures.append(f"perplexity differs by {ppl_diff:.5f} > {args.max_ppl_diff}")

    del llm
    gen = load_llama(args.model, args.ctx, args.threads, logits_all=False)
    for prompt in args.prompt:
        ref = gen.create_completion(prompt, max_tokens=args.n_predict, temperature=0.0)["choices"][0]["text"]
        out = run_tmac(args, "run", "-p", prompt, "-n", str(args.n_predict), "--temp", "0")
        mine = out[len(prompt):-1] if out.startswith(prompt) and out.endswith("\n") else out
        same = mine == ref
        print(f"greedy {prompt!r}: {'same' if same else 'DIFFERENT'}")
        if not same:
            failures.append(f"greedy continuation of {prompt!r} differs:\n  tmac:      {mine!r}\n  llama.cpp: {ref!r}")

    for f in failures:
        print("FAIL:", f)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
