"""llama.cpp (llama-cpp-python) as the tests' reference engine: loading it safely on this
project's machines, and computing what tmac's tools compute, the way llama.cpp's tools do."""
import math
import sys

try:
    import numpy as np
    import llama_cpp
    import llama_cpp.llama
except ImportError as error:
    sys.exit(f"FAIL: {error}; run scripts/setup.sh, which installs numpy and llama-cpp-python in .venv")

GGML_TYPE_F32 = 0


def load_llama(path, n_ctx=64, threads=2, logits_all=False, extra_buffers=False, **kwargs):
    """llama.cpp, by default with its extra weight buffers (AMX, CPU_REPACK) turned off.

    The conformance tests keep them off. llama.cpp built with AMX (GGML_NATIVE on a CPU that has
    it) crashes in ggml_backend_amx_mul_mat on this project's machines for Q4_0, Q4_1, Q8_0, Q4_K
    and Q6_K weights, real models' included. Without AMX, CPU_REPACK swaps in other kernels
    (interleaved Q4_0x8, Q4_Kx8, Q2_Kx8, ...) for the types and shapes it repacks, which quantize
    the activations differently: on tiny-llama they move the logits (about 5 in size) by up to 0.06
    for Q4_0, 0.14 for Q2_K and 0.17 for Q4_K (TQ2_0: 0), so the reference the tests' thresholds
    were set against would depend on the build and the CPU. The plain CPU path is the same
    everywhere. bench/compare_llama.py, which wants llama.cpp at its
    fastest, passes extra_buffers=True on a build without AMX (scripts/setup.sh builds it so).
    llama_cpp.Llama does not expose model_params.use_extra_bufts, so the default params it starts
    from are patched for the load."""
    default_params = llama_cpp.llama_cpp.llama_model_default_params

    def params():
        p = default_params()
        p.use_extra_bufts = extra_buffers
        return p

    llama_cpp.llama.llama_cpp.llama_model_default_params = params
    try:
        return llama_cpp.Llama(model_path=str(path), n_ctx=n_ctx, n_batch=n_ctx, n_threads=threads,
                               logits_all=logits_all, verbose=False, **kwargs)
    finally:
        llama_cpp.llama.llama_cpp.llama_model_default_params = default_params


def add_bos_of(llm):
    return bool(llama_cpp.llama_vocab_get_add_bos(llama_cpp.llama_model_get_vocab(llm.model)))


def is_eog(llm, token):
    return bool(llama_cpp.llama_vocab_is_eog(llama_cpp.llama_model_get_vocab(llm.model), token))


def nll(logits, token):
    """-log softmax(logits)[token], in double as llama.cpp's perplexity tool computes it."""
    m = logits.max()
    return -(float(logits[token] - m) - math.log(float(np.exp((logits - m).astype(np.float64)).sum())))


def perplexity(llm, tokens, n_ctx, chunks=None):
    """The scored positions' logits and the perplexity, as llama.cpp's perplexity tool computes
    them: chunks of n_ctx tokens (the first replaced by BOS when the vocabulary adds one), the
    second half of each scored. `llm` needs logits_all and a context of at least n_ctx."""
    add_bos, first = add_bos_of(llm), n_ctx // 2
    n_chunks = len(tokens) // n_ctx if chunks is None else min(chunks, len(tokens) // n_ctx)
    rows, total, count = [], 0.0, 0
    for c in range(n_chunks):
        chunk = list(tokens[c * n_ctx:(c + 1) * n_ctx])
        if add_bos:
            chunk[0] = llm.token_bos()
        llm.reset()
        llm.eval(chunk)
        scores = np.array(llm.scores[:n_ctx], dtype=np.float32)
        for j in range(first, n_ctx - 1):
            total += nll(scores[j], chunk[j + 1])
            count += 1
        rows.append(scores[first:n_ctx - 1])
    return np.concatenate(rows), math.exp(total / count)


def greedy(llm, prompt, n_predict):
    """Greedy tokens after `prompt` (tokenized as tmac run does: BOS as the vocabulary asks,
    special tokens parsed) and, for each, the gap between the top two logits. `llm` needs
    logits_all."""
    tokens = llm.tokenize(prompt.encode("utf-8"), add_bos=add_bos_of(llm), special=True)
    llm.reset()
    llm.eval(tokens)
    out, gaps = [], []
    for _ in range(n_predict):
        logits = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32)
        token = int(np.argmax(logits))
        if is_eog(llm, token):
            break
        top2 = np.sort(logits)[-2:]
        out.append(token)
        gaps.append(float(top2[1] - top2[0]))
        llm.eval([token])
    return out, gaps
