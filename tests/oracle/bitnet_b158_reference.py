#!/usr/bin/env python3
"""An independent numpy forward pass of the bitnet-b1.58 architecture (BitNet-b1.58-2B-4T as
bitnet.cpp's GGUF files describe it), written from the model's definition, for checking tmac's
engine, since llama.cpp upstream does not load this architecture:

  x = token_embd[token]
  per layer:  h = RMSNorm(x) * attn_norm
              q, k, v = Wq Q(h), Wk Q(h), Wv Q(h);  RoPE(q, k)
              a = causal grouped-query attention, softmax(q k^T / sqrt(head_dim)) v
              a = RMSNorm(a) * attn_sub_norm;  x += Wo Q(a)
              h = RMSNorm(x) * ffn_norm
              f = relu(Wgate Q(h))^2 * (Wup Q(h));  f = RMSNorm(f) * ffn_sub_norm;  x += Wdown Q(f)
  logits = token_embd (RMSNorm(x) * output_norm)        (output tied to the embedding)

Q is BitNet's per-token absmax int8 activation quantization, round(x * 127 / max|x|) clamped
to +-127 and scaled back; it applies to the inputs of the low-bit matrices only (not the tied
output head). RoPE is the NeoX form (see rope()): the pairs (x[i], x[i + n_rot/2]) of each head
rotate by pos * base^(-2i / n_rot), as llama.cpp rotates its "bitnet" architecture.

Weights are dequantized by gguf-py; the pass runs in float64 (or float32, to measure how much
the result moves under rounding alone).
"""
from dataclasses import dataclass

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize

ARCH = "bitnet-b1.58"
LAYER_MATRICES = ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")
LAYER_NORMS = ("attn_norm", "attn_sub_norm", "ffn_norm", "ffn_sub_norm")


@dataclass
class Model:
    n_head: int
    n_head_kv: int
    n_rot: int
    rope_base: float
    rms_eps: float
    token_embd: np.ndarray  # n_vocab x n_embd
    output_norm: np.ndarray
    layers: list  # per layer: {tensor name without "blk.N." and ".weight": array}


def load(path):
    reader = GGUFReader(path)
    arch = reader.fields["general.architecture"].contents()
    if arch != ARCH:
        raise ValueError(f"{path}: architecture {arch!r}, not {ARCH!r}")

    def key(name, default=None):
        field = reader.fields.get(f"{ARCH}.{name}")
        if field is None:
            if default is None:
                raise ValueError(f"{path}: missing {ARCH}.{name}")
            return default
        return field.contents()

    def tensor(t):
        rows = dequantize(t.data, t.tensor_type).astype(np.float64)
        return rows.reshape([int(d) for d in reversed(t.shape)])

    tensors = {t.name: tensor(t) for t in reader.tensors}
    n_embd, n_head = int(key("embedding_length")), int(key("attention.head_count"))
    layers = []
    for i in range(int(key("block_count"))):
        prefix = f"blk.{i}."
        layers.append({name: tensors[f"{prefix}{name}.weight"] for name in LAYER_MATRICES + LAYER_NORMS})
    return Model(n_head=n_head, n_head_kv=int(key("attention.head_count_kv", n_head)),
                 n_rot=int(key("rope.dimension_count", n_embd // n_head)),
                 rope_base=float(key("rope.freq_base", 10000.0)),
                 rms_eps=float(key("attention.layer_norm_rms_epsilon", 1e-5)),
                 token_embd=tensors["token_embd.weight"], output_norm=tensors["output_norm.weight"],
                 layers=layers)


def rms_norm(x, weight, eps):
    return x / np.sqrt((x * x).mean(axis=-1, keepdims=True) + eps) * weight


def relu_squared(x):
    return np.maximum(x, 0) ** 2


def quantize_activations(x):
    """Per row: the int8 codes of absmax quantization, scaled back to x's units."""
    absmax = np.abs(x).max(axis=-1, keepdims=True)
    scale = 127.0 / np.where(absmax > 0, absmax, 1.0)
    return np.clip(np.round(x * scale), -127, 127) / scale


def rope(x, positions, n_rot, base, neox=True):
    """x: tokens x heads x head_dim. Rotates pairs of each head's first n_rot values by the angle
    pos * base^(-2i / n_rot), i < n_rot / 2: the pairs (i, i + n_rot / 2) in the NeoX form (the
    rotate_half of the Hugging Face models, which the BitNet converters keep, as they do not
    permute attn_q and attn_k the way llama.cpp's Llama converter does), (2i, 2i + 1) in the
    "normal" form."""
    i = np.arange(n_rot // 2)
    first, second = (i, i + n_rot // 2) if neox else (2 * i, 2 * i + 1)
    angles = positions[:, None].astype(np.float64) * base ** (-2.0 * i / n_rot)  # tokens x n_rot/2
    cos, sin = np.cos(angles)[:, None, :], np.sin(angles)[:, None, :]
    out = x.copy()
    out[..., first] = x[..., first] * cos - x[..., second] * sin
    out[..., second] = x[..., first] * sin + x[..., second] * cos
    return out


def attention(q, k, v):
    """Causal grouped-query attention; q: tokens x n_head x hd, k and v: tokens x n_head_kv x hd.
    Query head h reads KV head h // (n_head / n_head_kv)."""
    n, n_head, hd = q.shape
    group = n_head // k.shape[1]
    k = np.repeat(k, group, axis=1)
    v = np.repeat(v, group, axis=1)
    scores = np.einsum("qhd,phd->hqp", q, k) / np.sqrt(hd)
    scores = np.where(np.tril(np.ones((n, n), dtype=bool)), scores, -np.inf)
    scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
    scores /= scores.sum(axis=-1, keepdims=True)
    return np.einsum("hqp,phd->qhd", scores, v).reshape(n, n_head * hd)


def forward(model, tokens, quantize=True, dtype=np.float64, neox=True):
    """Logits (tokens x n_vocab) of evaluating `tokens` from position 0; quantize=False leaves
    the activations in float, neox=False rotates with the normal rope form instead."""
    def cast(a):
        return a.astype(dtype)

    def project(x, w):
        return (quantize_activations(x) if quantize else x) @ cast(w).T

    embd = cast(model.token_embd)
    eps = model.rms_eps
    x = embd[np.asarray(tokens)]
    n = x.shape[0]
    positions = np.arange(n)
    for layer in model.layers:
        h = rms_norm(x, cast(layer["attn_norm"]), eps)
        q = project(h, layer["attn_q"]).reshape(n, model.n_head, -1)
        k = project(h, layer["attn_k"]).reshape(n, model.n_head_kv, -1)
        v = project(h, layer["attn_v"]).reshape(n, model.n_head_kv, -1)
        q, k = (rope(t, positions, model.n_rot, model.rope_base, neox) for t in (q, k))
        a = attention(q.astype(dtype), k.astype(dtype), v)
        a = rms_norm(a, cast(layer["attn_sub_norm"]), eps)
        x = x + project(a, layer["attn_output"])
        h = rms_norm(x, cast(layer["ffn_norm"]), eps)
        f = relu_squared(project(h, layer["ffn_gate"])) * project(h, layer["ffn_up"])
        f = rms_norm(f, cast(layer["ffn_sub_norm"]), eps)
        x = x + project(f, layer["ffn_down"])
    return rms_norm(x, cast(model.output_norm), eps) @ embd.T
