#!/usr/bin/env python3
"""Writes the test vectors that tests/ggml_decode_test.cc checks tmac's ggml decoders against.

gguf-py's numpy dequantizers (gguf.quants.dequantize) are the oracle. For every ggml type tmac
decodes, this makes a row of blocks and writes into OUT_DIR

    <TYPE>.bin   the raw blocks, as a GGUF file stores them
    <TYPE>.f32   gguf.quants.dequantize of them: little-endian float32, one per weight
    manifest.txt one line "<TYPE> <ggml type id> <weights>" per type, written last

The blocks come from three sources, with a fixed seed so every run writes the same bytes:
  - gguf.quants.quantize of random float data, for the types the package can quantize: the
    blocks llama.cpp itself would write, including all-zero, constant and outlier blocks;
  - random bytes with every fp16 scale field replaced by a finite fp16 (no NaN or infinity):
    every code, sub-block scale and sign pattern, which a quantizer may never produce;
  - edge blocks: every payload byte one of 00, FF, 55, AA, 7F, 80 (extreme codes and packed
    sub-scales) under the scales 0, -0, +-1, +-65504 (largest fp16), the smallest subnormal
    and a negative subnormal.

Usage: ggml_vectors.py OUT_DIR
"""

import sys
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import quants
from gguf.constants import GGML_QUANT_SIZES

SEED = 0x7AC  # fixed: the vectors are the same on every run and machine

# Byte offsets of the fp16 scale fields in each quantized block (ggml-common.h).
SCALE_OFFSETS = {
    T.Q4_0: (0,),
    T.Q4_1: (0, 2),  # d, m
    T.Q5_0: (0,),
    T.Q5_1: (0, 2),
    T.Q8_0: (0,),
    T.Q2_K: (80, 82),  # d, dmin after scales[16] and qs[64]
    T.Q3_K: (108,),
    T.Q4_K: (0, 2),
    T.Q5_K: (0, 2),
    T.Q6_K: (208,),
    T.TQ1_0: (52,),
    T.TQ2_0: (64,),
}
FLOAT_TYPES = (T.F32, T.F16, T.BF16)

QUANTIZED_BLOCKS = 256  # blocks (or, for the float types, values) from gguf.quants.quantize
RANDOM_BLOCKS = 256  # blocks of random bytes with valid scales
EDGE_FILLS = (0x00, 0xFF, 0x55, 0xAA, 0x7F, 0x80)
EDGE_SCALES = np.array([0x0000, 0x8000, 0x3C00, 0xBC00, 0x7BFF, 0xFBFF, 0x0001, 0x8123], dtype=np.uint16)


