#!/usr/bin/env python3
"""Writes the GGUF fuzzer's seed corpus (tests/fuzz/corpus): small valid files written with
llama.cpp's gguf package, and copies of them broken in one place each.

Usage: .venv/bin/python tests/fuzz/make_corpus.py
"""

import struct
import tempfile
from pathlib import Path

import gguf
import numpy as np

CORPUS = Path(__file__).resolve().parent / "corpus"
VT = gguf.GGUFValueType
Q = gguf.GGMLQuantizationType


def write(arch: str, fill) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "seed.gguf"
        writer = gguf.GGUFWriter(path, arch)
        fill(writer)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        return path.read_bytes()


def every_value_type(w: gguf.GGUFWriter) -> None:
    for key, value, vtype in [("u8", 1, VT.UINT8), ("i8", -1, VT.INT8), ("u16", 2, VT.UINT16),
                              ("i16", -2, VT.INT16), ("u32", 3, VT.UINT32), ("i32", -3, VT.INT32),
                              ("f32", 0.5, VT.FLOAT32), ("b", True, VT.BOOL), ("s", "text", VT.STRING),
                              ("u64", 2**64 - 1, VT.UINT64), ("i64", -2**63, VT.INT64), ("f64", 0.25, VT.FLOAT64)]:
        w.add_key_value(key, value, vtype)
    w.add_key_value("a.s", ["<unk>", "<s>", "a"], VT.ARRAY, sub_type=VT.STRING)
    w.add_key_value("a.f", [0.0, -1.0], VT.ARRAY, sub_type=VT.FLOAT32)
    w.add_key_value("a.n", [["x", "y"], ["z"]], VT.ARRAY, sub_type=VT.ARRAY)


def tensors(w: gguf.GGUFWriter) -> None:
    w.add_uint32("llama.block_count", 1)
    w.add_tensor("f32", np.arange(8, dtype=np.float32).reshape(2, 4))
    w.add_tensor("f16", np.ones(3, dtype=np.float16))
    w.add_tensor("q8_0", np.zeros((2, 34), dtype=np.uint8), raw_dtype=Q.Q8_0)
    w.add_tensor("q4_0", np.zeros((1, 18), dtype=np.uint8), raw_dtype=Q.Q4_0)
    w.add_tensor("tq2_0", np.zeros((1, 66), dtype=np.uint8), raw_dtype=Q.TQ2_0)


def aligned(w: gguf.GGUFWriter) -> None:
    w.add_custom_alignment(64)
    w.add_tensor("i8", np.arange(5, dtype=np.int8))
    w.add_tensor("i32", np.arange(2, dtype=np.int32).reshape(1, 1, 2))


def patched(data: bytes, offset: int, fmt: str, value) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, value)
    return bytes(out)


def main() -> None:
    CORPUS.mkdir(exist_ok=True)
    for old in CORPUS.glob("*.gguf"):
        old.unlink()
    seeds = {
        "empty_header": b"GGUF" + struct.pack("<IQQ", 3, 0, 0),
        "v2_header": b"GGUF" + struct.pack("<IQQ", 2, 0, 0),
        "every_value_type": write("llama", every_value_type),
        "tensors": write("llama", tensors),
        "aligned": write("test", aligned),
    }
    t = seeds["tensors"]
    seeds.update({
        "bad_magic": b"GGUG" + t[4:],
        "bad_version": patched(t, 4, "<I", 4),
        "huge_tensor_count": patched(t, 8, "<Q", 2**63),
        "huge_kv_count": patched(t, 16, "<Q", 2**40),
        "huge_key_length": patched(t, 24, "<Q", 2**64 - 1),
        "truncated_metadata": t[:60],
        "truncated_data": t[:-40],
        "misaligned_offset": t.replace(struct.pack("<IQ", Q.F16, 32), struct.pack("<IQ", Q.F16, 33), 1),
        "unknown_type": t.replace(struct.pack("<IQ", Q.F16, 32), struct.pack("<IQ", 31, 32), 1),
    })
    for name, data in seeds.items():
        (CORPUS / f"{name}.gguf").write_bytes(data)
    print(f"{len(seeds)} seeds, {sum(map(len, seeds.values()))} bytes in {CORPUS}")


if __name__ == "__main__":
    main()