def random_float_data(rng: np.random.Generator, blocks: int, block_size: int) -> np.ndarray:
    """Gaussian blocks over six decades of magnitude, with a few degenerate ones."""
    data = rng.standard_normal((blocks, block_size)).astype(np.float32)
    data *= (10.0 ** rng.uniform(-4, 2, (blocks, 1))).astype(np.float32)
    data[0] = 0  # zero scale
    data[1] = 0.25  # constant block: max == min
    data[2] = -3.5  # constant, negative
    data[3, :] = 0
    data[3, block_size // 2] = 1000  # one outlier
    data[4] = np.abs(data[4])  # one-signed blocks
    data[5] = -np.abs(data[5])
    return data


def random_finite_halves(rng: np.random.Generator, count: int) -> np.ndarray:
    """fp16 bit patterns: half any finite value (subnormals and both signs included), half
    scales of the size real models have."""
    bits = rng.integers(0, 1 << 16, count, dtype=np.uint16)
    bits = np.where((bits & 0x7C00) == 0x7C00, bits & ~np.uint16(0x4000), bits).astype(np.uint16)
    typical = (rng.choice([-1, 1], count) * 10.0 ** rng.uniform(-5, 0, count)).astype(np.float16)
    return np.where(rng.random(count) < 0.5, bits, typical.view(np.uint16)).astype(np.uint16)


def set_scales(blocks: np.ndarray, qtype: T, halves: np.ndarray) -> None:
    """Overwrites every fp16 scale field of blocks (n, type_size) with halves (n,) or (n, fields)."""
    halves = halves.reshape(blocks.shape[0], -1)
    for i, offset in enumerate(SCALE_OFFSETS[qtype]):
        blocks[:, offset : offset + 2] = halves[:, i % halves.shape[1], None].view(np.uint8)


def quantized_blocks(rng: np.random.Generator, qtype: T) -> list[np.ndarray]:
    block_size, type_size = GGML_QUANT_SIZES[qtype]
    parts = []
    data = random_float_data(rng, QUANTIZED_BLOCKS, block_size)
    try:
        with np.errstate(divide="ignore", invalid="ignore"):
            parts.append(quants.quantize(data.reshape(1, -1), qtype).reshape(-1, type_size))
    except NotImplementedError:
        pass  # gguf cannot quantize this type (the K-quants): random and edge blocks only

    raw = rng.integers(0, 256, (RANDOM_BLOCKS, type_size), dtype=np.uint8)
    set_scales(raw, qtype, random_finite_halves(rng, RANDOM_BLOCKS * len(SCALE_OFFSETS[qtype])))
    parts.append(raw)

    for fill in EDGE_FILLS:
        edge = np.full((len(EDGE_SCALES), type_size), fill, dtype=np.uint8)
        set_scales(edge, qtype, EDGE_SCALES)
        parts.append(edge)
        # Scale and min of opposite signs (d > 0, dmin < 0 and the reverse).
        if len(SCALE_OFFSETS[qtype]) == 2:
            edge = np.full((len(EDGE_SCALES), type_size), fill, dtype=np.uint8)
            set_scales(edge, qtype, np.stack([EDGE_SCALES, EDGE_SCALES[::-1] ^ np.uint16(0x8000)], axis=1))
            parts.append(edge)
    return parts


def float_blocks(rng: np.random.Generator, qtype: T) -> list[np.ndarray]:
    """F32, F16, BF16: quantize() rounds random floats; the raw part is random bit patterns,
    infinities, NaNs and subnormals included."""
    item = GGML_QUANT_SIZES[qtype][1]
    data = random_float_data(rng, QUANTIZED_BLOCKS // 16, 16).reshape(-1)
    specials = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-40, -1e-45, 3.4e38, 65504, 65520, 1e-8],
                        dtype=np.float32)
    data = np.concatenate([data, specials])
    with np.errstate(over="ignore"):  # 3.4e38 and 65520 overflow to fp16 infinity, as meant
        quantized = quants.quantize(data, qtype).view(np.uint8)  # F32/F16 give floats, BF16 bytes
    raw = rng.integers(0, 256, RANDOM_BLOCKS * 4 * item, dtype=np.uint8)
    return [quantized.reshape(-1, item), raw.reshape(-1, item)]


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    manifest = []
    for qtype in FLOAT_TYPES + tuple(SCALE_OFFSETS):
        parts = float_blocks(rng, qtype) if qtype in FLOAT_TYPES else quantized_blocks(rng, qtype)
        blocks = np.ascontiguousarray(np.concatenate(parts, axis=0))
        expected = quants.dequantize(blocks.reshape(-1), qtype).astype("<f4", copy=False)
        weights = blocks.shape[0] * GGML_QUANT_SIZES[qtype][0]
        assert expected.shape == (weights,), (qtype.name, expected.shape)
        blocks.tofile(out / f"{qtype.name}.bin")
        expected.tofile(out / f"{qtype.name}.f32")
        manifest.append(f"{qtype.name} {qtype.value} {weights}\n")
    (out / "manifest.txt").write_text("".join(manifest))
    print(f"ggml_vectors: {len(manifest)} types written to {out}")


if __name__ == "__main__":
    main()
